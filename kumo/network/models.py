"""The network service's tables: networks, subnets, ports, IP allocations, agents.

List-valued attributes (allocation pools, DNS servers, host routes, tags,
binding details...) are JSON columns. An IP address is unique per subnet
(``uq_ipallocations_subnet_id``) and a MAC address per network
(``uq_ports_network_id``): the database, not only the code, refuses a double
allocation when two API processes race.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kumo.common.db import declarative_base, new_id, utcnow

Base = declarative_base()


class Standard:
    """Neutron's "standard attributes": description, tags, timestamps, revision."""

    description: Mapped[str] = mapped_column(String(255), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)

    def touch(self) -> None:
        """Record a change: new updated_at, revision_number + 1."""
        self.updated_at = utcnow()
        self.revision_number = (self.revision_number or 0) + 1


class Network(Standard, Base):
    __tablename__ = "networks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    network_type: Mapped[str] = mapped_column(String(32), default="local")
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_hints: Mapped[list] = mapped_column(JSON, default=list)

    subnets: Mapped[list["Subnet"]] = relationship(
        back_populates="network", cascade="all, delete-orphan", order_by="Subnet.created_at",
        lazy="selectin")


class Subnet(Standard, Base):
    __tablename__ = "subnets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)

    network: Mapped[Network] = relationship(back_populates="subnets", lazy="raise")


class Port(Standard, Base):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    binding_vnic_type: Mapped[str] = mapped_column(String(32), default="normal")
    binding_profile: Mapped[dict] = mapped_column(JSON, default=dict)
    binding_vif_type: Mapped[str] = mapped_column(String(32), default="unbound")
    binding_vif_details: Mapped[dict] = mapped_column(JSON, default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)
    extra_dhcp_opts: Mapped[list] = mapped_column(JSON, default=list)
    dns_name: Mapped[str] = mapped_column(String(255), default="")

    fixed_ips: Mapped[list["IPAllocation"]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IPAllocation.seq",
        lazy="selectin")


class IPAllocation(Base):
    __tablename__ = "ipallocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))

    port: Mapped[Port] = relationship(back_populates="fixed_ips", lazy="raise")


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("agent_type", "host"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agent_type: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    configurations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class RouterL3AgentBinding(Base):
    """Which L3 agent hosts a router ("L3 agent scheduler"): one agent per router."""

    __tablename__ = "routerl3agentbindings"

    router_id: Mapped[str] = mapped_column(ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    l3_agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)


class NetworkDhcpAgentBinding(Base):
    """Which DHCP agents serve a network ("DHCP agent scheduler")."""

    __tablename__ = "networkdhcpagentbindings"

    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"),
                                            primary_key=True)
    dhcp_agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"),
                                               primary_key=True, index=True)


# --- Security groups and quotas (Networking API v2.0 "Security groups", "Quotas extension") ---

class SecurityGroup(Standard, Base):
    """A project's named set of firewall rules; ``is_default`` marks its lazily made ``default``
    group (at most one per project: ``uq_securitygroups_default``)."""

    __tablename__ = "securitygroups"
    __table_args__ = (UniqueConstraint("project_id", "default_key", name="uq_securitygroups_default"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # "default" for the default group, else the group's id: unique per project either way.
    default_key: Mapped[str] = mapped_column(String(36))

    rules: Mapped[list["SecurityGroupRule"]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="SecurityGroupRule.created_at",
        lazy="selectin", foreign_keys="SecurityGroupRule.security_group_id")


class SecurityGroupRule(Standard, Base):
    """One allow rule; ``protocol`` is a name or a number as a string, None for any."""

    __tablename__ = "securitygrouprules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), nullable=True, index=True)
    remote_address_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    group: Mapped[SecurityGroup] = relationship(back_populates="rules", lazy="raise",
                                                foreign_keys=[security_group_id])


class PortSecurityGroup(Base):
    """A port's membership in a security group (a group in use cannot be deleted)."""

    __tablename__ = "securitygroupportbindings"

    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("securitygroups.id"), primary_key=True,
                                                   index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


Port.security_group_bindings = relationship(  # type: ignore[attr-defined]
    PortSecurityGroup, cascade="all, delete-orphan", order_by=PortSecurityGroup.seq, lazy="selectin")


class Quota(Base):
    """A project's limit for one resource (``-1``: unlimited); absent rows mean the default."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(64))
    limit: Mapped[int] = mapped_column(Integer)


# --- segments (type drivers: kumo/network/service/segments.py) -------------------------------
class SegmentAllocation(Base):
    """A segmentation id taken by a network: flat (id 0), vlan (per physical network) or vxlan
    (physical network ""). Unique, so concurrent creates cannot share an id."""

    __tablename__ = "segment_allocations"
    __table_args__ = (UniqueConstraint("network_type", "physical_network", "segmentation_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    network_type: Mapped[str] = mapped_column(String(32))
    physical_network: Mapped[str] = mapped_column(String(64), default="")
    segmentation_id: Mapped[int] = mapped_column(Integer, default=0)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"),
                                            index=True)


# --- routers and floating IPs (L3) -----------------------------------------
# A router's ports are ordinary ports with device_id = the router's id and
# device_owner network:router_interface / network:router_gateway; a floating IP
# holds its address through a port (device_owner network:floatingip) on the
# external network, so IPAM and the unique keys above cover it too.


class Router(Standard, Base):
    __tablename__ = "routers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    gw_network_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)


class FloatingIP(Standard, Base):
    __tablename__ = "floatingips"
    # One fixed IP of a port maps to at most one floating IP.
    __table_args__ = (UniqueConstraint("fixed_port_id", "fixed_ip_address"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    floating_network_id: Mapped[str] = mapped_column(String(36), index=True)
    floating_port_id: Mapped[str] = mapped_column(String(36))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


# --- address scopes and subnet pools (kumo/network/service/subnetpools.py) ----------------
class AddressScope(Standard, Base):
    """A set of subnet pools whose prefixes never overlap (Networking API v2.0 "Address scopes")."""

    __tablename__ = "address_scopes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)


class SubnetPool(Standard, Base):
    """Prefixes (JSON list of CIDRs, collapsed) that subnets are carved from ("Subnet pools")."""

    __tablename__ = "subnetpools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    prefixes: Mapped[list] = mapped_column(JSON, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    default_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    address_scope_id: Mapped[str | None] = mapped_column(
        ForeignKey("address_scopes.id"), nullable=True, index=True)


class SubnetPoolAllocation(Base):
    """A subnet carved from a pool (its CIDR is copied here so a pool's space is one query);
    the row goes with its subnet, and a pool with rows cannot be deleted."""

    __tablename__ = "subnetpool_allocations"

    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"),
                                           primary_key=True)
    subnetpool_id: Mapped[str] = mapped_column(ForeignKey("subnetpools.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    cidr: Mapped[str] = mapped_column(String(64))

    # a network's ipv4/ipv6_address_scope is its subnets' pools' scope
    pool: Mapped[SubnetPool] = relationship(lazy="selectin")


Subnet.pool_link = relationship(  # type: ignore[attr-defined]
    SubnetPoolAllocation, uselist=False, cascade="all, delete-orphan", lazy="selectin")
