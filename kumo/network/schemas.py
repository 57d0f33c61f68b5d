"""Request bodies of the Networking API v2.0: which attributes may be set, and how.

Like neutron's RESOURCE_ATTRIBUTE_MAP: each resource lists its attributes with
``post`` (settable on create), ``put`` (settable on update), a converter that
validates and normalizes the value, and a default. :func:`parse` applies the
map and fails with neutron's 400 messages ("Unrecognized attribute(s) 'x'",
"Attribute 'id' not allowed in POST", "Cannot update read-only attribute x",
"Invalid input for name. Reason: ..."). Semantic checks (CIDRs, pools,
ownership) live in the service.
"""
from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from kumo.common.api.errors import BadRequest
from kumo.network import errors

MISSING = object()
Converter = Callable[[str, Any], Any]

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "remote-managed")
NETWORK_TYPES = ("flat", "vlan", "vxlan", "local")


def _bad(attr: str, reason: str) -> BadRequest:
    return errors.bad_attribute(attr, reason)


def string(max_len: int = 255, nullable: bool = False) -> Converter:
    def conv(attr: str, v: Any) -> Any:
        if v is None and nullable:
            return None
        if not isinstance(v, str):
            raise _bad(attr, f"'{v}' is not a valid string")
        if len(v) > max_len:
            raise _bad(attr, f"'{v}' exceeds maximum length of {max_len}")
        return v
    return conv


