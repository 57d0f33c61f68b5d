"""dnsmasq for one network: its files, its command line, its process.

Per network the DHCP agent keeps ``<state_dir>/dhcp/<network_id>/`` with

- ``host``: one ``--dhcp-hostsfile`` line per port address,
  ``<mac>,<hostname>,<ip>`` (``,set:port-<id>`` added when the port has extra
  DHCP options); hostname = the port's ``dns_name`` or ``host-<ip with dashes>``;
- ``opts``: ``--dhcp-optsfile`` lines per subnet tag ``subnet-<id>``: router
  (empty when the subnet has no gateway, so dnsmasq does not offer itself),
  dns-server, and classless-static-route (option 121) with
  ``169.254.169.254/32,<dhcp port ip>``, the other subnets of the network
  on-link, the subnet's host routes and ``0.0.0.0/0,<gateway>``; plus the
  ports' ``extra_dhcp_opts`` under tag ``port-<id>``;
- ``pid``, ``leases``, ``dhcp.log`` and ``state.json`` (what the agent wired).

Served subnets have ``enable_dhcp`` and are IPv4, or IPv6 with ``ipv6_address_mode``
``dhcpv6-stateful`` (addresses: ``<mac>,<hostname>,[<ipv6>]`` host lines) or
``dhcpv6-stateless`` (options only, the address comes from SLAAC). Each has a static
``--dhcp-range`` (``<network address>,static,<netmask or prefix length>,<lease>``), so
only known MAC addresses get addresses and DHCPv6 information requests are
answered on the stateless ones; router advertisements are the L3 agent's (radvd),
never dnsmasq's. IPv6 subnets get only ``option6:dns-server`` in ``opts``. dnsmasq runs with
``--port=0`` (no DNS), ``--user=root`` (it re-reads the files on SIGHUP and
the state directory may be private), inside the network's namespace.
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
from pathlib import Path

from kumo.common.host.process import cmdline, terminate

METADATA_IP = "169.254.169.254"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


DHCPV6_STATEFUL, DHCPV6_STATELESS = "dhcpv6-stateful", "dhcpv6-stateless"


def dhcp_subnets(subnets: list[dict]) -> list[dict]:
    """The subnets dnsmasq serves (enable_dhcp; IPv4, or IPv6 in a DHCPv6 address mode),
    in the given order."""
    return [s for s in subnets if s.get("enable_dhcp") and (
        s.get("ip_version") == 4 or s.get("ipv6_address_mode") in (DHCPV6_STATEFUL, DHCPV6_STATELESS))]


def _leased(subnet: dict) -> bool:
    """True if dnsmasq hands out addresses of ``subnet`` (not DHCPv6-stateless)."""
    return subnet.get("ip_version") == 4 or subnet.get("ipv6_address_mode") == DHCPV6_STATEFUL


def hostname(port: dict, ip: str) -> str:
    return port.get("dns_name") or "host-" + ip.replace(".", "-").replace(":", "-")


def _v4_opts(port: dict) -> list[dict]:
    return [o for o in port.get("extra_dhcp_opts") or [] if o.get("ip_version", 4) == 4]


def hosts_lines(ports: list[dict], subnets: list[dict]) -> list[str]:
    """``--dhcp-hostsfile`` lines for the addresses ``ports`` hold in ``subnets``."""
    served = {s["id"] for s in dhcp_subnets(subnets) if _leased(s)}
    lines = []
    for port in sorted(ports, key=lambda p: p["id"]):
        for ip in port.get("fixed_ips") or []:
            if ip["subnet_id"] not in served:
                continue
            address = ip["ip_address"]
            shown = f"[{address}]" if ":" in address else address
            line = f"{port['mac_address']},{hostname(port, address)},{shown}"
            if _v4_opts(port):
                line += f",set:port-{port['id']}"
            lines.append(line)
    return lines


def _dhcp_port_ip(dhcp_port: dict | None, subnet_id: str) -> str | None:
    for ip in (dhcp_port or {}).get("fixed_ips") or []:
        if ip["subnet_id"] == subnet_id:
            return ip["ip_address"]
    return None


def opts_lines(subnets: list[dict], dhcp_port: dict | None, ports: list[dict],
               metadata: bool = True) -> list[str]:
    """``--dhcp-optsfile`` lines (router, DNS, option 121, per-port extra options)."""
    lines = []
    served = dhcp_subnets(subnets)
    for subnet in served:
        tag = f"tag:subnet-{subnet['id']}"
        if subnet.get("ip_version") == 6:
            if subnet.get("dns_nameservers"):
                servers = ",".join(f"[{a}]" for a in subnet["dns_nameservers"])
                lines.append(f"{tag},option6:dns-server,{servers}")
            continue
        if subnet.get("dns_nameservers"):
            lines.append(f"{tag},option:dns-server,{','.join(subnet['dns_nameservers'])}")
        routes: list[str] = []
        own_ip = _dhcp_port_ip(dhcp_port, subnet["id"])
        if metadata and own_ip:
            routes.append(f"{METADATA_IP}/32,{own_ip}")
        for other in subnets:
            if other["id"] != subnet["id"] and other.get("ip_version") == 4:
                routes.append(f"{other['cidr']},0.0.0.0")
        default_route = False
        for route in subnet.get("host_routes") or []:
            if ipaddress.ip_network(route["destination"]).version != 4:
                continue
            default_route |= route["destination"] == "0.0.0.0/0"
            routes.append(f"{route['destination']},{route['nexthop']}")
        gateway = subnet.get("gateway_ip")
        if gateway and not default_route:
            routes.append(f"0.0.0.0/0,{gateway}")
        if routes:
            lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
        lines.append(f"{tag},option:router,{gateway}" if gateway else f"{tag},option:router")
    for port in sorted(ports, key=lambda p: p["id"]):
        for opt in _v4_opts(port):
            name = opt["opt_name"]
            key = name if name.isdigit() else f"option:{name}"
            value = opt.get("opt_value")
            lines.append(f"tag:port-{port['id']},{key}" + (f",{value}" if value is not None else ""))
    return lines


def range_args(subnets: list[dict], lease_seconds: int) -> list[str]:
    out = []
    for subnet in dhcp_subnets(subnets):
        net = ipaddress.ip_network(subnet["cidr"])
        mask = net.netmask if net.version == 4 else net.prefixlen
        out.append(f"--dhcp-range=set:subnet-{subnet['id']},{net.network_address},static,"
                   f"{mask},{lease_seconds}s")
    return out


def argv(conf_dir: Path, interface: str, subnets: list[dict], *, mtu: int, lease_seconds: int,
         dns_domain: str) -> list[str]:
    """The dnsmasq command line for a network whose files are in ``conf_dir``."""
    lease_max = min(sum(ipaddress.ip_network(s["cidr"]).num_addresses
                        for s in dhcp_subnets(subnets)) or 1, 1 << 24)
    return [
        DNSMASQ, "--no-hosts", "--no-resolv", "--port=0", "--conf-file=/dev/null",
        "--user=root", "--group=root",
        f"--pid-file={conf_dir / 'pid'}", f"--dhcp-hostsfile={conf_dir / 'host'}",
        f"--dhcp-optsfile={conf_dir / 'opts'}", f"--dhcp-leasefile={conf_dir / 'leases'}",
        f"--interface={interface}", "--except-interface=lo", "--bind-interfaces",
        *range_args(subnets, lease_seconds),
        f"--dhcp-option-force=option:mtu,{mtu}", f"--dhcp-lease-max={lease_max}",
        "--dhcp-authoritative", f"--domain={dns_domain}",
        f"--log-facility={conf_dir / 'dhcp.log'}", "--log-dhcp",
    ]


DHCP_RELEASE = "/usr/bin/dhcp_release"


def write_file(path: Path, lines: list[str]) -> bool:
    """Replace ``path`` atomically with ``lines``; True if the content changed."""
    text = "".join(line + "\n" for line in lines)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def host_entries(lines: list[str]) -> set[tuple[str, str]]:
    """``(mac, ip)`` pairs of ``--dhcp-hostsfile`` lines (``mac,name,ip``)."""
    out = set()
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) >= 3:
            address = parts[2] if parts[-1].startswith("set:") else parts[-1]
            out.add((parts[0].lower(), address.strip("[]")))
    return out


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def prune_leases(leasefile: Path, keep: set[tuple[str, str]]) -> None:
    """Drop leases whose ``(mac, ip)`` is not in ``keep`` (before dnsmasq starts).

    A lease left by a deleted port would otherwise stop dnsmasq from giving
    that address to the next port ("not using configured address ... because
    it is leased to ...").
    """
    lines = read_lines(leasefile)
    kept = [line for line in lines
            if len(line.split()) < 3 or (line.split()[1].lower(), line.split()[2]) in keep]
    if kept != lines:
        write_file(leasefile, kept)


def release_argv(interface: str, ip: str, mac: str) -> list[str]:
    """``dhcp_release`` (dnsmasq-utils) for a lease dnsmasq holds for a removed port."""
    return [DHCP_RELEASE, interface, ip, mac]


def read_state(conf_dir: Path) -> dict:
    try:
        return json.loads((conf_dir / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def write_state(conf_dir: Path, state: dict) -> None:
    conf_dir.mkdir(parents=True, exist_ok=True)
    tmp = conf_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, conf_dir / "state.json")


# --- processes ----------------------------------------------------------------

def _is_dnsmasq(cmd: list[str]) -> bool:
    return bool(cmd) and os.path.basename(cmd[0]).startswith("dnsmasq")


def running(root: Path) -> dict[str, int]:
    """network id -> pid of every dnsmasq whose ``--pid-file`` lies under ``root``/<id>/."""
    out: dict[str, int] = {}
    root = Path(root).resolve()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cmd = cmdline(int(entry))
        if not _is_dnsmasq(cmd):
            continue
        for arg in cmd:
            if arg.startswith("--pid-file="):
                pid_file = Path(arg.split("=", 1)[1])
                if pid_file.parent.parent == root:
                    out[pid_file.parent.name] = int(entry)
    return out


def pid_of(conf_dir: Path) -> int | None:
    """The pid of the dnsmasq serving ``conf_dir`` (checked against /proc), or None."""
    try:
        pid = int((conf_dir / "pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    cmd = cmdline(pid)
    if _is_dnsmasq(cmd) and f"--pid-file={conf_dir / 'pid'}" in cmd:
        return pid
    return None


def same_command(pid: int, wanted: list[str]) -> bool:
    """True if process ``pid`` runs exactly ``wanted`` (its arguments, any dnsmasq path)."""
    cmd = cmdline(pid)
    return _is_dnsmasq(cmd) and cmd[1:] == wanted[1:]


def reload(pid: int) -> None:
    """SIGHUP: dnsmasq re-reads its hosts and options files."""
    os.kill(pid, signal.SIGHUP)


def kill(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM ``pid``, then SIGKILL after ``timeout`` seconds; quiet if it is gone.

    Blocking (polls /proc): call it from a thread.
    """
    terminate(pid, _is_dnsmasq, timeout)
