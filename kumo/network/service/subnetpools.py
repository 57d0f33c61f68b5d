"""Subnet pools (Networking API v2.0 "Subnet pools"; extensions ``subnet_allocation``,
``default-subnetpools``, ``subnetpool-prefix-ops``) and carving subnets from them.

A pool's view: ``{"id", "name", "project_id", "tenant_id", "ip_version",
"prefixes" (CIDR strings, merged: 10.0.0.0/25 + 10.0.0.128/25 -> 10.0.0.0/24),
"default_prefixlen", "min_prefixlen", "max_prefixlen" (bits), "default_quota"
(per project: IPv4 addresses, IPv6 /64s; null = unlimited), "shared",
"is_default", "address_scope_id", "description", "tags", "created_at",
"updated_at", "revision_number"}``. Bounds default to min 8 / max 32 (IPv4) and
64 / 128 (IPv6), default_prefixlen to min_prefixlen.

Errors: 404 ``SubnetPoolNotFound`` (invisible pool); 400 mixed IP versions,
bad bounds (``IllegalSubnetPoolPrefixBounds``), shrinking prefixes on update
(``IllegalSubnetPoolPrefixUpdate``), a second default pool per IP version; 403
``shared`` / ``is_default`` for non-admins; 409 ``SubnetPoolInUse`` (delete or
remove a prefix with subnets), ``SubnetAllocationError`` (no room left),
``SubnetPoolQuotaExceeded``.

A subnet created with ``subnetpool_id`` (or ``use_default_subnetpool``) gets
its CIDR from :meth:`SubnetPoolsMixin.allocate_from_pool`: the given ``cidr``
if it lies in the pool and is free, else the first free block of ``prefixlen``
(default ``default_prefixlen``). Pool subnets never overlap, across networks.
"""
from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import isotime
from kumo.network import errors, ipam
from kumo.network.models import SubnetPool, SubnetPoolAllocation
from kumo.network.service.address_scopes import AddressScopesMixin

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (min_prefixlen, max_prefixlen) defaults per IP version.
BOUNDS = {4: (8, 32), 6: (64, 128)}


def pool_not_found(pool_id: str) -> NotFound:
    return NotFound(f"Subnet pool {pool_id} could not be found.", kind="SubnetPoolNotFound")


def pool_in_use(pool_id: str, reason: str) -> Conflict:
    return Conflict(f"Unable to complete operation on subnet pool {pool_id}. {reason}.",
                    kind="SubnetPoolInUse")


def allocation_error(reason: str) -> Conflict:
    return Conflict(f"Failed to allocate subnet: {reason}.", kind="SubnetAllocationError")


def subnetpool_view(pool: SubnetPool) -> dict:
    return {
        "id": pool.id,
        "name": pool.name,
        "tenant_id": pool.project_id,
        "project_id": pool.project_id,
        "ip_version": pool.ip_version,
        "prefixes": list(pool.prefixes or []),
        "default_prefixlen": pool.default_prefixlen,
        "min_prefixlen": pool.min_prefixlen,
        "max_prefixlen": pool.max_prefixlen,
        "default_quota": pool.default_quota,
        "shared": pool.shared,
        "is_default": pool.is_default,
        "address_scope_id": pool.address_scope_id,
        "description": pool.description,
        "tags": list(pool.tags or []),
        "created_at": isotime(pool.created_at),
        "updated_at": isotime(pool.updated_at),
        "revision_number": pool.revision_number,
    }


# --- prefix arithmetic (pure) ---------------------------------------------------------
def merge_prefixes(prefixes: list[str]) -> tuple[int, list[Net]]:
    """(IP version, the prefixes merged and sorted); 400 when versions are mixed."""
    nets = [ipaddress.ip_network(p) for p in prefixes]
    versions = {n.version for n in nets}
    if len(versions) != 1:
        raise errors.invalid_input("Illegal subnetpool prefixes: all prefixes must have the "
                                   "same IP version")
    return versions.pop(), list(ipaddress.collapse_addresses(nets))


