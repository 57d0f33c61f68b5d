"""Copying an image's data between file stores (multistore imports and ``copy-image``).

:func:`copy_to_stores` copies the data of an ``active`` image from one of its file stores
into each target store, records each new location and keeps glance's reserved properties
current: ``os_glance_importing_to_stores`` (comma-separated stores still to do) and
``os_glance_failed_import`` (stores that failed). A failed copy leaves no file behind.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select

from kumo.common.db import utcnow
from kumo.image import data
from kumo.image.models import Image, ImageLocation
from kumo.image.store import SizeLimitExceeded

log = logging.getLogger(__name__)

IMPORTING, FAILED = "os_glance_importing_to_stores", "os_glance_failed_import"


async def set_progress(images, image_id: str, todo: Sequence[str], failed: Sequence[str]) -> None:
    """Record the stores still to do and those that failed on the image (if it still exists)."""
    async with images.db.session() as s:
        image = await s.get(Image, image_id)
        if image is not None:
            images.change_extra(image, {IMPORTING: ",".join(todo), FAILED: ",".join(failed)})


async def copy_to_stores(images, image_id: str, targets: Sequence[str],
                         failed: Sequence[str] = ()) -> list[str]:
    """Copy the image's data into each of ``targets`` (file store ids); the stores that failed."""
    failed, todo = list(failed), list(targets)
    while todo:
        name = todo[0]
        try:
            await _copy_one(images, image_id, name)
        except (OSError, data.DataMissing, data.FetchError, SizeLimitExceeded, LookupError) as e:
            log.warning("copying image %s to store %s failed: %s", image_id, name, e)
            failed.append(name)
        todo.pop(0)
        await set_progress(images, image_id, todo, failed)
    return failed


async def _copy_one(images, image_id: str, name: str) -> None:
    async with images.db.session() as s:
        image = await s.get(Image, image_id)
        if image is None or image.status not in ("active", "importing"):
            raise LookupError(f"image {image_id} is gone")
        if any(loc.store == name for loc in image.locations):
            return
        sources = [loc.store for loc in image.locations if loc.store in images.stores.files]
    if not sources:
        raise data.DataMissing(f"image {image_id} has no data in a file store")
    source = await data.open_file(images.stores.file(images.stores.ordered(sources)[0]), image_id)
    target = images.stores.file(name)
    stored = await target.write(image_id, source.drain(), size_cap=images.size_cap)
    try:
        async with images.db.session() as s:
            image = await s.get(Image, image_id)
            if image is None:
                raise LookupError(f"image {image_id} was deleted during the copy")
            last = await s.scalar(select(func.max(ImageLocation.position))
                                  .where(ImageLocation.image_id == image_id))
            image.locations.append(ImageLocation(url=stored.location, store=name, meta={},
                                                 position=(last or 0) + 1))
            image.updated_at = utcnow()
    except BaseException:
        await target.delete(image_id)
        raise
