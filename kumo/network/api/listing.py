"""List queries of the Networking API v2.0: filters, sorting, pagination, fields.

- Filters: ``?name=x&status=ACTIVE``; a repeated key matches any of its values;
  booleans accept true/false/1/0; tags filters ``tags``, ``tags-any``,
  ``not-tags``, ``not-tags-any`` take comma-separated tags; a key that is not
  an attribute of the resource is 400 (neutron's filter validation).
- Sorting: ``sort_key`` (repeatable) and ``sort_dir`` (asc|desc), default by id.
- Pagination: ``limit`` and ``marker`` (an id), ``page_reverse``; the answer
  carries ``<collection>_links`` with ``next`` (more items follow) and
  ``previous`` (a marker was given) links.
- ``fields`` (repeatable) keeps only those attributes.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import urlencode

from starlette.requests import Request

from kumo.common.api.body import query_bool, query_int
from kumo.common.api.errors import BadRequest

PAGING = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"}
TAG_FILTERS = {"tags", "tags-any", "not-tags", "not-tags-any"}

STANDARD = ("id", "name", "tenant_id", "project_id", "description", "tags", "created_at",
            "updated_at", "revision_number")
FIELDS = {
    "networks": STANDARD + (
        "status", "admin_state_up", "shared", "router:external", "subnets", "mtu",
        "availability_zones", "availability_zone_hints", "ipv4_address_scope",
        "ipv6_address_scope", "port_security_enabled", "is_default", "l2_adjacency",
        "provider:network_type", "provider:physical_network", "provider:segmentation_id"),
    "subnets": STANDARD + (
        "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools", "dns_nameservers",
        "host_routes", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
        "segment_id", "service_types"),
    "ports": STANDARD + (
        "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner",
        "fixed_ips", "allowed_address_pairs", "extra_dhcp_opts", "security_groups",
        "port_security_enabled", "binding:host_id", "binding:profile", "binding:vif_type",
        "binding:vif_details", "binding:vnic_type", "dns_name", "dns_assignment"),
    "security_groups": STANDARD + ("stateful", "shared", "security_group_rules"),
    "security_group_rules": (
        "id", "tenant_id", "project_id", "description", "created_at", "updated_at",
        "revision_number", "security_group_id", "direction", "ethertype", "protocol",
        "port_range_min", "port_range_max", "remote_ip_prefix", "normalized_cidr",
        "remote_group_id", "remote_address_group_id"),
    "routers": STANDARD + ("status", "admin_state_up", "external_gateway_info", "routes"),
    "floatingips": STANDARD + (
        "floating_ip_address", "floating_network_id", "router_id", "port_id", "fixed_ip_address",
        "status", "port_details"),
    "subnetpools": STANDARD + (
        "ip_version", "prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen",
        "default_quota", "shared", "is_default", "address_scope_id"),
    "address_scopes": STANDARD + ("ip_version", "shared"),
    "agents": ("id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive",
               "availability_zone", "configurations", "description", "created_at", "started_at",
               "heartbeat_timestamp", "resources_synced", "ha_state"),
}

Matcher = Callable[[dict, list[str]], bool]


def _norm(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _want(raw: str) -> str:
    low = raw.lower()
    return {"1": "true", "0": "false"}.get(low, low)


def _matches(value, wanted: list[str]) -> bool:
    if isinstance(value, list):
        return any(_matches(v, wanted) for v in value)
    if isinstance(value, dict):
        return False
    if isinstance(value, bool):
        return _norm(value) in {_want(w) for w in wanted}
    return _norm(value) in set(wanted)


def _sort_value(value):
    if value is None:
        return (2, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, _norm(value))


def fixed_ips_matcher(port: dict, wanted: list[str]) -> bool:
    """``fixed_ips=ip_address=10.0.0.5`` / ``subnet_id=X`` / ``ip_address_substr=10.0``:
    every key given must match one of the port's addresses."""
    by_key: dict[str, set[str]] = {}
    for item in wanted:
        key, sep, value = item.partition("=")
        if not sep or key not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise BadRequest(f"Invalid input for fixed_ips. Reason: '{item}' is not a valid "
                             "fixed_ips filter.", kind="HTTPBadRequest")
        by_key.setdefault(key, set()).add(value)
    for key, values in by_key.items():
        ips = port.get("fixed_ips") or []
        if key == "ip_address_substr":
            ok = any(v in ip["ip_address"] for ip in ips for v in values)
        else:
            ok = any(ip[key] in values for ip in ips)
        if not ok:
            return False
    return True