def prefix_bounds(version: int, body: dict, pool: SubnetPool | None) -> tuple[int, int, int]:
    """(min, max, default) prefix lengths from ``body`` over the pool's (or the defaults);
    400 IllegalSubnetPoolPrefixBounds unless 0 <= min <= default <= max <= 32|128."""
    low, high = BOUNDS[version]
    top = 32 if version == 4 else 128
    least = body.get("min_prefixlen", pool.min_prefixlen if pool else low)
    most = body.get("max_prefixlen", pool.max_prefixlen if pool else high)
    default = body.get("default_prefixlen", pool.default_prefixlen if pool else least)
    for name, value in (("min_prefixlen", least), ("max_prefixlen", most),
                        ("default_prefixlen", default)):
        if value > top:
            raise BadRequest(f"Illegal prefix bounds: {name}={value}, maximum for IPv{version}="
                             f"{top}.", kind="IllegalSubnetPoolPrefixBounds")
    if least > most:
        raise BadRequest(f"Illegal prefix bounds: min_prefixlen={least}, max_prefixlen={most}.",
                         kind="IllegalSubnetPoolPrefixBounds")
    if not least <= default <= most:
        raise BadRequest(f"Illegal prefix bounds: default_prefixlen={default}, min_prefixlen="
                         f"{least}, max_prefixlen={most}.", kind="IllegalSubnetPoolPrefixBounds")
    return least, most, default


def subtract(blocks: list[Net], taken: Net) -> list[Net]:
    """``blocks`` without the addresses of ``taken``."""
    out: list[Net] = []
    for block in blocks:
        if not block.overlaps(taken):
            out.append(block)
        elif not block.subnet_of(taken):
            out.extend(block.address_exclude(taken))
    return out


def first_free(prefixes: list[Net], used: list[Net], prefixlen: int) -> Net | None:
    """The first block of ``/prefixlen`` in ``prefixes`` overlapping none of ``used``,
    taken from the smallest free block that fits (keeps big blocks whole); None if full."""
    free: list[Net] = list(prefixes)
    for taken in used:
        free = subtract(free, taken)
    fits = [b for b in free if b.prefixlen <= prefixlen]
    if not fits:
        return None
    best = min(fits, key=lambda b: (-b.prefixlen, int(b.network_address)))
    return ipaddress.ip_network((best.network_address, prefixlen))


def quota_units(cidr: Net) -> int:
    """What a subnet costs against ``default_quota``: IPv4 addresses, IPv6 /64s (at least 1)."""
    if cidr.version == 4:
        return cidr.num_addresses
    return max(1, 2 ** (64 - cidr.prefixlen)) if cidr.prefixlen <= 64 else 1


