"""JSON patch of an image (Image API v2 "Update image").

The body is a list of RFC 6902 operations in the media type
``application/openstack-images-v2.1-json-patch``: ``add``, ``replace`` and
``remove`` on one-level paths (``/name``, ``/visibility``, ``/tags``, ``/<extra
property>``; ``~1`` and ``~0`` escape ``/`` and ``~``). Semantics follow glance:

- ``add`` and ``replace`` of a base attribute set it; ``add`` of an extra
  property creates or overwrites it, ``replace`` needs it to exist (else 409);
- ``remove`` of an extra property needs it to exist (409), of a base attribute
  is refused (403); read-only and reserved attributes are 403;
- malformed operations and values are 400, quotas are 413.

:func:`apply` works on a plain snapshot, so a failing operation changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kumo.common.api.errors import BadRequest, Conflict, Forbidden
from kumo.image import schemas

MEDIA_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class Change:
    op: str
    key: str
    value: Any = None


def _decode_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    parts = path[1:].split("/")
    if len(parts) != 1:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return parts[0].replace("~1", "/").replace("~0", "~")


def parse(body: Any) -> list[Change]:
    """Validate the operation list's shape; 400 for anything malformed."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for item in body:
        if not isinstance(item, dict):
            raise BadRequest("Operations must be JSON objects.")
        op = item.get("op")
        if op not in OPS:
            raise BadRequest("Unable to find `op` in JSON Schema change. "
                             "It must be one of the following: add, remove, replace.")
        if "path" not in item:
            raise BadRequest("Unable to find '/path' in JSON Schema change")
        key = _decode_path(item["path"])
        if op != "remove" and "value" not in item:
            raise BadRequest("Operation \"%s\" requires a member named \"value\"." % op)
        changes.append(Change(op, key, item.get("value")))
    return changes


def snapshot(image) -> dict[str, Any]:
    """The patchable state of an ORM image as plain data."""
    state = {key: getattr(image, key) for key in schemas.SETTABLE if key != "tags"}
    state["tags"] = image.tag_list
    state["extra"] = image.extra
    return state


def apply(state: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    """Apply ``changes`` to a copy of ``state`` (see :func:`snapshot`) and return it."""
    new = dict(state)
    new["extra"] = dict(state["extra"])
    new["tags"] = list(state["tags"])
    for change in changes:
        key = change.key
        if key == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        schemas.check_attribute(key)
        if key in schemas.SETTABLE:
            if change.op == "remove":
                raise Forbidden(f"Property {key} may not be removed.")
            new[key] = schemas.validate_value(key, change.value)
        elif change.op == "remove":
            if key not in new["extra"]:
                raise Conflict(f"Property {key} does not exist.")
            del new["extra"][key]
        else:
            if change.op == "replace" and key not in new["extra"]:
                raise Conflict(f"Property {key} does not exist.")
            new["extra"][key] = schemas.validate_property(key, change.value)
    schemas.check_property_quota(len(new["extra"]))
    return new
