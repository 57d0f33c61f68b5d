"""The read-only ``web`` store (glance's http store): image data behind an http(s) URL.

Nothing is ever written here. :meth:`HttpStore.size` asks the server for the data size
(``HEAD``, else the ``Content-Length`` of a ``GET``) when a location is added;
:meth:`HttpStore.open` streams the data when the image is downloaded, cached or hashed.
Errors are :class:`kumo.image.fetch.FetchError` (unreachable URL, non-200 answer).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx

from kumo.image import fetch


class HttpStore:
    """Reads http(s) locations; ``timeout`` seconds for connecting and each read."""

    schemes = fetch.SCHEMES

    def __init__(self, timeout: float = 60, allowed_ports: Sequence[int] = ()):
        self.timeout = timeout
        self.allowed_ports = list(allowed_ports)

    async def size(self, url: str) -> int | None:
        """The size in bytes the server announces (None if it does not say); FetchError otherwise."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True,
                                         max_redirects=fetch.MAX_REDIRECTS) as client:
                r = await client.head(url)
                if r.status_code != 200:
                    raise fetch.FetchError(f"{url} answered HTTP {r.status_code}")
        except httpx.HTTPError as e:
            raise fetch.FetchError(f"could not reach {url}: {e or type(e).__name__}") from None
        length = r.headers.get("content-length")
        return int(length) if length and length.isdigit() else None

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with store.open(url) as chunks:`` the data at ``url``."""
        async with fetch.open_url(url, self.allowed_ports, timeout=self.timeout) as chunks:
            yield chunks
