"""Policy documents (Identity API v3: "Policies", the deprecated ``/v3/policies`` store).

A policy is an opaque ``blob`` string with a MIME ``type`` (both required,
``type`` at most 255 characters) plus any extra attributes; keystone stores
them for other services and never evaluates them. NotFound (404) for
unknown ids.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.resource import not_found


class PolicyService:
    def __init__(self, db: Database):
        self.db = db

    async def list_policies(self, type: str | None = None) -> list[m.Policy]:
        q = select(m.Policy).order_by(m.Policy.id)
        if type is not None:
            q = q.where(m.Policy.type == type)
        async with self.db.session() as db:
            return list((await db.scalars(q)).all())

    async def get_policy(self, policy_id: str) -> m.Policy:
        async with self.db.session() as db:
            return await self._policy(db, policy_id)

    @staticmethod
    async def _policy(db: AsyncSession, policy_id: str) -> m.Policy:
        p = await db.get(m.Policy, policy_id)
        if p is None:
            raise not_found("policy", policy_id)
        return p

    async def create_policy(self, data: s.PolicyCreate) -> m.Policy:
        p = m.Policy(type=data.type, blob=data.blob, extra=data.extras())
        async with self.db.session() as db:
            db.add(p)
        return p

    async def update_policy(self, policy_id: str, data: s.PolicyUpdate) -> m.Policy:
        async with self.db.session() as db:
            p = await self._policy(db, policy_id)
            if data.type is not None:
                p.type = data.type
            if data.blob is not None:
                p.blob = data.blob
            extras = data.extras()
            if extras:
                p.extra = {**(p.extra or {}), **extras}
        return p

    async def delete_policy(self, policy_id: str) -> None:
        async with self.db.session() as db:
            await db.delete(await self._policy(db, policy_id))
