"""Networking benchmark (issue 4): ports, routers, port lists and floating IP reachability.

Runs against any cloud of clouds.yaml (``--cloud``, default ``admin``; openstacksdk finds the
file: ``$OS_CLIENT_CONFIG_FILE`` or ``/etc/openstack/clouds.yaml``) with the Networking API v2.0
over plain REST and the caller's token. Run it where the cloud's host namespaces are visible (on
the cloud's host, or inside a sandbox: ``scripts/sandbox.sh exec NAME .venv/bin/python -m
bench.network``) for the namespace, device and ping checks. Measures, all bounded in count and time:

1. ``ports``: create ``--ports`` (100) ports on one network at each of ``--concurrency``
   (1, 10, 50), then delete them at the same concurrency: total seconds, ports/s, per-op
   p50/p95/max (ms). ``rally``: Rally's ``NeutronNetworks.create_and_list_ports`` shape, each
   iteration creating a network, ``--rally-ports-per-network`` ports on it and listing all ports;
   ``--rally-iterations`` at concurrency ``--rally-concurrency`` (50): mean and p95 iteration
   seconds against the anchor (124 s mean at concurrency 50 on a 200-node upstream cloud).
2. ``routers``: ``--routers`` (20) routers, each with a gateway on ``--external-network`` and an
   interface on its own subnet: API seconds per router, and seconds from its ``POST`` until the
   L3 agent wired namespace ``qrouter-<id>`` (``qg-``/``qr-`` devices with addresses) and until its
   ports report ``ACTIVE``; then delete everything and check that no namespace, device (named after
   a router port or a network: ``tap``/``qr-``/``qg-``/``brq``) is left.
3. ``list``: ``--list-ports`` (1000) ports made with bulk ``POST /v2.0/ports`` (100 per request),
   then ``GET /v2.0/ports`` and ``GET /v2.0/ports?fields=id`` ``--list-runs`` (10) times each: p50
   and max (ms), response size.
4. ``fip`` (``--with-vm``): a VM on a project network behind a router, a security group allowing
   ICMP; time from ``PUT /v2.0/floatingips/{id}`` (association) to the first reply of
   ``ping -c1 -W1`` from this host, ``--fip-runs`` (3) times (disassociated and unreachable between).

Also: the cloud's RSS (supervisor alone and with its children) and CPU seconds per measure when its
supervisor runs on this machine (``kumo`` settings: ``KUMO_CONFIG``), the machine and the load.
Quotas of the caller's project are lifted for the run and restored after.

Usage: ``python -m bench.network [--cloud admin] [--only ports,rally,routers,list,fip] [--with-vm]
[--no-save]``. Writes ``bench/results/network.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import httpx
import openstack

from bench.loadgen import percentile
from bench.servers import cpu_seconds, rss_mib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: Rally create-and-list-ports, mean iteration seconds at concurrency 50, 200-node upstream cloud.
ANCHOR_RALLY_S = 124.0
MEASURES = ("ports", "rally", "routers", "list")
PREFIX = "bench-net-"


class BenchError(RuntimeError):
    pass


class Api:
    """REST calls with one token: ``call(service, method, path, ...)`` -> parsed JSON or None."""

    def __init__(self, cloud: str, concurrency: int):
        conn = openstack.connect(cloud=cloud)
        self.token = conn.auth_token
        self.project_id = conn.current_project_id
        self.base = {s: conn.endpoint_for(s).rstrip("/") for s in ("network", "compute", "image")}
        self.base["network"] = self.base["network"].removesuffix("/v2.0") + "/v2.0"
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.AsyncClient(headers={"X-Auth-Token": self.token}, limits=limits, timeout=300)

    async def call(self, service: str, method: str, path: str, json_body=None, expect=(200, 201, 202, 204)):
        resp = await self.http.request(method, self.base[service] + path, json=json_body)
        if resp.status_code not in expect:
            raise BenchError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content and resp.status_code != 204 else None

    async def net(self, method: str, path: str, body=None, expect=(200, 201, 204)):
        return await self.call("network", method, path, body, expect)

    async def close(self) -> None:
        await self.http.aclose()


def summary(seconds: list[float]) -> dict:
    """p50/p95/max/mean in ms of per-operation ``seconds``."""
    s = sorted(seconds)
    if not s:
        return {}
    return {"n": len(s), "p50_ms": round(percentile(s, 0.50) * 1000, 1),
            "p95_ms": round(percentile(s, 0.95) * 1000, 1), "max_ms": round(s[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(s) * 1000, 1)}


async def batch(n: int, concurrency: int, op: Callable[[int], Awaitable]) -> tuple[float, list[float], list]:
    """Run ``op(i)`` for i < n with ``concurrency`` workers: (wall seconds, per-op seconds, results)."""
    times: list[float] = [0.0] * n
    results: list = [None] * n
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            t0 = time.perf_counter()
            results[i] = await op(i)
            times[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return time.perf_counter() - t0, times, results


#: Host commands run in the supervisor's mount and network namespaces (``nsenter``) when it runs
#: here: a sandbox's agents make their qrouter-/qdhcp- namespaces inside its own mount namespace.
HOST_PREFIX: list[str] = []


def sh(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(HOST_PREFIX + list(cmd), capture_output=True, text=True, timeout=timeout)


def namespaces() -> set[str]:
    return {line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines() if line.strip()}


def devices(netns: str | None = None) -> set[str]:
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-o", "link", "show"]
    return {line.split(":")[1].strip().split("@")[0] for line in sh(*cmd).stdout.splitlines() if ":" in line}


class Cloud:
    """The cloud under test: the API, its supervisor on this host (if any), created-resource cleanup."""

    def __init__(self, api: Api, host_checks: bool):
        self.api = api
        self.host_checks = host_checks
        self.pid = supervisor_pid()
        self.cpu_mark = 0.0
        if self.pid and host_checks:
            HOST_PREFIX[:] = ["nsenter", "-t", str(self.pid), "-m", "-n"]

    def cpu_start(self) -> None:
        self.cpu_mark = cpu_seconds(self.pid) if self.pid else 0.0

    def cpu_used(self) -> float | None:
        return round(cpu_seconds(self.pid) - self.cpu_mark, 2) if self.pid else None

    def rss(self) -> dict | None:
        if not self.pid:
            return None
        return {"supervisor_mib": round(own_rss_kib(self.pid) / 1024, 1), "with_children_mib": rss_mib(self.pid)}

    async def network(self, name: str, cidr: str | None = None) -> tuple[str, str | None]:
        net = (await self.api.net("POST", "/networks", {"network": {"name": PREFIX + name}}))["network"]
        if not cidr:
            return net["id"], None
        sub = await self.api.net("POST", "/subnets", {"subnet": {
            "name": PREFIX + name, "network_id": net["id"], "ip_version": 4, "cidr": cidr}})
        return net["id"], sub["subnet"]["id"]

    async def delete_ports(self, ids: list[str], concurrency: int) -> tuple[float, list[float]]:
        wall, times, _ = await batch(len(ids), concurrency,
                                     lambda i: self.api.net("DELETE", f"/ports/{ids[i]}", expect=(204, 404)))
        return wall, times

    async def leftovers(self) -> None:
        """Delete whatever an interrupted earlier run left (everything named ``bench-net-*``)."""
        api = self.api
        for r in (await api.net("GET", "/routers"))["routers"]:
            if r["name"].startswith(PREFIX):
                await delete_router(api, r["id"])
        for f in (await api.net("GET", "/floatingips"))["floatingips"]:
            if f.get("description") == PREFIX:
                await api.net("DELETE", f"/floatingips/{f['id']}", expect=(204, 404))
        nets = [n["id"] for n in (await api.net("GET", "/networks"))["networks"] if n["name"].startswith(PREFIX)]
        if nets:
            q = "&".join(f"network_id={n}" for n in nets)
            ports = [p["id"] for p in (await api.net("GET", f"/ports?fields=id&{q}"))["ports"]]
            await self.delete_ports(ports, 10)
        for n in nets:
            await api.net("DELETE", f"/networks/{n}", expect=(204, 404))
        for g in (await api.net("GET", "/security-groups"))["security_groups"]:
            if g["name"].startswith(PREFIX):
                await api.net("DELETE", f"/security-groups/{g['id']}", expect=(204, 404, 409))


def supervisor_pid() -> int | None:
    """The kumo supervisor of this host's settings (``KUMO_CONFIG``) if it runs in our network namespace."""
    try:
        from kumo import config
        from kumo.cli import daemon
        pid = daemon.running_pid(config.load())
    except Exception:  # no kumo settings here: a remote cloud
        return None
    if pid and os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        return pid
    return None


