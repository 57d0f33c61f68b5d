"""Roles, grants and effective roles (Identity API v3: "Roles", "System Role Assignments", OS-INHERIT).

A user or a group holds roles on a project, a domain or the system (one
``assignments`` row each; see :func:`kumo.identity.models.assignment_type`).
A grant on a domain or project can instead be *inherited*: it then applies
to every project of the domain, or to every project below the project
(the ``parent_id`` tree), but not to the target itself. A user's roles on
a target (:meth:`AssignmentService.roles_on`, what tokens carry) are its
own grants, those of its groups, the inherited ones from above, and every
role these imply; domain-specific roles only count through the global
roles they imply (as keystone strips them).

Errors: NotFound (404) for unknown roles, users, groups, projects, domains
and assignments; Conflict (409) for a duplicate role name in a domain (or
among global roles); Forbidden (403) for a domain-specific role granted
outside its domain; BadRequest (400) for a domain-specific role on the
system.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Forbidden, NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.groups import GROUP_TYPES, GroupService
from kumo.identity.implied import ImpliedRoles
from kumo.identity.service import conflict, not_found

A = m.Assignment
USER_TYPES = tuple(m.assignment_type("user", t, i) for t in ("project", "domain", "system") for i in (False, True))


def types(target: str, inherited: bool = False) -> tuple[str, str]:
    """The user and group assignment types on ``target``."""
    return m.assignment_type("user", target, inherited), m.assignment_type("group", target, inherited)


@dataclass(frozen=True)
class Grant:
    """One role assignment.

    ``actor_type`` is ``user`` or ``group``; ``target_type`` is ``project``,
    ``domain`` or ``system`` (``target_id`` then ``system``); ``inherited``
    marks an OS-INHERIT grant (projects and domains only).
    """

    role_id: str
    actor_type: str
    actor_id: str
    target_type: str
    target_id: str
    inherited: bool = False

    @property
    def type(self) -> str:
        return m.assignment_type(self.actor_type, self.target_type, self.inherited)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.type, self.actor_id, self.target_id, self.role_id

    @classmethod
    def of(cls, row: m.Assignment) -> Grant:
        actor, target, inherited = m.parse_assignment_type(row.type)
        return cls(row.role_id, actor, row.actor_id, target, row.target_id, inherited)


def actor_clause(user_id: str):
    """SQL condition: an assignment held by the user itself or by one of its groups."""
    groups = select(m.GroupMembership.group_id).where(m.GroupMembership.user_id == user_id)
    return or_(and_(A.actor_id == user_id, A.type.in_(USER_TYPES)),
               and_(A.actor_id.in_(groups), A.type.in_(GROUP_TYPES)))


class AssignmentService(ImpliedRoles):
    """Roles, implied roles (:class:`ImpliedRoles`), grants and effective roles; ``groups`` for groups."""

    def __init__(self, db: Database):
        self.db = db
        self.groups = GroupService(db)

    # --- roles -----------------------------------------------------------------------------

    async def list_roles(self, *, name: str | None = None, domain_id: str | None = None) -> list[m.Role]:
        """Global roles (or the roles of ``domain_id``), optionally only those named ``name``."""
        q = select(m.Role).where(m.Role.domain_id == (domain_id or m.NULL_DOMAIN_ID)).order_by(m.Role.name)
        q = crud.where_equal(q, m.Role, {"name": name})
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_role(self, role_id: str) -> m.Role:
        async with self.db.session() as db:
            return await self._role(db, role_id)

    async def find_role(self, db: AsyncSession, name: str, domain_id: str | None = None) -> m.Role | None:
        q = select(m.Role).where(m.Role.name == name, m.Role.domain_id == (domain_id or m.NULL_DOMAIN_ID))
        return (await db.scalars(q)).first()

    async def create_role(self, data: s.RoleCreate) -> m.Role:
        try:
            async with self.db.session() as db:
                if data.domain_id:
                    await crud.get_or_404(db, m.Domain, data.domain_id, "domain")
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
            await db.execute(delete(A).where(A.role_id == r.id))
            await db.execute(delete(m.ImpliedRole).where(
                (m.ImpliedRole.prior_role_id == r.id) | (m.ImpliedRole.implied_role_id == r.id)))
            await db.delete(r)

    # --- grants ----------------------------------------------------------------------------

    async def _check_parts(self, db: AsyncSession, g: Grant, *, with_role: bool = True) -> None:
        """404 unless target, actor (and role) exist; 403/400 for a domain role out of its domain."""
        target_domain = None
        if g.target_type == "system":
            if g.target_id != m.SYSTEM_TARGET:
                raise not_found("system", g.target_id)
        elif g.target_type == "project":
            project = await crud.get_or_404(db, m.Project, g.target_id, "project")
            target_domain = project.domain_id
        else:
            await crud.get_or_404(db, m.Domain, g.target_id, "domain")
            target_domain = g.target_id
        actor = m.User if g.actor_type == "user" else m.Group
        await crud.get_or_404(db, actor, g.actor_id, g.actor_type)
        if not with_role:
            return
        role = await self._role(db, g.role_id)
        if role.domain_id != m.NULL_DOMAIN_ID:
            if target_domain is None:
                raise BadRequest(f"Role {role.id} is a domain-specific role. Unable to use a "
                                 "domain-specific role in a system assignment.")
            if target_domain != role.domain_id:
                raise Forbidden(f"The {g.target_type} {g.target_id} must be in the same domain as the "
                                f"role {role.id} being assigned.")

    async def grant(self, g: Grant) -> None:
        """Give the role (idempotent); 404 if the target, actor or role does not exist."""
        async with self.db.session() as db:
            await self._check_parts(db, g)
            if await db.get(A, g.key) is None:
                db.add(A(type=g.type, actor_id=g.actor_id, target_id=g.target_id, role_id=g.role_id))

    async def check_grant(self, g: Grant) -> None:
        """Return if the assignment exists; NotFound otherwise."""
        async with self.db.session() as db:
            await self._check_parts(db, g)
            if await db.get(A, g.key) is None:
                raise self._missing(g)

    async def revoke(self, g: Grant) -> None:
        """Remove the assignment (404 if missing); tokens relying on it lose the role at once."""
        async with self.db.session() as db:
            await self._check_parts(db, g)
            a = await db.get(A, g.key)
            if a is None:
                raise self._missing(g)
            await db.delete(a)

    @staticmethod
    def _missing(g: Grant) -> NotFound:
        return NotFound(f"Could not find role assignment with role: {g.role_id}, user or group: "
                        f"{g.actor_id}, project, domain, or system: {g.target_id}.")

    async def granted_roles(self, g: Grant) -> list[m.Role]:
        """The roles directly granted to ``g``'s actor on ``g``'s target (``g.role_id`` is ignored).

        404 if the actor or target does not exist. Sorted by name.
        """
        async with self.db.session() as db:
            await self._check_parts(db, g, with_role=False)
            ids = select(A.role_id).where(A.type == g.type, A.actor_id == g.actor_id, A.target_id == g.target_id)
            rows = await db.scalars(select(m.Role).where(m.Role.id.in_(ids)).order_by(m.Role.name, m.Role.id))
            return list(rows.all())

    # --- effective roles (tokens) ------------------------------------------------------------

    async def roles_on(self, user_id: str, *, project_id: str | None = None, domain_id: str | None = None,
                       system: bool = False, db: AsyncSession | None = None) -> list[m.Role]:
        """The user's effective global roles on the project, the domain or (``system``) the system.

        Direct, group and inherited grants plus implied roles, sorted by name; one SQL
        statement. ``[]`` when the user has none (or the target does not exist).
        """
        if db is None:
            async with self.db.session() as session:
                return await self.roles_on(user_id, project_id=project_id, domain_id=domain_id, system=system,
                                           db=session)
        if project_id:
            above = select(m.Project.id, m.Project.parent_id).where(m.Project.id == project_id)
            above = above.cte("above", recursive=True)
            above = above.union_all(select(m.Project.id, m.Project.parent_id)
                                    .join(above, m.Project.id == above.c.parent_id))
            domain = select(m.Project.domain_id).where(m.Project.id == project_id).scalar_subquery()
            target = or_(and_(A.target_id == project_id, A.type.in_(types("project"))),
                         and_(A.target_id.in_(select(above.c.id).where(above.c.id != project_id)),
                              A.type.in_(types("project", True))),
                         and_(A.target_id == domain, A.type.in_(types("domain", True))))
        elif domain_id:
            target = and_(A.target_id == domain_id, A.type.in_(types("domain")))
        elif system:
            target = and_(A.target_id == m.SYSTEM_TARGET, A.type.in_(types("system")))
        else:
            return []
        seed = select(A.role_id).where(actor_clause(user_id), target)
        return await self.global_closure(db, seed)

    async def has_system_roles(self, user_id: str) -> bool:
        """Whether the user (directly or through a group) has any role on the system."""
        q = select(A.role_id).where(actor_clause(user_id), A.target_id == m.SYSTEM_TARGET,
                                    A.type.in_(types("system"))).limit(1)
        async with self.db.session() as db:
            return (await db.scalars(q)).first() is not None

    async def project_ids_for_user(self, user_id: str) -> list[str]:
        """Projects where the user has an effective role: its and its groups' grants on them,
        inherited grants on their domain or on a project above them."""
        q = select(A.type, A.target_id, A.role_id).where(
            actor_clause(user_id), A.type.in_(types("project") + types("project", True) + types("domain", True)))
        async with self.db.session() as db:
            rows = (await db.execute(q)).all()
            useful = await self.useful_roles(db, {r.role_id for r in rows})
            direct, below, domains = set(), set(), set()
            for kind, target, role in rows:
                if role not in useful:
                    continue
                _, target_type, inherited = m.parse_assignment_type(kind)
                (domains if target_type == "domain" else below if inherited else direct).add(target)
            found = set(direct)
            if domains:
                found |= set((await db.scalars(select(m.Project.id).where(m.Project.domain_id.in_(domains)))).all())
            if below:
                found |= set(await self.descendants(db, below))
        return sorted(found)

    async def domain_ids_for_user(self, user_id: str) -> list[str]:
        """Domains where the user or one of its groups has a (non-inherited) role."""
        q = select(A.target_id).where(actor_clause(user_id), A.type.in_(types("domain"))).distinct()
        async with self.db.session() as db:
            return sorted((await db.scalars(q)).all())

    @staticmethod
    async def descendants(db: AsyncSession, roots: set[str]) -> list[str]:
        """Ids of every project below the ``roots`` projects (not the roots themselves)."""
        tree = select(m.Project.id).where(m.Project.parent_id.in_(roots)).cte("tree", recursive=True)
        tree = tree.union_all(select(m.Project.id).join(tree, m.Project.parent_id == tree.c.id))
        return list((await db.scalars(select(tree.c.id))).all())

    async def names(self, ids: dict[str, set[str]]) -> dict[str, dict]:
        """Rows by id for ``{"role"|"user"|"group"|"project"|"domain": {ids}}``."""
        models = {"role": m.Role, "user": m.User, "group": m.Group, "project": m.Project, "domain": m.Domain}
        out: dict[str, dict] = {}
        async with self.db.session() as db:
            for kind, wanted in ids.items():
                out[kind] = {}
                if wanted:
                    rows = (await db.scalars(select(models[kind]).where(models[kind].id.in_(wanted)))).all()
                    out[kind] = {r.id: r for r in rows}
        return out

