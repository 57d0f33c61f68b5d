"""The JSON shapes of networks, subnets, ports and agents (Networking API v2.0).

Views carry every attribute; the service drops those the policy hides from the
caller (``get_network:provider:*``, ``get_port:binding:*``: admin only by default).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from kumo.common.db import isotime, utcnow
from kumo.network.models import Agent, Network, Port, Subnet

#: An agent is alive if it reported within this many seconds (neutron's agent_down_time).
AGENT_DOWN_TIME = 75
DHCP_AZ = "nova"


def address_scope(net: Network, version: int) -> str | None:
    """The address scope of ``net``'s IPv``version`` subnets: the one scope all their subnet
    pools share, else None (no such subnets, subnets outside pools, or several scopes)."""
    scopes = {s.pool_link.pool.address_scope_id if s.pool_link else None
              for s in net.subnets if s.ip_version == version}
    return scopes.pop() if len(scopes) == 1 else None


def network_view(net: Network) -> dict:
    return {
        "id": net.id,
        "name": net.name,
        "tenant_id": net.project_id,
        "project_id": net.project_id,
        "status": net.status,
        "admin_state_up": net.admin_state_up,
        "shared": net.shared,
        "router:external": net.external,
        "subnets": [s.id for s in net.subnets],
        "mtu": net.mtu,
        "availability_zones": [],
        "availability_zone_hints": list(net.availability_zone_hints or []),
        "ipv4_address_scope": address_scope(net, 4),
        "ipv6_address_scope": address_scope(net, 6),
        "port_security_enabled": net.port_security_enabled,
        "description": net.description,
        "tags": list(net.tags or []),
        "created_at": isotime(net.created_at),
        "updated_at": isotime(net.updated_at),
        "revision_number": net.revision_number,
        "is_default": False,
        "l2_adjacency": True,
        "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id,
    }


def subnet_view(subnet: Subnet) -> dict:
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "tenant_id": subnet.project_id,
        "project_id": subnet.project_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": [dict(p) for p in subnet.allocation_pools or []],
        "dns_nameservers": list(subnet.dns_nameservers or []),
        "host_routes": [dict(r) for r in subnet.host_routes or []],
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "subnetpool_id": subnet.pool_link.subnetpool_id if subnet.pool_link else None,
        "segment_id": None,
        "service_types": [],
        "description": subnet.description,
        "tags": list(subnet.tags or []),
        "created_at": isotime(subnet.created_at),
        "updated_at": isotime(subnet.updated_at),
        "revision_number": subnet.revision_number,
    }


def hostname(port: Port, ip: str) -> str:
    """The DHCP host name of ``port`` for address ``ip``: its dns_name or ``host-<ip>``."""
    return port.dns_name or "host-" + ip.replace(".", "-").replace(":", "-")


def port_view(port: Port, dns_domain: str = "openstacklocal") -> dict:
    ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]
    return {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": ips,
        "allowed_address_pairs": [
            {"ip_address": p["ip_address"], "mac_address": p.get("mac_address") or port.mac_address}
            for p in port.allowed_address_pairs or []],
        "extra_dhcp_opts": [dict(o) for o in port.extra_dhcp_opts or []],
        "security_groups": [b.security_group_id for b in port.security_group_bindings],
        "port_security_enabled": port.port_security_enabled,
        "binding:vnic_type": port.binding_vnic_type,
        "dns_name": port.dns_name,
        "dns_assignment": [{"ip_address": ip["ip_address"], "hostname": hostname(port, ip["ip_address"]),
                            "fqdn": f"{hostname(port, ip['ip_address'])}.{dns_domain}."}
                           for ip in ips],
        "description": port.description,
        "tags": list(port.tags or []),
        "created_at": isotime(port.created_at),
        "updated_at": isotime(port.updated_at),
        "revision_number": port.revision_number,
        "binding:host_id": port.binding_host_id,
        "binding:profile": dict(port.binding_profile or {}),
        "binding:vif_type": port.binding_vif_type,
        "binding:vif_details": dict(port.binding_vif_details or {}),
    }


def _agent_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def agent_alive(agent: Agent, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return agent.heartbeat_timestamp is not None and \
        now - agent.heartbeat_timestamp <= timedelta(seconds=AGENT_DOWN_TIME)


def agent_view(agent: Agent) -> dict:
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "binary": agent.binary,
        "topic": agent.topic,
        "host": agent.host,
        "admin_state_up": agent.admin_state_up,
        "alive": agent_alive(agent),
        "availability_zone": agent.availability_zone,
        "configurations": dict(agent.configurations or {}),
        "description": agent.description or None,
        "created_at": _agent_time(agent.created_at),
        "started_at": _agent_time(agent.started_at),
        "heartbeat_timestamp": _agent_time(agent.heartbeat_timestamp),
        "resources_synced": None,
        "ha_state": None,
    }
