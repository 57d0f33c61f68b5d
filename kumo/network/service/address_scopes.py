"""Address scopes (Networking API v2.0, "Address scopes", extension ``address-scope``).

An address scope groups subnet pools of one IP version whose prefixes must not
overlap one another. Shape: ``{"id", "name", "project_id", "tenant_id",
"ip_version" (4|6), "shared", "description", "tags", "created_at",
"updated_at", "revision_number"}``. Visible to its project, to everyone when
``shared``, and to admins (404 ``AddressScopeNotFound`` otherwise); only admins
share one (403), and a shared scope cannot be unshared (400
``AddressScopeUpdateError``); a scope with subnet pools cannot be deleted (409
``AddressScopeInUse``).
"""
from __future__ import annotations

import ipaddress

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import isotime
from kumo.network.models import AddressScope, SubnetPool
from kumo.network.service.base import ServiceBase


def scope_not_found(scope_id: str) -> NotFound:
    return NotFound(f"Address scope {scope_id} could not be found.", kind="AddressScopeNotFound")


def address_scope_view(scope: AddressScope) -> dict:
    return {
        "id": scope.id,
        "name": scope.name,
        "tenant_id": scope.project_id,
        "project_id": scope.project_id,
        "ip_version": scope.ip_version,
        "shared": scope.shared,
        "description": scope.description,
        "tags": list(scope.tags or []),
        "created_at": isotime(scope.created_at),
        "updated_at": isotime(scope.updated_at),
        "revision_number": scope.revision_number,
    }


class AddressScopesMixin(ServiceBase):
    # --- lookups ----------------------------------------------------------------
    @staticmethod
    def shareable_target(obj) -> dict:
        """Target of an address scope or subnet pool: ``id``, ``project_id``, ``shared``."""
        return {"id": obj.id, "project_id": obj.project_id, "shared": obj.shared}

    def shareable_clause(self, ctx: RequestContext, model):
        """SQL filter of the scopes/pools a list starts from (None for admins: all)."""
        if self.admin(ctx):
            return None
        return or_(model.project_id == ctx.project_id, model.shared.is_(True))

    async def get_address_scope(self, s: AsyncSession, ctx: RequestContext, scope_id: str) -> AddressScope:
        """The scope if ``get_address_scope`` allows the caller, else 404 AddressScopeNotFound."""
        scope = await s.get(AddressScope, scope_id)
        if scope is None or not self.allowed(ctx, "get_address_scope", self.shareable_target(scope)):
            raise scope_not_found(scope_id)
        return scope

    async def check_scope_prefixes(self, s: AsyncSession, ctx: RequestContext, scope_id: str,
                                   version: int, prefixes: list, pool_id: str | None) -> None:
        """May a pool (``pool_id``, None when new) of ``version`` with ``prefixes`` (networks)
        join scope ``scope_id``? 404 for an invisible scope, 400
        ``IllegalSubnetPoolAssociationToAddressScope`` for another IP version, 409
        ``AddressScopePrefixConflict`` when another pool of the scope overlaps."""
        scope = await self.get_address_scope(s, ctx, scope_id)
        if scope.ip_version != version:
            raise BadRequest(f"Illegal subnetpool association: subnetpool {pool_id or '(new)'} "
                             f"cannot be associated with address scope {scope_id}: IP version "
                             f"{version} is not the scope's {scope.ip_version}.",
                             kind="IllegalSubnetPoolAssociationToAddressScope")
        others = (await s.scalars(select(SubnetPool).where(
            SubnetPool.address_scope_id == scope_id, SubnetPool.id != (pool_id or "")))).all()
        for other in others:
            for prefix in other.prefixes:
                if any(ipaddress.ip_network(prefix).overlaps(p) for p in prefixes):
                    raise Conflict("Failed to associate address scope: subnetpools within an "
                                   "address scope must have unique prefixes.",
                                   kind="AddressScopePrefixConflict")

    # --- operations ---------------------------------------------------------------
    async def create_address_scope(self, ctx: RequestContext, body: dict) -> dict:
        """Create a scope from a parsed body; its view. 403 for readers, other projects
        (admins excepted) and ``shared`` (admin only)."""
        project = body.pop("project_id", None) or ctx.project_id
        target = {"project_id": project, "shared": body["shared"]}
        self.authorize(ctx, "create_address_scope", target)
        if body["shared"]:
            self.authorize(ctx, "create_address_scope:shared", target)

        async def tx(s: AsyncSession) -> dict:
            scope = AddressScope(project_id=project, name=body["name"], ip_version=body["ip_version"],
                                 shared=body["shared"], description=body["description"],
                                 tags=body["tags"])
            s.add(scope)
            await s.flush()
            return address_scope_view(scope)
        return await self.write(tx)

    async def list_address_scopes(self, ctx: RequestContext) -> list[dict]:
        """Views of the scopes ``ctx`` may see, sorted by id."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(AddressScope).order_by(AddressScope.id)
            clause = self.shareable_clause(ctx, AddressScope)
            if clause is not None:
                q = q.where(clause)
            return [address_scope_view(x) for x in (await s.scalars(q)).all()
                    if self.allowed(ctx, "get_address_scope", self.shareable_target(x))]
        return await self.read(tx)

    async def show_address_scope(self, ctx: RequestContext, scope_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return address_scope_view(await self.get_address_scope(s, ctx, scope_id))
        return await self.read(tx)

    async def update_address_scope(self, ctx: RequestContext, scope_id: str, body: dict) -> dict:
        """Change name, description or shared (admin only; never back to unshared: 400)."""
        async def tx(s: AsyncSession) -> dict:
            scope = await self.get_address_scope(s, ctx, scope_id)
            target = self.shareable_target(scope)
            self.authorize(ctx, "update_address_scope", target)
            if "shared" in body:
                self.authorize(ctx, "update_address_scope:shared", target)
                if scope.shared and not body["shared"]:
                    raise BadRequest(f"Unable to update address scope {scope_id} : Shared address "
                                     "scope can't be unshared.", kind="AddressScopeUpdateError")
                scope.shared = body["shared"]
            for key in ("name", "description"):
                if key in body:
                    setattr(scope, key, body[key])
            scope.touch()
            await s.flush()
            return address_scope_view(scope)
        return await self.write(tx)

    async def delete_address_scope(self, ctx: RequestContext, scope_id: str) -> None:
        """Delete a scope; 409 AddressScopeInUse while subnet pools belong to it."""
        async def tx(s: AsyncSession) -> None:
            scope = await self.get_address_scope(s, ctx, scope_id)
            self.authorize(ctx, "delete_address_scope", self.shareable_target(scope))
            used = await s.scalar(select(SubnetPool.id).where(
                SubnetPool.address_scope_id == scope.id).limit(1))
            if used:
                raise Conflict(f"Unable to complete operation on address scope {scope_id}. There "
                               "are one or more subnet pools in use on the address scope.",
                               kind="AddressScopeInUse")
            await s.delete(scope)
        await self.write(tx)
