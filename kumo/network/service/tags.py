"""Resource tags (Networking API v2.0 "Tag extension (tags)"; aliases ``tag``, ``tag-ext``,
``standard-attr-tag``).

``/v2.0/<collection>/{id}/tags`` for every collection in :data:`TAGGABLE`. A
caller who sees the resource reads its tags; changing them takes the policy's
``update_<resource>:tags`` rule on the resource's target. Tags are strings of
1..255 characters without commas, at most 50 per resource (400).
"""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest
from kumo.common.auth.context import RequestContext
from kumo.network import errors
from kumo.network.service.base import ServiceBase

#: URL collection -> (policy resource name, lookup method, target method); subnets and
#: ports are looked up with their network (see :meth:`TagsMixin._taggable`).
TAGGABLE = {
    "networks": ("network", "get_network", "network_target"),
    "subnets": ("subnet", None, None),
    "ports": ("port", None, None),
    "routers": ("router", "get_router", "router_target"),
    "floatingips": ("floatingip", "get_floatingip", "floatingip_target"),
    "security-groups": ("security_group", "get_group", "group_target"),
    "subnetpools": ("subnetpool", "get_subnetpool", "shareable_target"),
    "address-scopes": ("address_scope", "get_address_scope", "shareable_target"),
}
MAX_TAGS = 50


class TagsMixin(ServiceBase):
    async def _taggable(self, s: AsyncSession, ctx: RequestContext, collection: str, ident: str,
                        write: bool):
        resource, lookup, target_of = TAGGABLE[collection]
        if collection == "subnets":
            obj, net = await self.get_subnet(s, ctx, ident)
            target = self.child_target(obj.project_id, net)
        elif collection == "ports":
            obj, net = await self.get_port(s, ctx, ident)
            target = self.port_target(obj, net)
        else:
            obj = await getattr(self, lookup)(s, ctx, ident)
            target = getattr(self, target_of)(obj)
        if write:
            self.authorize(ctx, f"update_{resource}:tags", target)
        return obj

    async def get_tags(self, ctx: RequestContext, collection: str, ident: str) -> list[str]:
        """The tags of one resource; 404 if the caller cannot see it."""
        async def tx(s: AsyncSession) -> list[str]:
            return list((await self._taggable(s, ctx, collection, ident, False)).tags or [])
        return await self.read(tx)

    async def set_tags(self, ctx: RequestContext, collection: str, ident: str,
                       tags: list[str] | None, add: str | None = None,
                       remove: str | None = None) -> list[str]:
        """Replace (``tags``), add one (``add``) or remove one (``remove``) tag; the tags.

        404 TagNotFound when removing an absent tag; 400 for more than 50 tags; 403
        without ``update_<resource>:tags``.
        """
        async def tx(s: AsyncSession) -> list[str]:
            obj = await self._taggable(s, ctx, collection, ident, True)
            current = list(obj.tags or [])
            if tags is not None:
                current = list(dict.fromkeys(tags))
            if add is not None and add not in current:
                current.append(add)
            if remove is not None:
                if remove not in current:
                    raise errors.tag_not_found(TAGGABLE[collection][0], ident, remove)
                current.remove(remove)
            if len(current) > MAX_TAGS:
                raise BadRequest(f"Exceeded maximum number of tags ({MAX_TAGS}).",
                                 kind="InvalidInput")
            obj.tags = current
            obj.touch()
            return current
        return await self.write(tx)
