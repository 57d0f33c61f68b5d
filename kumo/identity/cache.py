"""The identity API's cache of validated tokens and catalogs.

Validating a token (Identity API v3, "Authentication and token management":
``GET``/``HEAD /v3/auth/tokens`` and every ``X-Auth-Token`` the identity API
checks for itself) needs the revocation events, the user, its domain, the
scope and the roles, and the catalog for the body. :class:`TokenCache` keeps
what :class:`~kumo.identity.auth.TokenService` resolved for a token id, and
the catalog per project, so a repeated validation costs a Fernet decrypt and
a dict lookup instead of a dozen SQL statements.

Correctness rules:

- The expiry check runs on every call (outside this cache), so a token
  past ``expires_at`` fails at once. A token's payload only depends on the
  token and the Fernet keys: :class:`CachedFormatter` remembers decrypted
  payloads while the key repository is unchanged (the same
  ``KeyRepository.crypto()`` object), so after a rotation that removes a
  key, tokens of that key fail at once too.
- Every committed write to the identity database (a revocation event, a
  user, project, domain, role, assignment, group, service or endpoint
  change: anything) bumps :attr:`TokenCache.generation` and empties the
  cache: writes through this process's Database at once, through
  :attr:`kumo.common.db.Database.write_listeners`; with SQLite, commits by
  any other connection or process too (``kumo bootstrap`` on a running
  cloud, a second identity process), seen through ``PRAGMA data_version``
  on a private read-only-use connection, read on every lookup (a few
  microseconds). An entry is stored with the generation read *before* its
  rows were loaded, and only while that is still the current one, so a
  load that raced a write is never served afterwards.
- Failures (invalid, revoked, no roles) are never cached.
- On a server database (MySQL, PostgreSQL: several identity nodes) other
  nodes' writes have no cheap signal: an entry lives at most
  :attr:`TokenCache.ttl` seconds (``[identity] cache_seconds``, 30 by
  default), the same bound the other services'
  :class:`~kumo.common.auth.client.RemoteTokenValidator` caches already
  give a revocation. ``ttl = 0`` turns the cache off.

Cached values are shared between requests: callers must not change them.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from kumo.common.db import Database

T = TypeVar("T")

#: Seconds an entry may be served (the bound for changes made by other processes).
DEFAULT_TTL = 30.0
#: Most entries kept; the oldest go first when it is reached.
MAX_ENTRIES = 10_000


class TokenCache:
    """Values by key (a token id, ``("catalog", project_id)``), dropped on any identity write.

    ``ttl`` is in seconds; ``clock`` returns seconds (monotonic).
    """

    def __init__(self, db: Database, ttl: float = DEFAULT_TTL, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        #: Bumped after every committed identity write (in this process).
        self.generation = 0
        self._entries: dict[Hashable, tuple[int, float, Any]] = {}
        self._version = DataVersion.of(getattr(db, "url", ""))
        self._seen_version: int | None = None
        db.write_listeners.append(self.invalidate)

    def invalidate(self) -> None:
        """Forget everything (called after each committed identity write)."""
        self.generation += 1
        self._entries.clear()

    def _sync(self) -> None:
        """Invalidate if another connection or process committed to the database since the last look."""
        if self._version is None:
            return
        version = self._version.read()
        if version is None or version != self._seen_version:
            self._seen_version = version
            self.invalidate()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """The value stored for ``key`` if it is still current, else None."""
        self._sync()
        entry = self._entries.get(key)
        if entry is None:
            return None
        generation, until, value = entry
        if generation != self.generation or self.clock() >= until:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """Store ``value``, loaded when :attr:`generation` was ``generation`` (dropped if it moved on)."""
        if self.ttl <= 0 or generation != self.generation:
            return
        if key not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (generation, self.clock() + self.ttl, value)

    async def load(self, key: Hashable, loader: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await loader(*args)``, or its cached result for ``key``; exceptions are not cached."""
        hit = self.get(key)  # also brings the generation up to date
        if hit is not None:
            return hit
        generation = self.generation
        value = await loader(*args)
        self.put(key, value, generation)
        return value

    def formatter(self, formatter: Any) -> "CachedFormatter":
        """``formatter`` (a :class:`~kumo.identity.tokens.TokenFormatter`) with remembered ``unpack()``."""
        return CachedFormatter(formatter, self.max_entries)

    def catalogs(self, service: Any) -> "CachedCatalog":
        """``service`` (a :class:`~kumo.identity.catalog.CatalogService`) with cached ``catalog()``."""
        return CachedCatalog(service, self)


class DataVersion:
    """SQLite's ``PRAGMA data_version`` of a database file: it changes whenever another
    connection (of this process or any other) commits. Read on a connection of its own that
    never writes; ``read()`` gives None (= "assume changed") when the file cannot be read."""

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def of(cls, url: str) -> "DataVersion | None":
        """The DataVersion of a ``sqlite`` URL's file; None for other databases and in-memory SQLite."""
        try:
            parsed = make_url(url)
        except Exception:
            return None
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(parsed.database)

    def read(self) -> int | None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                                             check_same_thread=False, timeout=0.1)
            return self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self.close()
            return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class CachedCatalog:
    """A catalog service whose ``catalog(project_id)`` goes through a :class:`TokenCache`.

    Every other attribute is the wrapped service's.
    """

    def __init__(self, service: Any, cache: TokenCache):
        self._service = service
        self._cache = cache

    async def catalog(self, project_id: str | None = None) -> list[dict]:
        """The v3 catalog for ``project_id`` (see ``CatalogService.catalog``); shared, do not change it."""
        return await self._cache.load(("catalog", project_id), self._service.catalog, project_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)


class CachedFormatter:
    """A token formatter whose ``unpack(token)`` remembers payloads while the keys are unchanged.

    Every other attribute (``pack``, ``keys``) is the wrapped formatter's.
    Tokens that do not unpack are not remembered (the error is raised again).
    """

    def __init__(self, formatter: Any, max_entries: int = MAX_ENTRIES):
        self._formatter = formatter
        self.max_entries = max_entries
        self._payloads: dict[str, tuple[Any, Any]] = {}

    def unpack(self, token: str) -> Any:
        """The payload of ``token`` (see ``TokenFormatter.unpack``); shared, do not change it."""
        crypto = self._formatter.keys.crypto()  # a new object once the key repository changes
        hit = self._payloads.get(token)
        if hit is not None and hit[0] is crypto:
            return hit[1]
        payload = self._formatter.unpack(token)
        if token not in self._payloads and len(self._payloads) >= self.max_entries:
            del self._payloads[next(iter(self._payloads))]
        self._payloads[token] = (crypto, payload)
        return payload

    def __getattr__(self, name: str) -> Any:
        return getattr(self._formatter, name)
