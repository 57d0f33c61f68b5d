"""Links, bridges, veth pairs and network namespaces, through iproute2's ``ip``.

Thin async wrappers over ``ip`` (run with :func:`kumo.common.host.process.run`),
shared by the network agents and the compute driver. Every ``ensure_*``/``add``
helper is idempotent, every ``delete_*`` helper tolerates an object that is
already gone, so callers can replay them when reconciling host state.

Errors: anything ``ip`` refuses raises :class:`~kumo.common.host.process.HostError`.
Names follow the kernel's rule (at most 15 bytes, :data:`IFNAMSIZ` - 1);
:class:`ValueError` is raised before calling ``ip`` for a longer name.

Namespaces are the named ones of ``ip netns`` (files under ``/run/netns``).
:func:`run_in_netns` runs a Python callable inside one, on a short-lived thread
(``setns(2)`` changes only the calling thread), e.g. to create a listening
socket that belongs to the namespace while it is served by the main loop.
"""
from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import json
import os
import threading
from typing import Any, Callable, Iterable, TypeVar

from kumo.common.host.process import HostError, run

IP = "ip"
#: Longest interface name the kernel accepts.
IFNAMSIZ = 16
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def _check_name(name: str) -> str:
    if not name or len(name.encode()) > IFNAMSIZ - 1 or "/" in name or " " in name:
        raise ValueError(f"invalid interface name {name!r} (1-{IFNAMSIZ - 1} bytes, no '/' or spaces)")
    return name


def netns_exec_argv(netns: str | None, *argv: str) -> list[str]:
    """``argv`` prefixed with ``ip netns exec <netns>`` (unchanged when ``netns`` is None)."""
    if not netns:
        return list(argv)
    return [IP, "netns", "exec", netns, *argv]


def _ip(netns: str | None, *args: str) -> list[str]:
    return [IP, *(("-n", netns) if netns else ()), *args]


async def _ip_json(netns: str | None, *args: str) -> list[dict]:
    out = await run(IP, "-j", *(("-n", netns) if netns else ()), *args)
    out = out.strip()
    return json.loads(out) if out else []


# --- links ------------------------------------------------------------------

async def link_exists(name: str, netns: str | None = None) -> bool:
    """True if link ``name`` exists (in ``netns``, default: the host's namespace)."""
    _check_name(name)
    try:
        await run(*_ip(netns, "link", "show", "dev", name))
        return True
    except HostError:
        return False


async def link_info(name: str, netns: str | None = None) -> dict | None:
    """``ip -j -d link show`` of ``name`` (keys ``ifname``, ``address``, ``mtu``, ``master``,
    ``operstate``, ``linkinfo``...) or None if it does not exist."""
    _check_name(name)
    try:
        links = await _ip_json(netns, "-d", "link", "show", "dev", name)
    except HostError:
        return None
    return links[0] if links else None


async def list_links(netns: str | None = None, kind: str | None = None) -> list[str]:
    """Names of the links in ``netns`` (only those of ``kind``: bridge, veth, vlan... if given)."""
    args = ["link", "show"] + (["type", kind] if kind else [])
    return [link["ifname"] for link in await _ip_json(netns, *args)]


async def delete_link(name: str, netns: str | None = None) -> bool:
    """Delete link ``name``; returns False if it was already gone.

    Deleting either end of a veth pair deletes both ends.
    """
    if not await link_exists(name, netns):
        return False
    try:
        await run(*_ip(netns, "link", "delete", "dev", name))
    except HostError:
        if await link_exists(name, netns):
            raise
        return False
    return True


async def set_up(name: str, netns: str | None = None) -> None:
    """Set link ``name`` administratively up."""
    await run(*_ip(netns, "link", "set", "dev", _check_name(name), "up"))


