"""Request bodies of the identity resource APIs (Identity API v3: regions, project tags,
credentials and OS-EC2, policies, OS-EP-FILTER, domain configuration, unified limits,
OS-OAUTH1), as pydantic models with the conventions of :mod:`kumo.identity.schemas`
(strict types; validation failures become 400 through :func:`kumo.common.api.body.validate`).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StrictInt, StrictStr, model_validator

from kumo.identity.schemas import Description, Id, Interface, Name255, Tag, Tags, _Extras, _Strict


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("tags must be unique")
    return values


class RegionUpdate(_Strict):
    description: Description = None
    parent_region_id: StrictStr | None = None


class ProjectTags(_Strict):
    """``PUT /v3/projects/{id}/tags``: the whole tag list (at most 80, unique)."""

    tags: Annotated[Tags, AfterValidator(_unique)]


class ProjectTag(_Strict):
    """One tag of ``PUT /v3/projects/{id}/tags/{tag}``."""

    tag: Tag


Type255 = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class CredentialCreate(_Strict):
    user_id: Id
    type: Type255
    blob: StrictStr
    project_id: Id | None = None


class CredentialUpdate(_Strict):
    user_id: Id | None = None
    type: Type255 | None = None
    blob: StrictStr | None = None
    project_id: Id | None = None


class Ec2Create(_Strict):
    """``POST /v3/users/{id}/credentials/OS-EC2`` (an unwrapped body)."""

    tenant_id: Id


class Ec2Signed(_Strict):
    """The description of an EC2-signed request (``POST /v3/ec2tokens``)."""

    access: Annotated[StrictStr, Field(min_length=1)]
    signature: Annotated[StrictStr, Field(min_length=1)]
    host: StrictStr = ""
    verb: StrictStr = "GET"
    path: StrictStr = "/"
    params: dict[str, Any] = {}
    headers: dict[str, Any] = {}
    body_hash: StrictStr | None = None


class Ec2TokenRequest(_Strict):
    """``{"credentials": {...}}`` (or the older ``{"ec2Credentials": {...}}``)."""

    credentials: Ec2Signed | None = None
    ec2Credentials: Ec2Signed | None = None

    @model_validator(mode="after")
    def _given(self):
        if (self.credentials is None) == (self.ec2Credentials is None):
            raise ValueError("exactly one of credentials or ec2Credentials is required")
        return self


class PolicyCreate(_Extras):
    type: Type255
    blob: StrictStr


class PolicyUpdate(_Extras):
    type: Type255 | None = None
    blob: StrictStr | None = None


class EndpointFilters(_Strict):
    model_config = ConfigDict(extra="forbid")

    interface: Interface | None = None
    service_id: Id | None = None
    region_id: StrictStr | None = None


class EndpointGroupCreate(_Strict):
    name: Name255
    description: Description = None
    filters: EndpointFilters


class EndpointGroupUpdate(_Strict):
    name: Name255 | None = None
    description: Description = None
    filters: EndpointFilters | None = None


class DomainConfigBody(_Strict):
    """``{"config": {...}}`` of the domain configuration routes (checked by kumo.identity.domain_config)."""

    config: dict[str, Any]


class ConsumerCreate(_Strict):
    description: Description = None


class ConsumerUpdate(_Strict):
    model_config = ConfigDict(extra="forbid")

    description: Description = None


LimitValue = Annotated[StrictInt, Field(ge=-1, le=2147483647)]
LimitDescription = Annotated[StrictStr, Field(max_length=255)] | None


class RegisteredLimitCreate(_Strict):
    service_id: Id
    resource_name: Type255
    default_limit: LimitValue
    region_id: StrictStr | None = None
    description: LimitDescription = None


class RegisteredLimitUpdate(_Strict):
    service_id: Id | None = None
    resource_name: Type255 | None = None
    default_limit: LimitValue | None = None
    region_id: StrictStr | None = None
    description: LimitDescription = None


class LimitCreate(_Strict):
    service_id: Id
    resource_name: Type255
    resource_limit: LimitValue
    project_id: Id | None = None
    domain_id: Id | None = None
    region_id: StrictStr | None = None
    description: LimitDescription = None

    @model_validator(mode="after")
    def _owner(self):
        if (self.project_id is None) == (self.domain_id is None):
            raise ValueError("a limit needs either a project_id or a domain_id")
        return self


class RegisteredLimitsCreate(_Strict):
    registered_limits: Annotated[list[RegisteredLimitCreate], Field(min_length=1)]


class LimitsCreate(_Strict):
    limits: Annotated[list[LimitCreate], Field(min_length=1)]


class LimitUpdate(_Strict):
    resource_limit: LimitValue | None = None
    description: LimitDescription = None
