"""Regions, services, endpoints and the service catalog (Identity API v3: "Service catalog and endpoints").

The catalog a scoped token carries lists every enabled service that has
enabled endpoints, each endpoint as ``{id, interface, region, region_id,
url}``. Endpoint URLs may hold ``$(project_id)s`` / ``$(tenant_id)s``
(also ``%(...)s``): they are filled with the token's project, and such
endpoints are left out of catalogs without a project. Errors: NotFound (404)
for unknown ids in the path, BadRequest (400) for a body naming an unknown
service or region, Conflict (409) for an existing region id.
"""
from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict
from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.models import new_hex_id
from kumo.identity.service import not_found

_SUBST = re.compile(r"[$%]\((project_id|tenant_id)\)s")


def substitute(url: str, project_id: str | None) -> str | None:
    """``url`` with the project filled in; None if it needs a project and there is none."""
    if not _SUBST.search(url):
        return url
    if not project_id:
        return None
    return _SUBST.sub(project_id, url)


class CatalogService:
    def __init__(self, db: Database):
        self.db = db

    # --- regions ---------------------------------------------------------------------------

    async def list_regions(self, parent_region_id: str | None = None) -> list[m.Region]:
        q = select(m.Region).order_by(m.Region.id)
        if parent_region_id is not None:
            q = q.where(m.Region.parent_region_id == parent_region_id)
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_region(self, region_id: str) -> m.Region:
        async with self.db.session() as db:
            r = await db.get(m.Region, region_id)
        if r is None:
            raise not_found("region", region_id)
        return r

    async def create_region(self, data: s.RegionCreate) -> m.Region:
        region_id = data.id or new_hex_id()
        try:
            async with self.db.session() as db:
                if await db.get(m.Region, region_id) is not None:
                    raise Conflict(f"Conflict occurred attempting to store region - "
                                   f"Duplicate ID, {region_id}.")
                if data.parent_region_id and await db.get(m.Region, data.parent_region_id) is None:
                    raise BadRequest(f"Parent region {data.parent_region_id} not found.")
                r = m.Region(id=region_id, description=data.description or "",
                             parent_region_id=data.parent_region_id)
                db.add(r)
        except IntegrityError:
            raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.") from None
        return r

    # --- services --------------------------------------------------------------------------

    async def list_services(self, *, type: str | None = None, name: str | None = None) -> list[m.Service]:
        q = select(m.Service).order_by(m.Service.type, m.Service.id)
        if type is not None:
            q = q.where(m.Service.type == type)
        if name is not None:
            q = q.where(m.Service.name == name)
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_service(self, service_id: str) -> m.Service:
        async with self.db.session() as db:
            return await self._service(db, service_id)

    async def _service(self, db: AsyncSession, service_id: str) -> m.Service:
        svc = await db.get(m.Service, service_id)
        if svc is None:
            raise not_found("service", service_id)
        return svc

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
            await db.execute(delete(m.Endpoint).where(m.Endpoint.service_id == svc.id))
            await db.delete(svc)

    # --- endpoints -------------------------------------------------------------------------

    async def list_endpoints(self, *, interface: str | None = None, service_id: str | None = None,
                             region_id: str | None = None) -> list[m.Endpoint]:
        q = select(m.Endpoint).order_by(m.Endpoint.service_id, m.Endpoint.interface, m.Endpoint.id)
        if interface is not None:
            q = q.where(m.Endpoint.interface == interface)
        if service_id is not None:
            q = q.where(m.Endpoint.service_id == service_id)
        if region_id is not None:
            q = q.where(m.Endpoint.region_id == region_id)
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_endpoint(self, endpoint_id: str) -> m.Endpoint:
        async with self.db.session() as db:
            return await self._endpoint(db, endpoint_id)

    async def _endpoint(self, db: AsyncSession, endpoint_id: str) -> m.Endpoint:
        ep = await db.get(m.Endpoint, endpoint_id)
        if ep is None:
            raise not_found("endpoint", endpoint_id)
        return ep

    async def _check_refs(self, db: AsyncSession, service_id: str | None, region_id: str | None) -> None:
        if service_id is not None and await db.get(m.Service, service_id) is None:
            raise BadRequest(f"Service {service_id} not found.")
        if region_id is not None and await db.get(m.Region, region_id) is None:
            raise BadRequest(f"Region {region_id} not found.")

    async def create_endpoint(self, data: s.EndpointCreate) -> m.Endpoint:
        region_id = data.region_id or data.region
        async with self.db.session() as db:
            await self._check_refs(db, data.service_id, region_id)
            ep = m.Endpoint(service_id=data.service_id, interface=data.interface, region_id=region_id,
                            url=data.url, enabled=data.enabled)
            db.add(ep)
        return ep

    async def update_endpoint(self, endpoint_id: str, data: s.EndpointUpdate) -> m.Endpoint:
        fields = data.model_fields_set
        async with self.db.session() as db:
            ep = await self._endpoint(db, endpoint_id)
            region_given = "region_id" in fields or "region" in fields
            region_id = data.region_id or data.region
            await self._check_refs(db, data.service_id if "service_id" in fields else None,
                                   region_id if region_given else None)
            if "service_id" in fields and data.service_id:
                ep.service_id = data.service_id
            if region_given:
                ep.region_id = region_id
            if "interface" in fields and data.interface:
                ep.interface = data.interface
            if "url" in fields and data.url:
                ep.url = data.url
            if "enabled" in fields and data.enabled is not None:
                ep.enabled = data.enabled
        return ep

    async def delete_endpoint(self, endpoint_id: str) -> None:
        async with self.db.session() as db:
            await db.delete(await self._endpoint(db, endpoint_id))

    # --- the catalog -----------------------------------------------------------------------

    async def catalog(self, project_id: str | None = None) -> list[dict]:
        """The v3 catalog: ``[{id, type, name, endpoints: [{id, interface, region, region_id, url}]}]``."""
        async with self.db.session() as db:
            services = (await db.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                                         .order_by(m.Service.type, m.Service.id))).all()
            endpoints = (await db.scalars(select(m.Endpoint).where(m.Endpoint.enabled.is_(True))
                                          .order_by(m.Endpoint.interface, m.Endpoint.id))).all()
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
