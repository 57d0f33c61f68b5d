"""Fernet tokens: the key repository and the token payload format.

The key repository is a directory of Fernet keys named ``0``, ``1``, ``2``...
as keystone keeps them (``keystone-manage fernet_setup``): ``0`` is the
staged key (the next primary), the highest number is the primary key that
encrypts new tokens, the others only decrypt. Keys are 0600 in a 0700
directory.

A token is a Fernet token (AES-128-CBC + HMAC-SHA256) of a small JSON
payload, with the base64 padding stripped as keystone does::

    {"u": user id, "m": [methods], "i": issued at, "e": expires at,
     "a": [audit ids], "p": project id | "d": domain id | "s": 1 (system),
     "t": trust id, "c": application credential id}

``u`` is the user the token speaks for (the trustor of an impersonating
trust, else the trustee).

Times are integer microseconds since the epoch (UTC).
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken as _FernetInvalid, MultiFernet


class InvalidToken(Exception):
    """The token is not a Fernet token of this key repository, or its payload is malformed."""


def now_us() -> int:
    """The current time in microseconds since the epoch (tests replace this to move time)."""
    return time.time_ns() // 1000


def isotime_us(us: int) -> str:
    """Microseconds since the epoch as keystone writes token times: ``2026-01-01T10:00:00.000000Z``."""
    dt = datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(microsecond=us % 1_000_000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_isotime(value: str) -> datetime:
    """An ISO 8601 time (``2026-01-01T10:00:00Z``, ``...00.123456``, ``+01:00``) as naive UTC.

    Times without a zone are UTC. Raises ValueError for anything else.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if "T" not in value and " " not in value.strip():
        raise ValueError("a time needs a date and a time of day")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def datetime_us(value: datetime) -> int:
    """A naive UTC datetime in microseconds since the epoch."""
    return int(value.replace(tzinfo=timezone.utc).timestamp()) * 1_000_000 + value.microsecond


def new_audit_id() -> str:
    """A random, URL-safe 22-character audit id (16 random bytes)."""
    return secrets.token_urlsafe(16)


def _key_files(path: Path) -> dict[int, Path]:
    keys = {}
    for entry in path.iterdir():
        if entry.name.isdigit() and entry.is_file():
            keys[int(entry.name)] = entry
    return keys


def _write_key(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, Fernet.generate_key())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def setup_keys(path: str | os.PathLike) -> Path:
    """Create the key repository at ``path`` if it holds no keys (keys ``0`` and ``1``).

    Idempotent: an existing repository is left as it is. Returns the path.
    """
    repo = Path(path)
    repo.mkdir(parents=True, exist_ok=True)
    os.chmod(repo, 0o700)
    if not _key_files(repo):
        _write_key(repo / "0")
        _write_key(repo / "1")
    return repo


def rotate_keys(path: str | os.PathLike, max_active_keys: int = 3) -> int:
    """Rotate like ``keystone-manage fernet_rotate``; returns the new primary key's number.

    The staged key ``0`` becomes the primary (highest number + 1), a new
    staged key is written, and the oldest secondary keys are removed so at
    most ``max_active_keys`` (>= 2) remain.
    """
    repo = setup_keys(path)
    keys = _key_files(repo)
    new_primary = max(keys) + 1
    os.replace(repo / "0", repo / str(new_primary))
    _write_key(repo / "0")
    numbers = sorted(k for k in _key_files(repo) if k != 0)
    for old in numbers[: max(0, len(numbers) + 1 - max(2, max_active_keys))]:
        (repo / str(old)).unlink()
    return new_primary


class KeyRepository:
    """The Fernet keys of a repository directory, reloaded when the directory changes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stamp: tuple | None = None
        self._crypto: MultiFernet | None = None

    def _signature(self) -> tuple:
        st = self.path.stat()
        return (st.st_mtime_ns, st.st_ino)

    def crypto(self) -> MultiFernet:
        """A MultiFernet with the primary key first. Raises InvalidToken if there are no keys."""
        try:
            stamp = self._signature()
        except FileNotFoundError:
            raise InvalidToken(f"no Fernet key repository at {self.path}") from None
        if self._crypto is None or stamp != self._stamp:
            keys = _key_files(self.path)
            if not keys:
                raise InvalidToken(f"no Fernet keys in {self.path}")
            order = sorted(keys, reverse=True)
            # Primary (highest) first, then the others, the staged key 0 last.
            self._crypto = MultiFernet([Fernet(keys[n].read_bytes().strip()) for n in order])
            self._stamp = stamp
        return self._crypto


@dataclass
class TokenPayload:
    """What a token carries; everything else is looked up when it is validated."""

    user_id: str
    methods: list[str]
    issued_at: int
    expires_at: int
    audit_ids: list[str]
    project_id: str | None = None
    domain_id: str | None = None
    #: Scoped to the whole system (``{"system": {"all": true}}``).
    system: bool = False
    trust_id: str | None = None
    app_cred_id: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    def expired(self, at_us: int | None = None) -> bool:
        return (now_us() if at_us is None else at_us) >= self.expires_at


class TokenFormatter:
    """Turns payloads into Fernet token strings and back."""

    def __init__(self, keys: KeyRepository):
        self.keys = keys

    def pack(self, payload: TokenPayload) -> str:
        data = {"u": payload.user_id, "m": payload.methods, "i": payload.issued_at,
                "e": payload.expires_at, "a": payload.audit_ids}
        if payload.project_id:
            data["p"] = payload.project_id
        if payload.domain_id:
            data["d"] = payload.domain_id
        if payload.system:
            data["s"] = 1
        if payload.trust_id:
            data["t"] = payload.trust_id
        if payload.app_cred_id:
            data["c"] = payload.app_cred_id
        raw = json.dumps(data, separators=(",", ":")).encode()
        token = self.keys.crypto().encrypt_at_time(raw, payload.issued_at // 1_000_000)
        return token.decode().rstrip("=")

    def unpack(self, token: str) -> TokenPayload:
        """The payload of ``token``; raises InvalidToken for anything that is not one of ours."""
        if not token or len(token) > 1024:
            raise InvalidToken("not a Fernet token")
        padded = token + "=" * (-len(token) % 4)
        try:
            base64.urlsafe_b64decode(padded.encode("ascii"))
            raw = self.keys.crypto().decrypt(padded.encode("ascii"))
            data = json.loads(raw)
            payload = TokenPayload(
                user_id=_str(data["u"]), methods=[_str(m) for m in data["m"]],
                issued_at=_int(data["i"]), expires_at=_int(data["e"]),
                audit_ids=[_str(a) for a in data["a"]],
                project_id=_opt(data.get("p")), domain_id=_opt(data.get("d")), system=data.get("s") == 1,
                trust_id=_opt(data.get("t")), app_cred_id=_opt(data.get("c")))
        except (_FernetInvalid, ValueError, KeyError, TypeError, UnicodeError) as e:
            raise InvalidToken("not a valid token") from e
        if not payload.audit_ids:
            raise InvalidToken("token without audit id")
        return payload


def _str(value) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt(value) -> str | None:
    return None if value is None else _str(value)


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value
