"""Default policy of the network API (neutron's rule names; override in ``<policy_dir>/network.yaml``).

Targets (built by :mod:`kumo.network.service.base`):

- network: ``project_id``, ``shared``, ``router:external``;
- subnet and port: ``project_id`` (its own), ``network:project_id``,
  ``network:shared``, ``network:router:external``; a port also ``device_owner``;
- creates: the same keys with the values asked for.

Attribute rules (``create_network:shared``, ``get_port:binding:vif_details``...)
guard admin-only inputs and outputs; a ``get_*`` rule that refuses hides the
resource (404), as neutron does. Lists are first scoped to the caller's project
(plus shared and external networks) unless ``context_is_admin``, then filtered
by the ``get_*`` rule.
"""
from __future__ import annotations

from kumo.common.policy import Policy, RuleDefault
from kumo.common.policy.base import ADMIN, PROJECT_MEMBER, PROJECT_READER, table
from kumo.network import errors

ADMIN_ONLY = "rule:admin_only"
ADMIN_OR_MEMBER = "rule:admin_or_project_member"
ADMIN_OR_NET_OWNER = "rule:admin_or_network_owner_member"
#: Changing a subnet or port: admin, a member of its project, or a member owning its network.
CHILD_WRITER = "rule:admin_or_project_member or rule:network_owner_member"
#: Admin-only attributes per resource (input on create/update, output on get).
ADMIN_ATTRIBUTES = {
    "network": ("shared", "router:external", "provider:network_type", "provider:physical_network",
                "provider:segmentation_id"),
    "port": ("binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"),
}
#: Attributes always shown (readable by whoever sees the resource).
PUBLIC_OUTPUT = {"shared", "router:external"}


def _attribute_rules() -> list[tuple[str, str, str]]:
    rows = []
    for resource, attrs in ADMIN_ATTRIBUTES.items():
        for attr in attrs:
            for op in ("create", "update", "get"):
                if op == "get" and attr in PUBLIC_OUTPUT:
                    continue
                if op != "get" and attr in ("binding:vif_type", "binding:vif_details"):
                    continue  # computed, never input
                rows.append((f"{op}_{resource}:{attr}", ADMIN_ONLY, f"{attr} of a {resource}"))
    return rows


def _l3_rules() -> list[tuple[str, str, str]]:
    """Routers and floating IPs (targets: ``project_id`` of the router or floating IP)."""
    rows = [
        ("create_router", ADMIN_OR_MEMBER, "POST /routers"),
        ("get_router", "rule:admin_or_project_reader", "GET /routers, GET /routers/{id}"),
        ("update_router", ADMIN_OR_MEMBER, "PUT /routers/{id}"),
        ("delete_router", ADMIN_OR_MEMBER, "DELETE /routers/{id}"),
        ("add_router_interface", ADMIN_OR_MEMBER, "PUT /routers/{id}/add_router_interface"),
        ("remove_router_interface", ADMIN_OR_MEMBER, "PUT /routers/{id}/remove_router_interface"),
        ("create_floatingip", ADMIN_OR_MEMBER, "POST /floatingips"),
        ("create_floatingip:floating_ip_address", ADMIN_ONLY, "POST /floatingips with an address"),
        ("get_floatingip", "rule:admin_or_project_reader", "GET /floatingips, GET /floatingips/{id}"),
        ("update_floatingip", ADMIN_OR_MEMBER, "PUT /floatingips/{id}"),
        ("delete_floatingip", ADMIN_OR_MEMBER, "DELETE /floatingips/{id}"),
    ]
    for op in ("create", "update"):
        gw = f"{op}_router:external_gateway_info"
        rows += [(gw, ADMIN_OR_MEMBER, f"{op} a router with a gateway"),
                 (gw + ":network_id", ADMIN_OR_MEMBER, "the gateway's network"),
                 (gw + ":enable_snat", ADMIN_ONLY, "the gateway's SNAT switch"),
                 (gw + ":external_fixed_ips", ADMIN_ONLY, "the gateway's addresses")]
    return rows


