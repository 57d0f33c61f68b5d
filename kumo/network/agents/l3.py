"""The L3 agent: one namespace ``qrouter-<router id>`` per router (neutron's l3-agent, legacy mode).

``component(rt)`` -> Component "l3-agent". It serves bus topic ``l3_agent`` (and
``l3_agent.<host>``): ``routers_updated(router_ids)`` and
``router_deleted(router_id)`` (fanouts from the network API); it reports to
``network_server.agent_heartbeat(agent)`` every 30 s (agent_type "L3 agent",
binary "neutron-l3-agent") and resyncs every routers' state every
:data:`RESYNC_SECONDS`. It talks to the network API only (service user).

An agent wires only the routers the network API schedules to it
(``GET /v2.0/agents/{own id}/l3-routers``; ``routers_updated`` for a router
hosted elsewhere, or by nobody, takes down any wiring it has here, which is how a
router moves between agents; a router with ``admin_state_up`` false is not wired either,
so it forwards nothing, as with neutron's agent). For each one it binds the router's ports to its
host (``binding:host_id``), which names the bridge of each network
(``binding:vif_details.bridge_name``), then builds a
:class:`~kumo.network.agents.l3_wiring.RouterSpec` and wires it
(:mod:`kumo.network.agents.l3_wiring`), and runs a metadata proxy on
169.254.169.254:80 in the namespace that finds instances by fixed IP on the
router's internal networks, and a radvd (:mod:`kumo.network.agents.radvd`) when an
interface is on an IPv6 subnet with ``ipv6_ra_mode``. ``<state dir>/l3/<router id>.json``
(and ``l3/radvd/<router id>.*``) record what it made, so ``start()`` removes what a
killed run left for routers that are gone.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from pathlib import Path

from kumo.common.host import net as hostnet
from kumo.common.runtime import Component, Runtime
from kumo.network.agents import l3_wiring, radvd
from kumo.network.agents.base import HEARTBEAT_SECONDS, SERVER_TOPIC, ApiFailure, NetworkAgent
from kumo.network.agents.l3_wiring import Interface, RouterSpec
from kumo.network.agents.metadata_proxy import MetadataProxy
from kumo.network.bridges import network_bridge

log = logging.getLogger(__name__)

TOPIC = "l3_agent"
L2_TOPIC = "l2_agent"
AGENT_TYPE = "L3 agent"
BINARY = "neutron-l3-agent"
RESYNC_SECONDS = 30
GATEWAY, INTERFACE = "network:router_gateway", "network:router_interface"


class RouterMetadataProxy(MetadataProxy):
    """The metadata proxy of a router: the guest is the port with the source address on one
    of the router's internal networks (``networks``, updated at each refresh)."""

    def __init__(self, router_id: str, netns: str, **kwargs):
        super().__init__(router_id, netns, **kwargs)
        self.networks: set[str] = set()

    async def _lookup(self, ip: str) -> dict | None:
        r = await self.api("GET", "/v2.0/ports", params={"fixed_ips": f"ip_address={ip}"})
        if r.status_code != 200:
            raise RuntimeError(f"port lookup failed: {r.status_code}")
        return next((p for p in r.json().get("ports", []) if p["network_id"] in self.networks
                     and not p["device_owner"].startswith("network:")), None)


class L3Endpoint:
    """What the bus may call on the agent (topic ``l3_agent``)."""

    def __init__(self, agent: "L3Agent"):
        self._agent = agent

    async def routers_updated(self, router_ids: list[str]) -> None:
        for router_id in router_ids:
            await self._agent.refresh(router_id)

    async def router_deleted(self, router_id: str) -> None:
        await self._agent.teardown(router_id)


