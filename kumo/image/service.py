"""The image service: records, data, visibility and policy (Image API v2 "Images",
"Image data", "Image tags", "Image actions").

Every method takes the caller's :class:`RequestContext` and raises
``kumo.common.api.errors`` exceptions: 404 for an image the caller cannot see
(unknown, or another project's private/shared image), 403 for a write the
caller may not do (reader role, not the owner, admin-only action, protected
image, read-only attribute), 409 for a wrong status, 400 for bad values and
413 past a quota or the size cap.

Image status: ``queued`` (no data) -> ``saving`` (upload running) -> ``active``
(data stored) <-> ``deactivated`` (admin). A failed upload returns the image to
``queued`` and keeps no data.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import BinaryIO

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from kumo.common.api.errors import (ApiError, BadRequest, Conflict, Forbidden, NotFound,
                                    PayloadTooLarge)
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, new_id, utcnow
from kumo.image import patch, query, schemas
from kumo.image.formats import FormatInspector
from kumo.image.models import Image, ImageProperty, ImageTag
from kumo.image.store import FileStore, SizeLimitExceeded
from kumo.image.views import image_view

log = logging.getLogger(__name__)

Notifier = Callable[[str, dict], Awaitable[None]]


class Gone(ApiError):
    status, kind = 410, "Gone"


def _denied(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


async def _no_notify(event_type: str, payload: dict) -> None:
    return None


class ImageService:
    """Images in ``db`` with their data in ``store``; uploads larger than ``size_cap`` bytes are 413.

    ``notify(event_type, payload)`` receives ``image.create``, ``image.update``,
    ``image.upload``, ``image.activate`` and ``image.delete`` with the image's view.
    """

    def __init__(self, db: Database, store: FileStore, size_cap: int,
                 notify: Notifier | None = None):
        self.db = db
        self.store = store
        self.size_cap = size_cap
        self.notify = notify or _no_notify

    async def start(self) -> None:
        """Create the schema and store; return images whose upload a crash interrupted to ``queued``."""
        await self.db.create_schema()
        stale = self.store.prepare()
        if stale:
            async with self.db.session() as s:
                await s.execute(update(Image).where(Image.id.in_(stale), Image.status == "saving")
                                .values(status="queued", updated_at=utcnow()))

    # --- access -----------------------------------------------------------------------------

    @staticmethod
    def can_see(ctx: RequestContext, image: Image) -> bool:
        return (ctx.is_admin or image.visibility in ("public", "community")
                or (ctx.project_id is not None and image.owner == ctx.project_id))

    @staticmethod
    def check_write(ctx: RequestContext, image: Image | None, action: str) -> None:
        """403 unless the caller has a writing role and owns the image (or is admin)."""
        if not ctx.can_write:
            raise _denied(action)
        if image is not None and not ctx.owns(image.owner):
            raise _denied(action)

    async def _load(self, s, ctx: RequestContext, image_id: str) -> Image:
        image = await s.get(Image, image_id)
        if image is None or not self.can_see(ctx, image):
            raise NotFound(f"No image found with ID {image_id}")
        return image

    # --- records ----------------------------------------------------------------------------

    async def create(self, ctx: RequestContext, body: dict) -> Image:
        """Register an image (status ``queued``) from a "Create image" body; 409 for a taken id."""
        self.check_write(ctx, None, "add_image")
        if ctx.project_id is None and not ctx.is_admin:
            raise Forbidden("Creating an image needs a project-scoped token.")
        base, extra = schemas.validate_create(body)
        owner = base.pop("owner", None) or ctx.project_id
        if owner != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        if base["visibility"] == "public" and not ctx.is_admin:
            raise _denied("publicize_image")
        tags = base.pop("tags")
        image_id = base.pop("id", None) or new_id()
        now = utcnow()
        image = Image(id=image_id, status="queued", owner=owner, created_at=now, updated_at=now, **base)
        image.properties = [ImageProperty(name=k, value=v) for k, v in extra.items()]
        image.tags = [ImageTag(value=t) for t in tags]
        try:
            async with self.db.session() as s:
                if await s.get(Image, image_id) is not None:
                    raise Conflict(f"Image with identifier {image_id} already exists!")
                s.add(image)
        except IntegrityError:
            raise Conflict(f"Image with identifier {image_id} already exists!") from None
        await self.notify("image.create", image_view(image))
        return image

    async def get(self, ctx: RequestContext, image_id: str) -> Image:
        """The image, if the caller may see it (else 404)."""
        async with self.db.session() as s:
            return await self._load(s, ctx, image_id)

    async def list(self, ctx: RequestContext, q: query.ListQuery) -> tuple[list[Image], bool]:
        """One page of visible images and whether more follow. 400 for an unknown marker."""
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
            if new["visibility"] == "public" and old["visibility"] != "public" and not ctx.is_admin:
                raise _denied("publicize_image")
            if new["owner"] != old["owner"] and not ctx.is_admin:
                raise Forbidden("Only administrators may change the owner of an image.")
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
            view = image_view(image)
            await s.delete(image)
        try:
            await self.store.delete(image_id)
        except OSError:
            log.exception("image %s deleted but its data file could not be removed", image_id)
        view["status"] = "deleted"
        await self.notify("image.delete", view)

    async def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        """Add ``tag`` (idempotent). 400 for a bad tag, 413 past 128 tags."""
        schemas.validate_tag(tag)
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "modify_image")
            if tag in image.tag_list:
                return
            schemas.check_tag_quota(len(image.tags) + 1)
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
        """Reactivate (``active=True``) or deactivate an image; admin only (403 otherwise)."""
        action = "reactivate" if active else "deactivate"
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            if not ctx.is_admin:
                raise _denied(action)
            if image.status not in ("active", "deactivated"):
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            target = "active" if active else "deactivated"
            if image.status != target:
                image.status = target
                image.updated_at = utcnow()
        await self.notify("image.update", image_view(image))

    # --- data -------------------------------------------------------------------------------

    async def upload(self, ctx: RequestContext, image_id: str, chunks: AsyncIterable[bytes],
                     declared_size: int | None = None) -> Image:
        """Store the image data streamed as ``chunks``: queued -> saving -> active.

        Computes size, md5 ``checksum``, sha512 ``os_hash_value`` and
        ``virtual_size``. 409 unless the image is queued, 400 without
        disk/container formats, 413 past the size cap, 410 if the image was
        deleted meanwhile. On any failure the data is dropped and the image is
        queued again.
        """
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
            self.check_write(ctx, image, "upload_image")
            if image.status != "queued":
                raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
            if not image.disk_format or not image.container_format:
                raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
            if declared_size is not None and declared_size > self.size_cap:
                raise PayloadTooLarge("The provided image is too large.")
            disk_format = image.disk_format
            moved = await s.execute(update(Image).where(Image.id == image_id, Image.status == "queued")
                                    .values(status="saving", updated_at=utcnow()))
            if moved.rowcount != 1:
                raise Conflict("Image status transition from saving to saving is not allowed")
        inspector = FormatInspector()
        try:
            stored = await self.store.write(image_id, chunks, size_cap=self.size_cap,
                                            inspect=inspector.feed)
        except BaseException as e:
            await self._requeue(image_id)
            if isinstance(e, SizeLimitExceeded):
                raise PayloadTooLarge("The provided image is too large.") from None
            raise
        values = dict(status="active", size=stored.size, checksum=stored.md5,
                      os_hash_algo="sha512", os_hash_value=stored.sha512,
                      virtual_size=inspector.virtual_size(disk_format, stored.size),
                      location=stored.location, updated_at=utcnow())
        try:
            async with self.db.session() as s:
                done = await s.execute(update(Image).where(Image.id == image_id, Image.status == "saving")
                                       .values(**values))
                if done.rowcount != 1:
                    raise Gone(f"Image {image_id} could not be found after upload. "
                               "The image may have been deleted during the upload.")
                image = await s.get(Image, image_id, populate_existing=True)
        except BaseException:
            await self.store.delete(image_id)
            await self._requeue(image_id)
            raise
        view = image_view(image)
        await self.notify("image.upload", view)
        await self.notify("image.activate", view)
        return image

    async def _requeue(self, image_id: str) -> None:
        try:
            async with self.db.session() as s:
                await s.execute(update(Image).where(Image.id == image_id, Image.status == "saving")
                                .values(status="queued", updated_at=utcnow()))
        except Exception:
            log.exception("could not return image %s to queued after a failed upload", image_id)

    async def open_data(self, ctx: RequestContext, image_id: str) -> tuple[Image, BinaryIO | None]:
        """The image and its opened data file (None when it has no data yet: 204 for the API).

        403 for a deactivated image unless admin; 404 if the store lost the data.
        """
        async with self.db.session() as s:
            image = await self._load(s, ctx, image_id)
        if image.status == "deactivated" and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        if image.status not in ("active", "deactivated"):
            return image, None
        try:
            return image, await self.store.open(image_id)
        except FileNotFoundError:
            raise NotFound(f"Image {image_id} data could not be found in the store.") from None

