"""Roles and role assignments (Identity API v3: "Roles", "Role assignments").

A user holds roles on projects (``UserProject``) and domains
(``UserDomain``). The roles a token carries are the user's direct roles on
its scope plus the roles they imply (keystone-manage bootstrap makes
admin imply member and member imply reader). Errors: NotFound (404) for
unknown roles, users, projects, domains and assignments; Conflict (409) for
a duplicate role name in a domain (or among global roles).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.service import conflict, not_found


@dataclass
class Grant:
    """One role assignment: ``target_type`` is ``project`` or ``domain``."""

    role_id: str
    user_id: str
    target_type: str
    target_id: str


def _type(target_type: str) -> str:
    return m.USER_PROJECT if target_type == "project" else m.USER_DOMAIN


class AssignmentService:
    def __init__(self, db: Database):
        self.db = db

    # --- roles -----------------------------------------------------------------------------

    async def list_roles(self, *, name: str | None = None, domain_id: str | None = None) -> list[m.Role]:
        """Global roles (or the roles of ``domain_id``), optionally only those named ``name``."""
        q = select(m.Role).where(m.Role.domain_id == (domain_id or m.NULL_DOMAIN_ID)).order_by(m.Role.name)
        if name is not None:
            q = q.where(m.Role.name == name)
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_role(self, role_id: str) -> m.Role:
        async with self.db.session() as db:
            return await self._role(db, role_id)

    async def _role(self, db: AsyncSession, role_id: str) -> m.Role:
        r = await db.get(m.Role, role_id)
        if r is None:
            raise not_found("role", role_id)
        return r

    async def find_role(self, db: AsyncSession, name: str, domain_id: str | None = None) -> m.Role | None:
        q = select(m.Role).where(m.Role.name == name, m.Role.domain_id == (domain_id or m.NULL_DOMAIN_ID))
        return (await db.scalars(q)).first()

    async def create_role(self, data: s.RoleCreate) -> m.Role:
        try:
            async with self.db.session() as db:
                if data.domain_id and await db.get(m.Domain, data.domain_id) is None:
                    raise not_found("domain", data.domain_id)
                if await self.find_role(db, data.name, data.domain_id):
                    raise conflict("role", data.name, data.domain_id)
                r = m.Role(name=data.name, domain_id=data.domain_id or m.NULL_DOMAIN_ID,
                           description=data.description)
                db.add(r)
        except IntegrityError:
            raise conflict("role", data.name, data.domain_id) from None
        return r

    async def update_role(self, role_id: str, data: s.RoleUpdate) -> m.Role:
        fields = data.model_fields_set
        try:
            async with self.db.session() as db:
                r = await self._role(db, role_id)
                if "name" in fields and data.name and data.name != r.name:
                    domain = None if r.domain_id == m.NULL_DOMAIN_ID else r.domain_id
                    if await self.find_role(db, data.name, domain):
                        raise conflict("role", data.name, domain)
                    r.name = data.name
                if "description" in fields:
                    r.description = data.description
        except IntegrityError:
            raise conflict("role", data.name or "") from None
        return r

    async def delete_role(self, role_id: str) -> None:
        """Delete a role with its assignments and implications."""
        async with self.db.session() as db:
            r = await self._role(db, role_id)
            await db.execute(delete(m.Assignment).where(m.Assignment.role_id == r.id))
            await db.execute(delete(m.ImpliedRole).where(
                (m.ImpliedRole.prior_role_id == r.id) | (m.ImpliedRole.implied_role_id == r.id)))
            await db.delete(r)

    async def imply(self, prior_role_id: str, implied_role_id: str) -> None:
        """Record that ``prior_role_id`` implies ``implied_role_id`` (idempotent)."""
        async with self.db.session() as db:
            if await db.get(m.ImpliedRole, (prior_role_id, implied_role_id)) is None:
                db.add(m.ImpliedRole(prior_role_id=prior_role_id, implied_role_id=implied_role_id))

    # --- grants ----------------------------------------------------------------------------

    async def _check_parts(self, db: AsyncSession, g: Grant) -> None:
        target = m.Project if g.target_type == "project" else m.Domain
        if await db.get(target, g.target_id) is None:
            raise not_found(g.target_type, g.target_id)
        if await db.get(m.User, g.user_id) is None:
            raise not_found("user", g.user_id)
        await self._role(db, g.role_id)

    async def grant(self, g: Grant) -> None:
        """Give the role (idempotent); 404 if the target, user or role does not exist."""
        async with self.db.session() as db:
            await self._check_parts(db, g)
            key = (_type(g.target_type), g.user_id, g.target_id, g.role_id)
            if await db.get(m.Assignment, key) is None:
                db.add(m.Assignment(type=key[0], actor_id=g.user_id, target_id=g.target_id, role_id=g.role_id))

    async def check_grant(self, g: Grant) -> None:
        """Return if the assignment exists; NotFound otherwise."""
        async with self.db.session() as db:
            await self._check_parts(db, g)
            key = (_type(g.target_type), g.user_id, g.target_id, g.role_id)
            if await db.get(m.Assignment, key) is None:
                raise self._missing(g)

    async def revoke(self, g: Grant) -> None:
        async with self.db.session() as db:
            await self._check_parts(db, g)
            key = (_type(g.target_type), g.user_id, g.target_id, g.role_id)
            a = await db.get(m.Assignment, key)
            if a is None:
                raise self._missing(g)
            await db.delete(a)

    @staticmethod
    def _missing(g: Grant) -> NotFound:
        return NotFound(f"Could not find role assignment with role: {g.role_id}, user or group: "
                        f"{g.user_id}, project, domain, or system: {g.target_id}.")

    async def list_grants(self, *, user_id: str | None = None, project_id: str | None = None,
                          domain_id: str | None = None, role_id: str | None = None) -> list[Grant]:
        """Direct assignments matching every given filter (project and domain filters are exclusive)."""
        q = select(m.Assignment)
        if user_id is not None:
            q = q.where(m.Assignment.actor_id == user_id)
        if project_id is not None:
            q = q.where(m.Assignment.type == m.USER_PROJECT, m.Assignment.target_id == project_id)
        if domain_id is not None:
            q = q.where(m.Assignment.type == m.USER_DOMAIN, m.Assignment.target_id == domain_id)
        if role_id is not None:
            q = q.where(m.Assignment.role_id == role_id)
        q = q.order_by(m.Assignment.type, m.Assignment.target_id, m.Assignment.actor_id, m.Assignment.role_id)
        async with self.db.session() as db:
            rows = (await db.scalars(q)).all()
        return [Grant(a.role_id, a.actor_id, "project" if a.type == m.USER_PROJECT else "domain", a.target_id)
                for a in rows]

    async def roles_on(self, user_id: str, *, project_id: str | None = None,
                       domain_id: str | None = None, system: bool = False,
                       db: AsyncSession | None = None) -> list[m.Role]:
        """The user's roles on the project, domain or (``system=True``) the system, implied roles
        included, sorted by name."""
        if db is None:
            async with self.db.session() as session:
                return await self.roles_on(user_id, project_id=project_id, domain_id=domain_id,
                                           system=system, db=session)
        if system:
            kind, target = "UserSystem", "system"
        else:
            kind, target = (m.USER_PROJECT, project_id) if project_id else (m.USER_DOMAIN, domain_id)
        q = select(m.Assignment.role_id).where(m.Assignment.type == kind, m.Assignment.actor_id == user_id,
                                               m.Assignment.target_id == target)
        found = set((await db.scalars(q)).all())
        frontier = set(found)
        while frontier:
            q = select(m.ImpliedRole.implied_role_id).where(m.ImpliedRole.prior_role_id.in_(frontier))
            frontier = set((await db.scalars(q)).all()) - found
            found |= frontier
        if not found:
            return []
        roles = (await db.scalars(select(m.Role).where(m.Role.id.in_(found)))).all()
        return sorted(roles, key=lambda r: (r.name, r.id))

    async def names(self, ids: dict[str, set[str]]) -> dict[str, dict]:
        """Rows by id for ``{"role": {...}, "user": {...}, "project": {...}, "domain": {...}}`` ids."""
        models = {"role": m.Role, "user": m.User, "project": m.Project, "domain": m.Domain}
        out: dict[str, dict] = {}
        async with self.db.session() as db:
            for kind, wanted in ids.items():
                if wanted:
                    rows = (await db.scalars(select(models[kind]).where(models[kind].id.in_(wanted)))).all()
                    out[kind] = {r.id: r for r in rows}
                else:
                    out[kind] = {}
        return out

    async def project_ids_for_user(self, user_id: str) -> list[str]:
        q = select(m.Assignment.target_id).where(m.Assignment.type == m.USER_PROJECT,
                                                 m.Assignment.actor_id == user_id).distinct()
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def domain_ids_for_user(self, user_id: str) -> list[str]:
        q = select(m.Assignment.target_id).where(m.Assignment.type == m.USER_DOMAIN,
                                                 m.Assignment.actor_id == user_id).distinct()
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())
