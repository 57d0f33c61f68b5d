"""What the metadata API tells an instance about itself (nova's metadata layouts).

Two layouts, both built from the instance row:

- OpenStack (``/openstack/<version>/meta_data.json``, ``user_data``,
  ``network_data.json``, ``vendor_data.json``, ``vendor_data2.json``,
  ``password``), versions :data:`OPENSTACK_VERSIONS` plus ``latest``;
- EC2 (``/<version>/meta-data/...``, ``/<version>/user-data``), versions
  :data:`EC2_VERSIONS` plus ``latest``, all served the same tree.

``hostname`` is the instance's short hostname in both layouts; EC2's
``local-hostname`` and ``public-hostname`` are ``<hostname>.novalocal`` as
nova gives them (its default ``dhcp_domain``).
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import os

OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27"]
EC2_VERSIONS = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04"]
DOMAIN = "novalocal"


def _at_least(version: str, first: str) -> bool:
    return version == "latest" or version >= first


def openstack_files(inst, version: str) -> list[str]:
    """File names under ``/openstack/<version>/`` (``user_data`` only when there is some)."""
    files = ["meta_data.json"]
    if inst.user_data:
        files.append("user_data")
    if _at_least(version, "2013-04-04"):
        files.append("password")
    if _at_least(version, "2013-10-17"):
        files.append("vendor_data.json")
    if _at_least(version, "2015-10-15"):
        files.append("network_data.json")
    if _at_least(version, "2016-10-06"):
        files.append("vendor_data2.json")
    return files


def meta_data(inst, version: str) -> dict:
    """``meta_data.json`` of ``version`` (fields appear with the versions nova added them in)."""
    data = {"uuid": inst.uuid, "meta": dict(inst.meta or {}), "hostname": inst.hostname,
            "name": inst.display_name, "launch_index": inst.launch_index,
            "availability_zone": inst.availability_zone or "nova"}
    if inst.key_name and inst.key_data:
        data["public_keys"] = {inst.key_name: inst.key_data}
        if _at_least(version, "2015-10-15"):
            data["keys"] = [{"name": inst.key_name, "type": inst.key_type or "ssh",
                             "data": inst.key_data}]
    elif _at_least(version, "2015-10-15"):
        data["keys"] = []
    if _at_least(version, "2013-04-04"):
        data["random_seed"] = base64.b64encode(os.urandom(512)).decode()
    if _at_least(version, "2016-06-30"):
        data["devices"] = []
    if _at_least(version, "2018-08-27"):
        data["project_id"] = inst.project_id
    return data


#: network_data.json ``type`` of an IPv6 subnet by its ``ipv6_address_mode``
_V6_TYPES = {"slaac": "ipv6_slaac", "dhcpv6-stateless": "ipv6_dhcpv6-stateless",
             "dhcpv6-stateful": "ipv6_dhcpv6-stateful"}


def _network_entry(ip: dict) -> dict:
    """The ``networks`` entry of one fixed IP, without ``id``/``link``/``network_id``.

    A fixed IP that carries its ``subnet`` (the compute agent's network_info) is described
    as nova does: DHCP types for DHCP subnets (``ipv4_dhcp``, ``ipv6_slaac``,
    ``ipv6_dhcpv6-stateless``/``-stateful``), otherwise a static ``ipv4``/``ipv6`` entry
    with ``ip_address``, ``netmask``, ``routes`` (the default route through the gateway
    and the subnet's host routes: ``network``/``netmask``/``gateway``) and ``services``
    (``dns``). Without ``subnet`` the address is taken to come from DHCP.
    """
    version = ip.get("version", 4)
    subnet = ip.get("subnet")
    if not subnet or not subnet.get("cidr"):
        return {"type": "ipv4_dhcp" if version == 4 else "ipv6_dhcp"}
    if version == 4 and subnet.get("enable_dhcp"):
        return {"type": "ipv4_dhcp"}
    if version == 6 and subnet.get("ipv6_address_mode") in _V6_TYPES:
        return {"type": _V6_TYPES[subnet["ipv6_address_mode"]]}
    net = ipaddress.ip_network(subnet["cidr"], strict=False)
    any_net = "0.0.0.0" if version == 4 else "::"
    routes = []
    if subnet.get("gateway_ip"):
        routes.append({"network": any_net, "netmask": any_net, "gateway": subnet["gateway_ip"]})
    for route in subnet.get("host_routes") or []:
        dest = ipaddress.ip_network(route["destination"], strict=False)
        routes.append({"network": str(dest.network_address), "netmask": str(dest.netmask),
                       "gateway": route["nexthop"]})
    return {"type": "ipv4" if version == 4 else "ipv6", "ip_address": ip["ip_address"],
            "netmask": str(net.netmask), "routes": routes,
            "services": [{"type": "dns", "address": a} for a in subnet.get("dns_nameservers") or []]}


def network_data(network_info: list[dict]) -> dict:
    """``network_data.json`` (OpenStack metadata 2015-10-15+) of a network_info list.

    ``links``: one per port (``id`` the tap name, ``vif_id``, ``type``, ``ethernet_mac_address``,
    ``mtu`` when known); ``networks``: one per fixed IP (``id`` ``network<N>``, ``link``,
    ``network_id``, see :func:`_network_entry`); ``services``: the DNS servers of every
    subnet (``{"type": "dns", "address": ...}``), each once.
    """
    links, networks, services = [], [], []
    for vif in network_info or []:
        link_id = vif.get("devname") or ("tap" + vif["port_id"][:11])
        link = {"id": link_id, "vif_id": vif["port_id"], "type": vif.get("vif_type") or "bridge",
                "ethernet_mac_address": vif.get("mac_address")}
        if vif.get("mtu"):
            link["mtu"] = vif["mtu"]
        links.append(link)
        for ip in vif.get("fixed_ips") or []:
            entry = {"id": f"network{len(networks)}", "link": link_id, **_network_entry(ip),
                     "network_id": vif.get("network_id")}
            networks.append(entry)
            for service in entry.get("services", []):
                if service not in services:
                    services.append(service)
    return {"links": links, "networks": networks, "services": services}


def user_data(inst) -> bytes | None:
    """The decoded user data, or None."""
    if not inst.user_data:
        return None
    return base64.b64decode(inst.user_data)


def _first_ip(inst, version: int) -> str:
    for vif in inst.network_info or []:
        for ip in vif.get("fixed_ips", []):
            if ip.get("version", 4) == version:
                return ip["ip_address"]
    return ""


def _floating_ip(inst) -> str:
    for vif in inst.network_info or []:
        for ip in vif.get("floating_ips", []):
            return ip["ip_address"]
    return ""


def ec2_id(prefix: str, value: int | str) -> str:
    """An EC2-style id: ``i-%08x`` of the instance id; images get a stable 32-bit hash of their uuid."""
    if isinstance(value, int):
        return f"{prefix}-{value:08x}"
    return f"{prefix}-{int(hashlib.sha256(value.encode()).hexdigest()[:8], 16):08x}"


def ec2_tree(inst) -> dict:
    """The EC2 ``meta-data`` tree: strings are leaves, dicts are directories."""
    fqdn = f"{inst.hostname}.{DOMAIN}"
    tree = {
        "ami-id": ec2_id("ami", inst.image_ref) if inst.image_ref else "",
        "ami-launch-index": str(inst.launch_index),
        "ami-manifest-path": "FIXME",
        "block-device-mapping": {"ami": "vda", "root": inst.root_device_name or "/dev/vda"},
        "hostname": inst.hostname,
        "instance-action": "none",
        "instance-id": ec2_id("i", inst.id),
        "instance-type": inst.flavor.get("name", ""),
        "local-hostname": fqdn,
        "local-ipv4": _first_ip(inst, 4),
        "placement": {"availability-zone": inst.availability_zone or "nova"},
        "public-hostname": fqdn,
        "public-ipv4": _floating_ip(inst),
        "reservation-id": inst.reservation_id,
        "security-groups": "\n".join(inst.security_groups or ["default"]),
    }
    if inst.key_name and inst.key_data:
        tree["public-keys"] = {"0": {"openssh-key": inst.key_data}}
    return tree


def ec2_lookup(inst, parts: list[str]) -> str | None:
    """Text of ``meta-data/<parts>``: a listing for a directory, the value for a leaf, None if absent."""
    node = ec2_tree(inst)
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, dict):
        return node
    if parts == ["public-keys"]:
        return "\n".join(f"{idx}={inst.key_name}" for idx in sorted(node))
    return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in sorted(node.items()))
