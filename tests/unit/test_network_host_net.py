"""Host link helpers with ``ip`` replaced by a recorder (no root, no host changes)."""
from __future__ import annotations

import json

import pytest

from kumo.common.host import net
from kumo.common.host.process import HostError


class FakeIp:
    """Answers the few ``ip`` invocations the helpers make from a tiny model."""

    def __init__(self):
        self.links: dict[str, dict] = {}
        self.addrs: dict[str, list[str]] = {}
        self.calls: list[list[str]] = []
        self.fail_on: str | None = None

    async def run(self, *cmd, check=True, **kw):
        cmd = list(cmd)
        self.calls.append(cmd)
        if self.fail_on and self.fail_on in cmd:
            raise HostError(cmd, 2, "RTNETLINK answers: Operation not permitted")
        args = [a for a in cmd[1:] if a != "-j"]
        if args[:1] == ["-n"]:
            args = args[2:]
        if args[:2] == ["-d", "link"] or args[:2] == ["link", "show"]:
            name = args[-1]
            if name not in self.links:
                raise HostError(cmd, 1, f'Device "{name}" does not exist.')
            return json.dumps([self.links[name]])
        if args[:2] == ["link", "add"]:
            name = args[args.index("name") + 1]
            kind = args[args.index("type") + 1]
            self.links[name] = {"ifname": name, "linkinfo": {"info_kind": kind}}
            if kind == "veth":
                peer = args[args.index("peer") + 2]
                self.links[peer] = {"ifname": peer, "linkinfo": {"info_kind": "veth"}}
            return ""
        if args[:2] == ["addr", "show"]:
            name = args[-1]
            return json.dumps([{"addr_info": [
                {"family": "inet", "local": a.split("/")[0], "prefixlen": int(a.split("/")[1]),
                 "scope": "global"} for a in self.addrs.get(name, [])]}])
        if args[:2] == ["addr", "add"]:
            self.addrs.setdefault(args[-1], []).append(args[2])
            return ""
        if args[:2] == ["link", "delete"]:
            self.links.pop(args[-1], None)
            return ""
        return ""


@pytest.fixture
def ip(monkeypatch):
    fake = FakeIp()
    monkeypatch.setattr(net, "run", fake.run)
    return fake


def test_names_and_argv():
    assert net.netns_exec_argv("qdhcp-x", "dnsmasq", "-k") == ["ip", "netns", "exec", "qdhcp-x",
                                                               "dnsmasq", "-k"]
    assert net.netns_exec_argv(None, "true") == ["true"]
    for bad in ("", "a" * 16, "a/b", "a b"):
        with pytest.raises(ValueError):
            net._check_name(bad)


async def test_ensure_bridge_is_idempotent(ip):
    assert await net.ensure_bridge("br-t", "192.0.2.1/24") is True
    assert ["ip", "link", "add", "name", "br-t", "type", "bridge"] in ip.calls
    assert ip.addrs["br-t"] == ["192.0.2.1/24"]
    ip.calls.clear()
    assert await net.ensure_bridge("br-t", "192.0.2.1/24") is False
    assert not any(c[1:3] == ["link", "add"] for c in ip.calls)
    assert ip.addrs["br-t"] == ["192.0.2.1/24"]  # not added twice
    assert ["ip", "link", "set", "dev", "br-t", "up"] in ip.calls


async def test_ensure_bridge_refuses_a_non_bridge(ip):
    ip.links["eth9"] = {"ifname": "eth9", "linkinfo": {"info_kind": "veth"}}
    with pytest.raises(HostError):
        await net.ensure_bridge("eth9")


async def test_plug_veth_undoes_a_half_made_pair(ip, monkeypatch):
    async def exists(name):
        return True
    monkeypatch.setattr(net, "netns_exists", exists)
    ip.fail_on = "master"
    with pytest.raises(HostError):
        await net.plug_veth("tapX", "nsX", bridge="br-t", netns="ns1", cidrs=["10.0.0.2/24"])
    assert "tapX" not in ip.links and ["ip", "link", "delete", "dev", "tapX"] in ip.calls


async def test_delete_link_of_a_missing_link(ip):
    assert await net.delete_link("gone0") is False
    ip.links["tap1"] = {"ifname": "tap1"}
    assert await net.delete_link("tap1") is True and "tap1" not in ip.links


async def test_run_in_netns_needs_the_namespace():
    with pytest.raises(FileNotFoundError):
        await net.run_in_netns("kumo-no-such-namespace", lambda: 1)


async def test_run_in_netns_hands_back_results_and_errors(tmp_path, monkeypatch):
    (tmp_path / "ns1").touch()
    monkeypatch.setattr(net, "NETNS_DIR", str(tmp_path))
    threads = []

    def fake_call(path, fn, args):  # stands in for setns + fn on the worker thread
        import threading
        threads.append(threading.current_thread().name)
        assert path == str(tmp_path / "ns1")
        return fn(*args)

    monkeypatch.setattr(net, "_call_in_netns", fake_call)
    assert await net.run_in_netns("ns1", lambda a, b: a + b, 2, 3) == 5

    def boom():
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        await net.run_in_netns("ns1", boom)
    assert threads == ["netns-ns1", "netns-ns1"]