class SubnetPoolsMixin(AddressScopesMixin):
    # --- lookups ----------------------------------------------------------------
    async def get_subnetpool(self, s: AsyncSession, ctx: RequestContext, pool_id: str) -> SubnetPool:
        """The pool if ``get_subnetpool`` allows the caller, else 404 SubnetPoolNotFound."""
        pool = await s.get(SubnetPool, pool_id)
        if pool is None or not self.allowed(ctx, "get_subnetpool", self.shareable_target(pool)):
            raise pool_not_found(pool_id)
        return pool

    @staticmethod
    async def _pool_cidrs(s: AsyncSession, pool_id: str) -> list[SubnetPoolAllocation]:
        return list((await s.scalars(select(SubnetPoolAllocation).where(
            SubnetPoolAllocation.subnetpool_id == pool_id))).all())

    @staticmethod
    async def _check_single_default(s: AsyncSession, version: int, pool_id: str | None) -> None:
        other = await s.scalar(select(SubnetPool.id).where(
            SubnetPool.is_default.is_(True), SubnetPool.ip_version == version,
            SubnetPool.id != (pool_id or "")).limit(1))
        if other:
            raise errors.invalid_input("A default subnetpool for this IP family has already been "
                                       "set. Only one default may exist per IP family")

    async def _check_links(self, s: AsyncSession, ctx: RequestContext, pool_id: str | None,
                           version: int, prefixes: list[Net], scope_id: str | None,
                           is_default: bool) -> None:
        if scope_id:
            await self.check_scope_prefixes(s, ctx, scope_id, version, prefixes, pool_id)
        if is_default:
            await self._check_single_default(s, version, pool_id)

    # --- CRUD ---------------------------------------------------------------------------
    async def create_subnetpool(self, ctx: RequestContext, body: dict) -> dict:
        """Create a pool from a parsed body (:data:`kumo.network.schemas.SUBNETPOOL`); its view.
        403/400/404/409 as in the module doc."""
        project = body.pop("project_id", None) or ctx.project_id
        target = {"project_id": project, "shared": body["shared"]}
        self.authorize(ctx, "create_subnetpool", target)
        for key in ("shared", "is_default"):
            if body[key]:
                self.authorize(ctx, f"create_subnetpool:{key}", target)
        version, prefixes = merge_prefixes(body["prefixes"])
        least, most, default = prefix_bounds(version, body, None)

        async def tx(s: AsyncSession) -> dict:
            await self._check_links(s, ctx, None, version, prefixes, body["address_scope_id"],
                                    body["is_default"])
            pool = SubnetPool(project_id=project, name=body["name"], ip_version=version,
                              prefixes=[str(p) for p in prefixes], default_prefixlen=default,
                              min_prefixlen=least, max_prefixlen=most,
                              default_quota=body["default_quota"], shared=body["shared"],
                              is_default=body["is_default"],
                              address_scope_id=body["address_scope_id"],
                              description=body["description"], tags=body["tags"])
            s.add(pool)
            await s.flush()
            return subnetpool_view(pool)
        return await self.write(tx)

    async def list_subnetpools(self, ctx: RequestContext) -> list[dict]:
        """Views of the pools ``ctx`` may see (its project's, shared ones; admins all)."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(SubnetPool).order_by(SubnetPool.id)
            clause = self.shareable_clause(ctx, SubnetPool)
            if clause is not None:
                q = q.where(clause)
            return [subnetpool_view(p) for p in (await s.scalars(q)).all()
                    if self.allowed(ctx, "get_subnetpool", self.shareable_target(p))]
        return await self.read(tx)

    async def show_subnetpool(self, ctx: RequestContext, pool_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return subnetpool_view(await self.get_subnetpool(s, ctx, pool_id))
        return await self.read(tx)

    async def update_subnetpool(self, ctx: RequestContext, pool_id: str, body: dict) -> dict:
        """Apply a parsed PUT body: name, description, prefixes (may only grow: every old
        prefix must stay covered, else 400), the three prefix lengths, default_quota,
        address_scope_id, is_default (admin only). The new view."""
        async def tx(s: AsyncSession) -> dict:
            pool = await self.get_subnetpool(s, ctx, pool_id)
            target = self.shareable_target(pool)
            self.authorize(ctx, "update_subnetpool", target)
            if "is_default" in body and body["is_default"] != pool.is_default:
                self.authorize(ctx, "update_subnetpool:is_default", target)
            prefixes = [ipaddress.ip_network(p) for p in pool.prefixes]
            if "prefixes" in body:
                version, wanted = merge_prefixes(body["prefixes"])
                if version != pool.ip_version:
                    raise errors.invalid_input(f"Illegal subnetpool prefixes: IPv{version} "
                                               f"prefixes for an IPv{pool.ip_version} pool")
                lost = [p for p in prefixes if not any(p.subnet_of(w) for w in wanted)]
                if lost:
                    raise BadRequest(f"Illegal update to prefixes: {lost[0]} would be removed; "
                                     "prefixes may only grow (use remove_prefixes).",
                                     kind="IllegalSubnetPoolPrefixUpdate")
                prefixes = wanted
            least, most, default = prefix_bounds(pool.ip_version, body, pool)
            scope_id = body.get("address_scope_id", pool.address_scope_id)
            is_default = body.get("is_default", pool.is_default)
            await self._check_links(s, ctx, pool.id, pool.ip_version, prefixes, scope_id,
                                    is_default)
            pool.prefixes = [str(p) for p in prefixes]
            pool.min_prefixlen, pool.max_prefixlen, pool.default_prefixlen = least, most, default
            pool.address_scope_id, pool.is_default = scope_id, is_default
            for key in ("name", "description", "default_quota"):
                if key in body:
                    setattr(pool, key, body[key])
            pool.touch()
            await s.flush()
            return subnetpool_view(pool)
        return await self.write(tx)

    async def delete_subnetpool(self, ctx: RequestContext, pool_id: str) -> None:
        """Delete a pool; 409 SubnetPoolInUse while subnets were carved from it."""
        async def tx(s: AsyncSession) -> None:
            pool = await self.get_subnetpool(s, ctx, pool_id)
            self.authorize(ctx, "delete_subnetpool", self.shareable_target(pool))
            if await self._pool_cidrs(s, pool.id):
                raise pool_in_use(pool.id, "Subnets are allocated from it")
            await s.delete(pool)
        await self.write(tx)

    # --- prefix operations (subnetpool-prefix-ops) ---------------------------------------
    async def change_prefixes(self, ctx: RequestContext, pool_id: str, action: str,
                              given: list[str]) -> list[str]:
        """``add_prefixes`` (merge ``given`` in) or ``remove_prefixes`` (cut ``given`` out;
        409 SubnetPoolInUse if a subnet of the pool overlaps one; 400 if nothing would
        remain). The pool's prefixes afterwards."""
        async def tx(s: AsyncSession) -> list[str]:
            pool = await self.get_subnetpool(s, ctx, pool_id)
            self.authorize(ctx, action, self.shareable_target(pool))
            version, nets = merge_prefixes(given)
            if version != pool.ip_version:
                raise errors.invalid_input(f"Illegal subnetpool prefixes: IPv{version} prefixes "
                                           f"for an IPv{pool.ip_version} pool")
            current = [ipaddress.ip_network(p) for p in pool.prefixes]
            if action == "add_prefixes":
                result = list(ipaddress.collapse_addresses(current + nets))
            else:
                for alloc in await self._pool_cidrs(s, pool.id):
                    if any(ipaddress.ip_network(alloc.cidr).overlaps(n) for n in nets):
                        raise pool_in_use(pool.id, f"Prefix overlaps subnet {alloc.subnet_id} "
                                                   f"({alloc.cidr})")
                for net in nets:
                    current = subtract(current, net)
                result = list(ipaddress.collapse_addresses(current))
                if not result:
                    raise BadRequest("Illegal update to prefixes: a subnet pool needs at least "
                                     "one prefix.", kind="IllegalSubnetPoolPrefixUpdate")
            await self._check_links(s, ctx, pool.id, version, result, pool.address_scope_id, False)
            pool.prefixes = [str(p) for p in result]
            pool.touch()
            return list(pool.prefixes)
        return await self.write(tx)

    # --- the subnet allocation hook ----------------------------------------------------
    async def _pool_for_subnet(self, s: AsyncSession, ctx: RequestContext, body: dict) -> SubnetPool:
        if body.get("subnetpool_id"):
            return await self.get_subnetpool(s, ctx, body["subnetpool_id"])
        version = body.get("ip_version") or 4
        pools = (await s.scalars(select(SubnetPool).where(
            SubnetPool.is_default.is_(True), SubnetPool.ip_version == version))).all()
        for pool in pools:
            if self.allowed(ctx, "get_subnetpool", self.shareable_target(pool)):
                return pool
        raise BadRequest(f"No default subnetpool found for IPv{version}", kind="BadRequest")

    async def allocate_from_pool(self, s: AsyncSession, ctx: RequestContext, body: dict,
                                 project: str) -> tuple[Net, SubnetPoolAllocation]:
        """The CIDR for a new subnet of ``project`` whose parsed body names a pool
        (``subnetpool_id`` or ``use_default_subnetpool``), and the allocation row to attach
        to it (``Subnet.pool_link``). 404 invisible pool; 400 no default pool, other IP
        version, prefix length out of [min_prefixlen, max_prefixlen], cidr outside the
        pool; 409 cidr taken, pool full, quota exceeded."""
        pool = await self._pool_for_subnet(s, ctx, body)
        if body.get("ip_version") and body["ip_version"] != pool.ip_version:
            raise errors.invalid_input(f"ip_version {body['ip_version']} does not match subnet "
                                       f"pool {pool.id} (IPv{pool.ip_version})")
        prefixes = [ipaddress.ip_network(p) for p in pool.prefixes]
        allocations = await self._pool_cidrs(s, pool.id)
        used = [ipaddress.ip_network(a.cidr) for a in allocations]
        if body.get("cidr"):
            cidr = ipam.parse_cidr(body["cidr"], pool.ip_version)
            prefixlen = cidr.prefixlen
        else:
            prefixlen = body.get("prefixlen") or pool.default_prefixlen
            cidr = None
        if not pool.min_prefixlen <= prefixlen <= pool.max_prefixlen:
            raise errors.invalid_input(f"prefixlen {prefixlen} is out of the bounds of subnet "
                                       f"pool {pool.id}: min_prefixlen {pool.min_prefixlen}, "
                                       f"max_prefixlen {pool.max_prefixlen}")
        if cidr is not None:
            if not any(cidr.subnet_of(p) for p in prefixes):
                raise errors.invalid_input(f"Cidr {cidr} is not within the prefixes of subnet "
                                           f"pool {pool.id}")
            if any(cidr.overlaps(u) for u in used):
                raise allocation_error(f"Cidr {cidr} overlaps another subnet of subnet pool "
                                       f"{pool.id}")
        else:
            cidr = first_free(prefixes, used, prefixlen)
            if cidr is None:
                raise allocation_error(f"Insufficient prefix space to allocate subnet size "
                                       f"/{prefixlen}")
        if pool.default_quota is not None:
            spent = sum(quota_units(ipaddress.ip_network(a.cidr)) for a in allocations
                        if a.project_id == project)
            if spent + quota_units(cidr) > pool.default_quota:
                raise Conflict("Per-tenant subnet pool prefix quota exceeded.",
                               kind="SubnetPoolQuotaExceeded")
        return cidr, SubnetPoolAllocation(pool=pool, project_id=project, cidr=str(cidr))
