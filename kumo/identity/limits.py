"""Unified limits (Identity API v3: "Unified Limits").

A registered limit is a service's default for a resource (in a region); a
limit overrides it for one project or domain and can only exist for a
registered ``(service_id, region_id, resource_name)``. The enforcement model
is ``flat`` (:data:`MODEL`): the project hierarchy is not considered.
Values are integers, -1 meaning unlimited.

Errors: NotFound (404) for unknown ids; BadRequest (400) for a body naming
an unknown service, region, project or domain; Forbidden (403) for a limit
without a registered limit, or for changing or deleting a registered limit
that limits refer to; Conflict (409) for a second registered limit (or
limit of the same project/domain) for the same resource.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, Forbidden
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs

MODEL = {"name": "flat",
         "description": "Limit enforcement and validation does not take project hierarchy into consideration."}


def _duplicate(kind: str, resource_name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store {kind} - "
                    f"Duplicate entry found with resource_name {resource_name}.")


async def _check_refs(db: AsyncSession, service_id: str, region_id: str | None) -> None:
    if await db.get(m.Service, service_id) is None:
        raise BadRequest(f"Invalid service_id: service {service_id} not found.")
    if region_id is not None and await db.get(m.Region, region_id) is None:
        raise BadRequest(f"Invalid region_id: region {region_id} not found.")


def _same_resource(model, service_id: str, region_id: str | None, resource_name: str):
    """Rows of ``model`` for one resource (``region_id`` None matches only None)."""
    region = model.region_id.is_(None) if region_id is None else model.region_id == region_id
    return select(model).where(model.service_id == service_id, region, model.resource_name == resource_name)


class LimitService:
    def __init__(self, db: Database):
        self.db = db

    # --- registered limits -----------------------------------------------------------------

    async def list_registered(self, *, service_id: str | None = None, region_id: str | None = None,
                              resource_name: str | None = None) -> list[m.RegisteredLimit]:
        return await crud.list_rows(self.db, m.RegisteredLimit, {
            "service_id": service_id, "region_id": region_id, "resource_name": resource_name})

    async def get_registered(self, limit_id: str) -> m.RegisteredLimit:
        return await crud.fetch(self.db, m.RegisteredLimit, limit_id, "registered limit")

    @staticmethod
    async def _registered(db: AsyncSession, limit_id: str) -> m.RegisteredLimit:
        return await crud.get_or_404(db, m.RegisteredLimit, limit_id, "registered limit")

    async def create_registered(self, items: list[rs.RegisteredLimitCreate]) -> list[m.RegisteredLimit]:
        """Create several registered limits at once (all or none)."""
        rows = []
        try:
            async with self.db.session() as db:
                for data in items:
                    await _check_refs(db, data.service_id, data.region_id)
                    if (await db.scalars(_same_resource(m.RegisteredLimit, data.service_id, data.region_id,
                                                        data.resource_name))).first() or \
                            any((r.service_id, r.region_id, r.resource_name) ==
                                (data.service_id, data.region_id, data.resource_name) for r in rows):
                        raise _duplicate("registered limit", data.resource_name)
                    row = m.RegisteredLimit(service_id=data.service_id, region_id=data.region_id,
                                            resource_name=data.resource_name, default_limit=data.default_limit,
                                            description=data.description)
                    db.add(row)
                    rows.append(row)
        except IntegrityError:
            raise _duplicate("registered limit", "") from None
        return rows

    async def _referenced(self, db: AsyncSession, r: m.RegisteredLimit) -> bool:
        q = _same_resource(m.Limit, r.service_id, r.region_id, r.resource_name).limit(1)
        return (await db.scalars(q)).first() is not None

    async def update_registered(self, limit_id: str, data: rs.RegisteredLimitUpdate) -> m.RegisteredLimit:
        fields = data.model_fields_set
        async with self.db.session() as db:
            r = await self._registered(db, limit_id)
            key = (data.service_id if data.service_id else r.service_id,
                   data.region_id if "region_id" in fields else r.region_id,
                   data.resource_name if data.resource_name else r.resource_name)
            if key != (r.service_id, r.region_id, r.resource_name):
                if await self._referenced(db, r):
                    raise Forbidden(f"Unable to update or delete registered limit {r.id} because there "
                                    "are project limits associated with it.")
                await _check_refs(db, key[0], key[1])
                other = (await db.scalars(_same_resource(m.RegisteredLimit, *key))).first()
                if other is not None and other.id != r.id:
                    raise _duplicate("registered limit", key[2])
                r.service_id, r.region_id, r.resource_name = key
            if data.default_limit is not None:
                r.default_limit = data.default_limit
            if "description" in fields:
                r.description = data.description
        return r

    async def delete_registered(self, limit_id: str) -> None:
        async with self.db.session() as db:
            r = await self._registered(db, limit_id)
            if await self._referenced(db, r):
                raise Forbidden(f"Unable to update or delete registered limit {r.id} because there "
                                "are project limits associated with it.")
            await db.delete(r)

    # --- limits ----------------------------------------------------------------------------

    async def list_limits(self, *, service_id: str | None = None, region_id: str | None = None,
                          resource_name: str | None = None, project_id: str | None = None,
                          domain_id: str | None = None) -> list[m.Limit]:
        return await crud.list_rows(self.db, m.Limit, {
            "service_id": service_id, "region_id": region_id, "resource_name": resource_name,
            "project_id": project_id, "domain_id": domain_id})

    async def get_limit(self, limit_id: str) -> m.Limit:
        return await crud.fetch(self.db, m.Limit, limit_id, "limit")

    @staticmethod
    async def _limit(db: AsyncSession, limit_id: str) -> m.Limit:
        return await crud.get_or_404(db, m.Limit, limit_id, "limit")

    async def create_limits(self, items: list[rs.LimitCreate]) -> list[m.Limit]:
        """Create several limits at once (all or none)."""
        rows: list[m.Limit] = []
        async with self.db.session() as db:
            for data in items:
                await _check_refs(db, data.service_id, data.region_id)
                if data.project_id and await db.get(m.Project, data.project_id) is None:
                    raise BadRequest(f"Invalid project_id: project {data.project_id} not found.")
                if data.domain_id and await db.get(m.Domain, data.domain_id) is None:
                    raise BadRequest(f"Invalid domain_id: domain {data.domain_id} not found.")
                key = (data.service_id, data.region_id, data.resource_name)
                if (await db.scalars(_same_resource(m.RegisteredLimit, *key))).first() is None:
                    raise Forbidden("Unable to create a limit that has no corresponding registered limit.")
                owner = m.Limit.project_id == data.project_id if data.project_id else \
                    m.Limit.domain_id == data.domain_id
                taken = (await db.scalars(_same_resource(m.Limit, *key).where(owner))).first()
                if taken or any((r.service_id, r.region_id, r.resource_name, r.project_id, r.domain_id) ==
                                (*key, data.project_id, data.domain_id) for r in rows):
                    raise _duplicate("limit", data.resource_name)
                row = m.Limit(project_id=data.project_id, domain_id=data.domain_id, service_id=data.service_id,
                              region_id=data.region_id, resource_name=data.resource_name,
                              resource_limit=data.resource_limit, description=data.description)
                db.add(row)
                rows.append(row)
        return rows

    async def update_limit(self, limit_id: str, data: rs.LimitUpdate) -> m.Limit:
        async with self.db.session() as db:
            lim = await self._limit(db, limit_id)
            if data.resource_limit is not None:
                lim.resource_limit = data.resource_limit
            if "description" in data.model_fields_set:
                lim.description = data.description
        return lim

    async def delete_limit(self, limit_id: str) -> None:
        await crud.delete_or_404(self.db, m.Limit, limit_id, "limit")