def own_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# 1. ports ---------------------------------------------------------------------------------------

async def measure_ports(cloud: Cloud, net_id: str, n: int, concurrencies: list[int]) -> list[dict]:
    api = cloud.api
    cells = []
    for c in concurrencies:
        cloud.cpu_start()
        wall, times, ports = await batch(n, c, lambda i: api.net("POST", "/ports", {"port": {
            "network_id": net_id, "name": f"{PREFIX}p{i}"}}))
        ids = [p["port"]["id"] for p in ports]
        dwall, dtimes = await cloud.delete_ports(ids, c)
        cell = {"concurrency": c, "ports": n,
                "create": {"seconds": round(wall, 2), "per_s": round(n / wall, 1), **summary(times)},
                "delete": {"seconds": round(dwall, 2), "per_s": round(n / dwall, 1), **summary(dtimes)},
                "server_cpu_s": cloud.cpu_used()}
        cells.append(cell)
        print(f"  ports c={c:<3} create {wall:6.2f} s (p50 {cell['create']['p50_ms']} ms, "
              f"p95 {cell['create']['p95_ms']} ms)  delete {dwall:6.2f} s (p50 {cell['delete']['p50_ms']} ms, "
              f"p95 {cell['delete']['p95_ms']} ms)", flush=True)
    return cells


