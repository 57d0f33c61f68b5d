"""Request bodies of the compute API, checked the way nova's JSON schemas check them.

Each ``parse_*`` function takes the decoded body member (``body["server"]``,
``body["flavor"]``, ...) and the request's microversion as a ``(major,
minor)`` tuple, and returns normalized values or raises
:class:`~kumo.common.api.errors.BadRequest` with nova's wording
("Invalid input for field/attribute <name>. Value: <value>. <reason>").
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from kumo.common.api.errors import BadRequest

Version = tuple[int, int]

_NAME_RE = re.compile(r"^(?!\s)[^\x00-\x1f\x7f]*(?<!\s)$")
_FLAVOR_ID_RE = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
_EXTRA_SPEC_KEY_RE = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
_TAG_RE = re.compile(r"^[^,/]*$")
_KEYPAIR_SAFE = set("_- 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MAX_INT = 2147483647


def invalid(name: str, value: Any, reason: str) -> BadRequest:
    """Nova's schema-failure message for ``name``."""
    return BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. {reason}")


def check_extra(data: dict, allowed: set[str]) -> None:
    """Reject members outside ``allowed`` (nova's additionalProperties: false)."""
    extra = sorted(set(data) - allowed)
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        verb = "were" if len(extra) > 1 else "was"
        raise BadRequest(f"Additional properties are not allowed ({listed} {verb} unexpected)")


def name_value(data: dict, key: str, required: bool = True, max_len: int = 255) -> str | None:
    """A display name: 1..max_len printable characters without surrounding spaces."""
    if key not in data:
        if required:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: None. "
                             f"'{key}' is a required property")
        return None
    value = data[key]
    if not isinstance(value, str):
        raise invalid(key, value, f"{value!r} is not of type 'string'")
    if not value:
        raise invalid(key, value, "'' is too short")
    if len(value) > max_len:
        raise invalid(key, value, f"{value!r} is too long")
    if not _NAME_RE.match(value):
        raise invalid(key, value, f"{value!r} does not match the name format (no leading or "
                                  "trailing whitespace, no control characters)")
    return value


def int_value(data: dict, key: str, default: int | None = None, minimum: int = 0,
              maximum: int = _MAX_INT) -> int | None:
    """An integer given as a JSON number or a string of digits, within bounds."""
    if key not in data or data[key] is None:
        if default is None and key not in data:
            return None
        return default
    value = data[key]
    if isinstance(value, bool):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d+\s*", value):
            raise invalid(key, value, f"{value!r} does not match '^[0-9]+$'")
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    elif not isinstance(value, int):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    if value < minimum:
        raise invalid(key, value, f"{value} is less than the minimum of {minimum}")
    if value > maximum:
        raise invalid(key, value, f"{value} is greater than the maximum of {maximum}")
    return value


def bool_value(data: dict, key: str, default: bool | None = None) -> bool | None:
    """A boolean given as JSON true/false or one of nova's boolean strings."""
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "t", "y"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off", "f", "n", ""):
        return False
    raise invalid(key, value, f"{value!r} is not of type 'boolean'")