class L3Agent(NetworkAgent):
    label = "L3 agent"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.root = Path(rt.settings.path("l3"))
        self.radvd_root = self.root / "radvd"
        self.endpoint = L3Endpoint(self)
        self.proxies: dict[str, RouterMetadataProxy] = {}
        self._tasks: list[asyncio.Task] = []
        self._started = False

    # --- API -----------------------------------------------------------------------
    async def _bind(self, port: dict) -> dict:
        """The port bound to this host (PUT binding:host_id when it is not yet)."""
        if port.get("binding:host_id") == self.host and port.get("binding:vif_details"):
            return port
        r = await self.api("PUT", f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": self.host}})
        if r.status_code != 200:
            raise ApiFailure(f"binding port {port['id']}: {r.status_code} {r.text[:200]}")
        return r.json()["port"]

    def agent_report(self, start: bool = False) -> dict:
        return {"agent_type": AGENT_TYPE, "binary": BINARY, "host": self.host, "topic": TOPIC,
                "start_flag": start,
                "configurations": {"agent_mode": "legacy", "routers": len(self._state_files()),
                                   "interface_driver": "linuxbridge"}}

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await self.rt.bus.serve(TOPIC, self.endpoint, server=self.host)
        self._started = True
        await self.heartbeat(start=True)
        try:
            await self.sync()
        except Exception:
            log.exception("L3 agent: initial sync failed; retrying later")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.every(HEARTBEAT_SECONDS, self.heartbeat)),
                       loop.create_task(self.every(RESYNC_SECONDS, self.sync))]

    async def stop(self) -> None:
        """Stop listening, then take this host's router wiring down (proxies, namespaces,
        devices, bridges made here), as the DHCP agent does: the next start rewires every
        router from the API, and ``kumo down`` leaves no qrouter namespace behind."""
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.rt.bus.unserve(self.endpoint)
        for router_id in sorted(set(self.proxies) | set(self._state_files())
                                | radvd.routers(self.radvd_root)):
            async with self.lock(router_id):  # a refresh in flight finishes first
                try:
                    await self._teardown(router_id)
                except Exception:
                    log.exception("L3 agent: could not unwire router %s", router_id)

    # --- state files -----------------------------------------------------------------
    def _state_path(self, router_id: str) -> Path:
        return self.root / f"{router_id}.json"

    def _state_files(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.is_dir() else []

    def _read_state(self, router_id: str) -> dict:
        try:
            return json.loads(self._state_path(router_id).read_text())
        except (OSError, ValueError):
            return {}

    # --- scheduling --------------------------------------------------------------------
    async def hosted_routers(self) -> set[str] | None:
        """Ids of the routers scheduled to this agent; None while the API does not know it."""
        agents = await self.api_get("/v2.0/agents", "agents", agent_type=AGENT_TYPE,
                                    host=self.host) or []
        if not agents:
            return None
        routers = await self.api_get(f"/v2.0/agents/{agents[0]['id']}/l3-routers", "routers") or []
        return {r["id"] for r in routers}

    async def hosts(self, router_id: str) -> bool:
        """True if the API schedules ``router_id`` to this agent."""
        agents = await self.api_get(f"/v2.0/routers/{router_id}/l3-agents", "agents") or []
        return any(a["host"] == self.host and a["agent_type"] == AGENT_TYPE for a in agents)

    # --- sync ------------------------------------------------------------------------
    async def sync(self) -> None:
        """Wire the routers this agent hosts; remove the namespaces of the others it made."""
        wanted = await self.hosted_routers()
        if wanted is None:  # not registered yet (no heartbeat delivered): try again later
            log.info("L3 agent: not registered with the network API yet")
            return
        for router_id in sorted((set(self._state_files()) | radvd.routers(self.radvd_root)) - wanted):
            await self.teardown(router_id)
        for router_id in sorted(wanted):
            await self.refresh(router_id)

    async def refresh(self, router_id: str) -> bool:
        """Bring one router's namespace in line with the API; False if that failed."""
        async with self.lock(router_id):
            if not self._started:
                return False
            try:
                await self._refresh(router_id)
                return True
            except ApiFailure as e:  # usually a race with a delete; the next update or resync settles it
                log.warning("L3 agent: router %s not configured yet: %s", router_id, e)
                return False
            except Exception:  # the periodic resync tries again
                log.exception("L3 agent: could not configure router %s", router_id)
                return False

    async def _refresh(self, router_id: str) -> None:
        router = await self.api_get(f"/v2.0/routers/{router_id}", "router")
        if router is None or not router.get("admin_state_up", True) or \
                not await self.hosts(router_id):
            if router_id in self.proxies or self._state_path(router_id).exists():
                await self._teardown(router_id)  # deleted, administratively down, or moved
            if router is not None and (not router.get("admin_state_up", True) or not await self.api_get(
                    f"/v2.0/routers/{router_id}/l3-agents", "agents")):
                await self._report_fips(router_id, "DOWN")  # wired nowhere
            return
        spec = await self.build_spec(router)
        state = self._read_state(router_id)
        own = set(state.get("own_bridges", []))
        for bridge in sorted({i.bridge for i in spec.interfaces}):
            # normally the L2 agent's (or the operator's); made here only when missing
            if await hostnet.ensure_bridge(bridge):
                own.add(bridge)
        self._state_path(router_id).write_text(json.dumps(
            {"devices": [i.host_dev for i in spec.interfaces], "own_bridges": sorted(own)}))
        await l3_wiring.wire(spec)
        await radvd.ensure(self.radvd_root, router_id, spec.netns,
                           [radvd.Prefix(i.ns_dev, cidr, mode) for i in spec.interfaces
                            for cidr, mode in i.ra_prefixes],
                           {i.ns_dev: i.mtu for i in spec.interfaces if i.mtu})
        await self._proxy(spec, router)
        await self._report_fips(router_id, "ACTIVE", spec.floating_ip_ids)
        for iface in spec.interfaces:  # the L2 agent reports the plugged ports ACTIVE
            try:
                await self.rt.bus.fanout(L2_TOPIC, "port_changed", port_id=iface.port_id)
            except Exception:  # no L2 agent: binding made the ports ACTIVE already
                log.debug("L3 agent: no L2 agent told of port %s", iface.port_id)

    async def build_spec(self, router: dict) -> RouterSpec:
        """The :class:`RouterSpec` of ``router`` from its ports, their networks and subnets and
        its floating IPs (ports are bound to this host on the way)."""
        ports = await self.api_get("/v2.0/ports", "ports", device_id=router["id"]) or []
        spec = RouterSpec(router_id=router["id"], routes=list(router.get("routes") or []))
        gw_info = router.get("external_gateway_info") or {}
        for port in ports:
            kind = {GATEWAY: "qg", INTERFACE: "qr"}.get(port["device_owner"])
            if kind is None or (kind == "qg" and not gw_info):
                continue
            port = await self._bind(port)
            network = await self.api_get(f"/v2.0/networks/{port['network_id']}", "network") or {}
            bridge = (port.get("binding:vif_details") or {}).get("bridge_name") or \
                network_bridge(network, self.settings.network.physical_bridges)
            if not bridge:
                log.warning("L3 agent: no bridge for port %s of router %s", port["id"], router["id"])
                continue
            cidrs, ra = [], []
            for ip in port["fixed_ips"]:
                subnet = await self.api_get(f"/v2.0/subnets/{ip['subnet_id']}", "subnet")
                if subnet is None:
                    continue
                prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
                cidrs.append(f"{ip['ip_address']}/{prefix}")
                if kind == "qr" and subnet["ip_version"] == 6 and subnet.get("ipv6_ra_mode") in radvd.RA_MODES:
                    ra.append((subnet["cidr"], subnet["ipv6_ra_mode"]))
                if kind == "qg" and subnet["ip_version"] == 4:
                    spec.gateway_ip = spec.gateway_ip or subnet.get("gateway_ip")
                    if gw_info.get("enable_snat", True):
                        spec.snat_ip = spec.snat_ip or ip["ip_address"]
            spec.interfaces.append(Interface(port["id"], kind, port["mac_address"], bridge, cidrs,
                                             network.get("mtu"), ra))
        if spec.gateway is not None:
            fips = await self.api_get("/v2.0/floatingips", "floatingips", router_id=router["id"]) or []
            spec.floating_ips = {f["floating_ip_address"]: f["fixed_ip_address"] for f in fips
                                 if f.get("fixed_ip_address")}
            spec.floating_ip_ids = [f["id"] for f in fips if f.get("fixed_ip_address")]
        return spec

    async def _report_fips(self, router_id: str, status: str, ids: list[str] | None = None) -> None:
        """Tell the network API the floating IPs of ``router_id`` (``ids``, or all it lists)
        are ``status`` (``network_server.update_floatingip_statuses``); failures are logged."""
        if ids is None:
            ids = [f["id"] for f in await self.api_get("/v2.0/floatingips", "floatingips",
                                                       router_id=router_id) or []]
        if not ids:
            return
        try:
            await self.rt.bus.call(SERVER_TOPIC, "update_floatingip_statuses", timeout=10,
                                   router_id=router_id, statuses={i: status for i in ids})
        except Exception as e:  # the next resync reports again
            log.warning("L3 agent: floating IP states of router %s not reported: %s", router_id, e)

    async def _proxy(self, spec: RouterSpec, router: dict) -> None:
        proxy = self.proxies.get(spec.router_id)
        if proxy is None or not proxy.running:
            proxy = RouterMetadataProxy(spec.router_id, spec.netns, api=self.api,
                                        http=self.rt.service_auth.http,
                                        metadata_url=self.settings.endpoint("metadata"),
                                        secret=self.settings.metadata.shared_secret)
            await proxy.start()
            self.proxies[spec.router_id] = proxy
        ports = await self.api_get("/v2.0/ports", "ports", device_id=router["id"],
                                device_owner=INTERFACE) or []
        proxy.networks = {p["network_id"] for p in ports}

    # --- teardown --------------------------------------------------------------------
    async def teardown(self, router_id: str) -> None:
        async with self.lock(router_id):
            try:
                await self._teardown(router_id)
            except Exception:
                log.exception("L3 agent: could not remove router %s", router_id)

    async def _teardown(self, router_id: str) -> None:
        proxy = self.proxies.pop(router_id, None)
        if proxy is not None:
            await proxy.stop()
        state = self._read_state(router_id)
        await radvd.stop(self.radvd_root, router_id)
        await l3_wiring.unwire(router_id, state.get("devices", []))
        for bridge in state.get("own_bridges", []):
            if not await hostnet.bridge_ports(bridge):
                await hostnet.delete_link(bridge)
        self._state_path(router_id).unlink(missing_ok=True)


def component(rt: Runtime) -> Component:
    """The L3 agent component ("l3-agent") of this host."""
    agent = L3Agent(rt)
    comp = Component(name="l3-agent", starters=[agent.start], stoppers=[agent.stop])
    comp.agent = agent  # type: ignore[attr-defined]  # tests and the supervisor's status
    return comp
