"""Regions, services, endpoints and the service catalog (Identity API v3: "Service catalog and endpoints").

The catalog a scoped token carries lists every enabled service that has
enabled endpoints, each endpoint as ``{id, interface, region, region_id,
url}``. Endpoint URLs may hold ``$(project_id)s`` / ``$(tenant_id)s``
(also ``%(...)s``): they are filled with the token's project, and such
endpoints are left out of catalogs without a project. A project with
OS-EP-FILTER associations only sees its associated endpoints
(:mod:`kumo.identity.endpoint_filter`). Errors: NotFound (404)
for unknown ids in the path, BadRequest (400) for a body naming an unknown
service or region, Conflict (409) for an existing region id.
"""
from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, Forbidden
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import resource_schemas as rs
from kumo.identity.endpoint_filter import allowed_endpoint_ids, forget_endpoints
from kumo.identity.legacy_policies import forget_targets
from kumo.identity.models import new_hex_id

_SUBST = re.compile(r"[$%]\((project_id|tenant_id)\)s")


def substitute(url: str, project_id: str | None) -> str | None:
    """``url`` with the project filled in; None if it needs a project and there is none."""
    if not _SUBST.search(url):
        return url
    if not project_id:
        return None
    return _SUBST.sub(project_id, url)


def _duplicate_region(region_id: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")


class CatalogService:
    def __init__(self, db: Database):
        self.db = db

    # --- regions ---------------------------------------------------------------------------

    async def list_regions(self, parent_region_id: str | None = None) -> list[m.Region]:
        return await crud.list_rows(self.db, m.Region, {"parent_region_id": parent_region_id})

    async def get_region(self, region_id: str) -> m.Region:
        return await crud.fetch(self.db, m.Region, region_id, "region")

    async def create_region(self, data: s.RegionCreate, region_id: str | None = None) -> m.Region:
        """Create a region (id from the path of ``PUT``, the body, or a new hex id).

        409 if the id exists, 400 if the body's id differs from the path's or
        the parent region is unknown.
        """
        if region_id and data.id and data.id != region_id:
            raise BadRequest("The region id in the body does not match the id in the URL.")
        region_id = region_id or data.id or new_hex_id()
        try:
            async with self.db.session() as db:
                if await db.get(m.Region, region_id) is not None:
                    raise _duplicate_region(region_id)
                if data.parent_region_id is not None:
                    await self._parent(db, data.parent_region_id, region_id)
                r = m.Region(id=region_id, description=data.description or "",
                             parent_region_id=data.parent_region_id)
                db.add(r)
        except IntegrityError:
            raise _duplicate_region(region_id) from None
        return r

    async def update_region(self, region_id: str, data: rs.RegionUpdate) -> m.Region:
        """Change a region's description or parent (400 for an unknown parent or a cycle)."""
        fields = data.model_fields_set
        async with self.db.session() as db:
            r = await self._region(db, region_id)
            if "parent_region_id" in fields:
                if data.parent_region_id is not None:
                    await self._parent(db, data.parent_region_id, region_id)
                r.parent_region_id = data.parent_region_id
            if "description" in fields:
                r.description = data.description or ""
        return r

    async def delete_region(self, region_id: str) -> None:
        """Delete a region and its child regions, as keystone does.

        403 while the region or one of its descendants has endpoints.
        """
        async with self.db.session() as db:
            await self._region(db, region_id)
            subtree, frontier = [region_id], [region_id]
            while frontier:
                frontier = list((await db.scalars(
                    select(m.Region.id).where(m.Region.parent_region_id.in_(frontier)))).all())
                subtree += [x for x in frontier if x not in subtree]
            used = (await db.scalars(select(m.Endpoint.id).where(m.Endpoint.region_id.in_(subtree))
                                     .limit(1))).first()
            if used:
                raise Forbidden(f"Unable to delete region {region_id} because it or its child "
                                "regions have associated endpoints.")
            await forget_targets(db, region_ids=subtree)
            await db.execute(delete(m.Region).where(m.Region.id.in_(subtree)))

    async def _region(self, db: AsyncSession, region_id: str) -> m.Region:
        return await crud.get_or_404(db, m.Region, region_id, "region")

    async def _parent(self, db: AsyncSession, parent_id: str, region_id: str) -> None:
        """400 unless ``parent_id`` exists and is not ``region_id`` or one of its descendants."""
        seen = {region_id}
        current: str | None = parent_id
        while current is not None:
            if current in seen:
                raise BadRequest(f"Circular reference or a repeated entry found in region tree - "
                                 f"{region_id}.")
            seen.add(current)
            r = await db.get(m.Region, current)
            if r is None:
                raise BadRequest(f"Parent region {parent_id} not found.")
            current = r.parent_region_id

    async def ensure_region(self, db: AsyncSession, region_id: str) -> None:
        """Create the region ``region_id`` if it is unknown (the legacy ``region`` attribute)."""
        if await db.get(m.Region, region_id) is None:
            db.add(m.Region(id=region_id, description="", parent_region_id=None))
            await db.flush()

    # --- services --------------------------------------------------------------------------

    async def list_services(self, *, type: str | None = None, name: str | None = None) -> list[m.Service]:
        return await crud.list_rows(self.db, m.Service, {"type": type, "name": name},
                                    order_by=(m.Service.type, m.Service.id))

    async def get_service(self, service_id: str) -> m.Service:
        return await crud.fetch(self.db, m.Service, service_id, "service")

    async def _service(self, db: AsyncSession, service_id: str) -> m.Service:
        return await crud.get_or_404(db, m.Service, service_id, "service")

    async def create_service(self, data: s.ServiceCreate) -> m.Service:
        svc = m.Service(type=data.type, name=data.name or "", description=data.description or "",
                        enabled=data.enabled)
        async with self.db.session() as db:
            db.add(svc)
        return svc

    async def update_service(self, service_id: str, data: s.ServiceUpdate) -> m.Service:
        fields = data.model_fields_set
        async with self.db.session() as db:
            svc = await self._service(db, service_id)
            if "type" in fields and data.type:
                svc.type = data.type
            if "name" in fields:
                svc.name = data.name or ""
            if "description" in fields:
                svc.description = data.description or ""
            if "enabled" in fields and data.enabled is not None:
                svc.enabled = data.enabled
        return svc

    async def delete_service(self, service_id: str) -> None:
        """Delete a service and its endpoints."""
        async with self.db.session() as db:
            svc = await self._service(db, service_id)
            endpoints = (await db.scalars(select(m.Endpoint.id).where(m.Endpoint.service_id == svc.id))).all()
            await forget_endpoints(db, list(endpoints))
            await forget_targets(db, endpoint_ids=list(endpoints), service_ids=[svc.id])
            await db.execute(delete(m.Endpoint).where(m.Endpoint.service_id == svc.id))
            await db.delete(svc)

    # --- endpoints -------------------------------------------------------------------------

    async def list_endpoints(self, *, interface: str | None = None, service_id: str | None = None,
                             region_id: str | None = None) -> list[m.Endpoint]:
        return await crud.list_rows(self.db, m.Endpoint,
                                    {"interface": interface, "service_id": service_id, "region_id": region_id},
                                    order_by=(m.Endpoint.service_id, m.Endpoint.interface, m.Endpoint.id))

    async def get_endpoint(self, endpoint_id: str) -> m.Endpoint:
        return await crud.fetch(self.db, m.Endpoint, endpoint_id, "endpoint")

    async def _endpoint(self, db: AsyncSession, endpoint_id: str) -> m.Endpoint:
        return await crud.get_or_404(db, m.Endpoint, endpoint_id, "endpoint")

    async def _endpoint_region(self, db: AsyncSession, data: s.EndpointCreate | s.EndpointUpdate) -> str | None:
        """The region an endpoint body names: ``region_id`` must exist (400), while the legacy
        ``region`` attribute creates the region when it is unknown, as keystone does."""
        if data.region_id is not None and data.region is not None and data.region_id != data.region:
            raise BadRequest("The region_id and region of an endpoint must be the same.")
        if data.region_id is not None:
            if await db.get(m.Region, data.region_id) is None:
                raise BadRequest(f"Region {data.region_id} not found.")
            return data.region_id
        if data.region is not None:
            await self.ensure_region(db, data.region)
        return data.region

    async def _check_service(self, db: AsyncSession, service_id: str) -> None:
        if await db.get(m.Service, service_id) is None:
            raise BadRequest(f"Service {service_id} not found.")

    async def create_endpoint(self, data: s.EndpointCreate) -> m.Endpoint:
        async with self.db.session() as db:
            await self._check_service(db, data.service_id)
            region_id = await self._endpoint_region(db, data)
            ep = m.Endpoint(service_id=data.service_id, interface=data.interface, region_id=region_id,
                            url=data.url, enabled=data.enabled)
            db.add(ep)
        return ep

    async def update_endpoint(self, endpoint_id: str, data: s.EndpointUpdate) -> m.Endpoint:
        fields = data.model_fields_set
        async with self.db.session() as db:
            ep = await self._endpoint(db, endpoint_id)
            if "service_id" in fields and data.service_id:
                await self._check_service(db, data.service_id)
                ep.service_id = data.service_id
            if "region_id" in fields or "region" in fields:
                ep.region_id = await self._endpoint_region(db, data)
            if "interface" in fields and data.interface:
                ep.interface = data.interface
            if "url" in fields and data.url:
                ep.url = data.url
            if "enabled" in fields and data.enabled is not None:
                ep.enabled = data.enabled
        return ep

    async def delete_endpoint(self, endpoint_id: str) -> None:
        async with self.db.session() as db:
            ep = await self._endpoint(db, endpoint_id)
            await forget_endpoints(db, [ep.id])
            await forget_targets(db, endpoint_ids=[ep.id])
            await db.delete(ep)

    # --- the catalog -----------------------------------------------------------------------

    async def catalog(self, project_id: str | None = None) -> list[dict]:
        """The v3 catalog: ``[{id, type, name, endpoints: [{id, interface, region, region_id, url}]}]``."""
        async with self.db.session() as db:
            services = (await db.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                                         .order_by(m.Service.type, m.Service.id))).all()
            endpoints = (await db.scalars(select(m.Endpoint).where(m.Endpoint.enabled.is_(True))
                                          .order_by(m.Endpoint.interface, m.Endpoint.id))).all()
            allowed = await allowed_endpoint_ids(db, project_id) if project_id else None
        if allowed is not None:
            endpoints = [ep for ep in endpoints if ep.id in allowed]
        by_service: dict[str, list[dict]] = {}
        for ep in endpoints:
            url = substitute(ep.url, project_id)
            if url is None:
                continue
            by_service.setdefault(ep.service_id, []).append(
                {"id": ep.id, "interface": ep.interface, "region": ep.region_id,
                 "region_id": ep.region_id, "url": url})
        return [{"id": svc.id, "type": svc.type, "name": svc.name, "endpoints": by_service[svc.id]}
                for svc in services if svc.id in by_service]
