"""JSON patch of an image (Image API v2 "Update image").

The body is a list of operations: ``add``, ``replace`` and ``remove`` on
one-level paths (``/name``, ``/visibility``, ``/tags``, ``/<extra property>``;
``~1`` and ``~0`` escape ``/`` and ``~``), in one of two media types:

- ``application/openstack-images-v2.1-json-patch``: RFC 6902 objects,
  ``{"op": "replace", "path": "/name", "value": "x"}``;
- ``application/openstack-images-v2.0-json-patch`` (the older draft-04 form
  that tempest's image client sends): the operation name is the member that
  holds the path, ``{"replace": "/name", "value": "x"}``, ``{"remove": "/p"}``.

Semantics follow glance:

- ``add`` and ``replace`` of a base attribute set it; ``add`` of an extra
  property creates or overwrites it, ``replace`` needs it to exist (else 409);
- ``remove`` of an extra property needs it to exist (409), of a base attribute
  is refused (403); read-only and reserved attributes are 403;
- malformed operations and values are 400 (the caller checks quotas).

:func:`apply` works on a plain snapshot, so a failing operation changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kumo.common.api.errors import BadRequest, Conflict, Forbidden
from kumo.image import schemas

V2_1 = "application/openstack-images-v2.1-json-patch"
V2_0 = "application/openstack-images-v2.0-json-patch"
MEDIA_TYPES = (V2_1, V2_0)
OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class Change:
    op: str
    key: str
    value: Any = None
    #: ``/locations/<index>`` operations: the index (``-`` = the end), else None.
    index: str | None = None


def _decode_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    parts = path[1:].split("/")
    if len(parts) != 1:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return parts[0].replace("~1", "/").replace("~0", "~")


def _op_v2_1(item: dict) -> tuple[str, Any]:
    op = item.get("op")
    if op not in OPS:
        raise BadRequest("Unable to find `op` in JSON Schema change. "
                         "It must be one of the following: add, remove, replace.")
    if "path" not in item:
        raise BadRequest("Unable to find '/path' in JSON Schema change")
    return op, item["path"]


def _op_v2_0(item: dict) -> tuple[str, Any]:
    ops = [op for op in OPS if op in item]
    if len(ops) > 1:
        raise BadRequest('Operation objects must contain only one member named '
                         '"add", "remove", or "replace".')
    if not ops:
        raise BadRequest('Operation objects must contain exactly one member named '
                         '"add", "remove", or "replace".')
    return ops[0], item[ops[0]]


def parse(body: Any, media_type: str = V2_1) -> list[Change]:
    """Validate the operation list's shape for ``media_type``; 400 for anything malformed."""
    if media_type not in MEDIA_TYPES:
        raise ValueError(f"not a json-patch media type: {media_type}")
    read_op = _op_v2_0 if media_type == V2_0 else _op_v2_1
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for item in body:
        if not isinstance(item, dict):
            raise BadRequest("Operations must be JSON objects.")
        op, path = read_op(item)
        index = None
        if isinstance(path, str) and path.startswith("/locations/") and path.count("/") == 2:
            path, index = "/locations", path.rsplit("/", 1)[1]
        key = _decode_path(path)
        if op != "remove" and "value" not in item:
            raise BadRequest("Operation \"%s\" requires a member named \"value\"." % op)
        changes.append(Change(op, key, item.get("value"), index))
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
    return new