async def measure_rally(cloud: Cloud, iterations: int, concurrency: int, per_network: int) -> dict:
    """Rally's create_and_list_ports: per iteration a network, ``per_network`` ports, one port list."""
    api = cloud.api
    nets: list[str] = []
    listed: list[int] = []

    async def iteration(i: int) -> None:
        net_id, _ = await cloud.network(f"rally{i}")
        nets.append(net_id)
        for j in range(per_network):
            await api.net("POST", "/ports", {"port": {"network_id": net_id, "name": f"{PREFIX}r{i}-{j}"}})
        listed.append(len((await api.net("GET", "/ports"))["ports"]))

    cloud.cpu_start()
    try:
        wall, times, _ = await batch(iterations, concurrency, iteration)
    finally:
        cpu = cloud.cpu_used()
        t0 = time.perf_counter()
        for net_id in nets:
            ports = [p["id"] for p in (await api.net("GET", f"/ports?fields=id&network_id={net_id}"))["ports"]]
            await cloud.delete_ports(ports, concurrency)
        await batch(len(nets), concurrency, lambda i: api.net("DELETE", f"/networks/{nets[i]}", expect=(204, 404)))
        cleanup = time.perf_counter() - t0
    mean = statistics.fmean(times)
    out = {"iterations": iterations, "concurrency": concurrency, "ports_per_network": per_network,
           "seconds": round(wall, 2), "iteration_mean_s": round(mean, 3),
           "iteration": summary(times), "ports_listed_max": max(listed),
           "anchor_iteration_mean_s": ANCHOR_RALLY_S, "anchor_over_kumo": round(ANCHOR_RALLY_S / mean, 1),
           "cleanup_seconds": round(cleanup, 2), "server_cpu_s": cpu}
    print(f"  rally create_and_list_ports x{iterations} c={concurrency}: {wall:.2f} s, iteration mean "
          f"{mean:.3f} s (anchor {ANCHOR_RALLY_S} s: x{out['anchor_over_kumo']})", flush=True)
    return out


# 2. routers -------------------------------------------------------------------------------------

