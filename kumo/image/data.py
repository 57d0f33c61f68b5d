"""Reading an image's data from wherever it is kept: the node cache, a file store, or an
http(s) location (the read-only ``web`` store).

:func:`open_image` picks the source: the cache's copy when there is one, else the image's
locations in store-weight order (file stores before ``web`` unless weights say otherwise),
skipping locations whose store is not configured here. A :class:`Source` gives the size
(bytes, None when an http server does not say) and streams any byte range.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

from kumo.image.fetch import FetchError
from kumo.image.models import Image
from kumo.image.store import WEB, FileStore, HttpStore, Stores


class DataMissing(Exception):
    """No configured store could give the image's data."""


class Source:
    """Opened image data: ``size`` bytes (or None); :meth:`chunks` streams it, :meth:`close` frees it."""

    size: int | None = None

    def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    async def drain(self) -> AsyncIterator[bytes]:
        """Every chunk, then :meth:`close` (also when the reader stops early or fails)."""
        try:
            async for chunk in self.chunks():
                yield chunk
        finally:
            self.close()


class FileSource(Source):
    """An opened data file read in the store's block size."""

    def __init__(self, store: FileStore, f: BinaryIO, size: int,
                 on_read: Callable[[], Awaitable[None]] | None = None):
        self.store, self.f, self.size, self.on_read = store, f, size, on_read

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if self.on_read is not None:
            await self.on_read()
        async for block in self.store.iter_file(self.f, start, length):
            yield block

    def close(self) -> None:
        self.f.close()


class HttpSource(Source):
    """Data behind an http(s) URL; a range is read by skipping to ``start``."""

    def __init__(self, http: HttpStore, url: str, size: int | None):
        self.http, self.url, self.size = http, url, size

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        skip, left = start, length
        async with self.http.open(self.url) as body:
            async for chunk in body:
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                if left is not None:
                    chunk = chunk[:left]
                    left -= len(chunk)
                if chunk:
                    yield chunk
                if left == 0:
                    return


async def open_file(store: FileStore, image_id: str,
                    on_read: Callable[[], Awaitable[None]] | None = None) -> FileSource:
    """The data file of ``image_id`` in ``store``; FileNotFoundError when there is none."""
    f = await store.open(image_id)
    try:
        size = (await asyncio.to_thread(f.seek, 0, 2))
        await asyncio.to_thread(f.seek, 0)
    except BaseException:
        f.close()
        raise
    return FileSource(store, f, size, on_read)


async def open_image(stores: Stores, image: Image) -> Source:
    """A source of ``image``'s data from its locations (see the module); :class:`DataMissing`."""
    by_store = {}
    for loc in image.locations:
        by_store.setdefault(loc.store, []).append(loc.url)
    for name in stores.ordered(by_store):
        if name == WEB:
            if stores.http is not None:
                return HttpSource(stores.http, by_store[name][0], image.size)
            continue
        if name in stores.files:
            try:
                return await open_file(stores.files[name], image.id)
            except FileNotFoundError:
                continue
    raise DataMissing(f"Image {image.id} data could not be found in any store.")