async def set_link(name: str, netns: str | None = None, *, mac: str | None = None,
                   mtu: int | None = None, master: str | None = None,
                   nomaster: bool = False) -> None:
    """Change a link's MAC address, MTU (bytes) and/or bridge (``master``; ``nomaster``
    takes it out of its bridge)."""
    args: list[str] = ["nomaster"] if nomaster else []
    if mac:
        args += ["address", mac]
    if mtu:
        args += ["mtu", str(int(mtu))]
    if master:
        args += ["master", _check_name(master)]
    if args:
        await run(*_ip(netns, "link", "set", "dev", _check_name(name), *args))


# --- bridges ----------------------------------------------------------------

async def ensure_bridge(name: str, cidr: str | None = None) -> bool:
    """Make sure Linux bridge ``name`` exists and is up; add ``cidr``
    (``"172.24.4.1/24"``) to it if given. Returns True if the bridge was created.

    An existing bridge is only set up (and given ``cidr`` if it lacks it): its
    other addresses and its ports are left alone. Raises HostError if ``name``
    exists but is not a bridge.
    """
    _check_name(name)
    info = await link_info(name)
    created = False
    if info is None:
        try:
            await run(IP, "link", "add", "name", name, "type", "bridge")
            created = True
        except HostError:
            if await link_info(name) is None:  # lost a race only if it exists now
                raise
        info = await link_info(name)
    kind = ((info or {}).get("linkinfo") or {}).get("info_kind")
    if kind != "bridge":
        raise HostError([IP, "link", "show", name], 1, f"{name} exists and is not a bridge ({kind})")
    if created:
        # A bridge with no ports forwards nothing until it is up; no STP delay for a lab bridge.
        await run(IP, "link", "set", "dev", name, "type", "bridge", "forward_delay", "0", check=False)
    await set_up(name)
    if cidr:
        await add_address(name, cidr)
    return created


async def bridge_ports(bridge: str) -> list[str]:
    """Names of the links enslaved to ``bridge`` (empty if it does not exist)."""
    _check_name(bridge)
    if not await link_exists(bridge):
        return []
    return [link["ifname"] for link in await _ip_json(None, "link", "show", "master", bridge)]


# --- VXLAN and VLAN links ---------------------------------------------------------

async def links(netns: str | None = None) -> list[dict]:
    """``ip -j link show`` of every link: dicts with ``ifname``, ``master``, ``operstate``..."""
    return await _ip_json(netns, "link", "show")


async def ensure_vxlan(name: str, vni: int, local_ip: str, *, bridge: str | None = None,
                       dstport: int = 4789, mtu: int | None = None) -> bool:
    """Make sure VXLAN device ``name`` (VNI ``vni``, source ``local_ip``, UDP ``dstport``,
    no MAC learning: flooding goes to the fdb entries of :func:`sync_flood`) exists, is in
    ``bridge`` and up; a device with another VNI is replaced. True if created."""
    _check_name(name)
    info = await link_info(name)
    data = ((info or {}).get("linkinfo") or {}).get("info_data") or {}
    if info is not None and data.get("id") != vni:
        await delete_link(name)
        info = None
    created = False
    if info is None:
        await run(IP, "link", "add", name, *(("mtu", str(mtu)) if mtu else ()), "type", "vxlan",
                  "id", str(vni), "dstport", str(dstport), "local", local_ip, "nolearning")
        created = True
    try:
        if bridge and (info or {}).get("master") != bridge:
            await set_link(name, master=bridge)
        await set_up(name)
    except HostError:
        if created:
            await delete_link(name)
        raise
    return created


async def ensure_vlan(name: str, parent: str, vlan_id: int, *, bridge: str | None = None) -> bool:
    """Make sure VLAN link ``name`` (``vlan_id`` on ``parent``) exists, is in ``bridge`` and up."""
    _check_name(name)
    created = False
    if not await link_exists(name):
        await run(IP, "link", "add", "link", _check_name(parent), "name", name, "type", "vlan",
                  "id", str(vlan_id))
        created = True
    if bridge:
        await set_link(name, master=bridge)
    await set_up(name)
    return created


