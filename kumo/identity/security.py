"""User options and keystone's security compliance rules (Identity API v3: "Users", user options).

:class:`Compliance` applies the ``[identity]`` security compliance settings
of :class:`kumo.config.IdentitySettings` (all off by default, as in
keystone): account lockout after failed password authentications, password
expiry (``password_expires_at``), password history, minimum password age, a
password regular expression and change-on-first-use. User options are
stored in ``user_options`` and shown under ``options`` on the user.

Errors: BadRequest (400) for a password the rules refuse or an invalid
option; :meth:`Compliance.check_login` says why a login is refused (401).
"""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest
from kumo.common.db import utcnow
from kumo.config import IdentitySettings
from kumo.identity import models as m
from kumo.identity.passwords import check_password

#: Option name -> accepted value type (keystone's user options).
OPTIONS: dict[str, type | tuple] = {
    "ignore_change_password_upon_first_use": bool,
    "ignore_password_expiry": bool,
    "ignore_lockout_failure_attempts": bool,
    "lock_password": bool,
    "ignore_user_inactivity": bool,
    "multi_factor_auth_enabled": bool,
    "multi_factor_auth_rules": list,
}

UNAUTHORIZED = "The request you have made requires authentication."


def validate_options(options: dict) -> dict:
    """``options`` checked against :data:`OPTIONS` (None removes an option); BadRequest otherwise.

    ``multi_factor_auth_rules`` is a list of lists of method names.
    """
    for name, value in options.items():
        kind = OPTIONS.get(name)
        if kind is None:
            raise BadRequest(f"Invalid option {name!r} for user.")
        if value is None:
            continue
        if kind is bool and not isinstance(value, bool):
            raise BadRequest(f"Invalid value for option {name}: expected a boolean.")
        if kind is list:
            if not isinstance(value, list) or not all(
                    isinstance(rule, list) and rule and all(isinstance(x, str) and x for x in rule)
                    for rule in value):
                raise BadRequest(f"Invalid value for option {name}: expected a list of lists of methods.")
    return options


async def load_options(db: AsyncSession, user_ids: list[str]) -> dict[str, dict]:
    """``{user_id: {option: value}}`` for the users (one query)."""
    out: dict[str, dict] = {uid: {} for uid in user_ids}
    if user_ids:
        rows = (await db.scalars(select(m.UserOption).where(m.UserOption.user_id.in_(user_ids)))).all()
        for row in rows:
            out.setdefault(row.user_id, {})[row.name] = row.value
    return out


async def save_options(db: AsyncSession, user_id: str, options: dict) -> None:
    """Set (or with None, remove) each option of ``options`` for the user."""
    for name, value in options.items():
        row = await db.get(m.UserOption, (user_id, name))
        if value is None:
            if row is not None:
                await db.delete(row)
        elif row is None:
            db.add(m.UserOption(user_id=user_id, name=name, value=value))
        else:
            row.value = value


