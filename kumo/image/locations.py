"""Image locations (Image API v2 ``locations`` via "Update image", v2.17 "Add location" /
"Get locations") and "Delete image from store".

Location URLs are checked by :meth:`kumo.image.store.Stores.store_of_url` (http/https for the
read-only ``web`` store, an image's own file-store URL; anything else 400).

- PATCH ``add /locations/<i|->`` ``{"url", "metadata"?, "validation_data"?}``: the http server
  must answer (400 otherwise; its ``Content-Length`` becomes the size of a queued image); a
  queued image becomes ``active`` without hashing; ``validation_data`` (``checksum``,
  ``os_hash_algo``, ``os_hash_value``) sets the hashes of an image without any and must match
  those of an image that has them (409). 409 for a URL the image already has.
- PATCH ``replace /locations``: the same URLs (metadata may change), 400 otherwise; on an image
  without locations it adds them.
- PATCH ``remove /locations/<i>``: admins only (403); never the last location (403).
- ``POST /v2/images/{id}/locations`` ``{"url", "validation_data"?}``: a queued image goes
  ``importing``; a ``location_import`` task reads the data, computes md5 and the hash
  (``validation_data.os_hash_algo``, else sha512) and compares it with the given value; on
  success the image is ``active`` with size and hashes, else ``queued`` again (task failure).
- ``GET /v2/images/{id}/locations``: the service role (or admins) only, 403 otherwise.
- ``DELETE /v2/stores/{store}/{id}``: admins; 404 unknown store or image not there, 409 for
  its last location.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re

from sqlalchemy import update

from kumo.common.api.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import utcnow
from kumo.image import data, policy
from kumo.image.models import Image, ImageLocation
from kumo.image.store import WEB

log = logging.getLogger(__name__)

HASH_ALGOS = {"sha256": 64, "sha384": 96, "sha512": 128, "md5": 32}
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _validation(raw: object) -> dict:
    """Checked ``validation_data``: 400 for unknown keys, algorithms or malformed values."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict) or set(raw) - {"checksum", "os_hash_algo", "os_hash_value"}:
        raise BadRequest("validation_data may hold only checksum, os_hash_algo and os_hash_value.")
    algo, value, checksum = raw.get("os_hash_algo"), raw.get("os_hash_value"), raw.get("checksum")
    if (algo is None) != (value is None):
        raise BadRequest("os_hash_algo and os_hash_value must be given together.")
    if algo is not None and algo not in HASH_ALGOS:
        raise BadRequest(f"Unsupported hash algorithm {algo!r}.")
    if value is not None and (not isinstance(value, str) or not _HEX.match(value)
                              or len(value) != HASH_ALGOS[algo]):
        raise BadRequest(f"os_hash_value is not a valid {algo} digest.")
    if checksum is not None and (not isinstance(checksum, str) or not _HEX.match(checksum)
                                 or len(checksum) != 32):
        raise BadRequest("checksum is not a valid md5 digest.")
    return {k: v for k, v in raw.items() if v is not None}


def _location(value: object) -> tuple[str, dict, dict]:
    if not isinstance(value, dict) or "url" not in value:
        raise BadRequest("A location is an object with 'url' and 'metadata'.")
    meta = value.get("metadata", {})
    if not isinstance(meta, dict) or set(value) - {"url", "metadata", "validation_data"}:
        raise BadRequest("Invalid location: 'metadata' must be an object.")
    raw = value.get("validation_data") or {}
    if not isinstance(raw, dict):
        raise BadRequest("validation_data must be an object.")
    return value["url"], meta, raw