async def sync_flood(device: str, peers: Iterable[str]) -> None:
    """Make the all-zero (flood) fdb entries of VXLAN ``device`` exactly one per peer address
    (head-end replication toward the other hosts' tunnel endpoints)."""
    _check_name(device)
    zero = "00:00:00:00:00:00"
    out = await run("bridge", "-j", "fdb", "show", "dev", device)
    have = {e.get("dst") for e in (json.loads(out) if out.strip() else [])
            if e.get("mac") == zero and e.get("dst")}
    want = set(peers)
    for dst in sorted(want - have):
        await run("bridge", "fdb", "append", zero, "dev", device, "dst", dst)
    for dst in sorted(have - want):
        await run("bridge", "fdb", "del", zero, "dev", device, "dst", dst, check=False)


# --- addresses --------------------------------------------------------------

async def addresses(name: str, netns: str | None = None, family: int | None = None) -> list[str]:
    """Addresses of link ``name`` as ``"ip/prefixlen"`` strings (scope global and link);
    ``family`` 4 or 6 restricts them. Empty if the link does not exist."""
    _check_name(name)
    try:
        data = await _ip_json(netns, *(["-4"] if family == 4 else ["-6"] if family == 6 else []),
                              "addr", "show", "dev", name)
    except HostError:
        return []
    out = []
    for link in data:
        for a in link.get("addr_info", []):
            if a.get("scope") == "host" or not a.get("local"):
                continue
            if a["family"] == "inet6" and a["local"].lower().startswith("fe80:"):
                continue
            out.append(f"{a['local']}/{a['prefixlen']}")
    return out


def _same_address(a: str, b: str) -> bool:
    return ipaddress.ip_interface(a) == ipaddress.ip_interface(b)


async def add_address(name: str, cidr: str, netns: str | None = None) -> bool:
    """Add ``cidr`` (``"10.0.0.2/24"``) to link ``name`` unless present; True if added.

    Raises ValueError for a malformed ``cidr``.
    """
    iface = ipaddress.ip_interface(cidr)
    if any(_same_address(have, cidr) for have in await addresses(name, netns)):
        return False
    args = ["addr", "add", str(iface), "dev", _check_name(name)]
    if iface.version == 4 and iface.network.prefixlen < 31:
        args[3:3] = ["brd", "+"]
    try:
        await run(*_ip(netns, *args))
    except HostError as e:
        if "File exists" not in e.stderr:
            raise
        return False
    return True


async def delete_address(name: str, cidr: str, netns: str | None = None) -> bool:
    """Remove ``cidr`` from link ``name``; False if it was not there."""
    iface = ipaddress.ip_interface(cidr)
    if not any(_same_address(have, cidr) for have in await addresses(name, netns)):
        return False
    await run(*_ip(netns, "addr", "del", str(iface), "dev", _check_name(name)))
    return True


async def sync_addresses(name: str, cidrs: Iterable[str], netns: str | None = None) -> None:
    """Make ``cidrs`` exactly the (global, non link-local) addresses of link ``name``."""
    want = [str(ipaddress.ip_interface(c)) for c in cidrs]
    have = await addresses(name, netns)
    for cidr in have:
        if not any(_same_address(cidr, w) for w in want):
            await delete_address(name, cidr, netns)
    for cidr in want:
        await add_address(name, cidr, netns)


# --- namespaces ---------------------------------------------------------------

async def netns_list() -> list[str]:
    """Names of the named network namespaces (``ip netns list``)."""
    try:
        return sorted(entry["name"] for entry in await _ip_json(None, "netns", "list"))
    except (HostError, ValueError):
        try:
            return sorted(os.listdir(NETNS_DIR))
        except FileNotFoundError:
            return []


async def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


async def netns_add(name: str) -> bool:
    """Create namespace ``name`` with its loopback up; True if it was created."""
    if "/" in name or not name:
        raise ValueError(f"invalid namespace name {name!r}")
    created = False
    if not await netns_exists(name):
        try:
            await run(IP, "netns", "add", name)
            created = True
        except HostError:
            if not await netns_exists(name):
                raise
    await run(IP, "-n", name, "link", "set", "dev", "lo", "up")
    return created


