"""Response bodies of servers and flavors, per microversion.

Shapes follow the Compute API reference ("Show Server Details", "List
Flavors With Details") and Tempest's response schemas
(``tempest/lib/api_schema/response/compute/v2_*``) up to
:data:`~kumo.compute.api.microversion.MAX_VERSION`.
"""
from __future__ import annotations

import hashlib

from starlette.requests import Request

from kumo.common.db import isotime
from kumo.compute.api.common import at_least, bookmark, links
from kumo.compute.objects import instance_name, nova_time, server_status

_PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}
_FAULT_STATUSES = {"ERROR", "DELETED"}


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: sha224 hex of project id + host ("" without a host)."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def plain_addresses(addrs: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """:func:`addresses` without the OS-EXT-IPS attributes (``/ips``; rebuild and update
    bodies before 2.75, where nova does not extend the addresses)."""
    return {net: [{"version": a["version"], "addr": a["addr"]} for a in entries]
            for net, entries in addrs.items()}


def addresses(network_info: list[dict]) -> dict[str, list[dict]]:
    """``{network_name: [{"version", "addr", "OS-EXT-IPS:type", "OS-EXT-IPS-MAC:mac_addr"}]}``."""
    out: dict[str, list[dict]] = {}
    for vif in network_info or []:
        entries = out.setdefault(vif.get("network_name") or vif.get("network_id") or "", [])
        for ip in vif.get("fixed_ips", []):
            entries.append({"version": ip.get("version", 4), "addr": ip["ip_address"],
                            "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": vif.get("mac_address")})
        for ip in vif.get("floating_ips", []):
            entries.append({"version": ip.get("version", 4), "addr": ip["ip_address"],
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": vif.get("mac_address")})
    return out


def server_basic(request: Request, inst) -> dict:
    """The short server body of GET /servers: {"id", "name", "links"}."""
    return {"id": inst.uuid, "name": inst.display_name, "links": links(request, "servers", inst.uuid)}


def _flavor(request: Request, flavor: dict) -> dict:
    if at_least(request, 2, 47):
        return {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
                "ephemeral": flavor.get("ephemeral", 0), "swap": flavor.get("swap", 0),
                "original_name": flavor["name"], "extra_specs": dict(flavor.get("extra_specs") or {})}
    return {"id": flavor["id"], "links": bookmark(request, "flavors", flavor["id"])}


def _fault(fault, is_admin: bool) -> dict:
    body = {"code": fault.code, "created": isotime(fault.created_at), "message": fault.message}
    if fault.details and (is_admin or fault.code != 500):
        body["details"] = fault.details
    return body


def server_detail(request: Request, inst, *, is_admin: bool, fault=None,
                  host_status: str | None = None, extended: bool = True,
                  show_groups: bool = False, groups: list[str] | None = None,
                  rebuild: bool | None = None) -> dict:
    """The full server body.

    ``extended`` false gives the short body of ``PUT /servers/{id}`` before
    2.75 (no OS-EXT-* / usage / key / volume attributes). ``host_status`` is
    shown to admins from 2.16; ``show_groups`` adds ``server_groups`` (2.71+,
    show, update and rebuild: ``groups``, the UUIDs of the server's groups).
    ``rebuild`` (default: the request is a POST, i.e. the rebuild action)
    adds ``key_name`` (2.54+) and ``user_data`` (2.57+) of the rebuild body.
    """
    status = server_status(inst.vm_state, inst.task_state)
    addrs = addresses(inst.network_info)
    image = ({"id": inst.image_ref, "links": bookmark(request, "images", inst.image_ref)}
             if inst.image_ref else "")
    body = {
        "id": inst.uuid,
        "name": inst.display_name,
        "status": status,
        "tenant_id": inst.project_id,
        "user_id": inst.user_id,
        "metadata": dict(inst.meta or {}),
        "hostId": host_id(inst.project_id, inst.host),
        "image": image,
        "flavor": _flavor(request, inst.flavor),
        "created": isotime(inst.created_at),
        "updated": isotime(inst.updated_at),
        "addresses": addrs if extended else plain_addresses(addrs),
        "accessIPv4": inst.access_ip_v4 or "",
        "accessIPv6": inst.access_ip_v6 or "",
        "links": links(request, "servers", inst.uuid),
        "OS-DCF:diskConfig": "AUTO" if inst.auto_disk_config else "MANUAL",
    }
    if status in _FAULT_STATUSES and fault is not None:
        body["fault"] = _fault(fault, is_admin)
    if status in _PROGRESS_STATUSES:
        body["progress"] = inst.progress or 0
    if extended:
        body["OS-EXT-AZ:availability_zone"] = inst.availability_zone or ("nova" if inst.host else "")
        body["config_drive"] = "True" if inst.config_drive else ""
        body["key_name"] = inst.key_name
        body["OS-SRV-USG:launched_at"] = nova_time(inst.launched_at)
        body["OS-SRV-USG:terminated_at"] = nova_time(inst.terminated_at)
        if inst.security_groups:  # the groups its ports got at create (none: the key is left out)
            body["security_groups"] = [{"name": n} for n in inst.security_groups]
        if is_admin:
            body["OS-EXT-SRV-ATTR:host"] = inst.host
            body["OS-EXT-SRV-ATTR:instance_name"] = instance_name(inst.id)
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.node
            if at_least(request, 2, 3):
                body["OS-EXT-SRV-ATTR:reservation_id"] = inst.reservation_id
                body["OS-EXT-SRV-ATTR:launch_index"] = inst.launch_index
                body["OS-EXT-SRV-ATTR:hostname"] = inst.hostname
                body["OS-EXT-SRV-ATTR:kernel_id"] = ""
                body["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
                body["OS-EXT-SRV-ATTR:root_device_name"] = inst.root_device_name
                body["OS-EXT-SRV-ATTR:user_data"] = inst.user_data
        body["OS-EXT-STS:task_state"] = inst.task_state
        body["OS-EXT-STS:vm_state"] = inst.vm_state
        body["OS-EXT-STS:power_state"] = inst.power_state
        body["os-extended-volumes:volumes_attached"] = []
        if at_least(request, 2, 16) and is_admin and host_status is not None:
            body["host_status"] = host_status
    if at_least(request, 2, 9):
        body["locked"] = bool(inst.locked)
    if at_least(request, 2, 19):
        body["description"] = inst.display_description
    if at_least(request, 2, 26):
        body["tags"] = list(inst.tags or [])
    if at_least(request, 2, 63):
        body["trusted_image_certificates"] = None
    if at_least(request, 2, 71) and show_groups:
        body["server_groups"] = list(groups or [])
    if at_least(request, 2, 73):
        body["locked_reason"] = inst.locked_reason
    if rebuild is None:
        rebuild = request.method == "POST"
    if rebuild:
        if at_least(request, 2, 54):
            body["key_name"] = inst.key_name
        if at_least(request, 2, 57):  # in place of the admin-only OS-EXT-SRV-ATTR:user_data
            body.pop("OS-EXT-SRV-ATTR:user_data", None)
            body["user_data"] = inst.user_data
    return body


def flavor_view(request: Request, flavor, detail: bool = True) -> dict:
    """A flavor body (Compute API "Show Flavor Details"); brief form when not ``detail``."""
    body = {"id": flavor.flavorid, "name": flavor.name, "links": links(request, "flavors", flavor.flavorid)}
    if at_least(request, 2, 55):
        body["description"] = flavor.description
    if not detail:
        return body
    body.update({
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "vcpus": flavor.vcpus,
        "swap": flavor.swap if (flavor.swap or at_least(request, 2, 75)) else "",
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": bool(flavor.disabled),
        "os-flavor-access:is_public": bool(flavor.is_public),
        "rxtx_factor": flavor.rxtx_factor,
    })
    if at_least(request, 2, 61):
        body["extra_specs"] = dict(flavor.extra_specs or {})
    return body
