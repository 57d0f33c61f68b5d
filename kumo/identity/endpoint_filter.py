"""Endpoint groups and project endpoint filters (Identity API v3 extension OS-EP-FILTER).

An endpoint group selects the endpoints matching all of its ``filters``
(``interface``, ``service_id``, ``region_id``). A project is associated with
endpoints directly or through endpoint groups; once it has any association,
its project-scoped tokens carry only those endpoints in their catalog
(:func:`allowed_endpoint_ids`), as keystone does with
``return_all_endpoints_if_no_filter``. Errors: NotFound (404) for unknown
groups, projects, endpoints or associations.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs


def _not_associated(project_id: str, target_id: str, kind: str = "endpoint group") -> NotFound:
    return NotFound(f"Could not find {kind} {target_id} associated with project {project_id}.")


def _matching(filters: dict):
    """A select of the endpoints that match an endpoint group's ``filters``."""
    q = select(m.Endpoint).order_by(m.Endpoint.service_id, m.Endpoint.interface, m.Endpoint.id)
    for key, value in filters.items():
        q = q.where(getattr(m.Endpoint, key) == value)
    return q


async def allowed_endpoint_ids(db: AsyncSession, project_id: str) -> set[str] | None:
    """The endpoints a project's catalog is limited to, or None when it has no association."""
    direct = set((await db.scalars(select(m.ProjectEndpoint.endpoint_id)
                                   .where(m.ProjectEndpoint.project_id == project_id))).all())
    groups = (await db.scalars(select(m.EndpointGroup).join(
        m.ProjectEndpointGroup, m.ProjectEndpointGroup.endpoint_group_id == m.EndpointGroup.id)
        .where(m.ProjectEndpointGroup.project_id == project_id))).all()
    if not direct and not groups:
        return None
    for g in groups:
        direct |= {e.id for e in (await db.scalars(_matching(g.filters or {}))).all()}
    return direct


async def forget_endpoints(db: AsyncSession, endpoint_ids: list[str]) -> None:
    """Drop the project associations of endpoints about to be deleted."""
    await db.execute(delete(m.ProjectEndpoint).where(m.ProjectEndpoint.endpoint_id.in_(endpoint_ids)))


