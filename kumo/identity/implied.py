"""Implied roles (Identity API v3: "Roles" - implied roles and role inference rules).

A rule "prior implies implied" makes everyone who has the prior role on a
target also have the implied role there, transitively. keystone's rules for
creating one: the implied role may not be ``admin`` (``PROHIBITED``) and a
global role may not imply a domain-specific role (both 403); a
domain-specific prior role may imply any role. Unknown roles or rules are
NotFound (404). :class:`ImpliedRoles` is a mixin of
:class:`kumo.identity.assignment.AssignmentService` (it uses ``self.db``).
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import Forbidden, NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m

#: Roles that no role may imply (keystone's ``[assignment] prohibited_implied_role``).
PROHIBITED = ("admin",)

R = m.ImpliedRole


class ImpliedRoles:
    db: Database

    async def _role(self, db: AsyncSession, role_id: str) -> m.Role:
        return await crud.get_or_404(db, m.Role, role_id, "role")

    async def imply(self, prior_role_id: str, implied_role_id: str) -> None:
        """Record that ``prior_role_id`` implies ``implied_role_id`` (idempotent, no checks)."""
        async with self.db.session() as db:
            if await db.get(R, (prior_role_id, implied_role_id)) is None:
                db.add(R(prior_role_id=prior_role_id, implied_role_id=implied_role_id))

    async def create_implied(self, prior_role_id: str, implied_role_id: str) -> tuple[m.Role, m.Role]:
        """Add the rule (idempotent) and return ``(prior, implied)``; 404 unknown role, 403 refused."""
        async with self.db.session() as db:
            prior = await self._role(db, prior_role_id)
            implied = await self._role(db, implied_role_id)
            if implied.name in PROHIBITED:
                raise Forbidden(f"{implied.id} is not an allowed implied role.")
            if prior.domain_id == m.NULL_DOMAIN_ID and implied.domain_id != m.NULL_DOMAIN_ID:
                raise Forbidden("Global role cannot imply a domain-specific role.")
            if await db.get(R, (prior.id, implied.id)) is None:
                db.add(R(prior_role_id=prior.id, implied_role_id=implied.id))
        return prior, implied

    async def get_implied(self, prior_role_id: str, implied_role_id: str) -> tuple[m.Role, m.Role]:
        """``(prior, implied)`` of an existing rule; 404 for unknown roles or no such rule."""
        async with self.db.session() as db:
            prior = await self._role(db, prior_role_id)
            implied = await self._role(db, implied_role_id)
            if await db.get(R, (prior.id, implied.id)) is None:
                raise NotFound(f"{prior.id} does not imply {implied.id}.")
        return prior, implied

    async def delete_implied(self, prior_role_id: str, implied_role_id: str) -> None:
        """Remove a rule (404 if it does not exist)."""
        await self.get_implied(prior_role_id, implied_role_id)
        async with self.db.session() as db:
            row = await db.get(R, (prior_role_id, implied_role_id))
            if row is not None:
                await db.delete(row)

    async def list_implied(self, prior_role_id: str) -> tuple[m.Role, list[m.Role]]:
        """The prior role and the roles it implies directly (by name); 404 for an unknown role."""
        async with self.db.session() as db:
            prior = await self._role(db, prior_role_id)
            ids = select(R.implied_role_id).where(R.prior_role_id == prior.id)
            implied = await db.scalars(select(m.Role).where(m.Role.id.in_(ids)).order_by(m.Role.name, m.Role.id))
            return prior, list(implied.all())

    async def list_inferences(self) -> list[tuple[m.Role, list[m.Role]]]:
        """Every prior role with the roles it implies directly, by prior role name."""
        async with self.db.session() as db:
            rules = (await db.execute(select(R.prior_role_id, R.implied_role_id))).all()
            ids = {i for rule in rules for i in rule}
            roles = {r.id: r for r in (await db.scalars(select(m.Role).where(m.Role.id.in_(ids)))).all()}
        by_prior: dict[str, list[m.Role]] = defaultdict(list)
        for prior, implied in rules:
            if prior in roles and implied in roles:
                by_prior[prior].append(roles[implied])
        out = [(roles[p], sorted(found, key=lambda r: (r.name, r.id))) for p, found in by_prior.items()]
        return sorted(out, key=lambda pair: (pair[0].name, pair[0].id))

    # --- resolution --------------------------------------------------------------------------

    @staticmethod
    def _closure(seed):
        """A recursive CTE (column ``id``): the seed role ids and every role they imply."""
        closure = seed.cte("closure", recursive=True)
        return closure.union(select(R.implied_role_id).join(closure, R.prior_role_id == closure.c[0]))

    async def global_closure(self, db: AsyncSession, seed) -> list[m.Role]:
        """The global roles among ``seed`` (a select of role ids) and what they imply, by name."""
        closure = self._closure(seed)
        q = select(m.Role).where(m.Role.id.in_(select(closure.c[0])), m.Role.domain_id == m.NULL_DOMAIN_ID)
        return sorted((await db.scalars(q)).all(), key=lambda r: (r.name, r.id))

    async def implied_map(self, db: AsyncSession) -> dict[str, set[str]]:
        """Every rule as ``{prior id: {directly implied ids}}``."""
        out: dict[str, set[str]] = defaultdict(set)
        for prior, implied in (await db.execute(select(R.prior_role_id, R.implied_role_id))).all():
            out[prior].add(implied)
        return out

    async def useful_roles(self, db: AsyncSession, role_ids: set[str]) -> set[str]:
        """Those of ``role_ids`` that are global or imply (transitively) a global role."""
        if not role_ids:
            return set()
        rows = (await db.execute(select(m.Role.id, m.Role.domain_id).where(m.Role.id.in_(role_ids)))).all()
        useful = {rid for rid, dom in rows if dom == m.NULL_DOMAIN_ID}
        for rid, dom in rows:
            if dom != m.NULL_DOMAIN_ID and await self.global_closure(db, select(m.Role.id).where(m.Role.id == rid)):
                useful.add(rid)
        return useful


def implied_by(role_id: str, rules: dict[str, set[str]]) -> list[str]:
    """Every role ``role_id`` implies through ``rules`` (see ``implied_map``), transitively, itself excluded."""
    seen: set[str] = {role_id}
    out: list[str] = []
    stack = sorted(rules.get(role_id, ()))
    while stack:
        rid = stack.pop()
        if rid not in seen:
            seen.add(rid)
            out.append(rid)
            stack.extend(sorted(rules.get(rid, ())))
    return out
