"""Domains and projects (Identity API v3: "Domains", "Projects", "Project tags").

:class:`ResourceService` holds keystone's rules for the resource tree;
:class:`~kumo.identity.service.IdentityService` (users) builds on it.

- Names are unique among the domains and, per domain, among its projects.
- A top-level project's ``parent_id`` is its domain; a child's is its parent
  project, in the same domain. A tree is at most :data:`MAX_DEPTH` projects
  deep (keystone's ``max_project_tree_depth``).
- A project created with ``is_domain: true`` is a domain (keystone models
  domains as projects): it is stored as a domain and shown by both APIs, in
  the project form by :meth:`ResourceService.project_or_domain`.
- A project can be enabled only under an enabled parent and disabled only
  when its subtree is disabled; only a leaf can be deleted; a domain only
  once disabled (deleting it deletes everything in it).
- Tags: at most :data:`MAX_TAGS` per project, each 1-255 characters without
  ``/`` or ``,``.

Errors are :mod:`kumo.common.api.errors` exceptions with keystone's
messages: NotFound (404), Conflict (409) for duplicate names, BadRequest
(400) for invalid values, Forbidden (403) for what keystone refuses.
"""
from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.body import validate
from kumo.common.api.errors import BadRequest, Conflict, Forbidden
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity.crud import not_found
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import resource_schemas as rs

#: keystone's ``[DEFAULT] max_project_tree_depth``: projects in a branch, the top-level one included.
MAX_DEPTH = 5
#: Tags a project may carry.
MAX_TAGS = 80


def conflict(kind: str, name: str, domain_id: str | None = None) -> Conflict:
    where = f" at domain ID {domain_id}" if domain_id else ""
    return Conflict(f"Conflict occurred attempting to store {kind} - "
                    f"Duplicate entry found with name {name}{where}.")




def tag_filter(projects: list, *, all_of: list[str] | None = None, any_of: list[str] | None = None,
               not_all: list[str] | None = None, not_any: list[str] | None = None) -> list:
    """Projects kept by the ``tags`` / ``tags-any`` / ``not-tags`` / ``not-tags-any`` filters."""
    out = []
    for p in projects:
        have = set(p.tags or [])
        if all_of and not set(all_of) <= have:
            continue
        if any_of and not set(any_of) & have:
            continue
        if not_all and set(not_all) <= have:
            continue
        if not_any and set(not_any) & have:
            continue
        out.append(p)
    return out


