"""Request bodies and query strings: parse, validate, fail with 400."""
from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from kumo.common.api.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, key: str | None = None) -> Any:
    """The request's JSON body (or its ``key`` member, which must be an object).

    Raises BadRequest for a malformed body or a missing ``key``.
    """
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed request body") from None
    if key is None:
        return data
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise BadRequest(f"Malformed request body: '{key}' object is required")
    return data[key]


def validate(model: type[M], data: Any) -> M:
    """Validate ``data`` with a pydantic model; a failure is a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise BadRequest(f"Invalid input for field/attribute {where}: {err.get('msg')}") from None


def parse_int(name: str, raw: str, minimum: int = 0) -> int:
    """``raw`` as an integer >= ``minimum``; BadRequest naming ``name`` otherwise."""
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} value: {raw!r} is not an integer") from None
    if value < minimum:
        raise BadRequest(f"Invalid {name} value: must be >= {minimum}")
    return value


def parse_bool(name: str, raw: str) -> bool:
    """``raw`` as a boolean (1/true/yes/on, 0/false/no/off); BadRequest otherwise."""
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise BadRequest(f"Invalid {name} value: {raw!r} is not a boolean")


def query_int(request: Request, name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """An integer query parameter (``default`` when absent or empty)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(name, raw, minimum)


def query_bool(request: Request, name: str, default: bool | None = None) -> bool | None:
    """A boolean query parameter (``default`` when absent)."""
    raw = request.query_params.get(name)
    return default if raw is None else parse_bool(name, raw)


def page(items: list, marker: str | None, limit: int | None, key: str = "id") -> list:
    """Keyset page over already sorted ``items`` (dicts or objects): after ``marker``, at most ``limit``.

    Raises BadRequest when the marker is not among the items (as the
    OpenStack APIs do with "marker not found").
    """
    def ident(item):
        return item[key] if isinstance(item, dict) else getattr(item, key)

    if marker:
        for i, item in enumerate(items):
            if ident(item) == marker:
                items = items[i + 1:]
                break
        else:
            raise BadRequest(f"marker [{marker}] not found")
    if limit is not None:
        items = items[:limit]
    return items
