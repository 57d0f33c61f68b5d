"""Trusts (Identity API v3 OS-TRUST extension: "Trusts").

A trust lets its trustee act for the trustor on one project with some of
the trustor's roles there, optionally impersonating the trustor, until
``expires_at`` and for ``remaining_uses`` token issues. Trusts cannot be
updated; deleting one (or the trustor losing a role, or being disabled)
invalidates the tokens issued with it at once, because trust-scoped tokens
are checked against the trust each time they are validated. Redelegation
is off unless the trust allows it.

Errors: NotFound (404) for unknown, deleted or expired trusts, users,
projects and roles; Forbidden (403) when the caller is not the trustor, a
role is not the trustor's, or the token may not delegate; BadRequest (400)
for invalid values.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from kumo.common.db import Database, utcnow
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.appcreds import Creator, ensure_unrestricted, parse_expiry
from kumo.identity.assignment import AssignmentService
from kumo.identity.service import not_found


@dataclass
class TrustView:
    """A trust with its role rows."""

    row: m.Trust
    roles: list[m.Role]


def trust_not_found(trust_id: str) -> NotFound:
    return not_found("trust", trust_id)


def usable(row: m.Trust | None) -> bool:
    """True if the trust exists and has not expired."""
    return row is not None and (row.expires_at is None or row.expires_at > utcnow())


class TrustService:
    def __init__(self, db: Database, assignments: AssignmentService):
        self.db = db
        self.assignments = assignments

    async def create(self, data: s.TrustCreate, creator: Creator) -> TrustView:
        """Create a trust from the trustor's token (403 for anyone else)."""
        if creator.user_id != data.trustor_user_id:
            raise Forbidden("The authenticated user should match the trustor.")
        expires = parse_expiry(data.expires_at)
        if data.redelegation_count is not None and not data.allow_redelegation:
            raise BadRequest("redelegation_count is only allowed with allow_redelegation.")
        async with self.db.session() as db:
            await ensure_unrestricted(db, creator.app_cred_id, "trusts")
            parent = await self._parent(db, creator.trust_id, data)
            for uid in (data.trustor_user_id, data.trustee_user_id):
                await crud.get_or_404(db, m.User, uid, "user")
            if data.project_id:
                await crud.get_or_404(db, m.Project, data.project_id, "project")
            roles = await self._roles(db, data, parent)
            count = data.redelegation_count
            if parent is not None:
                count = (parent.redelegation_count or 1) - 1 if count is None else count
            row = m.Trust(trustor_user_id=data.trustor_user_id, trustee_user_id=data.trustee_user_id,
                          project_id=data.project_id, impersonation=data.impersonation, expires_at=expires,
                          remaining_uses=data.remaining_uses, allow_redelegation=data.allow_redelegation,
                          redelegation_count=count if data.allow_redelegation else None,
                          redelegated_trust_id=parent.id if parent else None,
                          role_ids=[r.id for r in roles], created_at=utcnow())
            db.add(row)
        return TrustView(row, roles)

    async def _parent(self, db: AsyncSession, trust_id: str | None, data: s.TrustCreate) -> m.Trust | None:
        """The trust a trust-scoped token redelegates (403 unless it allows redelegation)."""
        if trust_id is None:
            return None
        parent = await db.get(m.Trust, trust_id)
        if not usable(parent) or not parent.allow_redelegation or (parent.redelegation_count or 0) < 1:
            raise Forbidden("Redelegation is not allowed by the trust this token was issued with.")
        if data.expires_at is not None and parent.expires_at is not None and \
                parse_expiry(data.expires_at) > parent.expires_at:
            raise Forbidden("A redelegated trust cannot outlive the trust it comes from.")
        if data.project_id != parent.project_id or (data.impersonation and not parent.impersonation):
            raise Forbidden("A redelegated trust cannot widen the trust it comes from.")
        return parent

    async def _roles(self, db: AsyncSession, data: s.TrustCreate, parent: m.Trust | None) -> list[m.Role]:
        if data.roles and not data.project_id:
            raise BadRequest("A trust with roles needs a project_id.")
        held = {r.id: r for r in await self.assignments.roles_on(
            data.trustor_user_id, project_id=data.project_id, db=db)} if data.project_id else {}
        out: dict[str, m.Role] = {}
        for ref in data.roles:
            if ref.id:
                role = await db.get(m.Role, ref.id)
            else:
                q = select(m.Role).where(m.Role.name == ref.name)
                if ref.domain_id:
                    q = q.where(m.Role.domain_id == ref.domain_id)
                role = (await db.scalars(q)).first()
            if role is None:
                raise not_found("role", ref.id or ref.name)
            if role.id not in held or (parent is not None and role.id not in parent.role_ids):
                raise Forbidden(f"The trustor does not have the role {role.id} on the project, "
                                f"so it cannot delegate it.")
            out[role.id] = role
        return sorted(out.values(), key=lambda r: r.name)

    async def list(self, *, trustor_user_id: str | None = None, trustee_user_id: str | None = None) -> list[TrustView]:
        q = crud.where_equal(select(m.Trust).order_by(m.Trust.created_at, m.Trust.id), m.Trust,
                             {"trustor_user_id": trustor_user_id, "trustee_user_id": trustee_user_id})
        async with self.db.session() as db:
            rows = [t for t in (await db.scalars(q)).all() if usable(t)]
            return await self._expand(db, rows)

    async def get(self, trust_id: str) -> TrustView:
        async with self.db.session() as db:
            row = await db.get(m.Trust, trust_id)
            if not usable(row):
                raise trust_not_found(trust_id)
            return (await self._expand(db, [row]))[0]

    async def delete(self, trust_id: str) -> None:
        """Delete it and the trusts redelegated from it; their tokens stop validating."""
        async with self.db.session() as db:
            row = await db.get(m.Trust, trust_id)
            if row is None:
                raise trust_not_found(trust_id)
            doomed, frontier = [row], [row.id]
            while frontier:
                children = list((await db.scalars(select(m.Trust).where(
                    m.Trust.redelegated_trust_id.in_(frontier)))).all())
                doomed += children
                frontier = [c.id for c in children]
            for t in doomed:
                await db.delete(t)

    async def _expand(self, db: AsyncSession, rows: list[m.Trust]) -> list[TrustView]:
        ids = {i for t in rows for i in t.role_ids or []}
        roles = {r.id: r for r in (await db.scalars(select(m.Role).where(m.Role.id.in_(ids)))).all()} \
            if ids else {}
        return [TrustView(t, sorted((roles[i] for i in t.role_ids or [] if i in roles), key=lambda r: r.name))
                for t in rows]

    # --- tokens ----------------------------------------------------------------------------

    async def consume(self, trust_id: str, trustee_id: str) -> m.Trust:
        """Use the trust for a new token of ``trustee_id`` (401 if it cannot be used)."""
        async with self.db.session() as db:
            row = await db.get(m.Trust, trust_id)
            if not usable(row):
                raise trust_not_found(trust_id)
            if row.trustee_user_id != trustee_id:
                raise Forbidden("The user is not the trustee of this trust.")
            if row.remaining_uses is not None:
                if row.remaining_uses <= 0:
                    raise Unauthorized("The trust has no uses left.")
                row.remaining_uses -= 1
        return row