async def delete_router(api: Api, router_id: str) -> None:
    ports = (await api.net("GET", f"/ports?device_id={router_id}"))["ports"]
    for p in ports:
        if p["device_owner"] == "network:router_interface":
            await api.net("PUT", f"/routers/{router_id}/remove_router_interface",
                          {"port_id": p["id"]}, expect=(200, 404))
    await api.net("DELETE", f"/routers/{router_id}", expect=(204, 404))


def router_wired(router_id: str, port_ids: list[str]) -> bool:
    """Namespace qrouter-<id> holds a device with an address for each of the router's ports."""
    out = sh("ip", "-n", f"qrouter-{router_id}", "-o", "addr", "show").stdout
    return bool(port_ids) and all(f"-{p[:11]}" in out for p in port_ids)


async def measure_routers(cloud: Cloud, n: int, external: str, deadline_s: float) -> dict:
    api = cloud.api
    ext = (await api.net("GET", f"/networks?name={external}"))["networks"]
    if not ext:
        raise BenchError(f"no external network {external!r}")
    ext_id = ext[0]["id"]
    subnets = []
    nets = []
    for i in range(n):
        net_id, sub_id = await cloud.network(f"r{i}", f"10.96.{i}.0/24")
        nets.append(net_id)
        subnets.append(sub_id)
    routers: list[dict] = []
    before_ns = namespaces() if cloud.host_checks else set()
    cloud.cpu_start()
    t_start = time.perf_counter()

    async def make(i: int) -> None:
        t0 = time.perf_counter()
        r = (await api.net("POST", "/routers", {"router": {
            "name": f"{PREFIX}r{i}", "external_gateway_info": {"network_id": ext_id}}}))["router"]
        await api.net("PUT", f"/routers/{r['id']}/add_router_interface", {"subnet_id": subnets[i]})
        routers.append({"id": r["id"], "t0": t0, "api_s": time.perf_counter() - t0})

    try:
        # Each router is watched from the moment its interface is added, while the next ones are made.
        port_ids: dict[str, list[str]] = {}
        done = asyncio.Event()

        async def watch() -> None:
            while True:
                pending = [r for r in routers if "active_s" not in r or ("ns_s" not in r and cloud.host_checks)]
                if done.is_set() and (not pending or time.perf_counter() - created[0] > deadline_s):
                    return
                for r in pending:
                    rid = r["id"]
                    if rid not in port_ids:
                        port_ids[rid] = [p["id"] for p in (await api.net("GET", f"/ports?device_id={rid}"))["ports"]]
                    if "ns_s" not in r and cloud.host_checks and \
                            await asyncio.to_thread(router_wired, rid, port_ids[rid]):
                        r["ns_s"] = time.perf_counter() - r["t0"]
                    if "active_s" not in r:
                        ports = (await api.net("GET", f"/ports?device_id={rid}&fields=status"))["ports"]
                        if ports and all(p["status"] == "ACTIVE" for p in ports):
                            r["active_s"] = time.perf_counter() - r["t0"]
                await asyncio.sleep(0.1)

        created = [0.0]
        watcher = asyncio.create_task(watch())
        try:
            api_wall, _, _ = await batch(n, 1, make)
        finally:
            created[0] = time.perf_counter()  # the wait's window starts once all routers exist
            done.set()
        await watcher
        all_wired = time.perf_counter() - t_start
        cpu = cloud.cpu_used()
    finally:
        t0 = time.perf_counter()
        await batch(len(routers), 1, lambda i: delete_router(api, routers[i]["id"]))
        delete_api = time.perf_counter() - t0
        for net_id in nets:
            await api.net("DELETE", f"/networks/{net_id}", expect=(204, 404))
    # Teardown: the agents remove namespaces and devices asynchronously.
    gone_s, left = None, {}
    if cloud.host_checks:
        names = [f"qrouter-{r['id']}" for r in routers]
        stems = [p[:11] for ids in port_ids.values() for p in ids] + [f"brq{n_[:11]}" for n_ in nets]
        while time.perf_counter() - t0 < deadline_s:
            left = {"namespaces": sorted(set(names) & namespaces()),
                    "devices": sorted(d for d in devices() if any(s in d for s in stems))}
            if not left["namespaces"] and not left["devices"]:
                gone_s = time.perf_counter() - t0
                break
            await asyncio.sleep(0.2)
        left["new_namespaces"] = sorted(n_ for n_ in namespaces() - before_ns if n_.startswith("qrouter-"))
    api_times = [r["api_s"] for r in routers]
    ns_times = [r["ns_s"] for r in routers if "ns_s" in r]
    active_times = [r["active_s"] for r in routers if "active_s" in r]
    out = {"routers": n, "create_api_seconds": round(api_wall, 2), "create_api": summary(api_times),
           "wired_in_namespace": summary(ns_times) if cloud.host_checks else "not checked (no host access)",
           "ports_active": summary(active_times), "all_wired_seconds": round(all_wired, 2),
           "not_wired": len(routers) - (len(ns_times) if cloud.host_checks else len(active_times)),
           "delete_api_seconds": round(delete_api, 2),
           "teardown_seconds": round(gone_s, 2) if gone_s is not None else None,
           "left_behind": left, "server_cpu_s": cpu}
    print(f"  routers x{n}: API {api_wall:.2f} s (p50 {out['create_api'].get('p50_ms')} ms); wired p50 "
          f"{summary(ns_times).get('p50_ms')} ms, p95 {summary(ns_times).get('p95_ms')} ms; all wired "
          f"{all_wired:.2f} s; delete {delete_api:.2f} s, host clean after {out['teardown_seconds']} s; "
          f"left {left}", flush=True)
    return out


