"""The DHCP agent: dnsmasq and a metadata proxy per network, in ``qdhcp-<network id>``.

``component(rt)`` -> Component "dhcp-agent". It serves bus topic
``dhcp_agent`` (and ``dhcp_agent.<host>``): ``network_changed(network_id)``
and ``network_deleted(network_id)`` (fanouts from the network API); it reports
to ``network_server.agent_heartbeat(agent)`` every 30 s (absent server
tolerated). It reads and writes networks, subnets and ports only through the
network API (``rt.service_auth.request("network", ...)``).

The agent serves the networks the network API schedules to it (``GET
/v2.0/agents/{own id}/dhcp-networks``; ``network_changed`` for a network it no
longer hosts tears its wiring down here). For such a network with a DHCP-enabled
subnet and admin_state_up, on this host:

1. a DHCP port (device_owner ``network:dhcp``, device_id
   ``dhcp<uuid5(DNS, host)>-<network id>``, ``binding:host_id`` = host, one
   address per DHCP subnet, owned by the network's project);
2. the network's bridge (:func:`kumo.network.bridges.network_bridge`), a veth
   ``tap<port[:11]>`` (in the bridge) / ``ns-<port[:11]>`` (in the namespace,
   the port's MAC, its addresses and 169.254.169.254/32);
3. dnsmasq (:mod:`kumo.network.agents.dnsmasq`), SIGHUPed when only its files
   change and restarted when its command line (ranges, MTU) changes;
4. the metadata proxy (:mod:`kumo.network.agents.metadata_proxy`).

A network that disappears (or loses DHCP) is torn down: proxy, dnsmasq,
namespace (its veth goes with it), an emptied ``brq`` bridge, state files and
the DHCP port. ``start()`` runs a full sync that also reconciles what a killed
previous run left (namespaces, dnsmasq processes, state directories);
``stop()`` stops dnsmasq and the proxies but keeps the namespaces.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import uuid
from pathlib import Path

from kumo.common.host import net as hostnet
from kumo.common.host.process import HostError, run
from kumo.common.runtime import Component, Runtime
from kumo.network.agents import dnsmasq
from kumo.network.agents.base import HEARTBEAT_SECONDS, ApiFailure, NetworkAgent
from kumo.network.agents.metadata_proxy import METADATA_IP, MetadataProxy
from kumo.network.bridges import network_bridge, vlan_link

log = logging.getLogger(__name__)

TOPIC = "dhcp_agent"
AGENT_TYPE = "DHCP agent"
BINARY = "kumo-dhcp-agent"
RESYNC_SECONDS = 5
NS_PREFIX = "qdhcp-"
DHCP_OWNER = "network:dhcp"


class DhcpEndpoint:
    """What the bus may call on the agent (topic ``dhcp_agent``)."""

    def __init__(self, agent: "DhcpAgent"):
        self._agent = agent

    async def network_changed(self, network_id: str) -> None:
        await self._agent.refresh(network_id)

    async def network_deleted(self, network_id: str) -> None:
        await self._agent.teardown(network_id)


class DhcpAgent(NetworkAgent):
    label = "DHCP agent"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.root = Path(rt.settings.path("dhcp"))
        self.device_prefix = f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, self.host)}"
        self.proxies: dict[str, MetadataProxy] = {}
        self.served: set[str] = set()
        self.endpoint = DhcpEndpoint(self)
        self._tasks: list[asyncio.Task] = []
        self._resync = False
        self._started = False

    # --- helpers ------------------------------------------------------------
    def conf_dir(self, network_id: str) -> Path:
        return self.root / network_id

    @staticmethod
    def netns(network_id: str) -> str:
        return NS_PREFIX + network_id

    def agent_report(self, start: bool = False) -> dict:
        return {"agent_type": AGENT_TYPE, "binary": BINARY, "host": self.host, "topic": TOPIC,
                "start_flag": start,
                "configurations": {"dhcp_driver": "dnsmasq", "networks": len(self.served),
                                   "physical_bridges": dict(self.settings.network.physical_bridges)}}

    # --- lifecycle ------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await self.rt.bus.serve(TOPIC, self.endpoint, server=self.host)
        self._started = True
        await self.heartbeat(start=True)
        try:
            await self.sync()
        except Exception:
            log.exception("DHCP agent: initial sync failed; retrying in the background")
            self._resync = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.every(HEARTBEAT_SECONDS, self.heartbeat)), loop.create_task(self._resync_loop())]

    async def stop(self) -> None:
        """Stop listening, wait for work in flight, then take this host's DHCP wiring down
        (proxies, dnsmasq, namespaces, veths); the API's DHCP ports and the leases stay,
        so the next start wires the same addresses again."""
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.rt.bus.unserve(self.endpoint)
        for lock in list(self._locks.values()):
            async with lock:  # a refresh in progress finishes first; later ones are no-ops
                pass
        for network_id in sorted(set(self.proxies) | set(dnsmasq.running(self.root)) | self._wired()):
            try:
                await self._unwire(network_id)
            except Exception:
                log.exception("DHCP agent: could not unwire network %s", network_id)
        self.served.clear()

    def _wired(self) -> set[str]:
        """Networks this agent left wiring state for (``<root>/<network id>/state.json``)."""
        if not self.root.is_dir():
            return set()
        return {d.name for d in self.root.iterdir() if (d / "state.json").exists()}

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            if not self._resync:
                continue
            self._resync = False
            try:
                await self.sync()
            except Exception:
                log.exception("DHCP agent resync failed")
                self._resync = True

    # --- sync -------------------------------------------------------------------
    async def sync(self) -> None:
        """Serve every network that needs DHCP; tear down everything else we find."""
        networks = await self.hosted_networks()
        if networks is None:  # not registered yet (no heartbeat delivered): try again soon
            log.info("DHCP agent: not registered with the network API yet")
            self._resync = True
            return
        subnets = await self.api_get("/v2.0/subnets", "subnets") or []
        by_net: dict[str, list[dict]] = {}
        for subnet in subnets:
            by_net.setdefault(subnet["network_id"], []).append(subnet)
        wanted = {n["id"] for n in networks
                  if n.get("admin_state_up", True) and dnsmasq.dhcp_subnets(by_net.get(n["id"], []))}
        # What a previous run of this agent left: its state directories and the
        # dnsmasq processes using them. Namespaces without such evidence may
        # belong to another kumo on this machine and are left alone.
        leftovers = set(dnsmasq.running(self.root)) | set(self.served)
        if self.root.exists():
            leftovers |= {p.name for p in self.root.iterdir() if p.is_dir()}
        for network_id in sorted(leftovers - wanted):
            await self.teardown(network_id)
        # DHCP ports of this host whose network no longer needs us.
        ports = await self.api_get("/v2.0/ports", "ports", device_owner=DHCP_OWNER) or []
        for port in ports:
            if port["device_id"].startswith(self.device_prefix + "-") and \
                    port["network_id"] not in wanted:
                await self._delete_port(port["id"])
        failed = False
        for network_id in sorted(wanted):
            if not await self.refresh(network_id):
                failed = True
        if failed:
            self._resync = True

    async def hosted_networks(self) -> list[dict] | None:
        """The networks scheduled to this agent; None while the API does not know it."""
        agents = await self.api_get("/v2.0/agents", "agents", agent_type=AGENT_TYPE,
                                    host=self.host) or []
        if not agents:
            return None
        return await self.api_get(f"/v2.0/agents/{agents[0]['id']}/dhcp-networks", "networks") or []

    async def hosts(self, network_id: str) -> bool:
        """True if the API schedules ``network_id`` to this agent."""
        agents = await self.api_get(f"/v2.0/networks/{network_id}/dhcp-agents", "agents") or []
        return any(a["host"] == self.host and a["agent_type"] == AGENT_TYPE for a in agents)

    async def refresh(self, network_id: str) -> bool:
        """Bring one network's DHCP in line with the API; False if it failed (retried later)."""
        async with self.lock(network_id):
            if not self._started:
                return False
            try:
                await self._refresh(network_id)
                return True
            except ApiFailure as e:  # usually a race with a delete: the resync sorts it out
                log.warning("DHCP agent: network %s not configured yet: %s", network_id, e)
            except Exception:
                log.exception("DHCP agent: could not configure network %s", network_id)
            self._resync = True
            return False

    async def _refresh(self, network_id: str) -> None:
        network = await self.api_get(f"/v2.0/networks/{network_id}", "network")
        subnets = await self.api_get("/v2.0/subnets", "subnets", network_id=network_id) or []
        served = dnsmasq.dhcp_subnets(subnets)
        if network is None or not served or not network.get("admin_state_up", True) \
                or not await self.hosts(network_id):
            await self._teardown(network_id)
            return
        bridge = network_bridge(network, self.settings.network.physical_bridges)
        if bridge is None:
            raise ApiFailure(f"network {network_id}: no bridge for "
                             f"{network.get('provider:network_type')} "
                             f"{network.get('provider:physical_network')} on this host")
        port = await self._ensure_port(network, served)
        # The binding names the bridge this host's L2 agent serves the network on.
        bridge = (port.get("binding:vif_details") or {}).get("bridge_name") or bridge
        state = await self._wire(network, port, bridge, subnets)
        ports = await self.api_get("/v2.0/ports", "ports", network_id=network_id) or []
        await self._dnsmasq(network, subnets, port, ports, state["ns_dev"])
        proxy = self.proxies.get(network_id)
        if proxy is None or not proxy.running:
            proxy = MetadataProxy(network_id, self.netns(network_id), api=self.api,
                                  http=self.rt.service_auth.http,
                                  metadata_url=self.settings.endpoint("metadata"),
                                  secret=self.settings.metadata.shared_secret)
            await proxy.start()
            self.proxies[network_id] = proxy
        self.served.add(network_id)

    async def _ensure_port(self, network: dict, served: list[dict]) -> dict:
        device_id = f"{self.device_prefix}-{network['id']}"
        found = await self.api_get("/v2.0/ports", "ports", network_id=network["id"],
                                device_id=device_id) or []
        wanted_subnets = [s["id"] for s in served]
        if not found:
            body = {"port": {"network_id": network["id"], "device_owner": DHCP_OWNER,
                             "device_id": device_id, "binding:host_id": self.host,
                             "project_id": network["project_id"], "name": "",
                             "fixed_ips": [{"subnet_id": s} for s in wanted_subnets]}}
            r = await self.api("POST", "/v2.0/ports", json=body)
            if r.status_code != 201:
                raise ApiFailure(f"creating the DHCP port: {r.status_code} {r.text[:200]}")
            return r.json()["port"]
        port = found[0]
        for extra in found[1:]:
            await self._delete_port(extra["id"])
        have = [ip for ip in port["fixed_ips"] if ip["subnet_id"] in wanted_subnets]
        missing = [s for s in wanted_subnets if s not in {ip["subnet_id"] for ip in have}]
        update: dict = {}
        if missing or len(have) != len(port["fixed_ips"]):
            update["fixed_ips"] = have + [{"subnet_id": s} for s in missing]
        if port.get("binding:host_id") != self.host:
            update["binding:host_id"] = self.host
        if update:
            r = await self.api("PUT", f"/v2.0/ports/{port['id']}", json={"port": update})
            if r.status_code != 200:
                raise ApiFailure(f"updating the DHCP port: {r.status_code} {r.text[:200]}")
            port = r.json()["port"]
        return port

    async def _delete_port(self, port_id: str) -> None:
        r = await self.api("DELETE", f"/v2.0/ports/{port_id}")
        if r.status_code not in (204, 404):
            log.warning("could not delete DHCP port %s: %s", port_id, r.status_code)

    # --- host wiring ---------------------------------------------------------------
    async def _bridges(self, network: dict, bridge: str) -> dict:
        """Create the network's bridge (and VLAN uplink); what was made, for teardown."""
        kind = network.get("provider:network_type")
        phys = self.settings.network.physical_bridges
        if kind == "flat":
            await hostnet.ensure_bridge(bridge)
            return {"own_bridge": None, "vlan_link": None}
        await hostnet.ensure_bridge(bridge)
        link = None
        if kind == "vlan":
            uplink = phys[network["provider:physical_network"]]
            await hostnet.ensure_bridge(uplink)
            link = vlan_link(uplink, int(network["provider:segmentation_id"]))
            if not await hostnet.link_exists(link):
                await run("ip", "link", "add", "link", uplink, "name", link, "type", "vlan", "id",
                          str(network["provider:segmentation_id"]))
            await hostnet.set_link(link, master=bridge)
            await hostnet.set_up(link)
        return {"own_bridge": bridge, "vlan_link": link}

    async def _wire(self, network: dict, port: dict, bridge: str, subnets: list[dict]) -> dict:
        conf = self.conf_dir(network["id"])
        conf.mkdir(parents=True, exist_ok=True)
        old = dnsmasq.read_state(conf)
        made = await self._bridges(network, bridge)
        tap, ns_dev = "tap" + port["id"][:11], "ns-" + port["id"][:11]
        if old.get("ns_dev") and old["ns_dev"] != ns_dev:  # the DHCP port was replaced
            await hostnet.delete_link(old["ns_dev"], self.netns(network["id"]))
        by_id = {s["id"]: s["cidr"] for s in subnets}
        cidrs = [f"{ip['ip_address']}/{ipaddress.ip_network(by_id[ip['subnet_id']]).prefixlen}"
                 for ip in port["fixed_ips"] if ip["subnet_id"] in by_id]
        cidrs.append(f"{METADATA_IP}/32")
        state = {"port_id": port["id"], "tap": tap, "ns_dev": ns_dev, "bridge": bridge, **made}
        dnsmasq.write_state(conf, state)
        if network["id"] not in self.served and await hostnet.netns_exists(self.netns(network["id"])):
            try:
                await hostnet.netns_exec(self.netns(network["id"]), "true")
            except HostError:
                # a namespace file whose namespace is gone (left by another mount namespace,
                # e.g. a restarted sandbox): plug_veth makes it anew, as the L3 agent does
                await hostnet.netns_delete(self.netns(network["id"]))
        # the bridge is the L2 agent's, which may not have seen this port's binding yet: made here
        # when missing (the L2 agent removes it once no port of the network is left)
        await hostnet.ensure_bridge(bridge)
        await hostnet.plug_veth(tap, ns_dev, bridge=bridge, netns=self.netns(network["id"]),
                                cidrs=cidrs, mac=port["mac_address"], mtu=network.get("mtu"))
        return state

    async def _dnsmasq(self, network: dict, subnets: list[dict], port: dict, ports: list[dict],
                       ns_dev: str) -> None:
        conf = self.conf_dir(network["id"])
        hosts = dnsmasq.hosts_lines(ports, subnets)
        gone = dnsmasq.host_entries(dnsmasq.read_lines(conf / "host")) - dnsmasq.host_entries(hosts)
        dnsmasq.write_file(conf / "host", hosts)
        dnsmasq.write_file(conf / "opts", dnsmasq.opts_lines(subnets, port, ports))
        cmd = dnsmasq.argv(conf, ns_dev, subnets, mtu=network.get("mtu") or 1500,
                           lease_seconds=self.settings.network.dhcp_lease_seconds,
                           dns_domain=self.settings.network.dns_domain)
        pid = dnsmasq.pid_of(conf)
        if pid and dnsmasq.same_command(pid, cmd):
            dnsmasq.reload(pid)
            for mac, ip in sorted(gone):
                if ":" in ip:  # dhcp_release is for IPv4 leases; DHCPv6 ones expire
                    continue
                await hostnet.netns_exec(self.netns(network["id"]), *dnsmasq.release_argv(ns_dev, ip, mac),
                                        check=False)
            return
        if pid:
            await asyncio.to_thread(dnsmasq.kill, pid)
        dnsmasq.prune_leases(conf / "leases", dnsmasq.host_entries(hosts))
        await hostnet.netns_exec(self.netns(network["id"]), *cmd)
        for _ in range(50):
            if dnsmasq.pid_of(conf):
                return
            await asyncio.sleep(0.05)
        raise HostError(cmd, 1, "dnsmasq started but wrote no pid file")

    # --- teardown ----------------------------------------------------------------
    async def teardown(self, network_id: str) -> None:
        """Stop serving ``network_id`` and remove what was made for it (idempotent)."""
        async with self.lock(network_id):
            if not self._started:
                return
            try:
                await self._teardown(network_id)
            except Exception:
                log.exception("DHCP agent: could not tear down network %s", network_id)
                self._resync = True

    async def _teardown(self, network_id: str) -> None:
        await self._unwire(network_id)
        device_id = f"{self.device_prefix}-{network_id}"
        try:
            ports = await self.api_get("/v2.0/ports", "ports", network_id=network_id,
                                    device_id=device_id) or []
            for port in ports:
                await self._delete_port(port["id"])
        except Exception:  # the network API may be gone; the port goes with its network
            log.warning("DHCP agent: could not check the DHCP port of %s", network_id)
        shutil.rmtree(self.conf_dir(network_id), ignore_errors=True)
        self.served.discard(network_id)

    async def _unwire(self, network_id: str) -> None:
        """Remove this host's pieces of ``network_id``: proxy, dnsmasq, namespace, veth, own bridge."""
        state = dnsmasq.read_state(self.conf_dir(network_id))
        proxy = self.proxies.pop(network_id, None)
        if proxy is not None:
            await proxy.stop()
        pid = dnsmasq.pid_of(self.conf_dir(network_id)) or dnsmasq.running(self.root).get(network_id)
        if pid:
            await asyncio.to_thread(dnsmasq.kill, pid)
        await hostnet.netns_delete(self.netns(network_id))
        if state.get("tap"):
            await hostnet.delete_link(state["tap"])
        if state.get("vlan_link"):
            await hostnet.delete_link(state["vlan_link"])
        own = state.get("own_bridge")
        if own and not await hostnet.bridge_ports(own):
            await hostnet.delete_link(own)


def component(rt: Runtime) -> Component:
    """The DHCP agent component ("dhcp-agent") of this host."""
    agent = DhcpAgent(rt)
    comp = Component(name="dhcp-agent", starters=[agent.start], stoppers=[agent.stop])
    comp.agent = agent  # type: ignore[attr-defined]  # tests and the supervisor's status
    return comp
