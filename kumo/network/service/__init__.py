"""The network service: networks, subnets, ports, agents, tags (Networking API v2.0).

:class:`NetworkService` is what the API handlers call. Every method takes the
caller's :class:`~kumo.common.auth.context.RequestContext` first and an already
parsed body (:func:`kumo.network.schemas.parse`), returns API views (dicts) and
raises :mod:`kumo.network.errors` (rendered as NeutronError bodies). Changes
that matter to DHCP are fanned out on the bus (``dhcp_agent``:
``network_changed(network_id)``, ``network_deleted(network_id)``) after commit.
"""
from __future__ import annotations

from kumo.network.service.agents import AgentsMixin
from kumo.network.service.floatingips import FloatingIPsMixin
from kumo.network.service.networks import NetworksMixin
from kumo.network.service.ports import PortsMixin
from kumo.network.service.quotas import QuotasMixin
from kumo.network.service.security_group_rules import SecurityGroupRulesMixin
from kumo.network.service.subnets import SubnetsMixin
from kumo.network.service.tags import TAGGABLE, TagsMixin


class NetworkService(NetworksMixin, SubnetsMixin, FloatingIPsMixin, PortsMixin, AgentsMixin, SecurityGroupRulesMixin,
                     QuotasMixin, TagsMixin):
    """``NetworkService(db, settings, bus)``; see the mixins for the operations."""


__all__ = ["NetworkService", "TAGGABLE"]