def is_uuid(value: Any) -> bool:
    """True for a string in UUID form."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def metadata_value(data: Any, key: str = "metadata") -> dict[str, str]:
    """Server metadata: keys of 1..255 characters, string values of at most 255."""
    if not isinstance(data, dict):
        raise invalid(key, data, f"{data!r} is not of type 'object'")
    for k, v in data.items():
        if not 1 <= len(k) <= 255:
            raise invalid(key, data, f"metadata key {k!r} must be 1 to 255 characters long")
        if not isinstance(v, str):
            raise invalid(key, data, f"{v!r} is not of type 'string'")
        if len(v) > 255:
            raise invalid(key, data, f"metadata value of {k!r} is longer than 255 characters")
    return dict(data)


def single_item(body: Any, key: str) -> dict:
    """The body of a ``PUT .../{key}`` on a metadata-like collection: exactly ``{key: value}``;
    400 "Request body and URI mismatch" / "... contains too many items" otherwise."""
    if not isinstance(body, dict) or key not in body:
        raise BadRequest("Request body and URI mismatch")
    if len(body) > 1:
        raise BadRequest("Request body contains too many items")
    return body


def ref_id(value: str) -> str:
    """The id at the end of an id-or-link reference (``imageRef``, ``flavorRef``)."""
    return value.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class ServerCreate:
    """A validated ``POST /servers`` body."""

    name: str
    image_ref: str
    flavor_ref: str
    networks: str | list[dict] | None  # "auto", "none", a list, or None (omitted, < 2.37)
    admin_pass: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    key_name: str | None = None
    user_data: str | None = None
    availability_zone: str | None = None
    config_drive: bool = False
    min_count: int = 1
    max_count: int = 1
    return_reservation_id: bool = False
    security_groups: list[str] = field(default_factory=list)
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    host: str | None = None
    hypervisor_hostname: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    #: ``os:scheduler_hints`` (kumo.compute.server_groups.parse_hints).
    scheduler_hints: dict = field(default_factory=dict)
    #: ``OS-DCF:diskConfig`` AUTO
    auto_disk_config: bool = False
    #: ``personality`` (before 2.57): ``[{"path", "contents"}]``, contents base64
    personality: list[dict] = field(default_factory=list)


def _networks(value: Any, version: Version) -> str | list[dict]:
    if isinstance(value, str):
        if version >= (2, 37) and value in ("auto", "none"):
            return value
        raise invalid("networks", value, f"{value!r} is not one of ['auto', 'none']"
                      if version >= (2, 37) else f"{value!r} is not of type 'array'")
    if not isinstance(value, list):
        raise invalid("networks", value, f"{value!r} is not of type 'array'")
    allowed = {"uuid", "port", "fixed_ip"} | ({"tag"} if version >= (2, 32) else set())
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise invalid("networks", value, f"{item!r} is not of type 'object'")
        check_extra(item, allowed)
        net, port, fixed = item.get("uuid"), item.get("port"), item.get("fixed_ip")
        if port is not None and not is_uuid(port):
            raise invalid("networks", value, f"{port!r} is not a 'uuid'")
        if net is not None and not is_uuid(net):
            raise BadRequest(f"Bad networks format: network uuid is not in proper format ({net})")
        if port is None and net is None:
            raise BadRequest("Bad networks format: network uuid is not in proper format (None)")
        if fixed is not None:
            try:
                ipaddress.ip_address(fixed)
            except ValueError:
                raise BadRequest(f"Invalid fixed IP address ({fixed})") from None
        out.append({"network_id": net, "port_id": port, "fixed_ip": fixed})
    return out


def parse_server_create(data: dict, version: Version) -> ServerCreate:
    """Validate the ``server`` member of ``POST /servers`` (Compute API "Create Server")."""
    allowed = {"name", "imageRef", "flavorRef", "adminPass", "metadata", "networks", "key_name",
               "user_data", "availability_zone", "config_drive", "min_count", "max_count",
               "return_reservation_id", "security_groups", "block_device_mapping_v2",
               "OS-DCF:diskConfig", "accessIPv4", "accessIPv6"}
    if version < (2, 57):
        allowed.add("personality")
    if version >= (2, 19):
        allowed.add("description")
    if version >= (2, 52):
        allowed.add("tags")
    if version >= (2, 63):
        allowed.add("trusted_image_certificates")
    if version >= (2, 74):
        allowed |= {"host", "hypervisor_hostname"}
    check_extra(data, allowed)
    name = name_value(data, "name")
    flavor = data.get("flavorRef")
    if flavor is None:
        raise BadRequest("Invalid input for field/attribute flavorRef. Value: None. "
                         "'flavorRef' is a required property")
    if isinstance(flavor, bool) or not isinstance(flavor, (str, int)) or str(flavor) == "":
        raise invalid("flavorRef", flavor, f"{flavor!r} is not of type 'string', 'integer'")
    image = data.get("imageRef", "")
    if not isinstance(image, str):
        raise invalid("imageRef", image, f"{image!r} is not of type 'string'")
    bdms = data.get("block_device_mapping_v2")
    if bdms is not None:
        _trivial_bdm(bdms, ref_id(image) if image else "")
    if not image:
        raise BadRequest("Missing imageRef attribute")
    if "networks" in data:
        networks = _networks(data["networks"], version)
    elif version >= (2, 37):
        raise BadRequest("Invalid input for field/attribute networks. Value: None. "
                         "'networks' is a required property")
    else:
        networks = None
    out = ServerCreate(name=name, image_ref=ref_id(image), flavor_ref=ref_id(str(flavor)),
                       networks=networks)
    if "adminPass" in data:
        if not isinstance(data["adminPass"], str):
            raise invalid("adminPass", data["adminPass"], "not of type 'string'")
        out.admin_pass = data["adminPass"]
    if "metadata" in data:
        out.metadata = metadata_value(data["metadata"])
    out.key_name = name_value(data, "key_name", required=False)
    if data.get("user_data") is not None:
        out.user_data = user_data_value(data["user_data"])
    if data.get("availability_zone") is not None:
        out.availability_zone = name_value(data, "availability_zone")
    out.config_drive = bool(bool_value(data, "config_drive", False))
    out.min_count = int_value(data, "min_count", 1, minimum=1)
    out.max_count = int_value(data, "max_count", out.min_count, minimum=1)
    if out.min_count > out.max_count:
        raise BadRequest("min_count must be <= max_count")
    out.return_reservation_id = bool(bool_value(data, "return_reservation_id", False))
    out.security_groups = _security_groups(data.get("security_groups"))
    out.auto_disk_config = bool(disk_config_value(data))
    if "personality" in data:
        out.personality = personality_value(data["personality"])
    out.access_ip_v4 = ip_value(data, "accessIPv4", 4)
    out.access_ip_v6 = ip_value(data, "accessIPv6", 6)
    if "description" in data and data["description"] is not None:
        desc = data["description"]
        if not isinstance(desc, str) or len(desc) > 255:
            raise invalid("description", desc, "must be a string of at most 255 characters")
        out.description = desc
    if "tags" in data:
        out.tags = parse_tags(data["tags"])
    if data.get("trusted_image_certificates") is not None:
        raise BadRequest("Image certificate validation is not supported by this cloud.")
    for key in ("host", "hypervisor_hostname"):
        if data.get(key) is not None:
            setattr(out, key, name_value(data, key))
    return out


def disk_config_value(data: dict) -> bool | None:
    """``OS-DCF:diskConfig`` of a create/update/rebuild/resize body (Compute API "Servers",
    disk config): True for AUTO, False for MANUAL, None when absent; 400 otherwise."""
    value = data.get("OS-DCF:diskConfig")
    if value is None:
        return None
    if value not in ("AUTO", "MANUAL"):
        raise invalid("OS-DCF:diskConfig", value, f"{value!r} is not one of ['AUTO', 'MANUAL']")
    return value == "AUTO"


def personality_value(value: Any) -> list[dict]:
    """``personality`` (create and rebuild before 2.57): a list of ``{"path": str of at most 255
    characters, "contents": base64 str}``; 400 for another shape or contents that are not
    base64. The counts and sizes are quota checks (kumo.compute.quotas.check_injected_files)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("personality", value, f"{value!r} is not of type 'array'")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise invalid("personality", value, f"{item!r} is not of type 'object'")
        check_extra(item, {"path", "contents"})
        path, contents = item.get("path"), item.get("contents")
        if not isinstance(path, str) or not 1 <= len(path) <= 255:
            raise invalid("personality/path", path, "must be a string of 1 to 255 characters")
        if not isinstance(contents, str):
            raise invalid("personality/contents", contents, f"{contents!r} is not of type 'string'")
        try:
            base64.b64decode(contents, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"Personality content for {path} cannot be decoded") from None
        out.append({"path": path, "contents": contents})
    return out