class LocationService:
    """Locations of the images of ``images`` (an ImageService); tasks in ``tasks``."""

    def __init__(self, images, tasks):
        self.images, self.tasks = images, tasks
        self._running: set[asyncio.Task] = set()

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _size(self, url: str, store: str) -> int | None:
        if store != WEB:
            return None
        try:
            return await self.images.stores.http.size(url)
        except data.FetchError as e:
            raise BadRequest(f"Location {url} could not be read: {e}") from None

    # --- PATCH ----------------------------------------------------------------------------------

    async def patch(self, ctx: RequestContext, image_id: str, changes: list) -> None:
        """Apply the ``/locations`` operations of an "Update image" request (see the module)."""
        for change in changes:
            async with self.images.db.session() as s:
                image = await policy.load(s, ctx, image_id)
                policy.check_write(ctx, image, "set_image_location")
            if change.op == "remove":
                await self._remove(ctx, image_id, change.index)
            elif change.op == "replace":
                await self._replace(ctx, image_id, change.value)
            else:
                await self._add(ctx, image_id, change.value, change.index)

    async def _add(self, ctx, image_id: str, value: object, index: str | None) -> None:
        url, meta, check = _location(value)
        store = self.images.stores.store_of_url(image_id, url)
        size = await self._size(url, store)
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            if image.status not in ("queued", "active"):
                raise Conflict(f"Locations cannot be added to an image in status {image.status}.")
            if any(loc.url == url for loc in image.locations):
                raise Conflict(f"The location {url} is already present.")
            fields = ("checksum", "os_hash_algo", "os_hash_value")
            if any(getattr(image, key) is not None for key in fields):
                for key in fields:
                    if key in check and getattr(image, key) != check[key]:
                        raise Conflict(f"The location's {key} does not match the image's.")
            else:
                for key, v in _validation(check).items():
                    setattr(image, key, v)
            locs = list(image.locations)
            pos = len(locs) if index in (None, "-") else _index(index, len(locs) + 1)
            locs.insert(pos, ImageLocation(url=url, store=store, meta=meta))
            for n, loc in enumerate(locs):
                loc.position = n
            image.locations = locs
            if image.status == "queued":
                image.status, image.size = "active", size
            image.updated_at = utcnow()

    async def _replace(self, ctx, image_id: str, value: object) -> None:
        if not isinstance(value, list):
            raise BadRequest("'locations' must be a list.")
        wanted = [_location(v) for v in value]
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            current = [loc.url for loc in image.locations]
        if not current:
            for v in value:
                await self._add(ctx, image_id, v, None)
            return
        if sorted(current) != sorted(url for url, _, _ in wanted):
            raise BadRequest("Locations can only be replaced by the same URLs (metadata may change).")
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            by_url = {loc.url: loc for loc in image.locations}
            for n, (url, meta, _) in enumerate(wanted):
                by_url[url].meta, by_url[url].position = dict(meta), n
            image.updated_at = utcnow()

    async def _remove(self, ctx, image_id: str, index: str | None) -> None:
        policy.check_write(ctx, None, "delete_image_location")
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "delete_image_location")
            locs = list(image.locations)
            pos = _index(index, len(locs))
            if len(locs) == 1:
                raise Forbidden("Cannot remove the last location of an image.")
            gone = locs.pop(pos)
            image.locations = locs
            image.updated_at = utcnow()
        if gone.store in self.images.stores.files:
            await self.images.stores.file(gone.store).delete(image_id)

    # --- stores -----------------------------------------------------------------------------

    async def delete_from_store(self, ctx: RequestContext, store: str, image_id: str) -> None:
        policy.check_write(ctx, None, "delete_image_location")
        if store not in self.images.stores.files and store != WEB:
            raise NotFound(f"Unknown store {store}.")
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "delete_image_location")
            if image.status != "active":
                raise Conflict(f"Image {image_id} is not active.")
            mine = [loc for loc in image.locations if loc.store == store]
            if not mine:
                raise NotFound(f"Image {image_id} has no data in store {store}.")
            if len(mine) == len(image.locations):
                raise Conflict("Cannot delete the image from its last store.")
            image.locations = [loc for loc in image.locations if loc.store != store]
            image.updated_at = utcnow()
        if store in self.images.stores.files:
            await self.images.stores.file(store).delete(image_id)

    # --- v2.17 ------------------------------------------------------------------------------

    async def list(self, ctx: RequestContext, image_id: str) -> list[dict]:
        policy.check_write(ctx, None, "fetch_image_location")
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "fetch_image_location")
            return [{"url": loc.url, "metadata": dict(loc.meta or {})} for loc in image.locations]

    async def add(self, ctx: RequestContext, image_id: str, body: object) -> None:
        """``POST /v2/images/{id}/locations`` (202): see the module."""
        if not isinstance(body, dict):
            raise BadRequest("The body must be an object with 'url'.")
        check = _validation(body.get("validation_data"))
        url = body.get("url")
        store = self.images.stores.store_of_url(image_id, url)
        size = await self._size(url, store)
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "add_image_location")
            if image.status != "queued" or image.locations:
                raise Conflict(f"A location can be added only to a queued image without data "
                               f"(status {image.status}).")
            image.locations = [ImageLocation(url=url, store=store, meta={}, position=0)]
            image.status, image.size, image.updated_at = "importing", size, utcnow()
            owner = image.owner
        task = await self.tasks.add(ctx, "location_import", {"image_id": image_id, "loc_url": url,
                                                            "validation_data": check}, image_id, owner=owner)
        job = asyncio.get_running_loop().create_task(self._hash(image_id, task.id, url, store, check))
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def _hash(self, image_id: str, task_id: str, url: str, store: str, check: dict) -> None:
        algo = check.get("os_hash_algo", "sha512")
        md5, digest, size = hashlib.md5(usedforsecurity=False), hashlib.new(algo), 0
        try:
            async with self.images.db.session() as s:
                image = await s.get(Image, image_id)
            source = await data.open_image(self.images.stores, image)
            try:
                async for chunk in source.chunks():
                    md5.update(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if size > self.images.size_cap:
                        raise ValueError("the data exceeds the size cap")
            finally:
                source.close()
            for key, got in (("checksum", md5.hexdigest()), ("os_hash_value", digest.hexdigest())):
                if key in check and check[key].lower() != got:
                    raise ValueError(f"the data does not match the given {key}")
            values = dict(status="active", size=size, checksum=md5.hexdigest(), os_hash_algo=algo,
                          os_hash_value=digest.hexdigest(), updated_at=utcnow())
            ok, message = True, ""
        except asyncio.CancelledError:
            values, ok, message = dict(status="queued", updated_at=utcnow()), False, "interrupted"
        except Exception as e:  # noqa: BLE001 - a failed hash fails the task
            values, ok, message = dict(status="queued", updated_at=utcnow()), False, str(e)
        await asyncio.shield(self._finish(image_id, task_id, values, ok, message))

    async def _finish(self, image_id: str, task_id: str, values: dict, ok: bool, message: str) -> None:
        async with self.images.db.session() as s:
            await s.execute(update(Image).where(Image.id == image_id, Image.status == "importing")
                            .values(**values))
        await self.tasks.finish(task_id, ok, result={"image_id": image_id} if ok else None,
                                message=message)


def _index(raw: str | None, length: int) -> int:
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid location index {raw!r}.") from None
    if not 0 <= n < length:
        raise BadRequest(f"Invalid location index {raw!r}.")
    return n

