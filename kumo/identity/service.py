"""Users (Identity API v3: "Users"), on top of domains and projects (:mod:`kumo.identity.resource`).

:class:`IdentityService` holds the rules (unique names per domain, the
default domain, password hashing, token revocation when a user is disabled
or changes password); the API layer handles policy and rendering. Errors are :mod:`kumo.common.api.errors` exceptions with
keystone's messages: NotFound (404) for unknown ids, Conflict (409) for
duplicate names, BadRequest (400) for invalid values, Forbidden (403) for
operations keystone refuses (deleting an enabled domain, a non-leaf project).
"""
from __future__ import annotations

import asyncio
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Unauthorized
from kumo.common.db import Database, utcnow
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.passwords import check_password, hash_password
from kumo.identity.resource import ResourceService, conflict, not_found  # noqa: F401 (re-exported)
from kumo.identity import security
from kumo.identity import tokens as clock


async def revoke_user_tokens(session: AsyncSession, user_id: str, token_expiration: int) -> None:
    """Record that every token of ``user_id`` issued until now is revoked."""
    issued = clock.now_us()
    session.add(m.RevocationEvent(user_id=user_id, issued_before=issued,
                                  expires_at=issued + token_expiration * 1_000_000))


_DUMMY: list[str] = []


async def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(await asyncio.to_thread(hash_password, "kumo-no-such-user"))
    return _DUMMY[0]