async def netns_delete(name: str) -> bool:
    """Delete namespace ``name``; False if it did not exist.

    The namespace's links go with it (and their veth peers). Processes still
    running in it keep it alive, unnamed, until they exit: stop them first.
    """
    if not await netns_exists(name):
        return False
    try:
        await run(IP, "netns", "delete", name)
    except HostError:
        if await netns_exists(name):
            raise
        return False
    return True


async def netns_exec(name: str, *argv: str, check: bool = True, timeout: float = 120) -> str:
    """Run ``argv`` inside namespace ``name``; its stdout (HostError on failure)."""
    return await run(*netns_exec_argv(name, *argv), check=check, timeout=timeout)


# --- veth -------------------------------------------------------------------

async def plug_veth(host_dev: str, ns_dev: str, *, bridge: str | None, netns: str,
                    cidrs: Iterable[str] = (), mac: str | None = None, mtu: int | None = None) -> bool:
    """Wire a veth pair: ``host_dev`` in the host namespace (enslaved to ``bridge``
    if given, up) and ``ns_dev`` inside ``netns`` (MAC ``mac``, exactly the
    addresses ``cidrs``, up). Creates ``netns`` if needed. Idempotent: an
    existing pair is re-checked and fixed; returns True if the pair was created.

    On a failure while creating, the half-made pair is deleted before the
    HostError propagates.
    """
    _check_name(host_dev)
    _check_name(ns_dev)
    await netns_add(netns)
    created = False
    if not await link_exists(ns_dev, netns):
        # A stale host end without its peer in the namespace cannot be reused.
        await delete_link(host_dev)
        try:
            await run(IP, "link", "add", "name", host_dev, *(("mtu", str(mtu)) if mtu else ()),
                      "type", "veth", "peer", "name", ns_dev, "netns", netns)
            created = True
        except HostError:
            await delete_link(host_dev)
            raise
    try:
        info = await link_info(ns_dev, netns) or {}
        if mac and info.get("address", "").lower() != mac.lower():
            await set_link(ns_dev, netns, mac=mac)
        if mtu and info.get("mtu") != mtu:
            await set_link(ns_dev, netns, mtu=mtu)
            await set_link(host_dev, mtu=mtu)
        await sync_addresses(ns_dev, cidrs, netns)
        await set_up(ns_dev, netns)
        if bridge:
            host_info = await link_info(host_dev) or {}
            if host_info.get("master") != bridge:
                await set_link(host_dev, master=bridge)
        await set_up(host_dev)
    except (HostError, ValueError):
        if created:
            await delete_link(host_dev)
        raise
    return created


# --- Python code inside a namespace --------------------------------------------

def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _call_in_netns(path: str, fn: Callable[..., T], args: tuple) -> T:
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            return fn(*args)
        finally:
            _setns(own)  # belt and braces: the thread ends right after
    finally:
        os.close(own)


def _settle(fut: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if fut.done():  # the awaiting coroutine was cancelled; close what fn made, if it can be
        if error is None and hasattr(result, "close"):
            result.close()
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


async def run_in_netns(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on a new thread that has joined namespace ``name``; its result.

    Objects created there keep the namespace (a socket stays bound in it).
    Raises FileNotFoundError if the namespace does not exist, OSError if
    ``setns`` is refused (needs CAP_SYS_ADMIN), or whatever ``fn`` raises.
    """
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"network namespace {name!r} does not exist")
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def worker() -> None:
        try:
            result = _call_in_netns(path, fn, args)
        except BaseException as e:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, fut, None, e)
        else:
            loop.call_soon_threadsafe(_settle, fut, result, None)

    threading.Thread(target=worker, name=f"netns-{name}", daemon=True).start()
    return await fut