class EndpointFilterService:
    def __init__(self, db: Database):
        self.db = db

    # --- endpoint groups -------------------------------------------------------------------

    async def list_groups(self, name: str | None = None) -> list[m.EndpointGroup]:
        return await crud.list_rows(self.db, m.EndpointGroup, {"name": name},
                                    order_by=(m.EndpointGroup.name, m.EndpointGroup.id))

    async def get_group(self, group_id: str) -> m.EndpointGroup:
        return await crud.fetch(self.db, m.EndpointGroup, group_id, "endpoint group")

    @staticmethod
    async def _group(db: AsyncSession, group_id: str) -> m.EndpointGroup:
        return await crud.get_or_404(db, m.EndpointGroup, group_id, "endpoint group")

    async def create_group(self, data: rs.EndpointGroupCreate) -> m.EndpointGroup:
        return await crud.add_row(self.db, m.EndpointGroup(name=data.name, description=data.description or "",
                                                           filters=data.filters.model_dump(exclude_none=True)))

    async def update_group(self, group_id: str, data: rs.EndpointGroupUpdate) -> m.EndpointGroup:
        fields = data.model_fields_set
        async with self.db.session() as db:
            g = await self._group(db, group_id)
            if "name" in fields and data.name is not None:
                g.name = data.name
            if "description" in fields:
                g.description = data.description or ""
            if "filters" in fields and data.filters is not None:
                g.filters = data.filters.model_dump(exclude_none=True)
        return g

    async def delete_group(self, group_id: str) -> None:
        async with self.db.session() as db:
            g = await self._group(db, group_id)
            await db.execute(delete(m.ProjectEndpointGroup)
                             .where(m.ProjectEndpointGroup.endpoint_group_id == g.id))
            await db.delete(g)

    async def group_endpoints(self, group_id: str) -> list[m.Endpoint]:
        """The endpoints an endpoint group's filters select."""
        async with self.db.session() as db:
            g = await self._group(db, group_id)
            return list((await db.scalars(_matching(g.filters or {}))).all())

    # --- endpoint groups <-> projects ------------------------------------------------------

    async def _project(self, db: AsyncSession, project_id: str) -> m.Project:
        return await crud.get_or_404(db, m.Project, project_id, "project")

    async def add_group_project(self, group_id: str, project_id: str) -> None:
        async with self.db.session() as db:
            await self._group(db, group_id)
            await self._project(db, project_id)
            if await db.get(m.ProjectEndpointGroup, (group_id, project_id)) is None:
                db.add(m.ProjectEndpointGroup(endpoint_group_id=group_id, project_id=project_id))

    async def group_project(self, group_id: str, project_id: str) -> m.Project:
        """The project, if it is associated with the endpoint group (404 otherwise)."""
        async with self.db.session() as db:
            await self._group(db, group_id)
            p = await self._project(db, project_id)
            if await db.get(m.ProjectEndpointGroup, (group_id, project_id)) is None:
                raise _not_associated(project_id, group_id)
            return p

    async def remove_group_project(self, group_id: str, project_id: str) -> None:
        async with self.db.session() as db:
            row = await db.get(m.ProjectEndpointGroup, (group_id, project_id))
            if row is None:
                await self._group(db, group_id)
                raise _not_associated(project_id, group_id)
            await db.delete(row)

    async def group_projects(self, group_id: str) -> list[m.Project]:
        async with self.db.session() as db:
            await self._group(db, group_id)
            q = select(m.Project).join(m.ProjectEndpointGroup, m.ProjectEndpointGroup.project_id == m.Project.id) \
                .where(m.ProjectEndpointGroup.endpoint_group_id == group_id).order_by(m.Project.name)
            return list((await db.scalars(q)).all())

    async def project_groups(self, project_id: str) -> list[m.EndpointGroup]:
        async with self.db.session() as db:
            await self._project(db, project_id)
            q = select(m.EndpointGroup).join(
                m.ProjectEndpointGroup, m.ProjectEndpointGroup.endpoint_group_id == m.EndpointGroup.id) \
                .where(m.ProjectEndpointGroup.project_id == project_id).order_by(m.EndpointGroup.name)
            return list((await db.scalars(q)).all())

    # --- projects <-> endpoints ------------------------------------------------------------

    async def add_project_endpoint(self, project_id: str, endpoint_id: str) -> None:
        async with self.db.session() as db:
            await self._project(db, project_id)
            await crud.get_or_404(db, m.Endpoint, endpoint_id, "endpoint")
            if await db.get(m.ProjectEndpoint, (endpoint_id, project_id)) is None:
                db.add(m.ProjectEndpoint(endpoint_id=endpoint_id, project_id=project_id))

    async def check_project_endpoint(self, project_id: str, endpoint_id: str) -> None:
        async with self.db.session() as db:
            await self._project(db, project_id)
            if await db.get(m.ProjectEndpoint, (endpoint_id, project_id)) is None:
                raise _not_associated(project_id, endpoint_id, "endpoint")

    async def remove_project_endpoint(self, project_id: str, endpoint_id: str) -> None:
        async with self.db.session() as db:
            row = await db.get(m.ProjectEndpoint, (endpoint_id, project_id))
            if row is None:
                raise _not_associated(project_id, endpoint_id, "endpoint")
            await db.delete(row)

    async def project_endpoints(self, project_id: str) -> list[m.Endpoint]:
        """The endpoints of a project: direct associations and those of its endpoint groups."""
        async with self.db.session() as db:
            await self._project(db, project_id)
            allowed = await allowed_endpoint_ids(db, project_id) or set()
            q = select(m.Endpoint).where(m.Endpoint.id.in_(allowed)).order_by(m.Endpoint.id)
            return list((await db.scalars(q)).all())

    async def endpoint_projects(self, endpoint_id: str) -> list[m.Project]:
        """The projects directly associated with an endpoint."""
        async with self.db.session() as db:
            await crud.get_or_404(db, m.Endpoint, endpoint_id, "endpoint")
            q = select(m.Project).join(m.ProjectEndpoint, m.ProjectEndpoint.project_id == m.Project.id) \
                .where(m.ProjectEndpoint.endpoint_id == endpoint_id).order_by(m.Project.name)
            return list((await db.scalars(q)).all())
