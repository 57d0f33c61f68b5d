"""The L2 agent (linuxbridge): network bridges, VXLAN/VLAN uplinks, port status, firewall.

``component(rt)`` -> Component "l2-agent", one per host. It reports to
``network_server.agent_heartbeat`` as agent_type "Linux bridge agent" (binary
"neutron-linuxbridge-agent") with ``configurations``: ``tunnel_types``
(["vxlan"]), ``bridge_mappings`` (``[network] physical_bridges``),
``local_ip`` (``[network] local_ip``, its VXLAN endpoint), ``firewall``
(whether security groups are enforced: ``[network] firewall_driver`` =
"iptables"); the network API binds ports of this host only through it.

It serves bus topic ``l2_agent`` (fanouts ``network_changed(network_id)``,
``network_deleted(network_id)``, ``port_changed(port_id)``,
``security_groups_changed(port_ids)``), each of which triggers a sync, and
polls ``ip -j link`` every second: a device appearing or disappearing triggers
one too (at least every :data:`RESYNC_SECONDS` anyway).

A sync, from the network API (ports with ``binding:host_id`` = this host and
their networks):

- each network with a port here gets its bridge
  (:func:`kumo.network.bridges.network_bridge`): ``brq<net[:11]>`` with a
  ``vxlan-<vni>`` device (UDP 4789 from ``local_ip``, no learning, flood
  entries toward every other alive L2 agent's ``local_ip``) or a VLAN link on
  the physical bridge; flat networks use the physical bridge as is;
- ``brq*`` bridges and ``vxlan-*`` devices of networks without ports here are
  removed (a bridge only once nothing else is plugged into it) — this is also
  how a killed run's leftovers go;
- a port with ``admin_state_up`` false has its device taken out of the bridge (put back
  when it is true again);
- ports whose device (``tap`` + port id[:11]: the guest's tap or the host
  end of a DHCP/router veth) is in the right bridge are reported ACTIVE, the others DOWN
  (``network_server.update_port_status``);
- the firewall (:mod:`kumo.network.agents.firewall`) is rewritten for the
  instance ports (device_owner ``compute:*``) from their security groups
  (``GET /v2.0/security-groups?id=...``; remote groups expand to their member
  ports' fixed IPs): iptables rules, MAC/ARP anti-spoofing (nft bridge table
  ``kumo``) and one conntrack zone per network bridge.
"""
from __future__ import annotations

import asyncio
import logging
import time

from kumo.common.bus import NoListener, RemoteError
from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError
from kumo.common.runtime import Component, Runtime
from kumo.network.agents.base import HEARTBEAT_SECONDS, SERVER_TOPIC, NetworkAgent
from kumo.network.agents.firewall import Firewall, PortFilter, enable_bridge_netfilter
from kumo.network.bridges import network_bridge, vlan_link, vxlan_link

log = logging.getLogger(__name__)

TOPIC = "l2_agent"
AGENT_TYPE = "Linux bridge agent"
BINARY = "neutron-linuxbridge-agent"
POLL_SECONDS = 1.0
RESYNC_SECONDS = 10.0
#: a bridge or tunnel no port needs is removed only after it stayed so this long (seconds):
#: a bridge made for a port whose binding the last sync did not see yet (the compute agent
#: plugging a guest, the DHCP or L3 agent plugging a veth) is not pulled from under them
STALE_GRACE_SECONDS = 15.0


def device_name(port: dict) -> str:
    """The bridge-side device of ``port``: ``tap`` + the first 11 chars of its id (a guest's
    tap, or the host end of a DHCP ``ns-``/router ``qr-``/``qg-`` veth)."""
    return "tap" + port["id"][:11]


class L2Endpoint:
    """What the bus may call on the agent (topic ``l2_agent``): every notice means "sync"."""

    def __init__(self, agent: "L2Agent"):
        self._agent = agent

    async def network_changed(self, network_id: str) -> None:
        self._agent.wake()

    async def network_deleted(self, network_id: str) -> None:
        self._agent.wake()

    async def port_changed(self, port_id: str) -> None:
        self._agent.wake()

    async def security_groups_changed(self, port_ids: list[str]) -> None:
        self._agent.wake()