def _trivial_bdm(bdms: Any, image_id: str) -> None:
    """Accept only the mapping that means "boot the image on a local disk"."""
    if not isinstance(bdms, list):
        raise invalid("block_device_mapping_v2", bdms, "is not of type 'array'")
    for bdm in bdms:
        if not (isinstance(bdm, dict) and bdm.get("source_type") == "image"
                and bdm.get("destination_type", "local") == "local"
                and str(bdm.get("boot_index", 0)) == "0" and bdm.get("uuid") == image_id):
            raise BadRequest("Block device mapping is not supported yet: only the image on a "
                             "local root disk can be booted.")


def user_data_value(value: Any) -> str:
    """user_data: base64 text of at most 65535 characters (400 otherwise)."""
    if not isinstance(value, str):
        raise invalid("user_data", value, "is not of type 'string'")
    if len(value) > 65535:
        raise invalid("user_data", value[:40] + "...", "is too long (at most 65535 base64 characters)")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("user_data", value[:40], f"{value[:40]!r} is not a 'base64'") from None
    return value


def _security_groups(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("security_groups", value, "is not of type 'array'")
    names = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise invalid("security_groups", value, f"{item!r} needs a 'name' string")
        if item["name"] not in names:
            names.append(item["name"])
    return names


def ip_value(data: dict, key: str, family: int) -> str | None:
    """An IP address of ``family`` (4 or 6) from ``data[key]`` ("" or None: None); 400 otherwise."""
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        addr = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise invalid(key, value, f"{value!r} is not a 'ipv{family}'") from None
    if addr.version != family:
        raise invalid(key, value, f"{value!r} is not a 'ipv{family}'")
    return str(addr)


def parse_tags(value: Any) -> list[str]:
    """Server tags (2.26+): at most 50 strings of 1..60 characters without ``,`` or ``/``."""
    if not isinstance(value, list) or len(value) > 50:
        raise invalid("tags", value, "must be an array of at most 50 tags")
    out: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or not _TAG_RE.match(tag):
            raise invalid("tags", value, f"{tag!r} is not a valid tag")
        if tag not in out:
            out.append(tag)
    return out


def parse_flavor_create(data: dict, version: Version) -> dict:
    """Validate ``POST /flavors`` (Compute API "Create Flavor"); returns model column values."""
    allowed = {"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap",
               "rxtx_factor", "os-flavor-access:is_public"}
    if version >= (2, 55):
        allowed.add("description")
    check_extra(data, allowed)
    flavorid = data.get("id")
    if isinstance(flavorid, bool) or not isinstance(flavorid, (str, int, type(None))):
        raise invalid("id", flavorid, "is not of type 'string', 'integer', 'null'")
    if flavorid is not None:
        flavorid = str(flavorid)
        if not 1 <= len(flavorid) <= 255 or not _FLAVOR_ID_RE.match(flavorid):
            raise invalid("id", flavorid, f"{flavorid!r} does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
    for key in ("ram", "vcpus", "disk"):
        if key not in data:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: None. "
                             f"'{key}' is a required property")
    values = {
        "name": name_value(data, "name"),
        "flavorid": flavorid,
        "memory_mb": int_value(data, "ram", minimum=1),
        "vcpus": int_value(data, "vcpus", minimum=1),
        "root_gb": int_value(data, "disk", minimum=0),
        "ephemeral_gb": int_value(data, "OS-FLV-EXT-DATA:ephemeral", 0, minimum=0),
        "swap": int_value(data, "swap", 0, minimum=0),
        "is_public": bool_value(data, "os-flavor-access:is_public", True),
        "description": None,
        "rxtx_factor": 1.0,
    }
    if "rxtx_factor" in data:
        rx = data["rxtx_factor"]
        try:
            rx = float(rx)
        except (TypeError, ValueError):
            raise invalid("rxtx_factor", rx, "is not of type 'number'") from None
        if not 0 < rx <= 3.40282e38:
            raise invalid("rxtx_factor", rx, "must be greater than 0")
        values["rxtx_factor"] = rx
    if data.get("description") is not None:
        values["description"] = _description(data["description"])
    return values


def _description(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 65535:
        raise invalid("description", value, "must be a string of at most 65535 characters")
    return value


def parse_flavor_update(data: dict) -> str | None:
    """``PUT /flavors/{id}`` (2.55+): only ``description`` (string or null) may change."""
    check_extra(data, {"description"})
    if "description" not in data:
        raise BadRequest("Invalid input for field/attribute description. Value: None. "
                         "'description' is a required property")
    return None if data["description"] is None else _description(data["description"])


def parse_extra_specs(data: Any) -> dict[str, str]:
    """Flavor extra specs: keys ``[a-zA-Z0-9-_:. ]{1,255}``, values (str/number/bool) as text."""
    if not isinstance(data, dict):
        raise invalid("extra_specs", data, "is not of type 'object'")
    out = {}
    for key, value in data.items():
        if not _EXTRA_SPEC_KEY_RE.match(key):
            raise invalid("extra_specs", data, f"{key!r} does not match '^[a-zA-Z0-9-_:. ]{{1,255}}$'")
        if isinstance(value, bool):
            value = str(value)
        if not isinstance(value, (str, int, float)):
            raise invalid("extra_specs", data, f"{value!r} is not of type 'string', 'number', 'boolean'")
        value = str(value)
        if len(value) > 255:
            raise invalid("extra_specs", data, f"value of {key!r} is longer than 255 characters")
        out[key] = value
    return out


def parse_keypair_create(data: dict, version: Version) -> dict:
    """``POST /os-keypairs`` (Compute API "Create Or Import Keypair").

    Returns ``{"name", "public_key" (or None: generate), "type", "user_id" (or None)}``.
    """
    allowed = {"name", "public_key"} | ({"type"} if version >= (2, 2) else set()) | (
        {"user_id"} if version >= (2, 10) else set())
    check_extra(data, allowed)
    name = data.get("name")
    if not isinstance(name, str):
        raise BadRequest("Invalid input for field/attribute name. Value: None. "
                         "'name' is a required property" if name is None else
                         f"Invalid input for field/attribute name. Value: {name}. not of type 'string'")
    if not 0 < len(name) < 256:
        raise BadRequest("Keypair data is invalid: Keypair name must be string and between 1 "
                         "and 255 characters long")
    if set(name) - _KEYPAIR_SAFE:
        raise BadRequest("Keypair data is invalid: Keypair name contains unsafe characters")
    public_key = data.get("public_key")
    if public_key is not None and not isinstance(public_key, str):
        raise invalid("public_key", public_key, "is not of type 'string'")
    key_type = data.get("type", "ssh")
    if key_type not in ("ssh", "x509"):
        raise invalid("type", key_type, f"{key_type!r} is not one of ['ssh', 'x509']")
    user_id = data.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or not user_id):
        raise invalid("user_id", user_id, "must be a non-empty string")
    return {"name": name, "public_key": public_key, "type": key_type, "user_id": user_id}
