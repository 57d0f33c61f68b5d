"""The file store: image data as one file per image under a directory.

Uploads stream to ``<root>/<image_id>.partial`` while the MD5 and SHA-512
digests are computed, and are renamed to ``<root>/<image_id>`` only once
complete and flushed to disk; any failure (client gone, size cap, I/O error,
cancellation) removes the partial file. Locations are ``file://`` URLs.
Blocking file work runs in threads, in blocks of ``block_size`` bytes.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
PARTIAL = ".partial"


class SizeLimitExceeded(Exception):
    """The data grew past the size cap; nothing was kept."""


@dataclass(frozen=True)
class StoredData:
    """Result of a completed write: location URL, size in bytes, md5 and sha512 hex digests."""

    location: str
    size: int
    md5: str
    sha512: str


class FileStore:
    """Image data files under ``root`` (created on :meth:`prepare`)."""

    scheme = "file"

    def __init__(self, root: Path | str, block_size: int = 1 << 20):
        self.root = Path(root)
        self.block_size = block_size

    def prepare(self) -> list[str]:
        """Create the directory and remove partial files left by a crash; returns their image ids."""
        self.root.mkdir(parents=True, exist_ok=True)
        stale = []
        for path in self.root.glob("*" + PARTIAL):
            path.unlink(missing_ok=True)
            stale.append(path.name[:-len(PARTIAL)])
        return stale

    def path(self, image_id: str) -> Path:
        """The data file of ``image_id``; ValueError for an id that is not a plain UUID-like name."""
        if not _SAFE_ID.match(image_id):
            raise ValueError(f"invalid image id {image_id!r}")
        return self.root / image_id

    def location(self, image_id: str) -> str:
        return self.path(image_id).resolve().as_uri()

    async def write(self, image_id: str, chunks: AsyncIterable[bytes], *, size_cap: int,
                    inspect: Callable[[bytes], None] | None = None) -> StoredData:
        """Stream ``chunks`` into the image's file; returns the size and digests.

        ``inspect`` sees every chunk (format detection). Raises
        :class:`SizeLimitExceeded` past ``size_cap`` bytes; on any exception the
        partial file is removed and the exception propagates.
        """
        final = self.path(image_id)
        partial = final.with_name(final.name + PARTIAL)
        md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        f: BinaryIO = await asyncio.to_thread(open, partial, "wb")
        total = 0
        buf = bytearray()
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                total += len(chunk)
                if total > size_cap:
                    raise SizeLimitExceeded(f"image data exceeds {size_cap} bytes")
                if inspect is not None:
                    inspect(chunk)
                buf += chunk
                if len(buf) >= self.block_size:
                    block, buf = bytes(buf), bytearray()
                    await asyncio.to_thread(_sink, f, block, md5, sha512)
            await asyncio.to_thread(_finish, f, bytes(buf), md5, sha512)
            await asyncio.to_thread(os.replace, partial, final)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, f, partial))
            raise
        return StoredData(self.location(image_id), total, md5.hexdigest(), sha512.hexdigest())

    async def open(self, image_id: str) -> BinaryIO:
        """Open the image's data for reading; FileNotFoundError when there is none."""
        return await asyncio.to_thread(open, self.path(image_id), "rb")

    async def iter_file(self, f: BinaryIO, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Read ``length`` bytes (all when None) from ``start`` of an opened file; closes it at the end."""
        try:
            if start:
                await asyncio.to_thread(f.seek, start)
            remaining = length
            while remaining is None or remaining > 0:
                n = self.block_size if remaining is None else min(self.block_size, remaining)
                block = await asyncio.to_thread(f.read, n)
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                yield block
        finally:
            f.close()

    async def delete(self, image_id: str) -> bool:
        """Remove the image's data; True if there was a file."""
        path = self.path(image_id)
        try:
            await asyncio.to_thread(path.unlink)
            return True
        except FileNotFoundError:
            return False

    def exists(self, image_id: str) -> bool:
        return self.path(image_id).exists()


def _sink(f: BinaryIO, block: bytes, md5, sha512) -> None:
    md5.update(block)
    sha512.update(block)
    f.write(block)


def _finish(f: BinaryIO, block: bytes, md5, sha512) -> None:
    if block:
        _sink(f, block, md5, sha512)
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _discard(f: BinaryIO, partial: Path) -> None:
    try:
        f.close()
    except OSError:  # pragma: no cover - close after a failed write
        log.warning("closing %s failed", partial, exc_info=True)
    partial.unlink(missing_ok=True)
