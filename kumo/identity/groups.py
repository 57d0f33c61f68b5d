"""Groups and group membership (Identity API v3: "Groups").

A group lives in a domain, has a name unique in that domain, an optional
description and extra attributes; users of any domain can be members.
Deleting a group removes its memberships and role assignments. Errors:
NotFound (404) for unknown groups, users or domains and for a missing
membership; Conflict (409) for a duplicate name in the domain.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.service import conflict

#: Assignment types whose actor is a group.
GROUP_TYPES = tuple(m.assignment_type("group", t, i) for t in ("project", "domain", "system")
                    for i in (False, True))


class GroupService:
    def __init__(self, db: Database):
        self.db = db

    async def list_groups(self, *, name: str | None = None, domain_id: str | None = None) -> list[m.Group]:
        """Groups sorted by name, optionally only those named ``name`` and/or in ``domain_id``."""
        return await crud.list_rows(self.db, m.Group, {"name": name, "domain_id": domain_id},
                                    order_by=(m.Group.name, m.Group.id))

    async def get_group(self, group_id: str) -> m.Group:
        return await crud.fetch(self.db, m.Group, group_id, "group")

    @staticmethod
    async def group(db: AsyncSession, group_id: str) -> m.Group:
        """The group row; NotFound (404) if there is none."""
        return await crud.get_or_404(db, m.Group, group_id, "group")

    @staticmethod
    async def _name_taken(db: AsyncSession, name: str, domain_id: str) -> bool:
        q = select(m.Group.id).where(m.Group.name == name, m.Group.domain_id == domain_id).limit(1)
        return (await db.scalars(q)).first() is not None

    async def create_group(self, data: s.GroupCreate, default_domain_id: str) -> m.Group:
        """Create a group in ``data.domain_id`` (else ``default_domain_id``): 404 domain, 409 name."""
        domain_id = data.domain_id or default_domain_id
        try:
            async with self.db.session() as db:
                await crud.get_or_404(db, m.Domain, domain_id, "domain")
                if await self._name_taken(db, data.name, domain_id):
                    raise conflict("group", data.name, domain_id)
                g = m.Group(name=data.name, domain_id=domain_id, description=data.description,
                            extra=data.extras())
                db.add(g)
        except IntegrityError:
            raise conflict("group", data.name, domain_id) from None
        return g

    async def update_group(self, group_id: str, data: s.GroupUpdate) -> m.Group:
        """Rename / describe a group; its domain cannot change (400), names stay unique (409)."""
        fields = data.model_fields_set
        try:
            async with self.db.session() as db:
                g = await self.group(db, group_id)
                if "domain_id" in fields and data.domain_id != g.domain_id:
                    raise BadRequest("Cannot change Domain ID of a group.")
                if "name" in fields and data.name and data.name != g.name:
                    if await self._name_taken(db, data.name, g.domain_id):
                        raise conflict("group", data.name, g.domain_id)
                    g.name = data.name
                if "description" in fields:
                    g.description = data.description
                crud.merge_extras(g, data)
        except IntegrityError:
            raise conflict("group", data.name or "") from None
        return g

    async def delete_group(self, group_id: str) -> None:
        """Delete a group with its memberships and role assignments."""
        async with self.db.session() as db:
            g = await self.group(db, group_id)
            await db.execute(delete(m.GroupMembership).where(m.GroupMembership.group_id == g.id))
            await db.execute(delete(m.Assignment).where(m.Assignment.actor_id == g.id,
                                                        m.Assignment.type.in_(GROUP_TYPES)))
            await db.delete(g)

    # --- membership --------------------------------------------------------------------------

    async def _pair(self, db: AsyncSession, group_id: str, user_id: str) -> None:
        await self.group(db, group_id)
        await crud.get_or_404(db, m.User, user_id, "user")

    async def add_user(self, group_id: str, user_id: str) -> None:
        """Make the user a member (idempotent); 404 for an unknown group or user."""
        async with self.db.session() as db:
            await self._pair(db, group_id, user_id)
            if await db.get(m.GroupMembership, (user_id, group_id)) is None:
                db.add(m.GroupMembership(user_id=user_id, group_id=group_id))

    async def check_user(self, group_id: str, user_id: str) -> None:
        """Return if the user is a member; NotFound (404) otherwise."""
        async with self.db.session() as db:
            await self._pair(db, group_id, user_id)
            if await db.get(m.GroupMembership, (user_id, group_id)) is None:
                raise self._not_member(group_id, user_id)

    async def remove_user(self, group_id: str, user_id: str) -> None:
        """End a membership (404 if there is none): the user loses the group's roles at once."""
        async with self.db.session() as db:
            await self._pair(db, group_id, user_id)
            row = await db.get(m.GroupMembership, (user_id, group_id))
            if row is None:
                raise self._not_member(group_id, user_id)
            await db.delete(row)

    @staticmethod
    def _not_member(group_id: str, user_id: str) -> NotFound:
        return NotFound(f"{user_id} is not a member of group {group_id}.")

    async def users_in_group(self, group_id: str, *, name: str | None = None,
                             domain_id: str | None = None, enabled: bool | None = None) -> list[m.User]:
        """The group's members sorted by name (404 for an unknown group)."""
        q = (select(m.User).join(m.GroupMembership, m.GroupMembership.user_id == m.User.id)
             .where(m.GroupMembership.group_id == group_id).order_by(m.User.name, m.User.id))
        q = crud.where_equal(q, m.User, {"name": name, "domain_id": domain_id, "enabled": enabled})
        async with self.db.session() as db:
            await self.group(db, group_id)
            return list((await db.scalars(q)).all())

    async def groups_for_user(self, user_id: str, *, name: str | None = None) -> list[m.Group]:
        """The groups the user is a member of, sorted by name (404 for an unknown user)."""
        q = (select(m.Group).join(m.GroupMembership, m.GroupMembership.group_id == m.Group.id)
             .where(m.GroupMembership.user_id == user_id).order_by(m.Group.name, m.Group.id))
        q = crud.where_equal(q, m.Group, {"name": name})
        async with self.db.session() as db:
            await crud.get_or_404(db, m.User, user_id, "user")
            return list((await db.scalars(q)).all())
