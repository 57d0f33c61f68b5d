"""Identity database models (Keystone v3 subset).

Tables: domains, projects, users, roles, implied roles, role assignments,
regions, services, endpoints and token revocation events. Ids are UUID4 hex
strings without dashes, as keystone makes them (``default`` for the default
domain, the region name for regions). Roles that belong to no domain store
``NULL_DOMAIN_ID`` in ``domain_id`` so the (name, domain) uniqueness holds
for global roles too; views show it as ``null``.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.common.db import declarative_base, utcnow

Base = declarative_base()

#: ``roles.domain_id`` of a global role (keystone's sentinel).
NULL_DOMAIN_ID = "<<null>>"
#: The default domain keystone-manage bootstrap creates.
DEFAULT_DOMAIN_ID = "default"

#: Role assignment types (actor/target kinds).
USER_PROJECT = "UserProject"
USER_DOMAIN = "UserDomain"


def new_hex_id() -> str:
    """A new resource id: 32 hex digits (UUID4 without dashes)."""
    return uuid.uuid4().hex


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(String(64), ForeignKey("domains.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The parent project, or the domain id for a top-level project (as keystone does).
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_users_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), ForeignKey("domains.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: bcrypt hash, or None for a user that cannot authenticate with a password.
    password_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: Extra attributes (description, email, ...) shown as top-level fields.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("name", "domain_id", name="uq_roles_name_domain"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), default=NULL_DOMAIN_ID)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImpliedRole(Base):
    """``prior_role_id`` implies ``implied_role_id`` (admin -> member -> reader)."""

    __tablename__ = "implied_roles"

    prior_role_id: Mapped[str] = mapped_column(String(64), ForeignKey("roles.id", ondelete="CASCADE"),
                                               primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(String(64), ForeignKey("roles.id", ondelete="CASCADE"),
                                                 primary_key=True)


class Assignment(Base):
    """A role a user holds on a project (``UserProject``) or a domain (``UserDomain``)."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_actor", "actor_id"), Index("ix_assignments_target", "target_id"))

    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_id: Mapped[str] = mapped_column(String(64), ForeignKey("roles.id"), primary_key=True)


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    type: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    service_id: Mapped[str] = mapped_column(String(64), ForeignKey("services.id"), index=True)
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(String(255), ForeignKey("regions.id"), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RevocationEvent(Base):
    """A revoked token (``audit_id``) or all of a user's tokens issued up to ``issued_before``.

    ``issued_before`` is in microseconds since the epoch, the unit of the
    token payload's issue time.
    """

    __tablename__ = "revocation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    issued_before: Mapped[int] = mapped_column(Integer)
    #: When the revoked token(s) stop mattering (microseconds); older events can be pruned.
    expires_at: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- groups and the assignment kinds built on them (kumo.identity.assignment, .groups) --------

#: Role assignment types beyond the two above. ``assignments.type`` names the actor and target
#: kinds as keystone does; an assignment inherited to the projects below its target (OS-INHERIT)
#: has the ``Inh`` suffix, so the existing primary key (type, actor, target, role) needs no new
#: column. System assignments have ``SYSTEM_TARGET`` as their target id.
GROUP_PROJECT = "GroupProject"
GROUP_DOMAIN = "GroupDomain"
USER_SYSTEM = "UserSystem"
GROUP_SYSTEM = "GroupSystem"
INHERITED_SUFFIX = "Inh"
SYSTEM_TARGET = "system"


def assignment_type(actor: str, target: str, inherited: bool = False) -> str:
    """The ``assignments.type`` of an ``actor`` (user, group) on a ``target`` (project, domain, system)."""
    kind = actor.capitalize() + target.capitalize()
    return kind + INHERITED_SUFFIX if inherited else kind


def parse_assignment_type(kind: str) -> tuple[str, str, bool]:
    """``(actor, target, inherited)`` of an ``assignments.type`` value (inverse of assignment_type)."""
    inherited = kind.endswith(INHERITED_SUFFIX)
    if inherited:
        kind = kind[: -len(INHERITED_SUFFIX)]
    actor = "group" if kind.startswith("Group") else "user"
    return actor, kind[len(actor):].lower(), inherited


class Group(Base):
    """A set of users that can hold role assignments; unique name within its domain."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_groups_domain_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[str] = mapped_column(String(64), ForeignKey("domains.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Extra attributes given at create/update, shown as top-level fields.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GroupMembership(Base):
    """``user_id`` is a member of ``group_id``."""

    __tablename__ = "group_memberships"
    __table_args__ = (Index("ix_group_memberships_group", "group_id"),)

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)


# --- authentication: application credentials, access rules, trusts, user options, password history ----------
# (kumo.identity.appcreds, kumo.identity.trusts, kumo.identity.security)

class ApplicationCredential(Base):
    """A user's secret for one project with a subset of the user's roles there.

    ``secret_hash`` is bcrypt; ``role_ids`` the delegated role ids; ``unrestricted`` lets
    its tokens create application credentials and trusts.
    """

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_application_credentials_user_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessRule(Base):
    """An API call (service type, method, path glob) an application credential may make."""

    __tablename__ = "access_rules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(16))


class AppCredAccessRule(Base):
    __tablename__ = "application_credential_access_rules"

    app_cred_id: Mapped[str] = mapped_column(String(64), ForeignKey("application_credentials.id",
                                                                    ondelete="CASCADE"), primary_key=True)
    access_rule_id: Mapped[str] = mapped_column(String(64), ForeignKey("access_rules.id"), primary_key=True,
                                                index=True)


class Trust(Base):
    """OS-TRUST: the trustor delegates ``role_ids`` on ``project_id`` to the trustee."""

    __tablename__ = "trusts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    trustor_user_id: Mapped[str] = mapped_column(String(64), index=True)
    trustee_user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    impersonation: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: Tokens that may still be issued with it (None: unlimited).
    remaining_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    allow_redelegation: Mapped[bool] = mapped_column(Boolean, default=False)
    redelegation_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redelegated_trust_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserOption(Base):
    """A user option (``lock_password``, ``multi_factor_auth_rules``...) and its JSON value."""

    __tablename__ = "user_options"

    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class PasswordHistory(Base):
    """Earlier password hashes of a user (``unique_last_password_count``), newest last."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    """Consecutive failed password authentications of a user (``lockout_failure_attempts``)."""

    __tablename__ = "login_failures"

    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- resources: credentials, policies, endpoint filters, domain config, limits, OAuth1 ---------
# (kumo/identity/credentials.py, policies.py, endpoint_filter.py, domain_config.py, limits.py)

class Credential(Base):
    """A credential of a user (``ec2``, ``totp``, ``cert``...); the blob is Fernet-encrypted."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type: Mapped[str] = mapped_column(String(255), index=True)
    encrypted_blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Policy(Base):
    """A legacy policy document (``/v3/policies``): an opaque blob and its MIME type."""

    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    type: Mapped[str] = mapped_column(String(255))
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicyAssociation(Base):
    """OS-ENDPOINT-POLICY: the policy of an endpoint, a service, or a service in a region."""

    __tablename__ = "policy_associations"
    __table_args__ = (UniqueConstraint("endpoint_id", "service_id", "region_id", name="uq_policy_associations_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    endpoint_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class EndpointGroup(Base):
    """OS-EP-FILTER: endpoints selected by ``filters`` (interface, service_id, region_id)."""

    __tablename__ = "endpoint_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectEndpointGroup(Base):
    __tablename__ = "project_endpoint_groups"

    endpoint_group_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("endpoint_groups.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class ProjectEndpoint(Base):
    __tablename__ = "project_endpoints"

    endpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DomainConfigOption(Base):
    """One option of a domain's identity driver configuration (``/v3/domains/{id}/config``)."""

    __tablename__ = "domain_config_options"

    domain_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group: Mapped[str] = mapped_column(String(255), primary_key=True)
    option: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class RegisteredLimit(Base):
    """The default limit of a resource of a service (in a region)."""

    __tablename__ = "registered_limits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    default_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Limit(Base):
    """A project's (or domain's) own limit of a registered resource."""

    __tablename__ = "limits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    domain_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_name: Mapped[str] = mapped_column(String(255))
    resource_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Consumer(Base):
    """An OAuth1 consumer (OS-OAUTH1); the secret is Fernet-encrypted like credential blobs."""

    __tablename__ = "oauth1_consumers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