def _tags_ok(item: dict, key: str, raw: list[str]) -> bool:
    wanted = {t for value in raw for t in value.split(",") if t}
    have = set(item.get("tags") or [])
    return {"tags": wanted <= have, "tags-any": bool(wanted & have),
            "not-tags": not wanted <= have, "not-tags-any": not (wanted & have)}[key]


def filter_items(request: Request, collection: str, items: list[dict],
                 extra: dict[str, Matcher] | None = None) -> list[dict]:
    """Items matching the query's filters (400 for an unknown filter)."""
    extra = extra or {}
    known = set(FIELDS[collection])
    params = request.query_params
    for key in dict.fromkeys(params.keys()):
        if key in PAGING:
            continue
        values = params.getlist(key)
        if key in TAG_FILTERS:
            items = [i for i in items if _tags_ok(i, key, values)]
        elif key in extra:
            items = [i for i in items if extra[key](i, values)]
        elif key in known:
            items = [i for i in items if key in i and _matches(i[key], values)]
        else:
            raise BadRequest(f"[{key}] is invalid attribute for filtering", kind="HTTPBadRequest")
    return items


def _sort(request: Request, collection: str, items: list[dict]) -> list[dict]:
    keys = request.query_params.getlist("sort_key")
    dirs = request.query_params.getlist("sort_dir")
    for d in dirs:
        if d not in ("asc", "desc"):
            raise BadRequest(f"{d} is an invalid value for sort_dir, valid value is 'asc' and "
                             "'desc'", kind="HTTPBadRequest")
    for key in keys:
        if key not in FIELDS[collection]:
            raise BadRequest(f"{key} is an invalid attribute for sort_key", kind="HTTPBadRequest")
    if not keys:
        return sorted(items, key=lambda i: i["id"], reverse=bool(dirs and dirs[0] == "desc"))
    pairs = list(zip(keys, dirs + ["asc"] * (len(keys) - len(dirs))))
    out = sorted(items, key=lambda i: i["id"])
    for key, direction in reversed(pairs):
        out.sort(key=lambda i: _sort_value(i.get(key)), reverse=direction == "desc")
    return out


def fields_of(request: Request, item: dict) -> dict:
    """``item`` restricted to the ``fields`` query parameters (all when none)."""
    fields = [f for value in request.query_params.getlist("fields") for f in value.split(",") if f]
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def _link(request: Request, rel: str, **params) -> dict:
    query = [(k, v) for k, v in request.query_params.multi_items()
             if k not in ("marker", "page_reverse")]
    query += [(k, str(v)) for k, v in params.items()]
    base = str(request.url.replace(query=""))
    return {"rel": rel, "href": f"{base}?{urlencode(query)}"}


def list_response(request: Request, collection: str, items: list[dict],
                  extra: dict[str, Matcher] | None = None) -> dict:
    """The full list body ``{collection: [...], collection_links: [...]}`` for ``items``."""
    items = _sort(request, collection, filter_items(request, collection, items, extra))
    limit = query_int(request, "limit", None, minimum=0) or None
    marker = request.query_params.get("marker")
    reverse = query_bool(request, "page_reverse", False)
    if reverse:
        items = items[::-1]
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found", kind="HTTPBadRequest")
        items = items[ids.index(marker) + 1:]
    more = limit is not None and len(items) > limit
    page = items[:limit] if limit is not None else items
    if reverse:
        page = page[::-1]
    body: dict = {collection: [fields_of(request, i) for i in page]}
    if limit is not None:
        links = []
        if page:
            if (more and not reverse) or (reverse and marker):
                links.append(_link(request, "next", marker=page[-1]["id"]))
            if (marker and not reverse) or (reverse and more):
                links.append(_link(request, "previous", marker=page[0]["id"], page_reverse="True"))
        body[f"{collection}_links"] = links
    return body
