"""IPv6 router advertisements of one router: a radvd in its ``qrouter-<id>`` namespace.

An interface (``qr-``) on an IPv6 subnet whose ``ipv6_ra_mode`` is set advertises the
subnet's prefix (neutron's l3-agent does the same with radvd):

==================  ===========  ===========  ===========
ipv6_ra_mode        managed (M)  other (O)    autonomous (A)
==================  ===========  ===========  ===========
slaac               off          off          on
dhcpv6-stateless    off          on           on
dhcpv6-stateful     on           on           off
==================  ===========  ===========  ===========

Files per router, under ``<l3 state dir>/radvd/``: ``<router id>.conf`` and
``<router id>.pid``. :func:`ensure` starts radvd (SIGHUPs it when only the prefixes
change), :func:`stop` kills it and removes the files; :func:`routers` lists the
routers that have files, so the agent can stop those it no longer wires.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, cmdline, terminate

RADVD = shutil.which("radvd") or "/usr/sbin/radvd"
RA_MODES = ("slaac", "dhcpv6-stateless", "dhcpv6-stateful")


@dataclass(frozen=True)
class Prefix:
    """One advertised prefix: ``cidr`` (an IPv6 network) on namespace device ``device``."""

    device: str
    cidr: str
    mode: str  # one of RA_MODES


def config(prefixes: list[Prefix], mtu: dict[str, int] | None = None) -> str:
    """radvd.conf for ``prefixes``, one ``interface`` block per device (sorted)."""
    mtu = mtu or {}
    by_dev: dict[str, list[Prefix]] = {}
    for p in prefixes:
        by_dev.setdefault(p.device, []).append(p)
    out = []
    for dev in sorted(by_dev):
        modes = {p.mode for p in by_dev[dev]}
        out += [f"interface {dev}", "{", "    AdvSendAdvert on;", "    MinRtrAdvInterval 10;",
                "    MaxRtrAdvInterval 30;",
                f"    AdvManagedFlag {_flag('dhcpv6-stateful' in modes)};",
                f"    AdvOtherConfigFlag {_flag(bool(modes & {'dhcpv6-stateful', 'dhcpv6-stateless'}))};"]
        if mtu.get(dev):
            out.append(f"    AdvLinkMTU {mtu[dev]};")
        for p in sorted(by_dev[dev], key=lambda x: x.cidr):
            out += [f"    prefix {ipaddress.ip_network(p.cidr)}", "    {", "        AdvOnLink on;",
                    f"        AdvAutonomous {_flag(p.mode != 'dhcpv6-stateful')};", "    };"]
        out.append("};")
    return "\n".join(out) + "\n" if out else ""


def _flag(on: bool) -> str:
    return "on" if on else "off"


def _paths(root: Path, router_id: str) -> tuple[Path, Path]:
    return root / f"{router_id}.conf", root / f"{router_id}.pid"


def pid_of(root: Path, router_id: str) -> int | None:
    """The pid of the radvd running with this router's files (checked in /proc), or None."""
    conf, pidfile = _paths(root, router_id)
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = cmdline(pid)
    if cmd and os.path.basename(cmd[0]).startswith("radvd") and str(conf) in cmd:
        return pid
    return None


def argv(root: Path, router_id: str) -> list[str]:
    conf, pidfile = _paths(root, router_id)
    return [RADVD, "-C", str(conf), "-p", str(pidfile), "-m", "logfile",
            "-l", str(root / f"{router_id}.log")]


def routers(root: Path) -> set[str]:
    """Routers with radvd files under ``root``."""
    return {p.stem for p in root.glob("*.conf")} if root.is_dir() else set()


async def ensure(root: Path, router_id: str, netns: str, prefixes: list[Prefix],
                 mtu: dict[str, int] | None = None) -> bool:
    """Make the router's radvd advertise ``prefixes`` (none: stop it); True if one runs.

    Raises HostError when radvd does not start (its config is removed then)."""
    text = config(prefixes, mtu)
    if not text:
        await stop(root, router_id)
        return False
    root.mkdir(parents=True, exist_ok=True)
    conf, pidfile = _paths(root, router_id)
    pid = pid_of(root, router_id)
    old = conf.read_text() if conf.exists() else None
    if pid and old == text:
        return True
    conf.write_text(text)
    if pid:
        os.kill(pid, signal.SIGHUP)  # radvd re-reads its configuration
        return True
    pidfile.unlink(missing_ok=True)
    try:
        await _spawn(netns, argv(root, router_id))
        for _ in range(100):
            if pid_of(root, router_id):
                return True
            await asyncio.sleep(0.05)
        log = root / f"{router_id}.log"
        raise HostError(argv(root, router_id), 1, "radvd wrote no pid file: " +
                        (log.read_text()[-500:] if log.exists() else ""))
    except HostError:
        conf.unlink(missing_ok=True)
        raise


async def _spawn(netns: str, cmd: list[str]) -> None:
    """Start radvd in ``netns``; it daemonizes. Its output goes nowhere (a daemon holding
    our pipes would keep a reader waiting), its log to its log file."""
    proc = await asyncio.create_subprocess_exec(
        *hostnet.netns_exec_argv(netns, *cmd), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True)
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:  # still in the foreground: the pid file tells whether it runs
        return


async def stop(root: Path, router_id: str) -> None:
    """Kill the router's radvd (if any) and remove its files."""
    pid = pid_of(root, router_id)
    if pid:
        await asyncio.to_thread(terminate, pid)
    for path in (*_paths(root, router_id), root / f"{router_id}.log"):
        path.unlink(missing_ok=True)