def boolean(attr: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
        return v.lower() in ("true", "1")
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise _bad(attr, f"'{v}' cannot be converted to boolean")


def integer(low: int, high: int, nullable: bool = False) -> Converter:
    def conv(attr: str, v: Any) -> Any:
        if v is None and nullable:
            return None
        if isinstance(v, bool):
            raise _bad(attr, f"'{v}' is not an integer")
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise _bad(attr, f"'{v}' is not an integer") from None
        if isinstance(v, float) and v != n:
            raise _bad(attr, f"'{v}' is not an integer")
        if not low <= n <= high:
            raise _bad(attr, f"'{n}' is not in range {low} through {high}")
        return n
    return conv


def one_of(*values: Any, nullable: bool = False) -> Converter:
    def conv(attr: str, v: Any) -> Any:
        if v is None and nullable:
            return None
        if v not in values:
            raise _bad(attr, f"'{v}' is not in {list(values)}")
        return v
    return conv


def uuid_str(attr: str, v: Any) -> str:
    if isinstance(v, str) and len(v) in (32, 36):
        try:
            return str(uuid.UUID(v))
        except ValueError:
            pass
    raise _bad(attr, f"'{v}' is not a valid UUID")


def mac(attr: str, v: Any) -> str:
    if not isinstance(v, str) or not MAC_RE.match(v):
        raise _bad(attr, f"'{v}' is not a valid MAC address")
    value = v.lower().replace("-", ":")
    first = int(value[:2], 16)
    if value == "00:00:00:00:00:00" or first & 1:
        raise _bad(attr, f"'{v}' is not a valid MAC address")
    return value


def ip_or_none(attr: str, v: Any) -> str | None:
    if v is None:
        return None
    try:
        return str(ipaddress.ip_address(v if isinstance(v, str) else ""))
    except ValueError:
        raise _bad(attr, f"'{v}' is not a valid IP address") from None


def string_list(max_items: int = 1000, max_len: int = 255) -> Converter:
    def conv(attr: str, v: Any) -> list:
        if not isinstance(v, list):
            raise _bad(attr, f"'{v}' is not a list")
        if len(v) > max_items:
            raise _bad(attr, f"'{len(v)}' exceeds maximum of {max_items} items")
        return [string(max_len)(attr, item) for item in v]
    return conv


def tags(attr: str, v: Any) -> list:
    items = string_list(50, 255)(attr, v)
    for t in items:
        if not t or "," in t:
            raise _bad(attr, f"'{t}' is not a valid tag")
    return list(dict.fromkeys(items))


def dict_value(attr: str, v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _bad(attr, f"'{v}' is not a dictionary")
    return v


def nameservers(attr: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _bad(attr, f"'{v}' is not a list")
    out: list[str] = []
    for item in v:
        ip = ip_or_none(attr, item)
        if ip is None:
            raise _bad(attr, f"'{item}' is not a valid nameserver")
        if ip in out:
            raise _bad(attr, f"Duplicate nameserver '{item}'")
        out.append(ip)
    return out


def host_routes(attr: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _bad(attr, f"'{v}' is not a list")
    out: list[dict] = []
    for item in v:
        if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
            raise _bad(attr, f"Invalid data format for hostroute: '{item}'")
        try:
            dest = str(ipaddress.ip_network(item["destination"] if isinstance(item["destination"], str)
                                            else "", strict=True))
        except ValueError:
            raise _bad(attr, f"'{item['destination']}' is not a valid IP subnet") from None
        route = {"destination": dest, "nexthop": ip_or_none(attr, item["nexthop"])}
        if route["nexthop"] is None:
            raise _bad(attr, f"'{item['nexthop']}' is not a valid IP address")
        if route in out:
            raise _bad(attr, f"Duplicate hostroute '{item}'")
        out.append(route)
    return out


def fixed_ips(attr: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _bad(attr, f"'{v}' is not a list")
    out = []
    for item in v:
        if not isinstance(item, dict) or not item or not set(item) <= {"subnet_id", "ip_address"}:
            raise _bad(attr, f"Invalid data format for fixed IP: '{item}'")
        entry = {}
        if "subnet_id" in item:
            entry["subnet_id"] = uuid_str(attr, item["subnet_id"])
        if "ip_address" in item:
            entry["ip_address"] = ip_or_none(attr, item["ip_address"])
            if entry["ip_address"] is None:
                raise _bad(attr, f"'{item['ip_address']}' is not a valid IP address")
        out.append(entry)
    return out


def address_pairs(attr: str, v: Any) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _bad(attr, f"'{v}' is not a list")
    out = []
    for item in v:
        if not isinstance(item, dict) or "ip_address" not in item or \
                not set(item) <= {"ip_address", "mac_address"}:
            raise BadRequest("Allowed address pairs must be a list of dictionaries with "
                             "ip_address and optionally mac_address.",
                             kind="AllowedAddressPairsMissingIP")
        try:
            ip = str(ipaddress.ip_interface(item["ip_address"] if isinstance(item["ip_address"], str)
                                            else ""))
        except ValueError:
            raise _bad(attr, f"'{item['ip_address']}' is not a valid IP address") from None
        ip = ip.split("/")[0] if "/" not in item["ip_address"] else ip
        pair = {"ip_address": ip}
        if "mac_address" in item:
            pair["mac_address"] = mac(attr, item["mac_address"])
        if pair in out:
            raise BadRequest("Request contains duplicate address pair: "
                             f"mac_address {pair.get('mac_address')} ip_address {ip}.",
                             kind="DuplicateAddressPairInRequest")
        out.append(pair)
    return out


def dhcp_opts(attr: str, v: Any) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _bad(attr, f"'{v}' is not a list")
    out = []
    for item in v:
        if not isinstance(item, dict) or "opt_name" not in item or \
                not set(item) <= {"opt_name", "opt_value", "ip_version"}:
            raise _bad(attr, f"Invalid data format for extra DHCP option: '{item}'")
        name = string(64)(attr, item["opt_name"])
        value = string(255, nullable=True)(attr, item.get("opt_value"))
        if not name.strip() or (value is not None and re.search(r"[\n\r]", value)):
            raise _bad(attr, f"Invalid data format for extra DHCP option: '{item}'")
        version = integer(4, 6)(attr, item.get("ip_version", 4))
        if version not in (4, 6):
            raise _bad(attr, f"'{version}' is not in [4, 6]")
        out.append({"opt_name": name, "opt_value": value, "ip_version": version})
    return out


def dns_name(attr: str, v: Any) -> str:
    v = string(255)(attr, v)
    name = v.rstrip(".").lower()
    if name and not all(DNS_LABEL.match(label) for label in name.split(".")):
        raise _bad(attr, f"'{v}' not a valid PQDN or FQDN")
    return name


@dataclass(frozen=True)
class Attr:
    convert: Converter
    post: bool = True
    put: bool = True
    default: Any = MISSING
    required: bool = False


_PROJECT = {"tenant_id": Attr(string(255), put=False), "project_id": Attr(string(255), put=False)}
_STANDARD = {"description": Attr(string(255), default=""), "tags": Attr(tags, put=False, default=[])}

NETWORK = {
    "name": Attr(string(255), default=""),
    "admin_state_up": Attr(boolean, default=True),
    "shared": Attr(boolean, default=False),
    "router:external": Attr(boolean, default=False),
    "mtu": Attr(integer(68, 9216)),
    "port_security_enabled": Attr(boolean, default=True),
    "provider:network_type": Attr(one_of(*NETWORK_TYPES)),
    "provider:physical_network": Attr(string(64, nullable=True)),
    "provider:segmentation_id": Attr(integer(0, 2 ** 24 - 1, nullable=True)),
    "availability_zone_hints": Attr(string_list(16), put=False, default=[]),
    **_STANDARD, **_PROJECT,
}

SUBNET = {
    "name": Attr(string(255), default=""),
    "network_id": Attr(uuid_str, put=False, required=True),
    "ip_version": Attr(one_of(4, 6), put=False),
    "cidr": Attr(string(64, nullable=True), put=False),  # or carved from a subnet pool
    "gateway_ip": Attr(ip_or_none),
    "allocation_pools": Attr(lambda attr, v: v),  # checked against the CIDR by ipam
    "dns_nameservers": Attr(nameservers, default=[]),
    "host_routes": Attr(host_routes, default=[]),
    "enable_dhcp": Attr(boolean, default=True),
    "ipv6_ra_mode": Attr(one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless", nullable=True),
                         put=False, default=None),
    "ipv6_address_mode": Attr(one_of("slaac", "dhcpv6-stateful", "dhcpv6-stateless",
                                     nullable=True), put=False, default=None),
    "subnetpool_id": Attr(lambda attr, v: uuid_or_none(attr, v), put=False, default=None),
    "prefixlen": Attr(integer(0, 128), put=False),
    "use_default_subnetpool": Attr(boolean, put=False, default=False),
    "segment_id": Attr(one_of(None), default=None),
    "service_types": Attr(lambda attr, v: v if v == [] else _raise_bad(attr, v), default=[]),
    **_STANDARD, **_PROJECT,
}

PORT = {
    "name": Attr(string(255), default=""),
    "network_id": Attr(uuid_str, put=False, required=True),
    "admin_state_up": Attr(boolean, default=True),
    "mac_address": Attr(mac),
    "fixed_ips": Attr(fixed_ips),
    "device_id": Attr(string(255), default=""),
    "device_owner": Attr(string(255), default=""),
    "binding:host_id": Attr(string(255), default=""),
    "binding:profile": Attr(dict_value, default={}),
    "binding:vnic_type": Attr(one_of(*VNIC_TYPES), default="normal"),
    "port_security_enabled": Attr(boolean),
    "allowed_address_pairs": Attr(address_pairs, default=[]),
    "extra_dhcp_opts": Attr(dhcp_opts, default=[]),
    "security_groups": Attr(lambda attr, v: [uuid_str(attr, x) for x in string_list(64, 36)(attr, v)]
                            if v is not None else []),
    "dns_name": Attr(dns_name, default=""),
    **_STANDARD, **_PROJECT,
}

AGENT = {
    "admin_state_up": Attr(boolean, post=False),
    "description": Attr(string(255), post=False),
}



def port_number(attr: str, v: Any) -> int | None:
    """A rule's port_range_min/max: None or 0..65535 (400 "Invalid value for port N")."""
    if v is None:
        return None
    try:
        n = int(v) if not isinstance(v, bool) else None
    except (TypeError, ValueError):
        n = None
    if n is None or not 0 <= n <= 65535:
        raise BadRequest(f"Invalid value for port {v}", kind="SecurityGroupInvalidPortValue")
    return n


def protocol(attr: str, v: Any) -> str | None:
    """A rule's protocol as given: a name, a number 0..255 (kept as a string) or None.
    The service checks names against the ones it knows."""
    if v is None or isinstance(v, bool):
        return None if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    if not isinstance(v, str):
        raise _bad(attr, f"'{v}' is not a valid string")
    return v.lower()


def cidr_or_none(attr: str, v: Any) -> str | None:
    """A remote_ip_prefix: None or an address or network, normalised (host bits cleared)."""
    if v is None:
        return None
    try:
        return str(ipaddress.ip_network(v if isinstance(v, str) else "", strict=False))
    except ValueError:
        raise _bad(attr, f"'{v}' is not a valid IP subnet") from None


def uuid_or_none(attr: str, v: Any) -> str | None:
    return None if v is None else uuid_str(attr, v)


SECURITY_GROUP = {
    "name": Attr(string(255), default=""),
    "stateful": Attr(boolean, default=True),
    **_STANDARD, **_PROJECT,
}

SECURITY_GROUP_RULE = {
    "security_group_id": Attr(uuid_str, put=False, required=True),
    "direction": Attr(one_of("ingress", "egress"), put=False, required=True),
    "ethertype": Attr(one_of("IPv4", "IPv6"), put=False, default="IPv4"),
    "protocol": Attr(protocol, put=False, default=None),
    "port_range_min": Attr(port_number, put=False, default=None),
    "port_range_max": Attr(port_number, put=False, default=None),
    "remote_ip_prefix": Attr(cidr_or_none, put=False, default=None),
    # any string: a group that does not exist is 404 SecurityGroupNotFound, as in neutron
    "remote_group_id": Attr(string(255, nullable=True), put=False, default=None),
    "remote_address_group_id": Attr(uuid_or_none, put=False, default=None),
    "description": Attr(string(255), default=""),
    **_PROJECT,
}

MAPS = {"network": NETWORK, "subnet": SUBNET, "port": PORT, "agent": AGENT,
        "security_group": SECURITY_GROUP, "security_group_rule": SECURITY_GROUP_RULE}


def _raise_bad(attr: str, v: Any):
    raise _bad(attr, f"'{v}' is not supported")


def parse(resource: str, body: Any, op: str) -> dict:
    """Validate one ``resource`` body (the inner object) for ``op`` "post" or "put".

    Returns converted values; on POST, defaults fill unset attributes and
    ``tenant_id``/``project_id`` merge into ``project_id``. Raises 400.
    """
    spec = MAPS[resource]
    if not isinstance(body, dict):
        raise BadRequest("Body contains invalid data", kind="HTTPBadRequest")
    unknown = sorted(k for k in body if k not in spec and k not in ("id",))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'", kind="HTTPBadRequest")
    out: dict[str, Any] = {}
    for key, value in body.items():
        attr = spec.get(key)
        if op == "post" and (attr is None or not attr.post):
            raise BadRequest(f"Attribute '{key}' not allowed in POST", kind="HTTPBadRequest")
        if op == "put" and (attr is None or not attr.put):
            raise BadRequest(f"Cannot update read-only attribute {key}", kind="HTTPBadRequest")
        out[key] = attr.convert(key, value)
    if op == "post":
        for key, attr in spec.items():
            if attr.required and key not in out:
                raise BadRequest(f"Failed to parse request. Required attribute '{key}' not "
                                 "specified", kind="HTTPBadRequest")
            if key not in out and attr.default is not MISSING and attr.post:
                default = attr.default
                out[key] = list(default) if isinstance(default, list) else \
                    dict(default) if isinstance(default, dict) else default
        tenant, project = out.pop("tenant_id", None), out.pop("project_id", None)
        if tenant and project and tenant != project:
            raise BadRequest("'project_id' and 'tenant_id' do not match", kind="HTTPBadRequest")
        if tenant or project:
            out["project_id"] = project or tenant
    return out


def items(body: Any, singular: str, plural: str) -> tuple[list[dict], bool]:
    """The objects of a create request: ``{singular: {...}}`` or the bulk form
    ``{plural: [{...}, ...]}``; returns (objects, bulk). 400 when neither."""
    if isinstance(body, dict) and isinstance(body.get(singular), dict) and len(body) == 1:
        return [body[singular]], False
    if isinstance(body, dict) and isinstance(body.get(plural), list) and len(body) == 1 \
            and body[plural] and all(isinstance(x, dict) for x in body[plural]):
        return body[plural], True
    if not body:
        raise BadRequest("Resource body required", kind="HTTPBadRequest")
    raise BadRequest(f"Unable to find '{singular}' in request body", kind="HTTPBadRequest")


# --- routers and floating IPs ---------------------------------------------------
def gateway_info(attr: str, v: Any) -> dict:
    """``external_gateway_info``: ``{}``/None (no gateway) or ``{"network_id", "enable_snat"?,
    "external_fixed_ips"?}``."""
    if v is None or v == {}:
        return {}
    if not isinstance(v, dict):
        raise _bad(attr, f"'{v}' is not a dictionary")
    unknown = sorted(set(v) - {"network_id", "enable_snat", "external_fixed_ips"})
    if unknown:
        raise _bad(attr, f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    if "network_id" not in v:
        raise _bad(attr, "Validation of dictionary's keys failed. Expected keys: {'network_id'}")
    out: dict[str, Any] = {"network_id": uuid_str(attr, v["network_id"])}
    if "enable_snat" in v:
        out["enable_snat"] = boolean(attr, v["enable_snat"])
    if v.get("external_fixed_ips") is not None:
        out["external_fixed_ips"] = fixed_ips(attr, v["external_fixed_ips"])
    return out


def routes(attr: str, v: Any) -> list:
    """A router's static ``routes`` (``[{"destination", "nexthop"}]``; None clears them)."""
    return [] if v is None else host_routes(attr, v)


ROUTER = {
    "name": Attr(string(255), default=""),
    "admin_state_up": Attr(boolean, default=True),
    "external_gateway_info": Attr(gateway_info, default={}),
    "routes": Attr(routes, post=False),
    **_STANDARD, **_PROJECT,
}

FLOATINGIP = {
    "floating_network_id": Attr(uuid_str, put=False, required=True),
    "floating_ip_address": Attr(ip_or_none, put=False),
    "subnet_id": Attr(uuid_str, put=False),
    "port_id": Attr(lambda attr, v: None if v is None else uuid_str(attr, v)),
    "fixed_ip_address": Attr(ip_or_none),
    **_STANDARD, **_PROJECT,
}

MAPS.update({"router": ROUTER, "floatingip": FLOATINGIP})


# --- subnet pools and address scopes (kumo/network/service/subnetpools.py) -------------
def prefix_list(attr: str, v: Any) -> list:
    """``prefixes``: a non-empty list of CIDRs, host bits cleared (``10.1.2.3/16`` ->
    ``10.1.0.0/16``); the service checks versions and merges them."""
    if not isinstance(v, list) or not v:
        raise _bad(attr, f"'{v}' is not a non-empty list")
    out = []
    for item in v:
        try:
            out.append(str(ipaddress.ip_network(item if isinstance(item, str) and "/" in item
                                                else "", strict=False)))
        except ValueError:
            raise _bad(attr, f"'{item}' is not a valid IP subnet") from None
    return out


PREFIXLEN = integer(0, 128)

SUBNETPOOL = {
    "name": Attr(string(255), default=""),
    "prefixes": Attr(prefix_list, required=True),
    "default_prefixlen": Attr(PREFIXLEN),
    "min_prefixlen": Attr(PREFIXLEN),
    "max_prefixlen": Attr(PREFIXLEN),
    "default_quota": Attr(integer(0, 2 ** 31 - 1, nullable=True), default=None),
    "address_scope_id": Attr(lambda attr, v: uuid_or_none(attr, v), default=None),
    "shared": Attr(boolean, put=False, default=False),
    "is_default": Attr(boolean, default=False),
    **_STANDARD, **_PROJECT,
}

ADDRESS_SCOPE = {
    "name": Attr(string(255), default=""),
    "ip_version": Attr(one_of(4, 6), put=False, required=True),
    "shared": Attr(boolean, default=False),
    **_STANDARD, **_PROJECT,
}

MAPS.update({"subnetpool": SUBNETPOOL, "address_scope": ADDRESS_SCOPE})