def _security_group_rules() -> list[tuple[str, str, str]]:
    """Security groups (target ``project_id``), their rules (``project_id`` of the rule and
    ``security_group:project_id``) and quotas (``project_id`` of the quota's project)."""
    sg_owner = "project_id:%(security_group:project_id)s"
    return [
        ("create_security_group", ADMIN_OR_MEMBER, "POST /security-groups"),
        ("get_security_group", "rule:admin_or_project_reader",
         "GET /security-groups, GET /security-groups/{id}"),
        ("update_security_group", ADMIN_OR_MEMBER, "PUT /security-groups/{id}"),
        ("delete_security_group", ADMIN_OR_MEMBER, "DELETE /security-groups/{id}"),
        ("update_security_group:tags", ADMIN_OR_MEMBER, "PUT/DELETE /security-groups/{id}/tags"),
        ("create_security_group_rule", f"rule:context_is_admin or (role:member and {sg_owner})",
         "POST /security-group-rules"),
        ("get_security_group_rule", f"rule:admin_or_project_reader or (role:reader and {sg_owner})",
         "GET /security-group-rules, GET /security-group-rules/{id}"),
        ("update_security_group_rule", f"rule:context_is_admin or (role:member and {sg_owner})",
         "PUT /security-group-rules/{id}"),
        ("delete_security_group_rule", f"rule:context_is_admin or (role:member and {sg_owner})",
         "DELETE /security-group-rules/{id}"),
        ("get_quota", "rule:admin_or_project_reader", "GET /quotas/{project_id}[/default|/details]"),
        ("update_quota", ADMIN_ONLY, "PUT /quotas/{project_id}"),
        ("delete_quota", ADMIN_ONLY, "DELETE /quotas/{project_id}"),
    ]


def _pool_rules() -> list[tuple[str, str, str]]:
    """Subnet pools and address scopes (target: ``project_id``, ``shared``), tags of the
    other taggable resources (``update_<resource>:tags``, target of the resource)."""
    readable = "rule:admin_or_project_reader or rule:shared"
    rows = [
        ("create_subnetpool", ADMIN_OR_MEMBER, "POST /subnetpools"),
        ("create_subnetpool:shared", ADMIN_ONLY, "POST /subnetpools with shared"),
        ("create_subnetpool:is_default", ADMIN_ONLY, "POST /subnetpools with is_default"),
        ("get_subnetpool", readable, "GET /subnetpools, GET /subnetpools/{id}"),
        ("update_subnetpool", ADMIN_OR_MEMBER, "PUT /subnetpools/{id}"),
        ("update_subnetpool:is_default", ADMIN_ONLY, "PUT /subnetpools/{id} with is_default"),
        ("delete_subnetpool", ADMIN_OR_MEMBER, "DELETE /subnetpools/{id}"),
        ("add_prefixes", ADMIN_OR_MEMBER, "PUT /subnetpools/{id}/add_prefixes"),
        ("remove_prefixes", ADMIN_OR_MEMBER, "PUT /subnetpools/{id}/remove_prefixes"),
        ("create_address_scope", ADMIN_OR_MEMBER, "POST /address-scopes"),
        ("create_address_scope:shared", ADMIN_ONLY, "POST /address-scopes with shared"),
        ("get_address_scope", readable, "GET /address-scopes, GET /address-scopes/{id}"),
        ("update_address_scope", ADMIN_OR_MEMBER, "PUT /address-scopes/{id}"),
        ("update_address_scope:shared", ADMIN_ONLY, "PUT /address-scopes/{id} with shared"),
        ("delete_address_scope", ADMIN_OR_MEMBER, "DELETE /address-scopes/{id}"),
    ]
    for resource in ("router", "floatingip", "subnetpool", "address_scope"):
        rows.append((f"update_{resource}:tags", ADMIN_OR_MEMBER, f"PUT/DELETE tags of a {resource}"))
    return rows


