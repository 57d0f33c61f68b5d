"""JSON-schema documents of the metadata definitions catalog (Image API v2 "Metadata definition schemas").

``GET /v2/schemas/metadefs/{kind}`` returns ``DOCUMENTS[kind]()`` for ``kind`` in
namespace, namespaces, object, objects, property, properties, tag, tags,
resource_type and resource_types. Each document has a ``name`` (the
``resource_type`` documents are named ``resource_type_association`` and
``resource_type_associations``), ``properties`` and, for single entities,
``required`` and ``additionalProperties: false``; the plural documents carry
``first``/``next``/``schema`` members and ``links`` templates.

The limits stated here are the ones :mod:`kumo.image.metadefs.validate` enforces:
names of namespaces, objects, properties, tags and resource types up to 80
characters, ``description`` up to 500, ``owner`` up to 255.
"""
from __future__ import annotations

from collections.abc import Callable

#: JSON types a property definition may declare (``null``: no type constraint).
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
NAME_MAX = 80
DESCRIPTION_MAX = 500
OWNER_MAX = 255


def _text(max_length: int | None = None, description: str | None = None) -> dict:
    doc: dict = {"type": "string"}
    if max_length is not None:
        doc["maxLength"] = max_length
    if description:
        doc["description"] = description
    return doc


def _stamp(what: str) -> dict:
    return {"type": "string", "format": "date-time", "readOnly": True,
            "description": f"Date and time of {what}"}


def _read_only_link() -> dict:
    return {"type": "string", "readOnly": True}


def _stamps(entity: str) -> dict:
    return {"created_at": _stamp(f"{entity} creation"),
            "updated_at": _stamp(f"the last {entity} modification")}


def _type_enum() -> dict:
    return {"type": "string", "enum": [*PROPERTY_TYPES, None]}


def _definitions(with_property_map: bool, non_empty_arrays: bool = False) -> dict:
    """Shared ``definitions``: counters, string arrays and (optionally) the name -> property map."""
    string_array: dict = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    if non_empty_arrays:
        string_array["minItems"] = 1
    defs = {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                              {"default": 0}]},
        "stringArray": string_array,
    }
    if with_property_map:
        defs["property"] = {"type": "object",
                            "additionalProperties": {"type": "object",
                                                     "required": ["title", "type"],
                                                     "properties": _property_keys()}}
    return defs


def _property_keys() -> dict:
    """The keys of one property definition (a subset of JSON schema)."""
    counter = {"$ref": "#/definitions/positiveInteger"}
    counter0 = {"$ref": "#/definitions/positiveIntegerDefault0"}
    return {
        "name": _text(NAME_MAX),
        "title": _text(),
        "description": _text(),
        "type": _type_enum(),
        "default": {},
        "enum": {"type": "array"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "readonly": {"type": "boolean"},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "minLength": counter0,
        "maxLength": counter,
        "pattern": {"type": "string", "format": "regex"},
        "items": {"type": "object", "properties": {"type": _type_enum(), "enum": {"type": "array"}}},
        "minItems": counter0,
        "maxItems": counter,
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _association_keys() -> dict:
    return {
        "name": _text(NAME_MAX, "A resource type name, such as OS::Glance::Image (as Heat names them)."),
        "prefix": _text(NAME_MAX, "Prefix of the namespace's property names when applied to this "
                                  "resource type, separator included (for example 'hw_' or 'hw:')."),
        "properties_target": _text(NAME_MAX, "Which key/value set of the resource the properties "
                                             "apply to, for resource types with several (for "
                                             "example 'image' for volume image metadata)."),
    }


def namespace_schema() -> dict:
    """``/v2/schemas/metadefs/namespace``."""
    named = {"type": "object", "properties": {"name": {"type": "string"}}}
    object_item = {"type": "object", "properties": {
        "name": {"type": "string"}, "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"}}}
    association_item = {"type": "object", "properties": {
        key: {"type": "string"} for key in ("name", "prefix", "properties_target")}}
    return {
        "name": "namespace",
        "additionalProperties": False,
        "required": ["namespace"],
        "definitions": _definitions(with_property_map=True),
        "properties": {
            "namespace": _text(NAME_MAX, "The unique name of the namespace."),
            "display_name": _text(NAME_MAX, "A user friendly name of the namespace, for UIs."),
            "description": _text(DESCRIPTION_MAX, "What the namespace's definitions are for."),
            "visibility": {"type": "string", "enum": ["public", "private"],
                           "description": "Who can read the namespace: everyone, or its owner."},
            "protected": {"type": "boolean",
                          "description": "A protected namespace and its contents cannot be deleted."},
            "owner": _text(OWNER_MAX, "The project owning the namespace."),
            **_stamps("namespace"),
            "schema": _read_only_link(),
            "self": _read_only_link(),
            "resource_type_associations": {"type": "array", "items": association_item},
            "properties": {"$ref": "#/definitions/property"},
            "objects": {"type": "array", "items": object_item},
            "tags": {"type": "array", "items": named},
        },
    }


def object_schema() -> dict:
    """``/v2/schemas/metadefs/object``."""
    return {
        "name": "object",
        "additionalProperties": False,
        "required": ["name"],
        "definitions": _definitions(with_property_map=True),
        "properties": {
            "name": _text(NAME_MAX),
            "description": _text(),
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"},
            **_stamps("object"),
            "schema": _read_only_link(),
            "self": _read_only_link(),
        },
    }


def property_schema() -> dict:
    """``/v2/schemas/metadefs/property``."""
    return {
        "name": "property",
        "additionalProperties": False,
        "required": ["name", "title", "type"],
        "definitions": _definitions(with_property_map=False, non_empty_arrays=True),
        "properties": _property_keys(),
    }


def tag_schema() -> dict:
    """``/v2/schemas/metadefs/tag``."""
    return {
        "name": "tag",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": _text(NAME_MAX), **_stamps("tag")},
    }


def resource_type_schema() -> dict:
    """``/v2/schemas/metadefs/resource_type``: one namespace/resource type association."""
    return {
        "name": "resource_type_association",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {**_association_keys(), **_stamps("resource type association")},
    }


def _collection(name: str, member: dict) -> dict:
    """A list document: ``name`` holds an array of ``member`` documents, plus paging links."""
    item = {key: value for key, value in member.items() if key != "definitions"}
    doc = {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }
    if "definitions" in member:
        doc["definitions"] = member["definitions"]
    return doc


def properties_schema() -> dict:
    """``/v2/schemas/metadefs/properties``: ``properties`` maps names to property definitions."""
    member = property_schema()
    entry = {k: v for k, v in member.items() if k not in ("definitions", "name")}
    entry["required"] = ["title", "type"]      # the map's keys are the names
    doc = {
        "name": "properties",
        "definitions": member["definitions"],
        "properties": {
            "properties": {"type": "object", "additionalProperties": entry},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }
    return doc


DOCUMENTS: dict[str, Callable[[], dict]] = {
    "namespace": namespace_schema,
    "namespaces": lambda: _collection("namespaces", namespace_schema()),
    "object": object_schema,
    "objects": lambda: _collection("objects", object_schema()),
    "property": property_schema,
    "properties": properties_schema,
    "tag": tag_schema,
    "tags": lambda: _collection("tags", tag_schema()),
    "resource_type": resource_type_schema,
    "resource_types": lambda: _collection("resource_type_associations", resource_type_schema()),
}
