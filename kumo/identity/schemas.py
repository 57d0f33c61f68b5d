"""Request bodies of the identity API (Identity API v3 reference), as pydantic models.

Types are strict (``"true"`` is not a boolean, ``1`` is not a string), as
keystone's JSON schemas are. Users and projects keep unknown attributes
(``email``, ...) as extra attributes, like keystone; ``id`` and ``links`` in
a create body are ignored. Validation failures become 400 through
:func:`kumo.common.api.body.validate`.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from kumo.identity.passwords import MAX_LENGTH


def _named(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain a non-whitespace character")
    return value


def _tag(value: str) -> str:
    if "/" in value or "," in value:
        raise ValueError("tags may not contain '/' or ','")
    return value


Name64 = Annotated[StrictStr, Field(min_length=1, max_length=64), AfterValidator(_named)]
Name255 = Annotated[StrictStr, Field(min_length=1, max_length=255), AfterValidator(_named)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Description = StrictStr | None
Password = Annotated[StrictStr, Field(max_length=MAX_LENGTH)]
Tag = Annotated[StrictStr, Field(min_length=1, max_length=255), AfterValidator(_tag)]
Tags = Annotated[list[Tag], Field(max_length=80)]

#: Attributes that are never stored as extra attributes.
RESERVED = {"id", "links", "extra", "password_hash", "password_expires_at", "options"}


class _Extras(BaseModel):
    model_config = ConfigDict(extra="allow")

    def extras(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k not in RESERVED}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- resources -------------------------------------------------------------------------------

class DomainCreate(_Strict):
    name: Name64
    description: Description = None
    enabled: StrictBool = True
    tags: Tags = []


class DomainUpdate(_Strict):
    name: Name64 | None = None
    description: Description = None
    enabled: StrictBool | None = None
    tags: Tags | None = None


class ProjectCreate(_Extras):
    name: Name64
    domain_id: Id | None = None
    description: Description = None
    enabled: StrictBool = True
    parent_id: Id | None = None
    is_domain: StrictBool = False
    tags: Tags = []


class ProjectUpdate(_Extras):
    name: Name64 | None = None
    domain_id: Id | None = None
    description: Description = None
    enabled: StrictBool | None = None
    parent_id: Id | None = None
    is_domain: StrictBool | None = None
    tags: Tags | None = None


class UserCreate(_Extras):
    name: Name255
    domain_id: Id | None = None
    password: Password | None = None
    enabled: StrictBool = True
    default_project_id: Id | None = None
    #: User options (kumo.identity.security.OPTIONS), checked by the service.
    options: dict[str, Any] | None = None


class UserUpdate(_Extras):
    name: Name255 | None = None
    domain_id: Id | None = None
    password: Password | None = None
    enabled: StrictBool | None = None
    default_project_id: Id | None = None
    options: dict[str, Any] | None = None


class PasswordChange(_Strict):
    password: Password
    original_password: Password


class RoleCreate(_Strict):
    name: Name255
    domain_id: Id | None = None
    description: Description = None


class RoleUpdate(_Strict):
    name: Name255 | None = None
    description: Description = None


class GroupCreate(_Extras):
    name: Name64
    domain_id: Id | None = None
    description: Description = None


class GroupUpdate(_Extras):
    name: Name64 | None = None
    domain_id: Id | None = None
    description: Description = None


class RegionCreate(_Strict):
    id: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    description: Description = None
    parent_region_id: StrictStr | None = None


class ServiceCreate(_Strict):
    type: Name255
    name: Annotated[StrictStr, Field(max_length=255)] | None = None
    description: Description = None
    enabled: StrictBool = True


class ServiceUpdate(_Strict):
    type: Name255 | None = None
    name: Annotated[StrictStr, Field(max_length=255)] | None = None
    description: Description = None
    enabled: StrictBool | None = None


Interface = Literal["public", "internal", "admin"]
Url = Annotated[StrictStr, Field(min_length=1, max_length=1024, pattern=r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")]


class EndpointCreate(_Strict):
    interface: Interface
    url: Url
    service_id: Id
    region_id: StrictStr | None = None
    #: Deprecated alias of ``region_id`` still sent by old clients.
    region: StrictStr | None = None
    enabled: StrictBool = True


class EndpointUpdate(_Strict):
    interface: Interface | None = None
    url: Url | None = None
    service_id: Id | None = None
    region_id: StrictStr | None = None
    region: StrictStr | None = None
    enabled: StrictBool | None = None


# --- POST /v3/auth/tokens --------------------------------------------------------------------

class DomainRef(_Strict):
    id: StrictStr | None = None
    name: StrictStr | None = None

    @model_validator(mode="after")
    def _one(self):
        if not self.id and not self.name:
            raise ValueError("a domain needs an id or a name")
        return self


class UserRef(_Strict):
    id: StrictStr | None = None
    name: StrictStr | None = None
    domain: DomainRef | None = None
    password: Password

    @model_validator(mode="after")
    def _who(self):
        if not self.id and not self.name:
            raise ValueError("a user needs an id or a name")
        if not self.id and self.domain is None:
            raise ValueError("a user name needs a domain")
        return self


class PasswordMethod(_Strict):
    user: UserRef


class TokenMethod(_Strict):
    id: Annotated[StrictStr, Field(min_length=1)]


class AppCredMethod(_Strict):
    """The ``application_credential`` method: ``id``, or ``name`` with its ``user``."""

    id: StrictStr | None = None
    name: StrictStr | None = None
    user: AppCredUser | None = None
    secret: Annotated[StrictStr, Field(min_length=1, max_length=MAX_LENGTH)]

    @model_validator(mode="after")
    def _which(self):
        if not self.id and not (self.name and self.user is not None):
            raise ValueError("an application credential needs an id, or a name and a user")
        return self


class AppCredUser(_Strict):
    id: StrictStr | None = None
    name: StrictStr | None = None
    domain: DomainRef | None = None

    @model_validator(mode="after")
    def _who(self):
        if not self.id and not (self.name and self.domain is not None):
            raise ValueError("a user needs an id, or a name and a domain")
        return self


class Identity(_Strict):
    methods: Annotated[list[StrictStr], Field(min_length=1)]
    password: PasswordMethod | None = None
    token: TokenMethod | None = None
    application_credential: AppCredMethod | None = None


class ProjectScope(_Strict):
    id: StrictStr | None = None
    name: StrictStr | None = None
    domain: DomainRef | None = None

    @model_validator(mode="after")
    def _which(self):
        if not self.id and not self.name:
            raise ValueError("a project needs an id or a name")
        if not self.id and self.domain is None:
            raise ValueError("a project name needs a domain")
        return self


class SystemScope(_Strict):
    all: StrictBool = False


class TrustScope(_Strict):
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class Scope(_Strict):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    project: ProjectScope | None = None
    domain: DomainRef | None = None
    system: SystemScope | None = None
    trust: TrustScope | None = Field(default=None, alias="OS-TRUST:trust")

    @model_validator(mode="after")
    def _single(self):
        given = [k for k in ("project", "domain", "system", "trust") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError("only one of project, domain, system or OS-TRUST:trust may be given")
        return self


class Auth(_Strict):
    identity: Identity
    #: A scope object, the string ``"unscoped"``, or nothing (default project, else unscoped).
    scope: Scope | Literal["unscoped"] | None = None


class AuthRequest(_Strict):
    auth: Auth


# --- authentication: application credentials and trusts (kumo.identity.appcreds, .trusts) ----------

class RoleRef(_Strict):
    id: StrictStr | None = None
    name: StrictStr | None = None
    domain_id: StrictStr | None = None

    @model_validator(mode="after")
    def _which(self):
        if not self.id and not self.name:
            raise ValueError("a role needs an id or a name")
        return self


class AccessRuleRef(_Strict):
    """An access rule: an existing one by ``id``, or ``service`` + ``method`` + ``path``."""

    id: StrictStr | None = None
    service: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    method: Literal["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    path: Annotated[StrictStr, Field(min_length=1, max_length=255, pattern=r"^/.*")] | None = None

    @model_validator(mode="after")
    def _which(self):
        if not self.id and not (self.service and self.method and self.path):
            raise ValueError("an access rule needs an id, or service, method and path")
        return self


class AppCredCreate(_Strict):
    name: Name255
    description: Description = None
    secret: Annotated[StrictStr, Field(min_length=1, max_length=MAX_LENGTH)] | None = None
    #: ISO 8601 time (naive times are UTC), or None for no expiry.
    expires_at: StrictStr | None = None
    roles: list[RoleRef] | None = None
    unrestricted: StrictBool = False
    access_rules: list[AccessRuleRef] | None = None


class TrustCreate(_Strict):
    trustor_user_id: Id
    trustee_user_id: Id
    impersonation: StrictBool
    project_id: Id | None = None
    roles: list[RoleRef] = []
    expires_at: StrictStr | None = None
    remaining_uses: Annotated[StrictInt, Field(ge=1)] | None = None
    allow_redelegation: StrictBool = False
    redelegation_count: Annotated[StrictInt, Field(ge=0)] | None = None
