"""The node-local image cache (Image API v2.14 "Cache manage"): copies of image data under
``[image] cache_dir`` that downloads are served from.

- :meth:`ImageCache.queue` (``PUT /v2/cache/{id}``): an ``active`` image (400 otherwise, 404
  unknown) is queued; a background task copies its data (from a file store or its http
  location) into the cache and marks it ``cached``; a failed copy drops the entry.
- :meth:`ImageCache.listing` (``GET /v2/cache``): ``{"cached_images": [{"image_id", "hits",
  "last_accessed", "last_modified", "size"}], "queued_images": [ids]}`` (times are UNIX seconds).
- :meth:`ImageCache.delete` / :meth:`ImageCache.clear` (``DELETE /v2/cache[/{id}]``, header
  ``x-image-cache-clear-target``: ``cache``, ``queue`` or both when absent; 400 otherwise).
- :meth:`ImageCache.source`: the cached copy of an image for a download (counts a hit).

Each image API worker has its own cache: its entries live in ``db`` (a worker-local database;
by default the image database) and its files in ``store``. Only admins manage the cache
(403, glance's ``manage_image_cache``). Deleting an image drops
its cached copy.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select

from kumo.common.api.errors import BadRequest, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, utcnow
from kumo.image import data, policy
from kumo.image.models import Image, ImageCacheEntry
from kumo.image.store import FileStore, SizeLimitExceeded

log = logging.getLogger(__name__)

TARGETS = ("cache", "queue")


class ImageCache:
    """The cache of the images of ``images`` (an ImageService), files in ``store``, entries in
    ``db`` (default: the image database; another one is created at start and closed at stop)."""

    def __init__(self, images, store: FileStore, db: Database | None = None):
        self.images, self.store = images, store
        self.db = db or images.db
        self._running: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Prepare the directory; entries without a file, or of images deleted (through another
        worker) meanwhile, are dropped; queued ones are copied again."""
        self.store.prepare()
        if self.db is not self.images.db:
            await self.db.create_schema()
        async with self.db.session() as s:
            entries = (await s.scalars(select(ImageCacheEntry))).all()
        async with self.images.db.session() as s:
            alive = set((await s.scalars(select(Image.id).where(
                Image.id.in_([e.image_id for e in entries])))).all())
        for e in entries:
            if e.image_id not in alive or (e.state == "cached" and not self.store.exists(e.image_id)):
                await self.forget(e.image_id)
            elif e.state == "queued":
                self._spawn(e.image_id)

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self.db is not self.images.db:
            await self.db.close()

    async def drain(self) -> None:
        """Wait for the running copies (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    @staticmethod
    def check(ctx: RequestContext, action: str) -> None:
        """403 unless rules ``manage_image_cache`` and ``action`` (``cache_list``,
        ``cache_image``, ``cache_delete``) allow the caller (admins by default)."""
        policy.authorize(ctx, "manage_image_cache")
        policy.authorize(ctx, action)

    # --- API --------------------------------------------------------------------------------

    async def listing(self, ctx: RequestContext) -> dict:
        self.check(ctx, "cache_list")
        async with self.db.session() as s:
            entries = (await s.scalars(select(ImageCacheEntry).order_by(ImageCacheEntry.image_id))).all()
        return {"cached_images": [{"image_id": e.image_id, "hits": e.hits, "size": e.size,
                                   "last_accessed": e.last_accessed.timestamp(),
                                   "last_modified": e.last_modified.timestamp()}
                                  for e in entries if e.state == "cached"],
                "queued_images": [e.image_id for e in entries if e.state == "queued"]}

    async def queue(self, ctx: RequestContext, image_id: str) -> None:
        """Queue an ``active`` image for caching (idempotent); 404 unknown, 400 other statuses."""
        self.check(ctx, "cache_image")
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            if image.status != "active":
                raise BadRequest(f"Image {image_id} is not active (status {image.status}): "
                                 "only active images can be cached.")
        async with self.db.session() as s:
            if await s.get(ImageCacheEntry, image_id) is not None:
                return
            s.add(ImageCacheEntry(image_id=image_id, state="queued"))
        self._spawn(image_id)

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Drop an image from the cache and the queue; 404 for an unknown image."""
        self.check(ctx, "cache_delete")
        async with self.images.db.session() as s:
            await policy.load(s, ctx, image_id)
        await self.forget(image_id)

    async def clear(self, ctx: RequestContext, target: str | None) -> None:
        """Drop everything cached (``cache``), queued (``queue``) or both (None); 400 otherwise."""
        self.check(ctx, "cache_delete")
        if target is not None and target not in TARGETS:
            raise BadRequest(f"Invalid value '{target}' for the x-image-cache-clear-target header: "
                             "use 'cache' or 'queue'.")
        states = TARGETS if target is None else (target,)
        states = tuple("cached" if t == "cache" else "queued" for t in states)
        async with self.db.session() as s:
            ids = (await s.scalars(select(ImageCacheEntry.image_id)
                                   .where(ImageCacheEntry.state.in_(states)))).all()
            await s.execute(delete(ImageCacheEntry).where(ImageCacheEntry.image_id.in_(ids)))
        for image_id in ids:
            await self.store.delete(image_id)

    # --- serving and cleanup ----------------------------------------------------------------

    async def source(self, image_id: str) -> data.Source | None:
        """The cached copy of ``image_id`` (a hit is counted when it is read), or None."""
        async with self.db.session() as s:
            entry = await s.get(ImageCacheEntry, image_id)
            if entry is None or entry.state != "cached":
                return None
        try:
            return await data.open_file(self.store, image_id, on_read=lambda: self._hit(image_id))
        except FileNotFoundError:
            await self.forget(image_id)
            return None

    async def forget(self, image_id: str) -> None:
        """Remove ``image_id`` from the cache and the queue (never raises)."""
        try:
            async with self.db.session() as s:
                await s.execute(delete(ImageCacheEntry).where(ImageCacheEntry.image_id == image_id))
            await self.store.delete(image_id)
        except Exception:
            log.exception("could not drop image %s from the cache", image_id)

    async def _hit(self, image_id: str) -> None:
        async with self.db.session() as s:
            entry = await s.get(ImageCacheEntry, image_id)
            if entry is not None:
                entry.hits += 1
                entry.last_accessed = utcnow()

    def _spawn(self, image_id: str) -> None:
        job = asyncio.get_running_loop().create_task(self._fill(image_id))
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def _fill(self, image_id: str) -> None:
        try:
            async with self.images.db.session() as s:
                image = await s.get(Image, image_id)
            if image is None or image.status != "active":
                raise data.DataMissing(f"image {image_id} is gone or not active")
            source = await data.open_image(self.images.stores, image)
            stored = await self.store.write(image_id, source.drain(), size_cap=self.images.size_cap)
            async with self.images.db.session() as s:
                gone = await s.get(Image, image_id) is None
            async with self.db.session() as s:
                entry = await s.get(ImageCacheEntry, image_id)
                if entry is None or gone:  # cleared or deleted meanwhile
                    await self.store.delete(image_id)
                    return
                entry.state, entry.size, entry.last_modified = "cached", stored.size, utcnow()
        except asyncio.CancelledError:
            raise
        except (data.DataMissing, data.FetchError, SizeLimitExceeded, OSError) as e:
            log.warning("caching image %s failed: %s", image_id, e)
            await self.forget(image_id)
        except Exception:
            log.exception("caching image %s failed", image_id)
            await self.forget(image_id)
