"""Host wiring of one router: namespace ``qrouter-<router id>``, veths, routes, NAT.

Pure host work on a :class:`RouterSpec` (what the L3 agent computed from the
network API), so it can be tested on real namespaces without the API:

- ``qg-<port[:11]>`` (in the namespace) / ``tap<port[:11]>`` (in the external
  network's bridge): the gateway port's MAC and addresses plus every floating
  IP as ``/32``; default route via the external subnet's gateway;
- ``qr-<port[:11]>`` / ``tap<port[:11]>`` into each internal network's bridge
  with the interface address (the subnet's gateway_ip) and prefix;
- IPv4 and IPv6 forwarding on; ``169.254.169.254/32`` on ``lo`` for the metadata proxy
  (router advertisements: :mod:`kumo.network.agents.radvd`);
- static routes as ``proto static`` routes (stale ones removed);
- the namespace's nat table, rewritten whole by ``iptables-restore`` into chains
  of our own: ``kumo-PREROUTING`` / ``kumo-OUTPUT`` (floating IP DNAT),
  ``kumo-POSTROUTING`` -> ``kumo-float-snat`` (floating IP SNAT) then
  ``kumo-snat`` (the gateway address for everything else leaving by ``qg-``,
  when ``enable_snat``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, run

log = logging.getLogger(__name__)

NS_PREFIX = "qrouter-"
METADATA_CIDR = "169.254.169.254/32"


@dataclass
class Interface:
    """One router port on this host: ``kind`` "qg" (gateway) or "qr" (interface)."""

    port_id: str
    kind: str
    mac: str
    bridge: str
    cidrs: list[str]  # "10.0.0.1/24"
    mtu: int | None = None
    #: (IPv6 subnet cidr, ipv6_ra_mode) of the subnets this interface advertises
    ra_prefixes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ns_dev(self) -> str:
        return f"{self.kind}-{self.port_id[:11]}"

    @property
    def host_dev(self) -> str:
        return f"tap{self.port_id[:11]}"


@dataclass
class RouterSpec:
    """Everything the namespace of router ``router_id`` should hold."""

    router_id: str
    interfaces: list[Interface] = field(default_factory=list)
    gateway_ip: str | None = None          # next hop of the default route (external subnet)
    snat_ip: str | None = None             # the gateway port's IPv4 address when enable_snat
    floating_ips: dict[str, str] = field(default_factory=dict)  # floating -> fixed
    floating_ip_ids: list[str] = field(default_factory=list)   # their ids (status reports)
    routes: list[dict] = field(default_factory=list)           # {"destination", "nexthop"}

    @property
    def netns(self) -> str:
        return NS_PREFIX + self.router_id

    @property
    def gateway(self) -> Interface | None:
        return next((i for i in self.interfaces if i.kind == "qg"), None)


def nat_rules(spec: RouterSpec) -> str:
    """The namespace's whole nat table in ``iptables-restore`` format."""
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
             ":POSTROUTING ACCEPT [0:0]"]
    chains = ("kumo-PREROUTING", "kumo-OUTPUT", "kumo-POSTROUTING", "kumo-float-snat", "kumo-snat")
    lines += [f":{c} - [0:0]" for c in chains]
    lines += ["-A PREROUTING -j kumo-PREROUTING", "-A OUTPUT -j kumo-OUTPUT",
              "-A POSTROUTING -j kumo-POSTROUTING",
              "-A kumo-POSTROUTING -j kumo-float-snat", "-A kumo-POSTROUTING -j kumo-snat"]
    gw = spec.gateway
    for fip, fixed in sorted(spec.floating_ips.items()):
        lines += [f"-A kumo-PREROUTING -d {fip}/32 -j DNAT --to-destination {fixed}",
                  f"-A kumo-OUTPUT -d {fip}/32 -j DNAT --to-destination {fixed}"]
        if gw is not None:
            lines.append(f"-A kumo-float-snat -s {fixed}/32 -o {gw.ns_dev} -j SNAT --to-source {fip}")
    if gw is not None and spec.snat_ip:
        # connections DNATed to a floating IP answer from it; everything else leaves as the router
        lines.append(f"-A kumo-snat -o {gw.ns_dev} -m conntrack ! --ctstate DNAT "
                     f"-j SNAT --to-source {spec.snat_ip}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


async def _ns(spec: RouterSpec, *argv: str, check: bool = True) -> str:
    return await hostnet.netns_exec(spec.netns, *argv, check=check)


async def wire(spec: RouterSpec) -> list[str]:
    """Make the namespace match ``spec`` (idempotent); the host devices it uses.

    A HostError propagates after what this call created for a new interface is
    removed (plug_veth undoes its half-made pair)."""
    try:
        await hostnet.netns_add(spec.netns)
    except HostError:
        # a namespace file whose namespace is gone (left by another mount namespace): renew it
        await hostnet.netns_delete(spec.netns)
        await hostnet.netns_add(spec.netns)
    await _ns(spec, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    await _ns(spec, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
    await hostnet.add_address("lo", METADATA_CIDR, spec.netns)
    wanted = {i.ns_dev for i in spec.interfaces}
    for dev in await hostnet.list_links(spec.netns):
        if dev[:3] in ("qg-", "qr-") and dev not in wanted:
            await hostnet.delete_link(dev, spec.netns)
    for iface in spec.interfaces:
        cidrs = list(iface.cidrs)
        if iface.kind == "qg":
            cidrs += [f"{fip}/32" for fip in sorted(spec.floating_ips)]
        await hostnet.plug_veth(iface.host_dev, iface.ns_dev, bridge=iface.bridge, netns=spec.netns,
                                cidrs=cidrs, mac=iface.mac, mtu=iface.mtu)
    await _routes(spec)
    await run(*hostnet.netns_exec_argv(spec.netns, "iptables-restore"),
              input=nat_rules(spec).encode())
    return [i.host_dev for i in spec.interfaces]


async def _routes(spec: RouterSpec) -> None:
    gw = spec.gateway
    if gw is not None and spec.gateway_ip:
        await _ns(spec, "ip", "route", "replace", "default", "via", spec.gateway_ip, "dev", gw.ns_dev)
    else:
        await _ns(spec, "ip", "route", "del", "default", check=False)
    wanted = {(r["destination"], r["nexthop"]) for r in spec.routes}
    have = json.loads(await _ns(spec, "ip", "-j", "route", "show", "proto", "static") or "[]")
    for route in have:
        if (route.get("dst"), route.get("gateway")) not in wanted:
            await _ns(spec, "ip", "route", "del", route["dst"], check=False)
    for dest, hop in sorted(wanted):
        # a nexthop the namespace cannot reach yet (interface coming) is retried next sync
        await _ns(spec, "ip", "route", "replace", dest, "via", hop, "proto", "static", check=False)


async def unwire(router_id: str, host_devs: list[str] = ()) -> None:
    """Delete the router's namespace (its qg-/qr- ends and their peers go with it) and any
    host device left over from ``host_devs``."""
    await hostnet.netns_delete(NS_PREFIX + router_id)
    for dev in host_devs:
        await hostnet.delete_link(dev)
