"""Application credentials and access rules (Identity API v3: "Application credentials").

An application credential lets a program authenticate as its user, for one
project, with a subset of the roles the user had there when it was created.
The secret is returned once, at creation, and stored as a bcrypt hash.
Access rules (``service``, ``method``, ``path`` glob) belong to the user and
are shared by the credentials that name them; a rule in use cannot be
deleted.

Errors: NotFound (404) for unknown users, credentials, rules and for a role
the user does not hold on the project; Conflict (409) for a duplicate name;
BadRequest (400) for invalid values; Forbidden (403) for a restricted
application credential creating another, or deleting a rule in use;
Unauthorized (401) for a failed authentication.
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from kumo.common.db import Database, utcnow
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.assignment import AssignmentService
from kumo.identity.passwords import check_password, hash_password
from kumo.identity.service import IdentityService, conflict, not_found
from kumo.identity.tokens import parse_isotime

UNAUTHORIZED = "The request you have made requires authentication."


@dataclass
class Creator:
    """What the creating token allows: its user, project, role ids and application credential."""

    user_id: str
    project_id: str | None
    role_ids: list[str]
    app_cred_id: str | None = None
    trust_id: str | None = None


@dataclass
class AppCred:
    """An application credential with its roles and access rules (rows), and the secret on create."""

    row: m.ApplicationCredential
    roles: list[m.Role]
    rules: list[m.AccessRule] = field(default_factory=list)
    secret: str | None = None


def parse_expiry(value: str | None):
    """``expires_at`` of a request body as naive UTC, or None; BadRequest if it is no time."""
    if value is None:
        return None
    try:
        return parse_isotime(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field 'expires_at': {value!r} is not a valid time.") from None


async def ensure_unrestricted(db: AsyncSession, app_cred_id: str | None, what: str) -> None:
    """Forbidden unless the token was not issued with a restricted application credential."""
    if app_cred_id is None:
        return
    row = await db.get(m.ApplicationCredential, app_cred_id)
    if row is None or not row.unrestricted:
        raise Forbidden(f"Using method 'application_credential' is not allowed for managing {what}.")


class AppCredService:
    def __init__(self, db: Database, identity: IdentityService, assignments: AssignmentService):
        self.db = db
        self.identity = identity
        self.assignments = assignments

    # --- application credentials -----------------------------------------------------------

    async def create(self, user_id: str, data: s.AppCredCreate, creator: Creator) -> AppCred:
        """Create one for ``user_id`` with the creating token's project (400 without one)."""
        if creator.trust_id:
            raise Forbidden("Cannot create an application credential with a trust-scoped token.")
        if not creator.project_id:
            raise BadRequest("Application credentials must be created with a project-scoped token.")
        expires = parse_expiry(data.expires_at)
        secret = data.secret or secrets.token_urlsafe(64)
        hashed = await asyncio.to_thread(hash_password, secret)
        try:
            async with self.db.session() as db:
                await ensure_unrestricted(db, creator.app_cred_id, "application credentials")
                await self._user(db, user_id)
                held = {r.id: r for r in await self.assignments.roles_on(
                    user_id, project_id=creator.project_id, db=db)}
                roles = await self._roles(db, data.roles, held, user_id, creator)
                if (await db.scalars(select(m.ApplicationCredential.id).where(
                        m.ApplicationCredential.user_id == user_id,
                        m.ApplicationCredential.name == data.name))).first():
                    raise conflict("application_credential", data.name)
                row = m.ApplicationCredential(
                    name=data.name, user_id=user_id, project_id=creator.project_id, secret_hash=hashed,
                    description=data.description, expires_at=expires, unrestricted=data.unrestricted,
                    role_ids=[r.id for r in roles], created_at=utcnow())
                db.add(row)
                await db.flush()
                rules = await self._attach_rules(db, row, user_id, data.access_rules or [])
        except IntegrityError:
            raise conflict("application_credential", data.name) from None
        return AppCred(row, roles, rules, secret)

    async def _roles(self, db: AsyncSession, wanted: list[s.RoleRef] | None, held: dict[str, m.Role],
                     user_id: str, creator: Creator) -> list[m.Role]:
        if not wanted:
            if not creator.role_ids:
                return sorted(held.values(), key=lambda r: r.name)
            return sorted((held[i] for i in creator.role_ids if i in held), key=lambda r: r.name)
        out: dict[str, m.Role] = {}
        for ref in wanted:
            role = None
            if ref.id:
                role = held.get(ref.id)
            else:
                role = next((r for r in held.values() if r.name == ref.name
                             and (ref.domain_id is None or r.domain_id == ref.domain_id)), None)
            if role is None or (creator.role_ids and role.id not in creator.role_ids):
                raise NotFound(f"Could not find role assignment with role: {ref.id or ref.name}, user or "
                               f"group: {user_id}, project, domain, or system: {creator.project_id}.")
            out[role.id] = role
        return sorted(out.values(), key=lambda r: r.name)

    async def _attach_rules(self, db: AsyncSession, row: m.ApplicationCredential, user_id: str,
                            refs: list[s.AccessRuleRef]) -> list[m.AccessRule]:
        rules: dict[str, m.AccessRule] = {}
        for ref in refs:
            if ref.id:
                rule = await db.get(m.AccessRule, ref.id)
                if rule is None or rule.user_id != user_id:
                    raise not_found("access_rule", ref.id)
            else:
                rule = (await db.scalars(select(m.AccessRule).where(
                    m.AccessRule.user_id == user_id, m.AccessRule.service == ref.service,
                    m.AccessRule.method == ref.method, m.AccessRule.path == ref.path))).first()
                if rule is None:
                    rule = m.AccessRule(user_id=user_id, service=ref.service, method=ref.method, path=ref.path)
                    db.add(rule)
                    await db.flush()
            rules[rule.id] = rule
        for rule in rules.values():
            db.add(m.AppCredAccessRule(app_cred_id=row.id, access_rule_id=rule.id))
        return list(rules.values())

    async def list(self, user_id: str, *, name: str | None = None) -> list[AppCred]:
        async with self.db.session() as db:
            await self._user(db, user_id)
            q = select(m.ApplicationCredential).where(m.ApplicationCredential.user_id == user_id)
            if name is not None:
                q = q.where(m.ApplicationCredential.name == name)
            rows = list((await db.scalars(q.order_by(m.ApplicationCredential.name))).all())
            return await self._expand(db, rows)

    async def get(self, user_id: str, app_cred_id: str) -> AppCred:
        async with self.db.session() as db:
            row = await db.get(m.ApplicationCredential, app_cred_id)
            if row is None or row.user_id != user_id:
                raise not_found("application credential", app_cred_id)
            return (await self._expand(db, [row]))[0]

    async def delete(self, user_id: str, app_cred_id: str) -> None:
        """Delete it; its tokens stop validating (they name it)."""
        async with self.db.session() as db:
            row = await db.get(m.ApplicationCredential, app_cred_id)
            if row is None or row.user_id != user_id:
                raise not_found("application credential", app_cred_id)
            await db.execute(delete(m.AppCredAccessRule).where(m.AppCredAccessRule.app_cred_id == row.id))
            await db.delete(row)

    async def _expand(self, db: AsyncSession, rows: list[m.ApplicationCredential]) -> list[AppCred]:
        role_ids = {i for r in rows for i in r.role_ids or []}
        roles = {r.id: r for r in (await db.scalars(select(m.Role).where(m.Role.id.in_(role_ids)))).all()} \
            if role_ids else {}
        links = (await db.execute(select(m.AppCredAccessRule.app_cred_id, m.AccessRule).join(
            m.AccessRule, m.AccessRule.id == m.AppCredAccessRule.access_rule_id).where(
            m.AppCredAccessRule.app_cred_id.in_([r.id for r in rows])))).all() if rows else []
        by_cred: dict[str, list[m.AccessRule]] = {}
        for cred_id, rule in links:
            by_cred.setdefault(cred_id, []).append(rule)
        return [AppCred(r, [roles[i] for i in r.role_ids or [] if i in roles], by_cred.get(r.id, []))
                for r in rows]

    async def rules_of(self, app_cred_id: str) -> list[m.AccessRule]:
        """The access rules of one application credential."""
        async with self.db.session() as db:
            q = select(m.AccessRule).join(m.AppCredAccessRule, m.AppCredAccessRule.access_rule_id == m.AccessRule.id) \
                .where(m.AppCredAccessRule.app_cred_id == app_cred_id).order_by(m.AccessRule.id)
            return list((await db.scalars(q)).all())

    async def _user(self, db: AsyncSession, user_id: str) -> m.User:
        return await crud.get_or_404(db, m.User, user_id, "user")

    # --- access rules ----------------------------------------------------------------------

    async def list_rules(self, user_id: str) -> list[m.AccessRule]:
        async with self.db.session() as db:
            await self._user(db, user_id)
            q = select(m.AccessRule).where(m.AccessRule.user_id == user_id).order_by(m.AccessRule.id)
            return list((await db.scalars(q)).all())

    async def get_rule(self, user_id: str, rule_id: str) -> m.AccessRule:
        async with self.db.session() as db:
            rule = await db.get(m.AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise not_found("access_rule", rule_id)
            return rule

    async def delete_rule(self, user_id: str, rule_id: str) -> None:
        """Delete an access rule no application credential uses (403 while one does)."""
        async with self.db.session() as db:
            rule = await db.get(m.AccessRule, rule_id)
            if rule is None or rule.user_id != user_id:
                raise not_found("access_rule", rule_id)
            used = (await db.scalars(select(m.AppCredAccessRule.app_cred_id).where(
                m.AppCredAccessRule.access_rule_id == rule_id).limit(1))).first()
            if used:
                raise Forbidden(f"Cannot delete access rule {rule_id}: it is used by an application credential.")
            await db.delete(rule)

    # --- authentication --------------------------------------------------------------------

    async def authenticate(self, ref: s.AppCredMethod) -> m.ApplicationCredential:
        """The unexpired credential ``ref`` names whose secret matches; Unauthorized otherwise."""
        async with self.db.session() as db:
            row = None
            if ref.id:
                row = await db.get(m.ApplicationCredential, ref.id)
            else:
                user = None
                if ref.user.id:
                    user = await db.get(m.User, ref.user.id)
                else:
                    dom = await self.identity.find_domain(db, id=ref.user.domain.id, name=ref.user.domain.name)
                    user = await self.identity.find_user(db, name=ref.user.name, domain_id=dom.id) \
                        if dom else None
                if user is not None:
                    row = (await db.scalars(select(m.ApplicationCredential).where(
                        m.ApplicationCredential.user_id == user.id,
                        m.ApplicationCredential.name == ref.name))).first()
        if row is None or not await asyncio.to_thread(check_password, ref.secret, row.secret_hash):
            raise Unauthorized(UNAUTHORIZED)
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise Unauthorized("The application credential has expired.")
        return row
