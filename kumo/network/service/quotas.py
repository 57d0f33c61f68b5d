"""Quotas (Networking API v2.0, "Quotas extension (quotas)", "Quota details").

Limits per project and resource; a project without a row of its own has
:data:`DEFAULTS`; ``-1`` means unlimited. :meth:`QuotasMixin.check_quota` is
what every create calls inside its transaction (409 OverQuota "Quota exceeded
for resources: ['port']."). Usage counts the rows of the resource's table with
the project's ``project_id`` (see :data:`TABLES`; a table not created yet counts 0).
Reading a project's quota: admins, or readers of that project; changing: admins.
"""
from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict
from kumo.common.auth.context import RequestContext
from kumo.network.models import Base, Quota
from kumo.network.service.base import ServiceBase

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100}
#: resource -> table whose rows count as its usage
TABLES = {"network": "networks", "subnet": "subnets", "port": "ports", "router": "routers",
          "floatingip": "floatingips", "security_group": "securitygroups",
          "security_group_rule": "securitygrouprules"}


def parse_quota(body) -> dict[str, int]:
    """``{"quota": {resource: int >= -1}}`` -> the limits; 400 for anything else."""
    inner = body.get("quota") if isinstance(body, dict) and len(body) == 1 else None
    if not isinstance(inner, dict):
        raise BadRequest("Unable to find 'quota' in request body", kind="HTTPBadRequest")
    unknown = sorted(k for k in inner if k not in DEFAULTS)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'", kind="HTTPBadRequest")
    out = {}
    for key, value in inner.items():
        try:
            n = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            n = None
        if n is None or n < -1:
            raise BadRequest(f"Invalid input for {key}. Reason: '{value}' should be an integer "
                             "greater than or equal to -1.", kind="HTTPBadRequest")
        out[key] = n
    return out


class QuotasMixin(ServiceBase):
    async def _limits(self, s: AsyncSession, project_id: str) -> dict[str, int]:
        rows = (await s.scalars(select(Quota).where(Quota.project_id == project_id))).all()
        return {**DEFAULTS, **{q.resource: q.limit for q in rows if q.resource in DEFAULTS}}

    async def _used(self, s: AsyncSession, project_id: str, resource: str) -> int:
        table = Base.metadata.tables.get(TABLES[resource])
        if table is None or "project_id" not in table.c:
            return 0
        return await s.scalar(select(func.count()).select_from(table).where(
            table.c.project_id == project_id)) or 0

    async def check_quota(self, s: AsyncSession, ctx: RequestContext, resource: str, count: int = 1,
                          project_id: str | None = None) -> None:
        """409 OverQuota if ``count`` more ``resource`` rows would exceed the limit of
        ``project_id`` (default: the caller's project). Call it inside the create's
        transaction, before adding the rows."""
        project = project_id or ctx.project_id
        if not project:
            return
        limit = (await self._limits(s, project))[resource]
        if limit >= 0 and await self._used(s, project, resource) + count > limit:
            raise Conflict(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")

    def _may_read(self, ctx: RequestContext, project_id: str) -> None:
        self.authorize(ctx, "get_quota", {"project_id": project_id})

    async def list_quotas(self, ctx: RequestContext) -> list[dict]:
        """Admin only: ``[{project_id, tenant_id, <resource>: limit...}]`` of every project
        with limits of its own."""
        self.authorize(ctx, "get_quota", {"project_id": None})

        async def tx(s: AsyncSession) -> list[dict]:
            projects = sorted(set((await s.scalars(select(Quota.project_id))).all()))
            return [{"project_id": p, "tenant_id": p, **await self._limits(s, p)} for p in projects]
        return await self.read(tx)

    async def show_quota(self, ctx: RequestContext, project_id: str) -> dict:
        """``{resource: limit}`` of ``project_id`` (403 for another project's unless admin)."""
        self._may_read(ctx, project_id)
        return await self.read(lambda s: self._limits(s, project_id))

    async def quota_defaults(self, ctx: RequestContext, project_id: str) -> dict:
        self._may_read(ctx, project_id)
        return dict(DEFAULTS)

    async def quota_details(self, ctx: RequestContext, project_id: str) -> dict:
        """``{resource: {"limit", "used", "reserved": 0}}`` of ``project_id``."""
        self._may_read(ctx, project_id)

        async def tx(s: AsyncSession) -> dict:
            limits = await self._limits(s, project_id)
            return {r: {"limit": limits[r], "used": await self._used(s, project_id, r),
                        "reserved": 0} for r in DEFAULTS}
        return await self.read(tx)

    async def update_quota(self, ctx: RequestContext, project_id: str, limits: dict[str, int]) -> dict:
        """Admin only: set some limits of ``project_id``; all its limits after."""
        self.authorize(ctx, "update_quota", {"project_id": project_id})

        async def tx(s: AsyncSession) -> dict:
            rows = {q.resource: q for q in (await s.scalars(
                select(Quota).where(Quota.project_id == project_id))).all()}
            for resource, limit in limits.items():
                if resource in rows:
                    rows[resource].limit = limit
                else:
                    s.add(Quota(project_id=project_id, resource=resource, limit=limit))
            await s.flush()
            return await self._limits(s, project_id)
        return await self.write(tx)

    async def delete_quota(self, ctx: RequestContext, project_id: str) -> None:
        """Admin only: back to the defaults."""
        self.authorize(ctx, "delete_quota", {"project_id": project_id})

        async def tx(s: AsyncSession) -> None:
            await s.execute(delete(Quota).where(Quota.project_id == project_id))
        await self.write(tx)
