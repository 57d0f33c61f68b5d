"""Password hashing with bcrypt (keystone's default ``password_hash_algorithm``).

bcrypt reads at most 72 bytes of a password; longer passwords are cut to
72 bytes of their UTF-8 form, both when hashing and when checking, as
keystone's passlib-based hashing does. Both functions are CPU-bound
(~0.25 s at 12 rounds): call them with ``asyncio.to_thread``.
"""
from __future__ import annotations

import bcrypt

#: bcrypt cost factor (keystone's default ``crypt_strength`` for bcrypt is 12).
ROUNDS = 12
#: Longest accepted password, in characters (keystone's ``max_password_length``).
MAX_LENGTH = 4096


def _raw(password: str) -> bytes:
    return password.encode("utf-8")[:72]


def hash_password(password: str) -> str:
    """A ``$2b$`` bcrypt hash of ``password``."""
    return bcrypt.hashpw(_raw(password), bcrypt.gensalt(ROUNDS)).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    """True if ``password`` matches ``hashed`` (False for a user without a password)."""
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(_raw(password), hashed.encode("ascii"))
    except ValueError:
        return False
