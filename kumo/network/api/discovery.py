"""Version discovery and the extension list (Networking API v2.0: "API versions",
"Extensions").

Only the extensions kumo implements are listed, so clients that probe for a
feature (``openstack extension list``, tempest's ``requires_ext``) see the
truth.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from kumo.common.api.errors import NotFound
from kumo.common.api.versions import base_url, link
from kumo.network.api.listing import fields_of

UPDATED = "2024-01-01T00:00:00-00:00"

#: alias -> (name, description)
EXTENSIONS = {
    "agent": ("agent", "The agent management extension."),
    "dhcp_agent_scheduler": ("DHCP Agent Scheduler", "Schedule networks among dhcp agents"),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "external-net": ("Neutron external network", "Adds external network attribute to network "
                     "resource."),
    "extra_dhcp_opt": ("Neutron Extra DHCP options", "Extra options configuration for DHCP. For "
                       "example PXE boot options to DHCP clients can be specified (e.g. "
                       "tftp-server, server-ip-address, bootfile-name)"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "Extension of the router "
                    "abstraction for specifying whether SNAT should occur on the external "
                    "gateway"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "fip-port-details": ("Floating IP Port Details Extension", "Add port_details attribute to "
                         "Floating IP resource"),
    "filter-validation": ("Filter parameters validation", "Provides validation on filter "
                          "parameters."),
    "ip-substring-filtering": ("IP address substring filtering", "Provides IP address "
                               "substring filtering when listing ports"),
    "l3_agent_scheduler": ("L3 Agent Scheduler", "Schedule routers among l3 agents"),
    "l2_adjacency": ("L2 Adjacency", "Display L2 Adjacency for Neutron Networks."),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for a "
                         "network resource."),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled."),
    "port-security": ("Port Security", "Provides port security"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field "
                   "is enabled."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks"),
    "quotas": ("Quota management support", "Expose functions for quotas management per "
               "project"),
    "quota_details": ("Quota details management support", "Expose functions for quotas usage "
                      "statistics per project"),
    "security-group": ("security-group", "The security groups extension."),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group is "
                                "stateful or not"),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
               "Neutron networks and access to external networks via a NAT gateway."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions "
                                  "to standard attributes"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display the "
                                "revision number of neutron resources."),
    "standard-attr-tag": ("Tag support for resources with standard attribute: subnet, network, "
                          "port, router, floatingip, security_group, subnetpool, "
                          "address_scope", "Enables to set tag on resources with standard "
                          "attribute."),
    # tags and service providers: kumo/network/service/tags.py, list_service_providers below
    "tag": ("Tag support", "Enables to set tag on resources."),
    "tag-ext": ("Tag support for resources: subnet, subnetpool, port, router",
                "Extends tag support to more L2 and L3 resources."),
    "service-type": ("Neutron Service Type Management", "API for retrieving service providers "
                     "for Neutron advanced services"),
    # subnet pools and address scopes: kumo/network/service/subnetpools.py, address_scopes.py
    "subnet_allocation": ("Subnet Allocation", "Enables allocation of subnets from a subnet "
                          "pool"),
    "default-subnetpools": ("Default Subnetpools", "Provides ability to mark and use a "
                            "subnetpool as the default."),
    "subnetpool-prefix-ops": ("Subnet Pool Prefix Operations", "Provides support for adjusting "
                              "the prefix list of subnet pools"),
    "address-scope": ("Address scope", "Address scopes extension."),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at fields to "
                                "all Neutron resources that have Neutron standard attributes."),
}

RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
             ("agent", "agents"), ("security_group", "security-groups"),
             ("security_group_rule", "security-group-rules"), ("quota", "quotas"),
             ("router", "routers"), ("floatingip", "floatingips"), ("subnetpool", "subnetpools"),
             ("address_scope", "address-scopes"), ("service_provider", "service-providers"))


def _extension(alias: str) -> dict:
    name, description = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED,
            "links": []}


async def versions(request: Request) -> JSONResponse:
    """GET / -> ``{"versions": [{"id": "v2.0", "status": "CURRENT", "links": [self]}]}``."""
    href = f"{base_url(request)}/v2.0/"
    return JSONResponse({"versions": [{"id": "v2.0", "status": "CURRENT",
                                       "links": [link(href)]}]})


async def resources(request: Request) -> JSONResponse:
    """GET /v2.0/ -> ``{"resources": [{"name", "collection", "links"}]}``."""
    base = f"{base_url(request)}/v2.0"
    return JSONResponse({"resources": [
        {"name": name, "collection": coll, "links": [link(f"{base}/{coll}")]}
        for name, coll in RESOURCES]})


async def list_extensions(request: Request) -> JSONResponse:
    """GET /v2.0/extensions -> ``{"extensions": [{alias, name, description, updated, links}]}``."""
    return JSONResponse({"extensions": [_extension(a) for a in sorted(EXTENSIONS)]})


async def show_extension(request: Request) -> JSONResponse:
    """GET /v2.0/extensions/{alias}; 404 for an extension kumo does not have."""
    alias = request.path_params["alias"]
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist", kind="HTTPNotFound")
    return JSONResponse({"extension": _extension(alias)})


#: What kumo runs for each advanced service type (only the L3 router plugin).
SERVICE_PROVIDERS = ({"service_type": "L3_ROUTER_NAT", "name": "kumo", "default": True},)


async def list_service_providers(request: Request) -> JSONResponse:
    """GET /v2.0/service-providers ("Service providers", extension ``service-type``) ->
    ``{"service_providers": [{"service_type", "name", "default"}]}``; ``fields`` and
    equality filters on those three keys apply."""
    items = [dict(p) for p in SERVICE_PROVIDERS]
    for key in ("service_type", "name", "default"):
        wanted = request.query_params.getlist(key)
        if wanted:
            items = [p for p in items if str(p[key]).lower() in {w.lower() for w in wanted}]
    return JSONResponse({"service_providers": [fields_of(request, p) for p in items]})