# 3. list 1000 ports -----------------------------------------------------------------------------

async def measure_list(cloud: Cloud, net_id: str, total: int, runs: int) -> dict:
    api = cloud.api
    chunk = 100
    ids: list[str] = []
    cloud.cpu_start()
    t0 = time.perf_counter()
    try:
        for start in range(0, total, chunk):
            body = {"ports": [{"network_id": net_id, "name": f"{PREFIX}l{i}"}
                              for i in range(start, min(total, start + chunk))]}
            ids += [p["id"] for p in (await api.net("POST", "/ports", body))["ports"]]
        bulk_s = time.perf_counter() - t0
        out = {"ports": total, "bulk_create_seconds": round(bulk_s, 2), "bulk_chunk": chunk}
        for label, query in (("all_fields", ""), ("fields_id", "?fields=id")):
            times, size, count = [], 0, 0
            for _ in range(runs):
                t1 = time.perf_counter()
                resp = await api.http.get(api.base["network"] + "/ports" + query)
                times.append(time.perf_counter() - t1)
                resp.raise_for_status()
                size, count = len(resp.content), len(resp.json()["ports"])
            out[label] = {**summary(times), "bytes": size, "ports_returned": count}
            print(f"  list {count} ports {label}: p50 {out[label]['p50_ms']} ms, max {out[label]['max_ms']} ms, "
                  f"{size} bytes", flush=True)
        out["server_cpu_s"] = cloud.cpu_used()
    finally:
        t1 = time.perf_counter()
        await cloud.delete_ports(ids, 10)
        delete_s = time.perf_counter() - t1
    out["delete_seconds_c10"] = round(delete_s, 2)
    print(f"  bulk create {total} ports {out['bulk_create_seconds']} s; delete at c=10 {delete_s:.2f} s", flush=True)
    return out


# 4. floating IP association -> first ping reply ---------------------------------------------------

def pings(address: str, netns: str | None = None) -> bool:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ping", "-n", "-c1", "-W1", address]
    return sh(*cmd, timeout=5).returncode == 0


async def wait_for(what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float, step: float = 0.2) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        ok = check()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return time.perf_counter() - t0
        await asyncio.sleep(step)
    raise BenchError(f"timed out after {timeout} s waiting for {what}")


