"""What an image may contain: formats, limits, validation and the JSON schemas.

Implements the request rules of Image API v2 "Create image" and "Update image"
(field types, enums, read-only and reserved attributes) and the documents of
"Schemas" (``GET /v2/schemas/image``, ``GET /v2/schemas/images``).

Errors: :class:`BadRequest` (400) for a wrong type or value, :class:`Forbidden`
(403) for a read-only or reserved attribute. Quotas (413) are :mod:`kumo.image.quota`'s.
"""
from __future__ import annotations

import uuid
from typing import Any

from kumo.common.api.errors import BadRequest, Forbidden

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "deactivated", "uploading",
            "importing", "pending_delete")

#: Attributes the service computes; a client sending one gets 403.
READ_ONLY = frozenset({"created_at", "updated_at", "status", "checksum", "os_hash_algo",
                       "os_hash_value", "size", "virtual_size", "direct_url", "self", "file",
                       "schema", "stores"})
#: Attributes nobody may set through the API.
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})
#: Base attributes a client may give on create (besides extra properties).
SETTABLE = ("name", "visibility", "protected", "os_hidden", "min_disk", "min_ram",
            "disk_format", "container_format", "tags", "owner")
#: Base attributes that may never be removed with a JSON patch.
BASE = frozenset(SETTABLE) | READ_ONLY | {"id"}

MAX_NAME = 255
MAX_INT = 2**31 - 1
MAX_PROPERTY_VALUE = 65535


def check_attribute(key: str) -> None:
    """Refuse (403) read-only or reserved attribute names, and glance's ``os_glance`` prefix."""
    if key in READ_ONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith("os_glance"):
        raise Forbidden(f"Attribute '{key}' is reserved.")


def _schema_error(message: str) -> BadRequest:
    return BadRequest(f"Provided object does not match schema 'image': {message}")


