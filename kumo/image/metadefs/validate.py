"""Request bodies of the metadata definitions API, checked against :mod:`kumo.image.metadef_schemas`.

Each ``*_body(data)`` returns a plain dict holding only the keys the client
sent (normalized), or raises :class:`BadRequest` (400) for a wrong type, a
missing required key, an unknown key, a name over 80 characters or a bad
``pattern`` regex, and :class:`Forbidden` (403) for a read-only attribute
(``created_at``, ``updated_at``, ``self``, ``schema``), as glance does.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from kumo.common.api.body import validate
from kumo.common.api.errors import BadRequest, Forbidden
from kumo.image.metadef_schemas import DESCRIPTION_MAX, NAME_MAX, OWNER_MAX

READ_ONLY = ("created_at", "updated_at", "self", "schema")

Name = Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX)]
ShortText = Annotated[StrictStr, Field(max_length=NAME_MAX)]
Counter = Annotated[StrictInt, Field(ge=0)]
Number = StrictInt | StrictFloat
PropertyType = Literal["array", "boolean", "integer", "number", "object", "string"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Items(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: PropertyType | None = None
    enum: list[Any] | None = None


class PropertyDefinition(_Strict):
    """One property definition: ``title`` and ``type`` required, other JSON-schema keys optional."""

    name: Name | None = None
    title: StrictStr
    type: PropertyType | None
    description: StrictStr | None = None
    default: Any = None
    enum: list[Any] | None = None
    operators: list[StrictStr] | None = None
    readonly: StrictBool | None = None
    required: list[StrictStr] | None = None
    minimum: Number | None = None
    maximum: Number | None = None
    minLength: Counter | None = None
    maxLength: Counter | None = None
    pattern: StrictStr | None = None
    items: _Items | None = None
    minItems: Counter | None = None
    maxItems: Counter | None = None
    uniqueItems: StrictBool | None = None
    additionalItems: StrictBool | None = None


class ObjectBody(_Strict):
    name: Name
    description: StrictStr | None = None
    required: list[StrictStr] | None = None
    properties: dict[StrictStr, PropertyDefinition] | None = None


class TagBody(_Strict):
    name: Name


class AssociationBody(_Strict):
    name: Name
    prefix: ShortText | None = None
    properties_target: ShortText | None = None


class NamespaceBody(_Strict):
    namespace: Name
    display_name: ShortText | None = None
    description: Annotated[StrictStr, Field(max_length=DESCRIPTION_MAX)] | None = None
    visibility: Literal["public", "private"] | None = None
    protected: StrictBool | None = None
    owner: Annotated[StrictStr, Field(min_length=1, max_length=OWNER_MAX)] | None = None
    properties: dict[StrictStr, PropertyDefinition] | None = None
    objects: list[ObjectBody] | None = None
    tags: list[TagBody] | None = None
    resource_type_associations: list[AssociationBody] | None = None


class TagsBody(_Strict):
    tags: list[TagBody]


def _checked(model: type[BaseModel], data: Any, what: str) -> BaseModel:
    if not isinstance(data, dict):
        raise BadRequest(f"The request body must be a JSON object describing a {what}.")
    for key in READ_ONLY:
        if key in data:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    return validate(model, data)


def _dump(model: BaseModel) -> dict:
    return model.model_dump(exclude_unset=True)


def property_definition(name: str, definition: PropertyDefinition) -> dict:
    """A definition as stored: every given key but ``name``; 400 for an invalid ``pattern``."""
    if not name or len(name) > NAME_MAX:
        raise BadRequest(f"Property names must have 1 to {NAME_MAX} characters: {name!r}")
    if definition.pattern is not None:
        try:
            re.compile(definition.pattern)
        except re.error as e:
            raise BadRequest(f"Invalid pattern of property {name}: {e}") from None
    body = _dump(definition)
    body.pop("name", None)
    return body


def _property_map(raw: dict[str, PropertyDefinition] | None) -> dict[str, dict]:
    return {name: property_definition(name, d) for name, d in (raw or {}).items()}


def object_body(data: Any) -> dict:
    """``{"name", "description"?, "required": [...], "properties": {name: definition}}``."""
    model = _checked(ObjectBody, data, "metadata definition object")
    return _object_values(model)


def _object_values(model: ObjectBody) -> dict:
    required = list(model.required or [])
    if len(set(required)) != len(required):
        raise BadRequest(f"Object {model.name}: 'required' lists a property name twice.")
    return {"name": model.name, "description": model.description,
            "required": required, "properties": _property_map(model.properties)}


def property_body(data: Any) -> tuple[str, dict]:
    """``(name, definition)`` of a property create/update body; ``name`` is required."""
    model = _checked(PropertyDefinition, data, "metadata definition property")
    if model.name is None:
        raise BadRequest("Invalid input for field/attribute name: Field required")
    return model.name, property_definition(model.name, model)


def tag_body(data: Any) -> str:
    """The new name from a tag update body ``{"name": ...}``."""
    return _checked(TagBody, data, "metadata definition tag").name


def tag_name(name: str) -> str:
    """A tag name from a URL; 400 past 80 characters."""
    if not name or len(name) > NAME_MAX:
        raise BadRequest(f"Tag names must have 1 to {NAME_MAX} characters.")
    return name


def tags_body(data: Any) -> list[str]:
    """The names of a ``{"tags": [{"name": ...}, ...]}`` body (duplicates are 409 for the caller)."""
    return [t.name for t in _checked(TagsBody, data, "list of tags").tags]


def association_body(data: Any) -> dict:
    """``{"name", "prefix", "properties_target"}`` of a resource type association."""
    model = _checked(AssociationBody, data, "resource type association")
    return {"name": model.name, "prefix": model.prefix, "properties_target": model.properties_target}


def namespace_body(data: Any) -> dict:
    """A namespace create/update body: the given base keys plus its contents.

    Base keys absent from the body are absent from the result (the caller
    applies defaults). Contents: ``properties`` (name -> definition),
    ``objects`` (object values), ``tags`` (names), ``resource_type_associations``.
    """
    model = _checked(NamespaceBody, data, "metadata definition namespace")
    values = {key: value for key, value in _dump(model).items()
              if key not in ("properties", "objects", "tags", "resource_type_associations")}
    values["properties"] = _property_map(model.properties)
    values["objects"] = [_object_values(o) for o in model.objects or []]
    values["tags"] = [t.name for t in model.tags or []]
    values["resource_type_associations"] = [
        {"name": a.name, "prefix": a.prefix, "properties_target": a.properties_target}
        for a in model.resource_type_associations or []]
    return values