async def measure_fip(cloud: Cloud, external: str, image: str, flavor: str, runs: int, timeout: float) -> dict:
    api = cloud.api
    ext_id = (await api.net("GET", f"/networks?name={external}"))["networks"][0]["id"]
    net_id, sub_id = await cloud.network("fip", "10.95.0.0/24")
    sg = (await api.net("POST", "/security-groups", {"security_group": {"name": PREFIX + "icmp"}}))["security_group"]
    router = server_id = fip = None
    try:
        await api.net("POST", "/security-group-rules", {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}})
        router = (await api.net("POST", "/routers", {"router": {
            "name": PREFIX + "fip", "external_gateway_info": {"network_id": ext_id}}}))["router"]["id"]
        await api.net("PUT", f"/routers/{router}/add_router_interface", {"subnet_id": sub_id})
        images = (await api.call("image", "GET", f"/v2/images?name={image}"))["images"]
        if not images:
            raise BenchError(f"no image {image!r}")
        server_id = (await api.call("compute", "POST", "/servers", {"server": {
            "name": PREFIX + "vm", "imageRef": images[0]["id"], "flavorRef": flavor,
            "networks": [{"uuid": net_id}], "security_groups": [{"name": sg["name"]}]}}))["server"]["id"]
        t0 = time.perf_counter()

        async def active() -> bool:
            s = (await api.call("compute", "GET", f"/servers/{server_id}"))["server"]
            if s["status"] == "ERROR":
                raise BenchError(f"server ERROR: {s.get('fault')}")
            return s["status"] == "ACTIVE"
        await wait_for("server ACTIVE", active, timeout, 0.5)
        port = (await api.net("GET", f"/ports?device_id={server_id}"))["ports"][0]
        fixed = port["fixed_ips"][0]["ip_address"]
        # The guest is up (booted, DHCP done) once the router namespace reaches its fixed IP.
        await wait_for("guest answering ping on its fixed IP from the router",
                       lambda: pings(fixed, f"qrouter-{router}"), timeout, 1.0)
        boot_s = time.perf_counter() - t0
        fip = (await api.net("POST", "/floatingips", {"floatingip": {
            "floating_network_id": ext_id, "description": PREFIX}}))["floatingip"]
        address = fip["floating_ip_address"]
        samples = []
        for _ in range(runs):
            t1 = time.perf_counter()
            await api.net("PUT", f"/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})
            api_s = time.perf_counter() - t1
            await wait_for("first ping reply", lambda: pings(address), timeout, 0.0)
            samples.append({"api_s": round(api_s, 3), "first_reply_s": round(time.perf_counter() - t1, 2)})
            print(f"  fip {address}: association -> first ping reply {samples[-1]['first_reply_s']} s", flush=True)
            await api.net("PUT", f"/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
            await wait_for("floating IP unreachable", lambda: not pings(address), timeout, 0.5)
        replies = [s["first_reply_s"] for s in samples]
        return {"runs": samples, "first_reply_p50_s": round(statistics.median(replies), 2),
                "guest_ready_s": round(boot_s, 1), "fixed_ip": fixed}
    finally:
        if server_id:
            await api.call("compute", "DELETE", f"/servers/{server_id}", expect=(204, 404))

            async def gone() -> bool:
                return (await api.http.get(f"{api.base['compute']}/servers/{server_id}")).status_code == 404
            await wait_for("server deleted", gone, timeout, 0.5)
        if fip:
            await api.net("DELETE", f"/floatingips/{fip['id']}", expect=(204, 404))
        if router:
            await delete_router(api, router)
        await api.net("DELETE", f"/networks/{net_id}", expect=(204, 404))
        await api.net("DELETE", f"/security-groups/{sg['id']}", expect=(204, 404))


# main ---------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "kernel": platform.release(),
            "python": platform.python_version()}


async def lift_quotas(api: Api) -> Callable[[], Awaitable[None]]:
    """Unlimited quotas for the caller's project; returns the coroutine that restores them."""
    path = f"/quotas/{api.project_id}"
    custom = any(q.get("project_id") == api.project_id or q.get("tenant_id") == api.project_id
                 for q in (await api.net("GET", "/quotas"))["quotas"])
    before = (await api.net("GET", path))["quota"]
    await api.net("PUT", path, {"quota": {k: -1 for k in before}})

    async def restore() -> None:
        if custom:
            await api.net("PUT", path, {"quota": before})
        else:
            await api.net("DELETE", path, expect=(204, 404))
    return restore


def save(result: dict, args) -> None:
    """Write ``result`` to ``--output`` (after each measure too, so an interrupted run keeps its numbers)."""
    if not args.no_save:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


async def run(args) -> dict:
    api = Api(args.cloud, max(args.concurrency + [args.rally_concurrency, 10]))
    cloud = Cloud(api, host_checks=os.geteuid() == 0 and not args.no_host_checks)
    commit = sh("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").stdout.strip() or None
    result: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cloud": args.cloud,
                    "endpoint": api.base["network"], "commit": commit, "note": args.note, "machine": machine(),
                    "loadavg_start": round(os.getloadavg()[0], 2), "rss_start": cloud.rss()}
    try:
        await cloud.leftovers()
        restore = await lift_quotas(api)
        try:
            net_id, _ = await cloud.network("ports", "10.98.0.0/21")
            try:
                if "ports" in args.only:
                    print("ports", flush=True)
                    result["ports"] = await measure_ports(cloud, net_id, args.ports, args.concurrency)
                    save(result, args)
                if "list" in args.only:
                    print("list", flush=True)
                    result["list"] = await measure_list(cloud, net_id, args.list_ports, args.list_runs)
                    save(result, args)
            finally:
                await api.net("DELETE", f"/networks/{net_id}", expect=(204, 404, 409))
            if "rally" in args.only:
                print("rally", flush=True)
                result["rally"] = await measure_rally(cloud, args.rally_iterations, args.rally_concurrency,
                                                      args.rally_ports_per_network)
                save(result, args)
            if "routers" in args.only:
                print("routers", flush=True)
                result["routers"] = await measure_routers(cloud, args.routers, args.external_network, args.timeout)
                save(result, args)
            if args.with_vm:
                print("fip", flush=True)
                result["fip"] = await measure_fip(cloud, args.external_network, args.image, args.flavor,
                                                  args.fip_runs, args.timeout)
            else:
                result["fip"] = "not measured (--with-vm not given)"
        finally:
            await restore()
    finally:
        await cloud.leftovers()
        await api.close()
    result["rss_end"] = cloud.rss()
    result["loadavg_end"] = round(os.getloadavg()[0], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cloud", default="admin", help="a cloud of clouds.yaml (default admin)")
    p.add_argument("--only", default=",".join(MEASURES), help=f"comma-separated subset of {','.join(MEASURES)},fip")
    p.add_argument("--ports", type=int, default=100)
    p.add_argument("--concurrency", default="1,10,50")
    p.add_argument("--rally-iterations", type=int, default=100)
    p.add_argument("--rally-concurrency", type=int, default=50)
    p.add_argument("--rally-ports-per-network", type=int, default=2)
    p.add_argument("--routers", type=int, default=20)
    p.add_argument("--list-ports", type=int, default=1000)
    p.add_argument("--list-runs", type=int, default=10)
    p.add_argument("--external-network", default="public")
    p.add_argument("--with-vm", action="store_true", help="also time floating IP association -> ping (boots a VM)")
    p.add_argument("--fip-runs", type=int, default=3)
    p.add_argument("--image", default="cirros")
    p.add_argument("--flavor", default="42", help="flavor id for --with-vm (default 42, m1.nano)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds any one wait may take")
    p.add_argument("--no-host-checks", action="store_true", help="skip namespace/device checks (remote cloud)")
    p.add_argument("--note", default=None, help="free text stored with the results (where, what else ran)")
    p.add_argument("--output", default=str(RESULTS / "network.json"))
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    args.only = {m.strip() for m in args.only.split(",") if m.strip()}
    if args.only - set(MEASURES) - {"fip"}:
        p.error(f"unknown measure(s): {', '.join(sorted(args.only - set(MEASURES) - {'fip'}))}")
    args.with_vm = args.with_vm or "fip" in args.only  # --only fip: the floating IP measure alone
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    result = asyncio.run(run(args))
    save(result, args)
    if not args.no_save:
        print(f"wrote {args.output}")
    print(f"RSS after: {result['rss_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
