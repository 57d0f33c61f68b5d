"""Policy documents (Identity API v3: "Policies", and the OS-ENDPOINT-POLICY extension).

A policy is an opaque ``blob`` string with a MIME ``type`` (both required,
``type`` at most 255 characters) plus any extra attributes; keystone stores
them for other services and never evaluates them.

OS-ENDPOINT-POLICY associates a policy with an endpoint, a service, or a
service in a region (one policy per target: a new association replaces the
old one). An endpoint's effective policy is its own, else that of its
service in its region or the nearest parent region, else its service's.

NotFound (404) for unknown policies, endpoints, services, regions or
associations.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs


async def forget_targets(db: AsyncSession, *, endpoint_ids: list[str] = (), service_ids: list[str] = (),
                         region_ids: list[str] = ()) -> None:
    """Drop the policy associations of endpoints, services or regions about to be deleted."""
    a = m.PolicyAssociation
    await db.execute(delete(a).where(a.endpoint_id.in_(list(endpoint_ids)) | a.service_id.in_(list(service_ids))
                                     | a.region_id.in_(list(region_ids))))


class PolicyService:
    def __init__(self, db: Database):
        self.db = db

    async def list_policies(self, type: str | None = None) -> list[m.Policy]:
        return await crud.list_rows(self.db, m.Policy, {"type": type})

    async def get_policy(self, policy_id: str) -> m.Policy:
        return await crud.fetch(self.db, m.Policy, policy_id, "policy")

    @staticmethod
    async def _policy(db: AsyncSession, policy_id: str) -> m.Policy:
        return await crud.get_or_404(db, m.Policy, policy_id, "policy")

    async def create_policy(self, data: rs.PolicyCreate) -> m.Policy:
        return await crud.add_row(self.db, m.Policy(type=data.type, blob=data.blob, extra=data.extras()))

    async def update_policy(self, policy_id: str, data: rs.PolicyUpdate) -> m.Policy:
        async with self.db.session() as db:
            p = await self._policy(db, policy_id)
            if data.type is not None:
                p.type = data.type
            if data.blob is not None:
                p.blob = data.blob
            crud.merge_extras(p, data)
        return p

    async def delete_policy(self, policy_id: str) -> None:
        async with self.db.session() as db:
            await db.delete(await self._policy(db, policy_id))
            await db.execute(delete(m.PolicyAssociation).where(m.PolicyAssociation.policy_id == policy_id))

    # --- OS-ENDPOINT-POLICY ----------------------------------------------------------------

    @staticmethod
    async def _target(db: AsyncSession, endpoint_id: str | None, service_id: str | None,
                      region_id: str | None):
        """The association row query of a target (404 for an unknown endpoint, service or region)."""
        for model, kind, ident in ((m.Endpoint, "endpoint", endpoint_id), (m.Service, "service", service_id),
                                   (m.Region, "region", region_id)):
            if ident is not None:
                await crud.get_or_404(db, model, ident, kind)
        a = m.PolicyAssociation
        return select(a).where(*(col.is_(None) if v is None else col == v for col, v in
                                 ((a.endpoint_id, endpoint_id), (a.service_id, service_id), (a.region_id, region_id))))

    async def associate(self, policy_id: str, *, endpoint_id: str | None = None, service_id: str | None = None,
                        region_id: str | None = None) -> None:
        """Make ``policy_id`` the policy of the target (replacing its previous one)."""
        async with self.db.session() as db:
            await self._policy(db, policy_id)
            for row in (await db.scalars(await self._target(db, endpoint_id, service_id, region_id))).all():
                await db.delete(row)
            db.add(m.PolicyAssociation(policy_id=policy_id, endpoint_id=endpoint_id, service_id=service_id,
                                       region_id=region_id))

    async def _association(self, db: AsyncSession, policy_id: str, **target) -> m.PolicyAssociation:
        await self._policy(db, policy_id)
        q = (await self._target(db, **target)).where(m.PolicyAssociation.policy_id == policy_id)
        row = (await db.scalars(q)).first()
        if row is None:
            raise NotFound(f"Could not find policy association of policy {policy_id}.")
        return row

    async def check_association(self, policy_id: str, *, endpoint_id: str | None = None,
                                service_id: str | None = None, region_id: str | None = None) -> None:
        async with self.db.session() as db:
            await self._association(db, policy_id, endpoint_id=endpoint_id, service_id=service_id,
                                    region_id=region_id)

    async def dissociate(self, policy_id: str, *, endpoint_id: str | None = None, service_id: str | None = None,
                         region_id: str | None = None) -> None:
        async with self.db.session() as db:
            await db.delete(await self._association(db, policy_id, endpoint_id=endpoint_id,
                                                    service_id=service_id, region_id=region_id))

    async def policy_endpoints(self, policy_id: str) -> list[m.Endpoint]:
        """The endpoints the policy applies to: directly, through their service, or through
        their service in the region (or a child region) of an association."""
        async with self.db.session() as db:
            await self._policy(db, policy_id)
            rows = (await db.scalars(select(m.PolicyAssociation)
                                     .where(m.PolicyAssociation.policy_id == policy_id))).all()
            endpoints = (await db.scalars(select(m.Endpoint).order_by(m.Endpoint.id))).all()
            parents = dict((await db.execute(select(m.Region.id, m.Region.parent_region_id))).all())

        def in_region(region: str | None, wanted: str) -> bool:
            seen: set[str] = set()
            while region is not None and region not in seen:
                if region == wanted:
                    return True
                seen.add(region)
                region = parents.get(region)
            return False

        def applies(ep: m.Endpoint, a: m.PolicyAssociation) -> bool:
            if a.endpoint_id is not None:
                return ep.id == a.endpoint_id
            if ep.service_id != a.service_id:
                return False
            return a.region_id is None or in_region(ep.region_id, a.region_id)

        return [ep for ep in endpoints if any(applies(ep, a) for a in rows)]

    async def endpoint_policy(self, endpoint_id: str) -> m.Policy:
        """The effective policy of an endpoint (404 if none applies)."""
        a = m.PolicyAssociation
        async with self.db.session() as db:
            ep = await crud.get_or_404(db, m.Endpoint, endpoint_id, "endpoint")
            candidates = [(a.endpoint_id == ep.id,)]
            region, seen = ep.region_id, set()
            while region is not None and region not in seen:
                seen.add(region)
                candidates.append((a.endpoint_id.is_(None), a.service_id == ep.service_id, a.region_id == region))
                parent = await db.get(m.Region, region)
                region = parent.parent_region_id if parent else None
            candidates.append((a.endpoint_id.is_(None), a.service_id == ep.service_id, a.region_id.is_(None)))
            for where in candidates:
                row = (await db.scalars(select(a).where(*where))).first()
                if row is not None:
                    policy = await db.get(m.Policy, row.policy_id)
                    if policy is not None:
                        return policy
        raise NotFound(f"No policy is associated with endpoint {endpoint_id}.")
