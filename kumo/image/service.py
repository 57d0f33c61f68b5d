"""The image service: records, data, visibility and policy (Image API v2 "Images",
"Image data", "Image tags", "Image actions").

Every method takes the caller's :class:`RequestContext` and raises
``kumo.common.api.errors`` exceptions: 404 for an image the caller cannot see
(unknown, or another project's private image), 403 for a write the caller may
not do (:mod:`kumo.image.policy`; protected image, read-only attribute), 409
for a wrong status, 400 for bad values or data that fails inspection
(:mod:`kumo.image.formats`) and 413 past a quota (:mod:`kumo.image.quota`) or
the size cap.

Image status: ``queued`` (no data) -> ``saving`` (upload running) -> ``active``
(data stored) <-> ``deactivated`` (owner or admin). Interoperable import
(:mod:`kumo.image.imports`) goes ``queued`` -> ``uploading`` (staged) ->
``importing`` -> ``active``. A failed upload returns the image to ``queued``
and keeps no data.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kumo.common.api.errors import (ApiError, BadRequest, Conflict, Forbidden, NotFound,
                                    PayloadTooLarge, ServiceUnavailable)
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, new_id, utcnow
from kumo.image import data, patch, policy, query, quota, schemas
from kumo.image.data import Source
from kumo.image.formats import FormatInspector, FormatRejected
from kumo.image.models import Image, ImageLocation, ImageProperty, ImageTag
from kumo.image.store import FileStore, SizeLimitExceeded, StoredData, Stores
from kumo.image.views import image_view
from kumo.image.workers import Workers

log = logging.getLogger(__name__)

Notifier = Callable[[str, dict], Awaitable[None]]


class Gone(ApiError):
    status, kind = 410, "Gone"


async def _no_notify(event_type: str, payload: dict) -> None:
    return None


class ImageService:
    """Images in ``db`` with their data in ``store`` (one file store, or the node's :class:`Stores`);
    uploads larger than ``size_cap`` bytes are 413.

    ``staging`` holds data staged for import (removed with the image);
    ``limits`` are the quotas. ``notify(event_type, payload)`` receives
    ``image.create``, ``image.update``, ``image.upload``, ``image.activate``
    and ``image.delete`` with the image's view. ``on_delete`` callbacks (``async f(image_id)``)
    run after an image is deleted (the cache drops its copy). ``workers`` (:class:`kumo.image.workers.Workers`)
    forwards the delete of an image staged on another image API worker to that worker.
    """

    def __init__(self, db: Database, store: FileStore | Stores, size_cap: int,
                 notify: Notifier | None = None, staging: FileStore | None = None,
                 limits: quota.Limits | None = None, workers: Workers | None = None):
        self.db = db
        self.workers = workers or Workers()
        self.stores = store if isinstance(store, Stores) else Stores({"file": store})
        self.store = self.stores.file(None)
        self.on_delete: list[Callable[[str], Awaitable[None]]] = []
        #: The node cache (:class:`kumo.image.cache.ImageCache`), set by the component.
        self.cache = None
        self.staging = staging
        self.size_cap = size_cap
        self.limits = limits or quota.Limits()
        self.notify = notify or _no_notify

    async def start(self) -> None:
        """Create the schema and store; return images whose upload a crash interrupted to ``queued``."""
        await self.db.create_schema()
        stale = self.stores.prepare()
        async with self.db.session() as s:
            if stale:
                await s.execute(update(Image).where(Image.id.in_(stale), Image.status == "saving")
                                .values(status="queued", updated_at=utcnow()))
            # images stored before image_locations existed: their one location becomes a row
            legacy = (await s.scalars(select(Image).where(
                Image.location.is_not(None), ~Image.locations.any()))).all()
            for image in legacy:
                image.locations.append(ImageLocation(
                    url=image.location, store=self.stores.store_of_legacy(image.location), meta={}))

    # --- access (the rules live in kumo.image.policy) ------------------------------------------

    can_see = staticmethod(policy.can_see)
    check_write = staticmethod(policy.check_write)

    async def _load(self, s, ctx: RequestContext, image_id: str) -> Image:
        return await policy.load(s, ctx, image_id)

    def _check_counts(self, extra: dict, tags: list) -> None:
        quota.check_per_image("properties", len(extra), self.limits.properties)
        quota.check_per_image("tags", len(tags), self.limits.tags)

    # --- records ----------------------------------------------------------------------------

    async def create(self, ctx: RequestContext, body: dict) -> Image:
        """Register an image (status ``queued``) from a "Create image" body; 409 for a taken id."""
        self.check_write(ctx, None, "add_image")
        base, extra = schemas.validate_create(body)
        owner = base.pop("owner", None) or ctx.project_id
        policy.check_create(ctx, owner, base["visibility"])
        tags = base.pop("tags")
        self._check_counts(extra, tags)
        image_id = base.pop("id", None) or new_id()
        now = utcnow()
        image = Image(id=image_id, status="queued", owner=owner, created_at=now, updated_at=now, **base)
        image.properties = [ImageProperty(name=k, value=v) for k, v in extra.items()]
        image.tags = [ImageTag(value=t) for t in tags]
        image.locations = []
        try:
            async with self.db.session() as s:
                if await s.get(Image, image_id) is not None:
                    raise Conflict(f"Image with identifier {image_id} already exists!")
                await quota.check_new_image(s, self.limits, owner)
                s.add(image)
        except IntegrityError:
            raise Conflict(f"Image with identifier {image_id} already exists!") from None
        await self.notify("image.create", image_view(image))
        return image

    async def get(self, ctx: RequestContext, image_id: str) -> Image:
        """The image, if the caller may see it (else 404)."""
        async with self.db.session() as s:
            return await self._load(s, ctx, image_id)

    async def usage(self, ctx: RequestContext) -> dict:
        """The caller's project quota usage (``GET /v2/info/usage`` body, see :func:`quota.usage`)."""
        async with self.db.session() as s:
            return await quota.usage(s, self.limits, ctx.project_id)

    async def list(self, ctx: RequestContext, q: query.ListQuery) -> tuple[list[Image], bool]:
        """One page of visible images and whether more follow (``get_images``, 403). 400 for an
        unknown marker."""
        policy.authorize(ctx, "get_images")
        async with self.db.session() as s:
            marker = None
            if q.marker:
                marker = await s.get(Image, q.marker)
                if marker is None or not self.can_see(ctx, marker):
                    raise BadRequest(f"Invalid marker. Image {q.marker} could not be found.")
            rows = list((await s.scalars(query.statement(ctx, q, marker))).all())
        return rows[:q.limit], len(rows) > q.limit

    async def update(self, ctx: RequestContext, image_id: str, changes: list[patch.Change]) -> Image:
        """Apply JSON patch ``changes`` (see :mod:`kumo.image.patch`) atomically."""
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "modify_image")
            old = patch.snapshot(image)
            new = patch.apply(old, changes)
            policy.check_update(ctx, old, new)
            self._check_counts(new["extra"], new["tags"])
            for key in ("disk_format", "container_format"):
                if new[key] != old[key] and image.status != "queued":
                    raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
            for key in schemas.SETTABLE:
                if key != "tags" and new[key] != old[key]:
                    setattr(image, key, new[key])
            self._set_extra(image, new["extra"])
            self._set_tags(image, new["tags"])
            image.updated_at = utcnow()
        await self.notify("image.update", image_view(image))
        return image

    @staticmethod
    def _set_extra(image: Image, wanted: dict[str, str]) -> None:
        current = {p.name: p for p in image.properties}
        for name, prop in current.items():
            if name not in wanted:
                image.properties.remove(prop)
            elif prop.value != wanted[name]:
                prop.value = wanted[name]
        for name, value in wanted.items():
            if name not in current:
                image.properties.append(ImageProperty(name=name, value=value))

    @classmethod
    def change_extra(cls, image: Image, changes: dict[str, str | None]) -> None:
        """Set extra properties (a None value removes one), keeping the others."""
        if changes:
            wanted = {k: v for k, v in image.extra.items() if k not in changes}
            wanted.update({k: v for k, v in changes.items() if v is not None})
            cls._set_extra(image, wanted)

    @staticmethod
    def _set_tags(image: Image, wanted: list[str]) -> None:
        current = {t.value: t for t in image.tags}
        for value, tag in current.items():
            if value not in wanted:
                image.tags.remove(tag)
        for value in wanted:
            if value not in current:
                image.tags.append(ImageTag(value=value))

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the record and its data. 403 for a protected image."""
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "delete_image")
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            remote = self.workers.elsewhere(image) if image.status in ("uploading", "importing") else None
            if remote is None:
                view = image_view(image)
                await s.delete(image)
        if remote is not None:  # that worker removes the record and its staged data
            try:
                await self.workers.forward(ctx, remote, "DELETE", f"/v2/images/{image_id}")
                return
            except ServiceUnavailable:  # delete here; that worker drops the orphan when it starts
                async with self.db.session() as s:
                    image = await self._load(s, ctx, image_id)
                    view = image_view(image)
                    await s.delete(image)
        await self.stores.delete_all(image_id)
        for hook in self.on_delete:
            try:
                await hook(image_id)
            except Exception:
                log.exception("cleanup after deleting image %s failed", image_id)
        try:
            if self.staging is not None:
                await self.staging.delete(image_id)
        except OSError:
            log.exception("image %s deleted but its staged data could not be removed", image_id)
        view["status"] = "deleted"
        await self.notify("image.delete", view)

    async def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        """Add ``tag`` (idempotent). 400 for a bad tag, 413 past the tag quota."""
        schemas.validate_tag(tag)
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "modify_image")
            if tag in image.tag_list:
                return
            quota.check_per_image("tags", len(image.tags) + 1, self.limits.tags)
            image.tags.append(ImageTag(value=tag))
            image.updated_at = utcnow()

    async def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        """Remove ``tag``; 404 when the image does not have it."""
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "modify_image")
            for t in image.tags:
                if t.value == tag:
                    image.tags.remove(t)
                    image.updated_at = utcnow()
                    return
        raise NotFound(f"Tag {tag} not found")

    async def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        """Reactivate (``active=True``) or deactivate an image: its owner's members or admins (403)."""
        action = "reactivate" if active else "deactivate"
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, action)
            if image.status not in ("active", "deactivated"):
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            target = "active" if active else "deactivated"
            if image.status != target:
                image.status = target
                image.updated_at = utcnow()
        await self.notify("image.update", image_view(image))

    # --- data -------------------------------------------------------------------------------

    async def upload(self, ctx: RequestContext, image_id: str, chunks: AsyncIterable[bytes],
                     declared_size: int | None = None, store: str | None = None) -> Image:
        """Store the image data streamed as ``chunks`` in file store ``store`` (the default for
        None; 400 for an unknown or read-only one): queued -> saving -> active.

        Computes size, md5 ``checksum``, sha512 ``os_hash_value`` and
        ``virtual_size``. 409 unless the image is queued, 400 without
        disk/container formats or for data that fails inspection, 413 past the
        size cap or the project's storage quota, 410 if the image was deleted
        meanwhile. On any failure the data is dropped and the image is queued
        again.
        """
        store = self.stores.check_writable(store or self.stores.default)
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "upload_image")
            if image.status != "queued":
                raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
            if not image.disk_format or not image.container_format:
                raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
            cap = await quota.storage_room(s, self.limits, image.owner, self.size_cap)
            if declared_size is not None and declared_size > cap:
                raise PayloadTooLarge("The provided image is too large.")
            await quota.check_start_upload(s, self.limits, image.owner)
            disk_format = image.disk_format
            moved = await s.execute(update(Image).where(Image.id == image_id, Image.status == "queued")
                                    .values(status="saving", updated_at=utcnow()))
            if moved.rowcount != 1:
                raise Conflict("Image status transition from saving to saving is not allowed")
        inspector = FormatInspector()
        try:
            stored = await self.stores.file(store).write(image_id, chunks, size_cap=cap,
                                                         inspect=inspector.feed)
            try:
                inspector.check(disk_format)
            except FormatRejected as e:
                await self.stores.file(store).delete(image_id)
                raise BadRequest(str(e)) from None
        except BaseException as e:
            await self.requeue(image_id, "saving")
            if isinstance(e, SizeLimitExceeded):
                raise PayloadTooLarge("The provided image is too large.") from None
            raise
        return await self.activate(image_id, "saving", stored, store=store,
                                   virtual_size=inspector.virtual_size(disk_format, stored.size))

    async def activate(self, image_id: str, from_status: str, stored: StoredData, *,
                       virtual_size: int | None, disk_format: str | None = None,
                       container_format: str | None = None, store: str | None = None,
                       extra: dict[str, str | None] | None = None) -> Image:
        """Record data stored in file store ``store`` (the default for None) and make the image
        ``active`` (from ``from_status`` only).

        ``disk_format``/``container_format`` replace the formats (after a
        conversion, or copied from a source image); ``extra``
        sets (or, for None values, removes) extra properties. 410 (and the
        data removed) if the image was deleted or moved on meanwhile; on any
        failure the image is returned to ``queued`` without data.
        """
        values = dict(status="active", size=stored.size, checksum=stored.md5,
                      os_hash_algo="sha512", os_hash_value=stored.sha512,
                      virtual_size=virtual_size, location=stored.location, updated_at=utcnow())
        if disk_format:
            values["disk_format"] = disk_format
        if container_format:
            values["container_format"] = container_format
        try:
            async with self.db.session() as s:
                done = await s.execute(update(Image).where(Image.id == image_id, Image.status == from_status)
                                       .values(**values))
                if done.rowcount != 1:
                    raise Gone(f"Image {image_id} could not be found after upload. "
                               "The image may have been deleted during the upload.")
                image = await s.get(Image, image_id, populate_existing=True)
                self.change_extra(image, extra or {})
                image.locations = [ImageLocation(url=stored.location, meta={}, position=0,
                                                 store=store or self.stores.default)]
        except BaseException:
            await self.stores.delete_all(image_id)
            await self.requeue(image_id, from_status)
            raise
        view = image_view(image)
        await self.notify("image.upload", view)
        await self.notify("image.activate", view)
        return image

    async def requeue(self, image_id: str, from_status: str, extra: dict[str, str | None] | None = None) -> None:
        """Return the image to ``queued`` (if still in ``from_status``) without data; never raises.

        ``extra`` sets or removes (None) extra properties at the same time.
        """
        try:
            async with self.db.session() as s:
                image = await s.get(Image, image_id)
                if image is None or image.status != from_status:
                    return
                image.status, image.size, image.updated_at = "queued", None, utcnow()
                self.change_extra(image, extra or {})
        except Exception:
            log.exception("could not return image %s to queued after a failed upload", image_id)

    async def open_data(self, ctx: RequestContext, image_id: str) -> tuple[Image, Source | None]:
        """The image and a :class:`kumo.image.data.Source` of its data (None when it has no data
        yet: 204 for the API): the node cache's copy when there is one, else its locations.

        403 for a deactivated image unless admin; 404 if no store has the data.
        """
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
        policy.check_download(ctx, image)
        if image.status not in ("active", "deactivated"):
            return image, None
        if self.cache is not None:
            cached = await self.cache.source(image_id)
            if cached is not None:
                return image, cached
        try:
            return image, await data.open_image(self.stores, image)
        except data.DataMissing:
            raise NotFound(f"Image {image_id} data could not be found in the store.") from None