class L2Agent(NetworkAgent):
    label = "L2 agent"

    def __init__(self, rt: Runtime, firewall: Firewall | None = None):
        super().__init__(rt)
        self.local_ip = rt.settings.network.local_ip
        enabled = rt.settings.network.firewall_driver == "iptables"
        self.firewall = firewall if firewall is not None else Firewall() if enabled else None
        self.endpoint = L2Endpoint(self)
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._devices: dict[str, str | None] = {}
        self.devices = 0
        self._sync_lock = asyncio.Lock()
        self.synced_at = 0.0
        self.stale_grace = STALE_GRACE_SECONDS
        self._stale: dict[str, float] = {}  # unneeded device -> when first seen unneeded

    # --- helpers --------------------------------------------------------------
    def agent_report(self, start: bool = False) -> dict:
        return {"agent_type": AGENT_TYPE, "binary": BINARY, "host": self.host, "topic": TOPIC,
                "start_flag": start,
                "configurations": {"tunnel_types": ["vxlan"], "local_ip": self.local_ip,
                                   "bridge_mappings": dict(self.settings.network.physical_bridges),
                                   "firewall": self.firewall is not None,
                                   "devices": self.devices}}

    def wake(self) -> None:
        self._dirty.set()

    # --- lifecycle --------------------------------------------------------------
    async def start(self) -> None:
        if self.firewall is not None:
            await enable_bridge_netfilter()
        else:  # a previous run may have filtered with our chains
            await Firewall().clear()
        await self.rt.bus.serve(TOPIC, self.endpoint, server=self.host)
        await self.heartbeat(start=True)
        try:
            await self.sync()
        except Exception:
            log.exception("L2 agent: initial sync failed; retrying in the background")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.every(HEARTBEAT_SECONDS, self.heartbeat)), loop.create_task(self._poll_loop())]

    async def stop(self) -> None:
        """Stop listening and polling; bridges, tunnels and filters stay (guests keep running)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.rt.bus.unserve(self.endpoint)

    async def _poll_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
            try:
                devices = await self._scan()
                due = time.monotonic() - self.synced_at > RESYNC_SECONDS or self._stale_due()
                if self._dirty.is_set() or devices != self._devices or due:
                    self._dirty.clear()
                    await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("L2 agent sync failed; retrying")
                await asyncio.sleep(POLL_SECONDS)

    @staticmethod
    async def _scan() -> dict[str, str | None]:
        """Host links -> their bridge (``master``)."""
        return {link["ifname"]: link.get("master") for link in await hostnet.links()}

    # --- sync ---------------------------------------------------------------------
    async def sync(self) -> None:
        """Make this host's bridges, tunnels, port states and filters match the network API."""
        async with self._sync_lock:
            await self._sync()

    async def _sync(self) -> None:
        ports = await self.api_get("/v2.0/ports", "ports", {"binding:host_id": self.host}) or []
        ports = [p for p in ports if p.get("binding:vif_type") == "bridge"]
        net_ids = sorted({p["network_id"] for p in ports})
        networks = (await self.api_get("/v2.0/networks", "networks", {"id": net_ids}) or []) \
            if net_ids else []
        peers = await self._peers()
        bridges: dict[str, str] = {}
        for net in networks:
            bridge = network_bridge(net, self.settings.network.physical_bridges)
            if bridge is None:
                log.warning("L2 agent: no bridge for network %s on this host", net["id"])
                continue
            try:
                await self._wire(net, bridge, peers)
                bridges[net["id"]] = bridge
            except (HostError, ValueError) as e:
                log.error("L2 agent: could not wire network %s: %s", net["id"], e)
        self._devices = await self._scan()
        await self._cleanup(set(bridges.values()))
        self._devices = await self._scan()
        if await self._admin_states(ports, bridges):
            self._devices = await self._scan()
        await self._report(ports, bridges)
        if self.firewall is not None:
            await self.firewall.apply(await self._filters(ports, bridges))
        self.synced_at = time.monotonic()

    async def _peers(self) -> list[str]:
        """Tunnel endpoints of the other alive L2 agents."""
        agents = await self.api_get("/v2.0/agents", "agents", {"agent_type": AGENT_TYPE}) or []
        ips = {(a.get("configurations") or {}).get("local_ip") for a in agents
               if a.get("alive") and a.get("host") != self.host}
        return sorted(ip for ip in ips if ip and ip != self.local_ip)

    async def _wire(self, net: dict, bridge: str, peers: list[str]) -> None:
        kind = net.get("provider:network_type")
        await hostnet.ensure_bridge(bridge)
        segid = net.get("provider:segmentation_id")
        if kind == "vxlan":
            dev = vxlan_link(int(segid))
            await hostnet.ensure_vxlan(dev, int(segid), self.local_ip, bridge=bridge,
                                       mtu=net.get("mtu"))
            await hostnet.sync_flood(dev, peers)
        elif kind == "vlan":
            phys = self.settings.network.physical_bridges[net["provider:physical_network"]]
            await hostnet.ensure_bridge(phys)
            await hostnet.ensure_vlan(vlan_link(phys, int(segid)), phys, int(segid), bridge=bridge)

    def _stale_due(self) -> bool:
        """Whether an unneeded device has waited out :attr:`stale_grace`."""
        now = time.monotonic()
        return any(now - since >= self.stale_grace for since in self._stale.values())

    def _expired(self, name: str, unneeded: set[str]) -> bool:
        """Note ``name`` as unneeded; True once it has been so for :attr:`stale_grace`."""
        unneeded.add(name)
        now = time.monotonic()
        return now - self._stale.setdefault(name, now) >= self.stale_grace

    async def _cleanup(self, wanted: set[str]) -> None:
        """Remove ``brq*`` bridges not in ``wanted`` (their uplinks first; the bridge itself once
        nothing else is plugged in) and ``vxlan-*`` devices outside wanted bridges, each once it
        has been unneeded for :attr:`stale_grace` seconds."""
        unneeded: set[str] = set()
        for name, master in sorted(self._devices.items()):
            ours = bool(master and master.startswith("brq"))
            # a tunnel, or a VLAN uplink (vlan_link) of one of our bridges, that no network needs:
            # it goes with its bridge (a loose tunnel on its own)
            if master not in wanted and (name.startswith("vxlan-") or (ours and "." in name)):
                if self._expired(master if ours else name, unneeded):
                    await hostnet.delete_link(name)
        left = await self._scan()
        for name in sorted(left):
            if name.startswith("brq") and name not in wanted and \
                    not any(m == name for m in left.values()) and self._expired(name, unneeded):
                await hostnet.delete_link(name)
        self._stale = {k: v for k, v in self._stale.items() if k in unneeded}

    async def _admin_states(self, ports: list[dict], bridges: dict[str, str]) -> bool:
        """A port with ``admin_state_up`` false has its device out of its bridge (nothing in or
        out, as neutron's linuxbridge agent does), and back in once it is true; whether any
        device moved."""
        moved = False
        for port in ports:
            bridge, dev = bridges.get(port["network_id"]), device_name(port)
            if bridge is None or dev not in self._devices:
                continue
            master, up = self._devices[dev], port.get("admin_state_up", True)
            try:
                if not up and master == bridge:
                    await hostnet.set_link(dev, nomaster=True)
                elif up and master is None:
                    await hostnet.set_link(dev, master=bridge)
                else:
                    continue
                moved = True
            except HostError as e:
                log.warning("L2 agent: admin state of port %s not applied: %s", port["id"], e)
        return moved

    async def _report(self, ports: list[dict], bridges: dict[str, str]) -> None:
        """Tell the network API which ports' devices are (not) in their network's bridge."""
        up, down = [], []
        for port in ports:
            bridge = bridges.get(port["network_id"])
            plugged = bridge is not None and self._devices.get(device_name(port)) == bridge
            if plugged and port.get("status") != "ACTIVE" and port.get("admin_state_up", True):
                up.append(port["id"])
            elif not plugged and port.get("status") == "ACTIVE":
                down.append(port["id"])
        self.devices = len(ports)
        if not up and not down:
            return
        try:
            await self.rt.bus.call(SERVER_TOPIC, "update_port_status", timeout=10,
                                   host=self.host, up=up, down=down)
        except (NoListener, RemoteError, asyncio.TimeoutError) as e:
            log.warning("L2 agent: port states not delivered: %s", e)

    async def _filters(self, ports: list[dict], bridges: dict[str, str]) -> list[PortFilter]:
        """Firewall input for this host's instance ports (``bridges``: network id -> bridge,
        which gives each network its conntrack zone)."""
        vms = [p for p in ports if (p.get("device_owner") or "").startswith("compute:")]
        group_ids = sorted({g for p in vms for g in p.get("security_groups") or []})
        groups = (await self.api_get("/v2.0/security-groups", "security_groups",
                                     {"id": group_ids}) or []) if group_ids else []
        rules = {g["id"]: g.get("security_group_rules") or [] for g in groups}
        remote = {r["remote_group_id"] for rs in rules.values() for r in rs if r.get("remote_group_id")}
        members: dict[str, list[str]] = {}
        if remote:
            for p in await self.api_get("/v2.0/ports", "ports") or []:
                for g in set(p.get("security_groups") or []) & remote:
                    members.setdefault(g, []).extend(ip["ip_address"] for ip in p["fixed_ips"])
        return [PortFilter(p, [r for g in p.get("security_groups") or [] for r in rules.get(g, [])],
                           members, bridges.get(p["network_id"], "")) for p in vms]


def component(rt: Runtime) -> Component:
    """The L2 agent component ("l2-agent") of this host."""
    agent = L2Agent(rt)
    comp = Component(name="l2-agent", starters=[agent.start], stoppers=[agent.stop])
    comp.agent = agent  # type: ignore[attr-defined]  # tests and the supervisor's status
    return comp
