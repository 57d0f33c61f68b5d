"""Type drivers: a network's segment (Networking API v2.0, "Networks" provider extension).

A network has one segment ``(network_type, physical_network, segmentation_id)``:

- no provider attributes (a project network): the first type of
  ``[network] tenant_network_types`` with a free id, ``vxlan`` VNIs from
  ``[network] vni_ranges`` (``"min:max"`` strings), ``vlan`` ids from
  ``[network] network_vlan_ranges`` (``"physnet:min:max"``); none free ->
  503 NoNetworkAvailable;
- ``flat`` (admin): a physical network of ``[network] physical_bridges``, no
  segmentation id, one network per physical network (409 FlatNetworkInUse);
- ``vlan`` (admin): a known physical network, id 1-4094 (from the physical
  network's range, else the lowest free one, when omitted; 409 VlanIdInUse);
- ``vxlan`` (admin): no physical network, VNI 1-16777215 (from ``vni_ranges``
  when omitted; 409 TunnelIdInUse);
- ``local``: neither.

Port binding (:meth:`SegmentsMixin.bind_port`, the linuxbridge mechanism):
once any L2 agent ("Linux bridge agent") has reported, a port bound to host H
needs an alive, enabled L2 agent on H that serves the network's type (its
``configurations``: ``tunnel_types`` for vxlan, ``bridge_mappings`` for the
physical network of flat/vlan), else vif_type ``binding_failed``; it is bound
with vif_type ``bridge``, ``bridge_name`` (the agent's bridge for flat,
``brq<network id[:11]>`` otherwise), ``port_filter`` true, and stays DOWN until
the agent sees its tap (:meth:`SegmentsMixin.update_port_status`). Without any
L2 agent (an install whose compute side plugs bridges itself) binding follows
``[network] physical_bridges`` and the port is ACTIVE at once.

Taken ids live in ``segment_allocations`` (unique per type, physical network
and id, so two API processes cannot hand out the same id); a network's row
goes with the network. MTU: 1450 for ``vxlan`` (50 bytes of VXLAN over IPv4),
else 1500; a larger requested MTU is 400.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import Conflict, ServiceUnavailable
from kumo.common.db import utcnow
from kumo.network import errors
from kumo.network.bridges import network_bridge
from kumo.network.models import Agent, Network, Port, SegmentAllocation
from kumo.network.service.base import ServiceBase
from kumo.network.service.views import AGENT_DOWN_TIME

MAX_MTU = 1500
VXLAN_OVERHEAD = 50
MAX_VNI = 2 ** 24 - 1
SEGMENT_TYPES = ("flat", "vlan", "vxlan", "local")
L2_AGENT_TYPE = "Linux bridge agent"


def parse_ranges(entries: list[str], with_physnet: bool) -> list[tuple[str, int, int]]:
    """``["1:1000"]`` -> ``[("", 1, 1000)]``; with_physnet: ``["data:100:199", "x"]`` ->
    ``[("data", 100, 199), ("x", 0, -1)]`` (a bare physnet has no tenant range).
    Raises ValueError for a malformed entry."""
    out = []
    for entry in entries:
        parts = entry.split(":")
        physnet = parts.pop(0) if with_physnet else ""
        if with_physnet and not parts:
            out.append((physnet, 0, -1))
            continue
        if len(parts) != 2:
            raise ValueError(f"bad range {entry!r}")
        low, high = int(parts[0]), int(parts[1])
        if low > high:
            raise ValueError(f"bad range {entry!r}")
        out.append((physnet, low, high))
    return out


def type_mtu(network_type: str) -> int:
    """The largest MTU a network of ``network_type`` carries (bytes)."""
    return MAX_MTU - VXLAN_OVERHEAD if network_type == "vxlan" else MAX_MTU


def tunnel_in_use(vni: int) -> Conflict:
    return Conflict(f"Unable to create the network. The tunnel ID {vni} is in use.",
                    kind="TunnelIdInUse")


def no_network_available() -> ServiceUnavailable:
    return ServiceUnavailable("Unable to create the network. No tenant network is available "
                              "for allocation.", kind="NoNetworkAvailable")


class SegmentsMixin(ServiceBase):
    async def _taken(self, s: AsyncSession, kind: str, physnet: str) -> set[int]:
        rows = await s.scalars(select(SegmentAllocation.segmentation_id).where(
            SegmentAllocation.network_type == kind, SegmentAllocation.physical_network == physnet))
        return set(rows.all())

    def _ranges(self, kind: str) -> list[tuple[str, int, int]]:
        net = self.settings.network
        if kind == "vxlan":
            return parse_ranges(net.vni_ranges, with_physnet=False)
        if kind == "vlan":
            return parse_ranges(net.network_vlan_ranges, with_physnet=True)
        return []

    async def _free_id(self, s: AsyncSession, kind: str, physnet: str | None) -> tuple[str, int] | None:
        """The lowest free (physnet, id) of ``kind`` in its configured ranges (one physnet if given)."""
        for net_physnet, low, high in self._ranges(kind):
            if physnet is not None and net_physnet != physnet:
                continue
            taken = await self._taken(s, kind, net_physnet)
            for segid in range(low, high + 1):
                if segid not in taken:
                    return net_physnet, segid
        return None

    def _physnets(self) -> set[str]:
        vlan = {p for p, _, _ in parse_ranges(self.settings.network.network_vlan_ranges, True)}
        return set(self.settings.network.physical_bridges) | vlan

    async def _tenant_segment(self, s: AsyncSession) -> tuple[str, str | None, int | None]:
        for kind in self.settings.network.tenant_network_types:
            if kind == "local":
                return "local", None, None
            found = await self._free_id(s, kind, None)
            if found is not None:
                physnet, segid = found
                return kind, physnet or None, segid
        raise no_network_available()

    async def _provider_segment(self, s: AsyncSession, kind: str, physnet: str | None,
                                segid: int | None) -> tuple[str, str | None, int | None]:
        if kind == "local":
            if physnet is not None or segid is not None:
                raise errors.invalid_input("provider:physical_network and provider:segmentation_id "
                                           "are not allowed for local provider network")
            return kind, None, None
        if kind == "vxlan":
            if physnet is not None:
                raise errors.invalid_input("provider:physical_network specified for vxlan network")
            if segid is None:
                found = await self._free_id(s, "vxlan", None)
                if found is None:
                    raise no_network_available()
                return kind, None, found[1]
            if not 1 <= segid <= MAX_VNI:
                raise errors.invalid_input(f"segmentation_id out of range (1 through {MAX_VNI})")
            if segid in await self._taken(s, "vxlan", ""):
                raise tunnel_in_use(segid)
            return kind, None, segid
        if not physnet:
            raise errors.invalid_input(f"physical_network required for {kind} provider network")
        if physnet not in self._physnets():
            raise errors.invalid_input(f"physical_network '{physnet}' unknown for {kind} "
                                       "provider network")
        if kind == "flat":
            if segid is not None:
                raise errors.invalid_input("segmentation_id specified for flat provider network")
            if await self._taken(s, "flat", physnet):
                raise errors.flat_in_use(physnet)
            return kind, physnet, None
        taken = await self._taken(s, "vlan", physnet)
        if segid is None:
            found = await self._free_id(s, "vlan", physnet)
            segid = found[1] if found else next((v for v in range(1, 4095) if v not in taken), None)
            if segid is None:
                raise errors.vlan_in_use(4094, physnet)
        elif not 1 <= segid <= 4094:
            raise errors.invalid_input("segmentation_id out of range (1 through 4094)")
        elif segid in taken:
            raise errors.vlan_in_use(segid, physnet)
        return kind, physnet, segid

    async def allocate_segment(self, s: AsyncSession, body: dict, network_id: str
                               ) -> tuple[str, str | None, int | None]:
        """Choose and record the segment of new network ``network_id`` from the body's
        ``provider:*`` keys; ``(network_type, physical_network, segmentation_id)``.
        400 for bad attributes, 409 for ids in use, 503 when no tenant id is free."""
        kind = body.get("provider:network_type")
        physnet = body.get("provider:physical_network")
        segid = body.get("provider:segmentation_id")
        if kind is None:
            if physnet is not None or segid is not None:
                raise errors.invalid_input("provider:network_type required")
            kind, physnet, segid = await self._tenant_segment(s)
        else:
            kind, physnet, segid = await self._provider_segment(s, kind, physnet, segid)
        if kind != "local":
            s.add(SegmentAllocation(network_type=kind, physical_network=physnet or "",
                                    segmentation_id=segid or 0, network_id=network_id))
        return kind, physnet, segid

    @staticmethod
    async def release_segment(s: AsyncSession, network_id: str) -> None:
        """Free the segment ids network ``network_id`` held."""
        await s.execute(delete(SegmentAllocation).where(SegmentAllocation.network_id == network_id))

    @staticmethod
    def check_mtu(network_type: str, mtu: int | None) -> int:
        """The MTU to store: ``mtu`` or the type's maximum; 400 above that maximum."""
        limit = type_mtu(network_type)
        if mtu is None:
            return limit
        if mtu > limit:
            raise errors.invalid_input(f"Requested MTU is too big, maximum is {limit}")
        return mtu

    # --- port binding (linuxbridge mechanism) --------------------------------
    async def bind_port(self, s: AsyncSession, port: Port, net: Network) -> None:
        """Set ``port``'s binding:vif_type/vif_details and status for its host and ``net``."""
        if not port.binding_host_id:
            port.binding_vif_type, port.binding_vif_details, port.status = "unbound", {}, "DOWN"
            return
        provider = {"id": net.id, "provider:network_type": net.network_type,
                    "provider:physical_network": net.physical_network}
        any_agent = await s.scalar(select(Agent.id).where(Agent.agent_type == L2_AGENT_TYPE).limit(1))
        if any_agent is None:
            bridge = network_bridge(provider, self.settings.network.physical_bridges)
            filtered, status = False, "ACTIVE" if port.admin_state_up else "DOWN"
        else:
            agent = await s.scalar(select(Agent).where(Agent.agent_type == L2_AGENT_TYPE,
                                                       Agent.host == port.binding_host_id))
            bridge = self._agent_bridge(agent, provider)
            filtered = bool(agent and (agent.configurations or {}).get("firewall"))
            status = "ACTIVE" if port.status == "ACTIVE" and port.admin_state_up else "DOWN"
        if bridge is None:
            port.binding_vif_type, port.binding_vif_details, port.status = "binding_failed", {}, "DOWN"
            return
        port.binding_vif_type = "bridge"
        port.binding_vif_details = {"port_filter": filtered, "bridge_name": bridge}
        port.status = status

    @staticmethod
    def _agent_bridge(agent: Agent | None, provider: dict) -> str | None:
        """The bridge ``agent`` serves ``provider``'s network on, None if it cannot."""
        if agent is None or not agent.admin_state_up or \
                utcnow() - agent.heartbeat_timestamp > timedelta(seconds=AGENT_DOWN_TIME):
            return None
        conf = agent.configurations or {}
        kind = provider["provider:network_type"]
        mappings = conf.get("bridge_mappings") or {}
        if kind == "vxlan" and "vxlan" not in (conf.get("tunnel_types") or []):
            return None
        if kind in ("flat", "vlan") and provider["provider:physical_network"] not in mappings:
            return None
        return network_bridge(provider, mappings)

    async def update_port_status(self, host: str, up: list[str], down: list[str]) -> int:
        """An L2 agent's report: ports ``up`` (tap on the bridge) become ACTIVE, ``down`` DOWN,
        for ports bound to ``host`` (admin_state_up false stays DOWN); how many changed."""
        async def tx(s: AsyncSession) -> int:
            changed = 0
            for ids, status in ((up, "ACTIVE"), (down, "DOWN")):
                if not ids:
                    continue
                ports = (await s.scalars(select(Port).where(
                    Port.id.in_(list(ids)), Port.binding_host_id == host))).all()
                for port in ports:
                    new = status if port.admin_state_up else "DOWN"
                    if port.status != new and port.binding_vif_type == "bridge":
                        port.status = new
                        changed += 1
            return changed
        return await self.write(tx)