def rules() -> list[RuleDefault]:
    """Every network rule (Networking API v2.0 operations in the descriptions)."""
    return table([
        ("context_is_admin", ADMIN, "Who is an administrator"),
        ("admin_only", "rule:context_is_admin", ""),
        ("project_member", PROJECT_MEMBER, ""),
        ("project_reader", PROJECT_READER, ""),
        ("admin_or_project_member", "rule:context_is_admin or rule:project_member", ""),
        ("admin_or_project_reader", "rule:context_is_admin or rule:project_reader", ""),
        ("network_owner", "project_id:%(network:project_id)s", "The caller's project owns the network"),
        ("network_owner_member", "role:member and rule:network_owner", ""),
        ("network_owner_reader", "role:reader and rule:network_owner", ""),
        ("admin_or_network_owner_member", "rule:context_is_admin or rule:network_owner_member", ""),
        ("shared", "'True':%(shared)s", "The network is shared"),
        ("external", "'True':%(router:external)s", "The network is external"),
        ("network_shared", "'True':%(network:shared)s", "The resource's network is shared"),
        ("network_external", "'True':%(network:router:external)s", "The resource's network is external"),
        ("default", ADMIN_ONLY, "Any action without a rule of its own"),
        # Networks
        ("create_network", ADMIN_OR_MEMBER, "POST /networks"),
        ("get_network", "rule:admin_or_project_reader or rule:shared or rule:external",
         "GET /networks, GET /networks/{id}"),
        ("update_network", ADMIN_OR_MEMBER, "PUT /networks/{id}"),
        ("delete_network", ADMIN_OR_MEMBER, "DELETE /networks/{id}"),
        ("update_network:tags", ADMIN_OR_MEMBER, "PUT/DELETE /networks/{id}/tags[/{tag}]"),
        # Subnets
        ("create_subnet", "rule:context_is_admin or (rule:project_member and rule:network_owner)",
         "POST /subnets"),
        ("get_subnet", "rule:admin_or_project_reader or rule:network_owner_reader or "
                       "rule:network_shared or rule:network_external", "GET /subnets, GET /subnets/{id}"),
        ("update_subnet", CHILD_WRITER, "PUT /subnets/{id}"),
        ("delete_subnet", CHILD_WRITER, "DELETE /subnets/{id}"),
        ("update_subnet:tags", CHILD_WRITER, "PUT/DELETE /subnets/{id}/tags[/{tag}]"),
        # Ports
        ("create_port", "rule:context_is_admin or (rule:project_member and "
                        "(rule:network_owner or rule:network_shared))", "POST /ports"),
        ("create_port:mac_address", ADMIN_OR_NET_OWNER, "POST /ports with mac_address"),
        ("create_port:fixed_ips:ip_address", ADMIN_OR_NET_OWNER, "POST /ports with fixed_ips ip_address"),
        ("create_port:device_owner", ADMIN_OR_NET_OWNER, "POST /ports with a network:* device_owner"),
        ("get_port", "rule:admin_or_project_reader or rule:network_owner_reader",
         "GET /ports, GET /ports/{id}"),
        ("update_port", CHILD_WRITER, "PUT /ports/{id}"),
        ("update_port:mac_address", ADMIN_ONLY, "PUT /ports/{id} with mac_address"),
        ("update_port:fixed_ips:ip_address", ADMIN_OR_NET_OWNER, "PUT /ports/{id} with fixed_ips ip_address"),
        ("update_port:device_owner", ADMIN_OR_NET_OWNER, "PUT /ports/{id} with a network:* device_owner"),
        ("delete_port", CHILD_WRITER, "DELETE /ports/{id}"),
        ("update_port:tags", CHILD_WRITER, "PUT/DELETE /ports/{id}/tags[/{tag}]"),
        # Agents
        ("get_agent", ADMIN_ONLY, "GET /agents, GET /agents/{id}"),
        ("update_agent", ADMIN_ONLY, "PUT /agents/{id}"),
        ("delete_agent", ADMIN_ONLY, "DELETE /agents/{id}"),
        ("get_l3-routers", ADMIN_ONLY, "GET /agents/{id}/l3-routers"),
        ("create_l3-router", ADMIN_ONLY, "POST /agents/{id}/l3-routers"),
        ("delete_l3-router", ADMIN_ONLY, "DELETE /agents/{id}/l3-routers/{router_id}"),
        ("get_l3-agents", ADMIN_ONLY, "GET /routers/{id}/l3-agents"),
        ("get_dhcp-networks", ADMIN_ONLY, "GET /agents/{id}/dhcp-networks"),
        ("create_dhcp-network", ADMIN_ONLY, "POST /agents/{id}/dhcp-networks"),
        ("delete_dhcp-network", ADMIN_ONLY, "DELETE /agents/{id}/dhcp-networks/{network_id}"),
        ("get_dhcp-agents", ADMIN_ONLY, "GET /networks/{id}/dhcp-agents"),
    ] + _attribute_rules() + _l3_rules() + _security_group_rules() + _pool_rules())


def policy(settings) -> Policy:
    """The network API's :class:`Policy`: 403 ``PolicyNotAuthorized`` "rule:<action> is disallowed
    by policy"."""
    return Policy("network", rules(), settings, denial=errors.policy)
