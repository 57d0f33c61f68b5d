"""Listing role assignments (Identity API v3: "List role assignments", ``GET /v3/role_assignments``).

:func:`list_assignments` returns :class:`Row` objects, each an assignment
as stored or, with ``effective``, as keystone expands them: a group's grant
becomes one row per member (``via_group``), an inherited grant on a domain
one row per project of the domain and an inherited grant on a project one
row per project below it, and every role implies its own rows
(``prior_role``); domain-specific roles are left out of effective rows.
``row.source`` is always the stored grant the row comes from (what the
``assignment`` link names).

Filters (all optional, combined with AND): ``user_id``, ``group_id``,
``role_id``, ``project_id`` (with ``include_subtree``: and every project
below it), ``domain_id``, ``system`` (the system scope), ``inherited``
(only OS-INHERIT grants, or rows that come from one). BadRequest (400) for
filters that cannot be combined: a project and a domain, the system and a
project or domain, a user and a group, ``effective`` with a group,
``include_subtree`` without a project.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from kumo.common.api.errors import BadRequest
from kumo.identity import models as m
from kumo.identity.assignment import A, USER_TYPES, AssignmentService, Grant, actor_clause
from kumo.identity.groups import GROUP_TYPES
from kumo.identity.implied import implied_by


@dataclass(frozen=True)
class Filters:
    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool = False
    effective: bool = False
    include_subtree: bool = False

    def check(self) -> None:
        """BadRequest (400) for combinations keystone refuses."""
        if self.project_id and self.domain_id:
            raise BadRequest("Specify a domain or project, not both")
        if self.system and (self.project_id or self.domain_id):
            raise BadRequest("Specify system or domain or project, not more than one")
        if self.user_id and self.group_id:
            raise BadRequest("Specify a user or group, not both")
        if self.effective and self.group_id:
            raise BadRequest("Combining effective and group filter will always result in an empty list.")
        if self.include_subtree and not self.project_id:
            raise BadRequest("scope.project.id needs to be specified if include_subtree is also specified")


@dataclass(frozen=True)
class Row:
    """One listed assignment: who (``actor_type``/``actor_id``) has ``role_id`` where.

    ``inherited`` is set only on a stored OS-INHERIT grant listed as it is
    (its scope says ``inherited_to: projects``); effective rows are concrete.
    """

    role_id: str
    actor_type: str
    actor_id: str
    target_type: str
    target_id: str
    inherited: bool
    source: Grant
    via_group: str | None = None
    prior_role: str | None = None


def _stored(g: Grant) -> Row:
    return Row(g.role_id, g.actor_type, g.actor_id, g.target_type, g.target_id, g.inherited, g)


async def list_assignments(svc: AssignmentService, f: Filters) -> list[Row]:
    """Assignments matching ``f`` (see the module docstring), sorted by target, actor and role."""
    f.check()
    rows = await (_effective(svc, f) if f.effective else _direct(svc, f))
    return sorted(rows, key=lambda r: (r.target_type, r.target_id, r.actor_type, r.actor_id, r.role_id,
                                       r.source.target_id, r.prior_role or ""))


async def _direct(svc: AssignmentService, f: Filters) -> list[Row]:
    q = select(A)
    if f.user_id:
        q = q.where(A.actor_id == f.user_id, A.type.in_(USER_TYPES))
    if f.group_id:
        q = q.where(A.actor_id == f.group_id, A.type.in_(GROUP_TYPES))
    if f.role_id:
        q = q.where(A.role_id == f.role_id)
    async with svc.db.session() as db:
        if f.project_id:
            targets = {f.project_id}
            if f.include_subtree:
                targets |= set(await svc.descendants(db, {f.project_id}))
            q = q.where(A.target_id.in_(targets), A.type.in_(_kinds("project")))
        if f.domain_id:
            q = q.where(A.target_id == f.domain_id, A.type.in_(_kinds("domain")))
        if f.system:
            q = q.where(A.target_id == m.SYSTEM_TARGET, A.type.in_(_kinds("system")))
        grants = [Grant.of(a) for a in (await db.scalars(q)).all()]
    return [_stored(g) for g in grants if g.inherited or not f.inherited]


def _kinds(target: str) -> list[str]:
    return [m.assignment_type(a, target, i) for a in ("user", "group") for i in (False, True)]


async def _effective(svc: AssignmentService, f: Filters) -> list[Row]:
    async with svc.db.session() as db:
        q = select(A) if not f.user_id else select(A).where(actor_clause(f.user_id))
        grants = [Grant.of(a) for a in (await db.scalars(q)).all()]
        members: dict[str, list[str]] = defaultdict(list)
        mq = select(m.GroupMembership.group_id, m.GroupMembership.user_id)
        if f.user_id:
            mq = mq.where(m.GroupMembership.user_id == f.user_id)
        for group_id, user_id in (await db.execute(mq)).all():
            members[group_id].append(user_id)
        projects = (await db.execute(select(m.Project.id, m.Project.domain_id, m.Project.parent_id))).all()
        rules = await svc.implied_map(db)
        role_domains = dict((await db.execute(select(m.Role.id, m.Role.domain_id))).all())
    in_domain: dict[str, list[str]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    for pid, domain_id, parent_id in projects:
        in_domain[domain_id].append(pid)
        if parent_id:
            children[parent_id].append(pid)
    wanted_projects = None
    if f.project_id:
        wanted_projects = {f.project_id} | (set(_below(f.project_id, children)) if f.include_subtree else set())
    out = []
    for g in grants:
        if f.inherited and not g.inherited:
            continue
        if g.actor_type == "user":
            actors = [(g.actor_id, None)]
        else:
            actors = [(uid, g.actor_id) for uid in members.get(g.actor_id, ())]
        if not g.inherited:
            targets = [(g.target_type, g.target_id)]
        elif g.target_type == "domain":
            targets = [("project", pid) for pid in in_domain.get(g.target_id, ())]
        else:
            targets = [("project", pid) for pid in _below(g.target_id, children)]
        targets = [t for t in targets if _scope_ok(f, t, wanted_projects)]
        roles = [(g.role_id, None)] + [(rid, g.role_id) for rid in implied_by(g.role_id, rules)]
        roles = [(rid, prior) for rid, prior in roles
                 if role_domains.get(rid) == m.NULL_DOMAIN_ID and (not f.role_id or rid == f.role_id)]
        for user_id, via in actors:
            for target_type, target_id in targets:
                for role_id, prior in roles:
                    out.append(Row(role_id, "user", user_id, target_type, target_id, False, g, via, prior))
    return out


def _scope_ok(f: Filters, target: tuple[str, str], wanted_projects: set[str] | None) -> bool:
    kind, ident = target
    if wanted_projects is not None:
        return kind == "project" and ident in wanted_projects
    if f.domain_id:
        return kind == "domain" and ident == f.domain_id
    if f.system:
        return kind == "system"
    return True


def _below(project_id: str, children: dict[str, list[str]]) -> list[str]:
    out, stack = [], list(children.get(project_id, ()))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, ()))
    return out