class Compliance:
    """The security compliance rules for one identity database."""

    def __init__(self, settings: IdentitySettings | None = None):
        self.settings = settings or IdentitySettings()

    # --- expiry ----------------------------------------------------------------------------

    def password_expires_at(self, user: m.User, options: dict) -> datetime | None:
        """When the user's password expires (naive UTC), or None."""
        days = self.settings.password_expires_days
        if not days or not user.password_hash or options.get("ignore_password_expiry"):
            return None
        return (user.password_changed_at or user.created_at or utcnow()) + timedelta(days=days)

    def must_change(self, user: m.User, options: dict) -> bool:
        """True if the user must change an admin-set password before authenticating with it."""
        if not self.settings.change_password_upon_first_use:
            return False
        if options.get("ignore_change_password_upon_first_use"):
            return False
        return bool(options.get("_password_reset_by_admin"))

    # --- authentication --------------------------------------------------------------------

    async def check_login(self, db: AsyncSession, user: m.User, options: dict, password_ok: bool) -> str | None:
        """Count the attempt; the reason to refuse it (401: locked out, wrong, expired or must-change
        password) or None. The caller raises after committing ``db``, so failures are counted."""
        limit = self.settings.lockout_failure_attempts
        watched = limit > 0 and not options.get("ignore_lockout_failure_attempts")
        failure = await db.get(m.LoginFailure, user.id) if watched else None
        if failure is not None and failure.count >= limit:
            duration = self.settings.lockout_duration
            if duration <= 0 or utcnow() < failure.last_failure_at + timedelta(seconds=duration):
                return f"The account is locked for user: {user.id}."
            await db.delete(failure)
            failure = None
        if not password_ok:
            if watched:
                if failure is None:
                    db.add(m.LoginFailure(user_id=user.id, count=1, last_failure_at=utcnow()))
                else:
                    failure.count, failure.last_failure_at = failure.count + 1, utcnow()
            return UNAUTHORIZED
        if failure is not None:
            await db.delete(failure)
        expires = self.password_expires_at(user, options)
        if expires is not None and expires <= utcnow():
            return f"The password is expired and needs to be changed for user: {user.id}."
        if self.must_change(user, options):
            return f"You are required to change your password upon first use for user: {user.id}."
        return None

    # --- password changes ------------------------------------------------------------------

    def check_format(self, password: str) -> None:
        """BadRequest if ``password`` does not match ``password_regex``."""
        regex = self.settings.password_regex
        if regex and not re.match(regex, password):
            detail = self.settings.password_regex_description or "it does not match the password rules"
            raise BadRequest(f"Password validation error: The password does not meet the requirements: "
                             f"{detail}.")

    async def check_change(self, db: AsyncSession, user: m.User, options: dict, password: str,
                           *, self_service: bool) -> None:
        """Refuse (400) a new password: format, lock_password, minimum age and history rules.

        An admin reset skips the age and history rules, as keystone does.
        """
        self.check_format(password)
        if not self_service:
            return
        if options.get("lock_password"):
            raise BadRequest(f"You cannot change your password at this time due to password policy "
                             f"disallowing password changes. Password was not changed for user {user.id}.")
        age = self.settings.minimum_password_age
        if age and user.password_changed_at and not options.get("_password_reset_by_admin") and \
                utcnow() < user.password_changed_at + timedelta(days=age):
            raise BadRequest(f"You cannot change your password at this time due to the minimum password "
                             f"age. Once you change your password, it must be used for {age} day(s) before "
                             f"it can be changed.")
        count = self.settings.unique_last_password_count
        if count > 0:
            hashes = [user.password_hash] if user.password_hash else []
            q = select(m.PasswordHistory.password_hash).where(m.PasswordHistory.user_id == user.id) \
                .order_by(m.PasswordHistory.id.desc()).limit(max(0, count - 1))
            hashes += list((await db.scalars(q)).all())
            for hashed in hashes[:count]:
                if await asyncio.to_thread(check_password, password, hashed):
                    raise BadRequest(f"The new password cannot be identical to a previous password. The "
                                     f"total number which includes the new password must be unique is {count}.")

    async def record_change(self, db: AsyncSession, user: m.User, new_hash: str, *, by_admin: bool) -> None:
        """Store the new password hash, keep the old one in the history, note an admin reset."""
        if user.password_hash:
            db.add(m.PasswordHistory(user_id=user.id, password_hash=user.password_hash,
                                     created_at=user.password_changed_at or utcnow()))
            keep = max(self.settings.unique_last_password_count, 1)
            q = select(m.PasswordHistory.id).where(m.PasswordHistory.user_id == user.id) \
                .order_by(m.PasswordHistory.id.desc()).offset(keep)
            old = list((await db.scalars(q)).all())
            if old:
                await db.execute(delete(m.PasswordHistory).where(m.PasswordHistory.id.in_(old)))
        user.password_hash, user.password_changed_at = new_hash, utcnow()
        await save_options(db, user.id, {"_password_reset_by_admin": True if by_admin else None})
        failure = await db.get(m.LoginFailure, user.id)
        if failure is not None:
            await db.delete(failure)