class ResourceService:
    """Domains and projects stored in the identity database."""

    db: Database

    def __init__(self, db: Database):
        self.db = db

    # --- domains ---------------------------------------------------------------------------

    async def list_domains(self, *, name: str | None = None, enabled: bool | None = None) -> list[m.Domain]:
        return await crud.list_rows(self.db, m.Domain, {"name": name, "enabled": enabled},
                                    order_by=(m.Domain.name,))

    async def get_domain(self, domain_id: str) -> m.Domain:
        return await crud.fetch(self.db, m.Domain, domain_id, "domain")

    async def _domain(self, db: AsyncSession, domain_id: str) -> m.Domain:
        return await crud.get_or_404(db, m.Domain, domain_id, "domain")

    async def find_domain(self, db: AsyncSession, *, id: str | None = None, name: str | None = None) -> m.Domain | None:
        if id:
            return await db.get(m.Domain, id)
        return (await db.scalars(select(m.Domain).where(m.Domain.name == name))).first()

    async def create_domain(self, data: s.DomainCreate, domain_id: str | None = None) -> m.Domain:
        """Create a domain: 409 if the name is taken."""
        d = m.Domain(name=data.name, description=data.description or "", enabled=data.enabled,
                     tags=list(data.tags))
        if domain_id:
            d.id = domain_id
        try:
            async with self.db.session() as db:
                if await self.find_domain(db, name=data.name):
                    raise conflict("domain", data.name)
                db.add(d)
        except IntegrityError:
            raise conflict("domain", data.name) from None
        return d

    async def update_domain(self, domain_id: str, data: s.DomainUpdate | s.ProjectUpdate) -> m.Domain:
        """Change a domain's name, description, enabled flag or tags (409 for a taken name).

        Disabling a domain makes the tokens scoped to it, to its projects or
        of its users invalid: validation checks the domain every time.
        """
        fields = data.model_fields_set
        try:
            async with self.db.session() as db:
                d = await self._domain(db, domain_id)
                if "name" in fields and data.name and data.name != d.name:
                    if await self.find_domain(db, name=data.name):
                        raise conflict("domain", data.name)
                    d.name = data.name
                if "description" in fields:
                    d.description = data.description or ""
                if "enabled" in fields and data.enabled is not None:
                    d.enabled = data.enabled
                if "tags" in fields and data.tags is not None:
                    d.tags = list(data.tags)
        except IntegrityError:
            raise conflict("domain", data.name or "") from None
        return d

    async def delete_domain(self, domain_id: str) -> None:
        """Delete a disabled domain with everything in it (403 while it is enabled)."""
        async with self.db.session() as db:
            d = await self._domain(db, domain_id)
            if d.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")

            async def ids(column, where) -> list[str]:
                return list((await db.scalars(select(column).where(where))).all())

            projects = await ids(m.Project.id, m.Project.domain_id == d.id)
            users = await ids(m.User.id, m.User.domain_id == d.id)
            roles = await ids(m.Role.id, m.Role.domain_id == d.id)
            groups = await ids(m.Group.id, m.Group.domain_id == d.id)
            await db.execute(delete(m.Assignment).where(or_(
                m.Assignment.target_id.in_([d.id, *projects]), m.Assignment.actor_id.in_(users + groups),
                m.Assignment.role_id.in_(roles))))
            await db.execute(delete(m.GroupMembership).where(or_(m.GroupMembership.group_id.in_(groups),
                                                                 m.GroupMembership.user_id.in_(users))))
            await db.execute(delete(m.Credential).where(m.Credential.user_id.in_(users)))
            await self._forget_projects(db, projects)
            await db.execute(delete(m.Limit).where(m.Limit.domain_id == d.id))
            await db.execute(delete(m.DomainConfigOption).where(m.DomainConfigOption.domain_id == d.id))
            await db.execute(delete(m.Group).where(m.Group.id.in_(groups)))
            await db.execute(delete(m.Role).where(m.Role.id.in_(roles)))
            await db.execute(delete(m.Project).where(m.Project.domain_id == d.id))
            await db.execute(delete(m.User).where(m.User.domain_id == d.id))
            await db.delete(d)

    @staticmethod
    async def _forget_projects(db: AsyncSession, project_ids: list[str]) -> None:
        """Remove what refers to projects about to be deleted (endpoint filters, limits, credentials)."""
        await db.execute(delete(m.ProjectEndpoint).where(m.ProjectEndpoint.project_id.in_(project_ids)))
        await db.execute(delete(m.ProjectEndpointGroup).where(m.ProjectEndpointGroup.project_id.in_(project_ids)))
        await db.execute(delete(m.Limit).where(m.Limit.project_id.in_(project_ids)))
        await db.execute(delete(m.Credential).where(m.Credential.project_id.in_(project_ids)))

    # --- projects --------------------------------------------------------------------------

    async def list_projects(self, *, name: str | None = None, domain_id: str | None = None,
                            enabled: bool | None = None, parent_id: str | None = None,
                            ids: list[str] | None = None, tags: dict[str, list[str]] | None = None
                            ) -> list[m.Project]:
        """Projects sorted by name; ``tags`` maps ``all_of``/``any_of``/``not_all``/``not_any``
        to tag lists (see :func:`tag_filter`)."""
        q = crud.where_equal(select(m.Project).order_by(m.Project.name, m.Project.id), m.Project,
                             {"name": name, "domain_id": domain_id, "enabled": enabled, "parent_id": parent_id})
        if ids is not None:
            q = q.where(m.Project.id.in_(ids))
        async with self.db.session() as db:
            found = list((await db.scalars(q)).all())
        return tag_filter(found, **tags) if tags else found

    async def get_project(self, project_id: str) -> m.Project:
        return await crud.fetch(self.db, m.Project, project_id, "project")

    async def project_or_domain(self, project_id: str) -> m.Project | m.Domain:
        """The project ``project_id``, or the domain of that id (a project acting as a domain)."""
        async with self.db.session() as db:
            found = await db.get(m.Project, project_id) or await db.get(m.Domain, project_id)
        if found is None:
            raise not_found("project", project_id)
        return found

    async def _project(self, db: AsyncSession, project_id: str) -> m.Project:
        return await crud.get_or_404(db, m.Project, project_id, "project")

    async def find_project(self, db: AsyncSession, *, id: str | None = None, name: str | None = None,
                           domain_id: str | None = None) -> m.Project | None:
        if id:
            return await db.get(m.Project, id)
        q = select(m.Project).where(m.Project.name == name, m.Project.domain_id == domain_id)
        return (await db.scalars(q)).first()

    async def _ancestors(self, db: AsyncSession, p: m.Project) -> list[m.Project]:
        """``p``'s parent projects, nearest first (the domain is not among them)."""
        out: list[m.Project] = []
        current = p
        while current.parent_id and current.parent_id != current.domain_id:
            parent = await db.get(m.Project, current.parent_id)
            if parent is None or parent in out:
                break
            out.append(parent)
            current = parent
        return out

    async def _children(self, db: AsyncSession, parent_ids: list[str]) -> list[m.Project]:
        q = select(m.Project).where(m.Project.parent_id.in_(parent_ids)).order_by(m.Project.name)
        return list((await db.scalars(q)).all())

    async def create_project(self, data: s.ProjectCreate, default_domain_id: str,
                             project_id: str | None = None) -> m.Project | m.Domain:
        """Create a project, or a domain when ``data.is_domain`` (returns the domain row).

        Its domain is ``data.domain_id``, else its parent's, else
        ``default_domain_id``. 404 for an unknown domain or parent, 400 for a
        parent in another domain, 403 under a disabled parent or past
        :data:`MAX_DEPTH`, 409 for a duplicate name in the domain.
        """
        if data.is_domain:
            if data.parent_id or data.domain_id:
                raise BadRequest("A project acting as a domain cannot have a parent_id or a domain_id.")
            return await self.create_domain(s.DomainCreate(
                name=data.name, description=data.description, enabled=data.enabled, tags=data.tags),
                domain_id=project_id)
        try:
            async with self.db.session() as db:
                parent, domain_id = None, data.domain_id
                if data.parent_id:
                    parent = await db.get(m.Project, data.parent_id)
                    if parent is None and await db.get(m.Domain, data.parent_id) is None:
                        raise not_found("project", data.parent_id)
                    parent_domain = parent.domain_id if parent is not None else data.parent_id
                    if domain_id and domain_id != parent_domain:
                        raise BadRequest("Cannot create project, the parent is in a different domain.")
                    domain_id = parent_domain
                domain_id = domain_id or default_domain_id
                await self._domain(db, domain_id)
                if parent is not None:
                    if not parent.enabled and data.enabled:
                        raise Forbidden(f"Cannot enable project {data.name} since it has disabled "
                                        f"parents: {parent.id}.")
                    if len(await self._ancestors(db, parent)) + 2 > MAX_DEPTH:
                        raise Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")
                if await self.find_project(db, name=data.name, domain_id=domain_id):
                    raise conflict("project", data.name, domain_id)
                p = m.Project(name=data.name, domain_id=domain_id, description=data.description or "",
                              enabled=data.enabled, parent_id=parent.id if parent else domain_id,
                              tags=list(data.tags), extra=data.extras())
                if project_id:
                    p.id = project_id
                db.add(p)
        except IntegrityError:
            raise conflict("project", data.name, domain_id) from None
        return p

    async def update_project(self, project_id: str, data: s.ProjectUpdate) -> m.Project | m.Domain:
        """Change a project (or a project acting as a domain).

        400 for a new domain, parent or ``is_domain``; 403 to enable it under
        a disabled parent or disable it above enabled children; 409 for a
        taken name.
        """
        fields = data.model_fields_set
        if "is_domain" in fields and data.is_domain is not None:
            current = await self.project_or_domain(project_id)
            if data.is_domain != isinstance(current, m.Domain):
                raise BadRequest("Cannot change is_domain attribute of a project.")
        async with self.db.session() as db:
            if await db.get(m.Project, project_id) is None and await db.get(m.Domain, project_id):
                return await self.update_domain(project_id, data)
        try:
            async with self.db.session() as db:
                p = await self._project(db, project_id)
                if "domain_id" in fields and data.domain_id != p.domain_id:
                    raise BadRequest("Cannot change Domain ID of a project.")
                if "parent_id" in fields and data.parent_id != p.parent_id:
                    raise BadRequest("Cannot change the parent of a project.")
                if "name" in fields and data.name and data.name != p.name:
                    if await self.find_project(db, name=data.name, domain_id=p.domain_id):
                        raise conflict("project", data.name, p.domain_id)
                    p.name = data.name
                if "description" in fields:
                    p.description = data.description or ""
                if "enabled" in fields and data.enabled is not None and data.enabled != p.enabled:
                    await self._check_enable(db, p, data.enabled)
                    p.enabled = data.enabled
                if "tags" in fields and data.tags is not None:
                    p.tags = list(data.tags)
                crud.merge_extras(p, data)
        except IntegrityError:
            raise conflict("project", data.name or "", None) from None
        return p

    async def _check_enable(self, db: AsyncSession, p: m.Project, enabled: bool) -> None:
        if enabled:
            disabled = [a.id for a in await self._ancestors(db, p) if not a.enabled]
            if disabled:
                raise Forbidden(f"Cannot enable project {p.id} since it has disabled parents: "
                                f"{', '.join(disabled)}.")
        elif any(c.enabled for c in await self._children(db, [p.id])):
            raise Forbidden(f"Cannot disable project {p.id} since its subtree contains enabled projects.")

    async def delete_project(self, project_id: str) -> None:
        """Delete a leaf project and what refers to it (403 if it has children); a project
        acting as a domain is deleted as a domain."""
        async with self.db.session() as db:
            if await db.get(m.Project, project_id) is None and await db.get(m.Domain, project_id):
                return await self.delete_domain(project_id)
        async with self.db.session() as db:
            p = await self._project(db, project_id)
            if await self._children(db, [p.id]):
                raise Forbidden(f"Cannot delete the project {p.id} since it is not a leaf in the hierarchy.")
            await db.execute(delete(m.Assignment).where(m.Assignment.target_id == p.id))
            await self._forget_projects(db, [p.id])
            await db.delete(p)

    async def hierarchy(self, project_id: str, *, parents: bool, subtree: bool
                        ) -> tuple[list[m.Project], list[tuple[m.Project, str]]]:
        """``(ancestors nearest first, [(descendant, its parent id)] breadth first)``."""
        async with self.db.session() as db:
            p = await self._project(db, project_id)
            ancestors = await self._ancestors(db, p) if parents else []
            below: list[tuple[m.Project, str]] = []
            level = [p.id] if subtree else []
            while level:
                children = await self._children(db, level)
                below += [(c, c.parent_id) for c in children]
                level = [c.id for c in children]
        return ancestors, below

    # --- project tags (Identity API v3: "Project tags") ------------------------------------

    async def set_tags(self, project_id: str, tags: list[str]) -> list[str]:
        """Replace a project's tags (already validated: at most 80, unique)."""
        async with self.db.session() as db:
            p = await self._project(db, project_id)
            p.tags = list(tags)
        return list(tags)

    async def add_tag(self, project_id: str, tag: str) -> None:
        """Add one tag (idempotent); 400 for an invalid tag or an 81st tag."""
        validate(rs.ProjectTag, {"tag": tag})
        async with self.db.session() as db:
            p = await self._project(db, project_id)
            tags = list(p.tags or [])
            if tag not in tags:
                if len(tags) >= MAX_TAGS:
                    raise BadRequest(f"The number of tags is over the limit of {MAX_TAGS}.")
                p.tags = tags + [tag]

    async def check_tag(self, project_id: str, tag: str) -> None:
        """Nothing if the project has ``tag``; 404 if it does not."""
        p = await self.get_project(project_id)
        if tag not in (p.tags or []):
            raise not_found("tag", tag)

    async def remove_tag(self, project_id: str, tag: str) -> None:
        """Remove one tag: 404 if the project does not have it."""
        async with self.db.session() as db:
            p = await self._project(db, project_id)
            tags = list(p.tags or [])
            if tag not in tags:
                raise not_found("tag", tag)
            p.tags = [t for t in tags if t != tag]
