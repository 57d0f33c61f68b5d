"""Which host bridge carries a network (the Linux bridge mechanism's naming).

- ``flat`` on physical network P: the operator's bridge ``physical_bridges[P]``
  (``[network] physical_bridges``, e.g. ``{"public": "br-ex"}``);
- ``vlan`` on P with id N: ``brq<network id[:11]>``, fed by the VLAN link
  :func:`vlan_link` (N on top of ``physical_bridges[P]``);
- ``vxlan`` with VNI N: ``brq<network id[:11]>`` with the L2 agent's
  ``vxlan-<N>`` device (:func:`vxlan_link`);
- ``local``: ``brq<network id[:11]>``, a bridge of its own with no uplink.

Used by the network API (``binding:vif_details.bridge_name``) and the agents
that wire taps, so both agree on names.
"""
from __future__ import annotations

import hashlib


def network_bridge(network: dict, physical_bridges: dict[str, str]) -> str | None:
    """Bridge name for ``network`` (a dict with ``id`` and ``provider:*`` keys), or None
    when its physical network has no bridge on this host or its type is unknown."""
    kind = network.get("provider:network_type")
    if kind == "flat":
        return physical_bridges.get(network.get("provider:physical_network") or "")
    if kind == "vlan":
        if (network.get("provider:physical_network") or "") not in physical_bridges:
            return None
        return "brq" + network["id"][:11]
    if kind in ("local", "vxlan"):
        return "brq" + network["id"][:11]
    return None


def vlan_link(physical_bridge: str, segmentation_id: int) -> str:
    """Name of the VLAN ``segmentation_id`` link on ``physical_bridge`` (<= 15 bytes)."""
    name = f"{physical_bridge}.{segmentation_id}"
    if len(name) <= 15:
        return name
    digest = hashlib.sha1(physical_bridge.encode()).hexdigest()[:5]
    return f"vl{digest}.{segmentation_id}"


def vxlan_link(vni: int) -> str:
    """Name of the VXLAN device of VNI ``vni`` (``vxlan-<vni>``, <= 14 bytes)."""
    return f"vxlan-{vni}"
