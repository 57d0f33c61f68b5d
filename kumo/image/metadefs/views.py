"""Response bodies of the metadata definitions API (Image API v2 "Metadata definitions").

As glance does, attributes without a value (``display_name``, ``description``,
``prefix``, ...) are left out rather than shown as ``null``. Timestamps are
ISO 8601 UTC with a ``Z``; ``self`` and ``schema`` are relative URLs.
"""
from __future__ import annotations

from kumo.common.db import isotime
from kumo.image.models import (MetadefAssociation, MetadefNamespace, MetadefObject, MetadefProperty,
                               MetadefResourceType, MetadefTag)

NAMESPACES = "/v2/metadefs/namespaces"


def _stamps(row) -> dict:
    return {"created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at)}


def _set(body: dict, **values) -> dict:
    body.update({k: v for k, v in values.items() if v is not None})
    return body


def namespace_view(ns: MetadefNamespace) -> dict:
    """``{"namespace", "display_name"?, "description"?, "visibility", "protected", "owner", ...}``.

    ``resource_type_associations`` appears when the namespace has any.
    """
    body = _set({"namespace": ns.namespace}, display_name=ns.display_name, description=ns.description)
    body.update({"visibility": ns.visibility, "protected": bool(ns.protected)})
    _set(body, owner=ns.owner)
    body.update(_stamps(ns))
    body.update({"self": f"{NAMESPACES}/{ns.namespace}", "schema": "/v2/schemas/metadefs/namespace"})
    if ns.associations:
        body["resource_type_associations"] = [association_view(a) for a in ns.associations]
    return body


def association_view(a: MetadefAssociation) -> dict:
    """``{"name", "prefix"?, "properties_target"?, "created_at", "updated_at"}``."""
    body = _set({"name": a.name}, prefix=a.prefix, properties_target=a.properties_target)
    body.update(_stamps(a))
    return body


def resource_type_view(rt: MetadefResourceType) -> dict:
    """``{"name", "created_at", "updated_at"}``."""
    return {"name": rt.name, **_stamps(rt)}


def prefixed(properties: dict[str, dict], prefix: str | None) -> dict[str, dict]:
    """``properties`` with ``prefix`` put before each name (unchanged without a prefix)."""
    if not prefix:
        return dict(properties)
    return {prefix + name: definition for name, definition in properties.items()}


def object_view(ns_name: str, obj: MetadefObject, prefix: str | None = None) -> dict:
    """``{"name", "description"?, "required", "properties", "self", "schema", timestamps}``."""
    body = _set({"name": obj.name}, description=obj.description)
    body.update({"required": list(obj.required or []),
                 "properties": prefixed(obj.properties or {}, prefix)})
    body.update(_stamps(obj))
    body.update({"self": f"{NAMESPACES}/{ns_name}/objects/{obj.name}",
                 "schema": "/v2/schemas/metadefs/object"})
    return body


def property_view(prop: MetadefProperty, name: str | None = None) -> dict:
    """``{"name", "title", "type", ...}``: the definition with its name (``name`` overrides it)."""
    return {"name": name or prop.name, **(prop.schema or {})}


def tag_view(tag: MetadefTag) -> dict:
    """``{"name", "created_at", "updated_at"}``."""
    return {"name": tag.name, **_stamps(tag)}


def namespace_detail_view(detail) -> dict:
    """A :class:`~kumo.image.metadefs.NamespaceDetail`: :func:`namespace_view` plus ``properties``
    (name -> definition, names prefixed with ``detail.prefix``), ``objects`` and ``tags``
    (``[{"name"}]``), each only when not empty."""
    body = namespace_view(detail.namespace)
    name = detail.namespace.namespace
    if detail.properties:
        body["properties"] = prefixed({p.name: dict(p.schema or {}) for p in detail.properties}, detail.prefix)
    if detail.objects:
        body["objects"] = [object_view(name, o, detail.prefix) for o in detail.objects]
    if detail.tags:
        body["tags"] = [{"name": t.name} for t in detail.tags]
    return body