class IdentityService(ResourceService):
    """Users, on top of the domains and projects of :class:`ResourceService`."""

    def __init__(self, db: Database, token_expiration: int = 3600,
                 compliance: security.Compliance | None = None):
        self.db = db
        self.token_expiration = token_expiration
        self.compliance = compliance or security.Compliance()

    # --- users -----------------------------------------------------------------------------

    async def list_users(self, *, name: str | None = None, domain_id: str | None = None,
                         enabled: bool | None = None) -> list[m.User]:
        return await crud.list_rows(self.db, m.User,
                                    {"name": name, "domain_id": domain_id, "enabled": enabled},
                                    order_by=(m.User.name, m.User.id))

    async def get_user(self, user_id: str) -> m.User:
        return await crud.fetch(self.db, m.User, user_id, "user")

    async def _user(self, db: AsyncSession, user_id: str) -> m.User:
        return await crud.get_or_404(db, m.User, user_id, "user")

    async def find_user(self, db: AsyncSession, *, id: str | None = None, name: str | None = None,
                        domain_id: str | None = None) -> m.User | None:
        if id:
            return await db.get(m.User, id)
        q = select(m.User).where(m.User.name == name, m.User.domain_id == domain_id)
        return (await db.scalars(q)).first()

    async def create_user(self, data: s.UserCreate, default_domain_id: str,
                          user_id: str | None = None) -> m.User:
        """Create a user (404 unknown domain, 409 duplicate name in the domain)."""
        domain_id = data.domain_id or default_domain_id
        options = security.validate_options(dict(data.options or {}))
        if data.password is not None:
            self.compliance.check_format(data.password)
        hashed = await asyncio.to_thread(hash_password, data.password) if data.password is not None else None
        if hashed:  # set by an admin: change-on-first-use and the minimum age rule read this
            options["_password_reset_by_admin"] = True
        try:
            async with self.db.session() as db:
                await self._domain(db, domain_id)
                if await self.find_user(db, name=data.name, domain_id=domain_id):
                    raise conflict("user", data.name, domain_id)
                u = m.User(name=data.name, domain_id=domain_id, enabled=data.enabled,
                           default_project_id=data.default_project_id, password_hash=hashed,
                           extra=data.extras(), password_changed_at=utcnow() if hashed else None)
                if user_id:
                    u.id = user_id
                db.add(u)
                await db.flush()
                await security.save_options(db, u.id, options)
        except IntegrityError:
            raise conflict("user", data.name, domain_id) from None
        return u

    async def update_user(self, user_id: str, data: s.UserUpdate) -> m.User:
        """Change a user; disabling it or setting its password revokes its tokens."""
        fields = data.model_fields_set
        hashed = None
        options = security.validate_options(dict(data.options or {}))
        if "password" in fields and data.password is not None:
            self.compliance.check_format(data.password)
            hashed = await asyncio.to_thread(hash_password, data.password)
        try:
            async with self.db.session() as db:
                u = await self._user(db, user_id)
                revoke = False
                if "domain_id" in fields and data.domain_id != u.domain_id:
                    raise BadRequest("Cannot change Domain ID of a user.")
                if "name" in fields and data.name and data.name != u.name:
                    if await self.find_user(db, name=data.name, domain_id=u.domain_id):
                        raise conflict("user", data.name, u.domain_id)
                    u.name = data.name
                if "enabled" in fields and data.enabled is not None:
                    revoke = revoke or (u.enabled and not data.enabled)
                    u.enabled = data.enabled
                if "default_project_id" in fields:
                    u.default_project_id = data.default_project_id
                if hashed is not None:
                    await self.compliance.record_change(db, u, hashed, by_admin=True)
                    revoke = True
                if options:
                    await security.save_options(db, u.id, options)
                crud.merge_extras(u, data)
                if revoke:
                    await revoke_user_tokens(db, u.id, self.token_expiration)
        except IntegrityError:
            raise conflict("user", data.name or "", None) from None
        return u

    async def change_password(self, user_id: str, data: s.PasswordChange) -> None:
        """The user's own password change: 401 if ``original_password`` is wrong, 400 if the
        security compliance rules refuse the new password. Revokes the user's tokens."""
        async with self.db.session() as db:
            user = await self._user(db, user_id)
            options = (await security.load_options(db, [user.id]))[user.id]
        if not await asyncio.to_thread(check_password, data.original_password, user.password_hash):
            raise Unauthorized("The request you have made requires authentication.")
        async with self.db.session() as db:
            await self.compliance.check_change(db, user, options, data.password, self_service=True)
        hashed = await asyncio.to_thread(hash_password, data.password)
        async with self.db.session() as db:
            u = await self._user(db, user_id)
            await self.compliance.record_change(db, u, hashed, by_admin=False)
            await revoke_user_tokens(db, u.id, self.token_expiration)

    async def user_details(self, users: list[m.User]) -> dict[str, tuple[dict, object]]:
        """``{user_id: (options, password_expires_at)}`` for rendering users (one query);
        internal options (``_...``) are left out."""
        async with self.db.session() as db:
            options = await security.load_options(db, [u.id for u in users])
        out = {}
        for u in users:
            opts = options.get(u.id, {})
            out[u.id] = ({k: v for k, v in opts.items() if not k.startswith("_")},
                         self.compliance.password_expires_at(u, opts))
        return out

    async def delete_user(self, user_id: str) -> None:
        async with self.db.session() as db:
            u = await self._user(db, user_id)
            await db.execute(delete(m.Assignment).where(m.Assignment.actor_id == u.id))
            await db.execute(delete(m.GroupMembership).where(m.GroupMembership.user_id == u.id))
            await db.execute(delete(m.ApplicationCredential).where(m.ApplicationCredential.user_id == u.id))
            await db.execute(delete(m.AccessRule).where(m.AccessRule.user_id == u.id))
            await db.execute(delete(m.Credential).where(m.Credential.user_id == u.id))
            await db.execute(delete(m.Trust).where((m.Trust.trustor_user_id == u.id)
                                                   | (m.Trust.trustee_user_id == u.id)))
            await revoke_user_tokens(db, u.id, self.token_expiration)
            await db.delete(u)

    async def authenticate_password(self, *, password: str, user_id: str | None = None,
                                    name: str | None = None, domain_id: str | None = None,
                                    domain_name: str | None = None) -> m.User:
        """The enabled user (in an enabled domain) with this password; Unauthorized otherwise."""
        async with self.db.session() as db:
            user = None
            if user_id:
                user = await db.get(m.User, user_id)
            else:
                domain = await self.find_domain(db, id=domain_id, name=domain_name)
                if domain is not None:
                    user = await self.find_user(db, name=name, domain_id=domain.id)
            domain = await db.get(m.Domain, user.domain_id) if user else None
            options = (await security.load_options(db, [user.id]))[user.id] if user else {}
        # Unknown users cost a bcrypt check too, so timing does not tell which names exist.
        hashed = user.password_hash if user and user.password_hash else await _dummy_hash()
        ok = await asyncio.to_thread(check_password, password, hashed)
        ok = ok and user is not None and bool(user.password_hash)
        if user is None or not user.enabled or domain is None or not domain.enabled:
            raise Unauthorized("The request you have made requires authentication.")
        async with self.db.session() as db:
            refused = await self.compliance.check_login(db, user, options, ok)
        if refused:
            raise Unauthorized(refused)
        return user