def validate_value(key: str, value: Any) -> Any:
    """Validate one base attribute value; returns the normalized value or raises 400."""
    if key == "name":
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
            raise _schema_error(f"{value!r} is not a string of at most {MAX_NAME} characters (name)")
        return value
    if key in ("disk_format", "container_format"):
        allowed = DISK_FORMATS if key == "disk_format" else CONTAINER_FORMATS
        if value is not None and value not in allowed:
            raise _schema_error(f"{value!r} is not one of {list(allowed) + [None]} ({key})")
        return value
    if key == "visibility":
        if value not in VISIBILITIES:
            raise _schema_error(f"{value!r} is not one of {list(VISIBILITIES)} (visibility)")
        return value
    if key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise _schema_error(f"{value!r} is not of type 'boolean' ({key})")
        return value
    if key in ("min_disk", "min_ram"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise _schema_error(f"{value!r} is not an integer between 0 and {MAX_INT} ({key})")
        return value
    if key == "tags":
        return validate_tags(value)
    if key == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _schema_error(f"{value!r} is not a string of at most 255 characters (owner)")
        return value
    raise BadRequest(f"Unknown attribute {key!r}")


def validate_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 255:
        raise _schema_error(f"{tag!r} is not a non-empty string of at most 255 characters (tags)")
    return tag


def validate_tags(value: Any) -> list[str]:
    """A list of tags: strings of 1..255 characters, duplicates dropped."""
    if not isinstance(value, list):
        raise _schema_error(f"{value!r} is not of type 'array' (tags)")
    return list(dict.fromkeys(validate_tag(t) for t in value))


def validate_property(key: str, value: Any) -> str:
    """An extra property: a name of 1..255 characters and a string value."""
    if not key or len(key) > 255:
        raise _schema_error(f"property name {key!r} must have 1 to 255 characters")
    check_attribute(key)
    if not isinstance(value, str):
        raise _schema_error(f"{value!r} is not of type 'string' ({key})")
    if len(value) > MAX_PROPERTY_VALUE:
        raise _schema_error(f"value of {key} is longer than {MAX_PROPERTY_VALUE} characters")
    return value


def validate_create(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a "Create image" body into (base attributes, extra properties).

    Base attributes come with their defaults filled in (visibility ``shared``,
    ``protected``/``os_hidden`` false, ``min_disk``/``min_ram`` 0, ``tags`` []);
    ``id`` is kept when given (a UUID, else 400).
    """
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    for key in body:
        if not isinstance(key, str):
            raise BadRequest("Attribute names must be strings.")
        check_attribute(key)
    base: dict[str, Any] = {"name": None, "visibility": "shared", "protected": False,
                            "os_hidden": False, "min_disk": 0, "min_ram": 0,
                            "disk_format": None, "container_format": None, "tags": []}
    extra: dict[str, str] = {}
    for key, value in body.items():
        if key == "id":
            base["id"] = validate_id(value)
        elif key in SETTABLE:
            base[key] = validate_value(key, value)
        else:
            extra[key] = validate_property(key, value)
    return base, extra


def validate_id(value: Any) -> str:
    """A client-chosen image id: a UUID string (any case, normalized to lower-case dashed form)."""
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(uuid.UUID(value))
    except ValueError:
        raise _schema_error(f"{value!r} does not match the UUID pattern (id)") from None


# --- Schemas (GET /v2/schemas/image, /v2/schemas/images) -----------------------------------------

def _nullable_string(description: str, max_length: int = 255) -> dict:
    return {"type": ["null", "string"], "maxLength": max_length, "description": description}


def image_schema() -> dict:
    """The ``image`` JSON schema document (draft 4 style, as glance serves it)."""
    props: dict[str, Any] = {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                          "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
        "name": _nullable_string("Descriptive name for the image"),
        "status": {"type": "string", "readOnly": True, "enum": list(STATUSES),
                   "description": "Status of the image"},
        "visibility": {"type": "string", "enum": list(VISIBILITIES),
                       "description": "Scope of image accessibility"},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image list response."},
        "checksum": {"type": ["null", "string"], "readOnly": True, "maxLength": 32,
                     "description": "md5 hash of image contents."},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": True, "maxLength": 64,
                         "description": "Algorithm used to calculate os_hash_value."},
        "os_hash_value": {"type": ["null", "string"], "readOnly": True, "maxLength": 128,
                          "description": "Secure hash of image contents (os_hash_algo)."},
        "owner": _nullable_string("Owner of the image"),
        "size": {"type": ["null", "integer"], "readOnly": True,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                             "description": "Format of the container"},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                        "description": "Format of the disk"},
        "created_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255},
                 "description": "List of strings related to the image"},
        "direct_url": {"type": "string", "readOnly": True,
                       "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": True, "description": "An image self url"},
        "file": {"type": "string", "readOnly": True, "description": "An image file url"},
        "stores": {"type": "string", "readOnly": True, "description": "Store in which image data resides."},
        "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
        "locations": {"type": "array", "description": "A set of URLs to access the image file kept in external store",
                      "items": {"type": "object", "properties": {"url": {"type": "string", "maxLength": 255},
                                                                 "metadata": {"type": "object"}},
                                "required": ["url", "metadata"]}},
        "kernel_id": {"type": ["null", "string"], "is_base": False,
                      "description": "ID of image stored in Glance that should be used as the kernel "
                                     "when booting an AMI-style image."},
        "ramdisk_id": {"type": ["null", "string"], "is_base": False,
                       "description": "ID of image stored in Glance that should be used as the ramdisk "
                                      "when booting an AMI-style image."},
        "instance_uuid": {"type": "string", "is_base": False,
                          "description": "Metadata which can be used to record which instance this image "
                                         "is associated with. (Informational only, does not create an "
                                         "instance snapshot.)"},
        "architecture": {"type": "string", "is_base": False,
                         "description": "Operating system architecture"},
        "os_distro": {"type": "string", "is_base": False,
                      "description": "Common name of operating system distribution"},
        "os_version": {"type": "string", "is_base": False,
                       "description": "Operating system version as specified by the distributor"},
        "description": {"type": "string", "is_base": False,
                        "description": "A human-readable string describing this image."},
    }
    return {
        "name": "image",
        "properties": props,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict:
    """The ``images`` (list) JSON schema document."""
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


# --- Members and tasks (schemas, validation) ------------------------------------------------------

MEMBER_STATUSES = ("pending", "accepted", "rejected")
TASK_TYPES = ("import", "api_image_import")
TASK_STATUSES = ("pending", "processing", "success", "failure")


def validate_member_body(body: Any) -> str:
    """The project id of a "Create image member" body ``{"member": "<project id>"}``; 400 otherwise."""
    if not isinstance(body, dict) or set(body) != {"member"}:
        raise BadRequest("Request body must be {\"member\": \"<project id>\"}.")
    member = body["member"]
    if not isinstance(member, str) or not member or len(member) > 255:
        raise BadRequest(f"Provided object does not match schema 'member': {member!r} is not a "
                         "string of 1 to 255 characters (member)")
    return member


def validate_member_status(body: Any) -> str:
    """The status of an "Update image member" body ``{"status": ...}``; 400 for another value."""
    status = body.get("status") if isinstance(body, dict) else None
    if status not in MEMBER_STATUSES:
        raise BadRequest(f"Provided object does not match schema 'member': {status!r} is not one of "
                         f"{list(MEMBER_STATUSES)} (status)")
    return status


def _stamp(description: str) -> dict:
    return {"type": "string", "readOnly": True, "description": description}


def member_schema() -> dict:
    """The ``member`` JSON schema document (``GET /v2/schemas/member``)."""
    return {"name": "member", "properties": {
        "created_at": _stamp("Date and time of image member creation"),
        "updated_at": _stamp("Date and time of last modification of image member"),
        "image_id": {"type": "string", "description": "An identifier for the image",
                     "pattern": image_schema()["properties"]["id"]["pattern"]},
        "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
        "status": {"type": "string", "enum": list(MEMBER_STATUSES),
                   "description": "The status of this image member"},
        "schema": {"type": "string", "readOnly": True},
    }}


def members_schema() -> dict:
    """The ``members`` (list) JSON schema document."""
    return {"name": "members",
            "properties": {"members": {"type": "array", "items": member_schema()},
                           "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}]}


def task_schema() -> dict:
    """The ``task`` JSON schema document (``GET /v2/schemas/task``)."""
    return {"name": "task", "properties": {
        "id": {"type": "string", "description": "An identifier for the task",
               "pattern": image_schema()["properties"]["id"]["pattern"]},
        "type": {"type": "string", "enum": list(TASK_TYPES), "description": "The type of task represented by this content"},
        "status": {"type": "string", "enum": list(TASK_STATUSES), "readOnly": True,
                   "description": "The current status of this task"},
        "input": {"type": "object", "description": "The parameters required by task, JSON blob"},
        "result": {"type": ["null", "object"], "readOnly": True, "description": "The result of current task, JSON blob"},
        "owner": {"type": "string", "readOnly": True, "description": "An identifier for the owner of this task"},
        "message": {"type": "string", "readOnly": True,
                    "description": "Human-readable informative message only included when appropriate"},
        "image_id": {"type": "string", "readOnly": True, "description": "Image associated with the task"},
        "request_id": {"type": "string", "readOnly": True, "description": "Request ID that started the task"},
        "user_id": {"type": "string", "readOnly": True, "description": "User that started the task"},
        "expires_at": {"type": ["null", "string"], "readOnly": True,
                       "description": "Datetime when this resource would be subject to removal"},
        "created_at": _stamp("Datetime when this resource was created"),
        "updated_at": _stamp("Datetime when this resource was updated"),
        "self": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
    }, "required": ["type", "input"],
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}]}


def tasks_schema() -> dict:
    """The ``tasks`` (list) JSON schema document."""
    item = task_schema()
    item["properties"] = {k: v for k, v in item["properties"].items() if k not in ("input", "result")}
    return {"name": "tasks",
            "properties": {"tasks": {"type": "array", "items": item}, "schema": {"type": "string"},
                           "first": {"type": "string"}, "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}
