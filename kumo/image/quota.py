"""Image quotas: per-image limits and per-project usage (glance's quota options).

Per image: extra properties, tags and members (``image_property_quota``,
``image_tag_quota``, ``image_member_quota``, 128 each). Per project: bytes of
image data (``user_storage_quota``, 0 = unlimited), images owned
(``image_count_total``), bytes staged for import (``image_stage_total``) and
uploads/imports in progress (``image_count_uploading``), -1 = unlimited.
Past a limit the API answers 413 (:class:`PayloadTooLarge`), as glance does.

``GET /v2/info/usage`` reports :func:`usage` (Image API v2 "Quota usage"):
sizes in MiB as glance's unified limits do, counts as numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from kumo.common.api.errors import PayloadTooLarge
from kumo.image.models import Image

UPLOADING = ("saving", "uploading", "importing")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Quota values; -1 (or 0 for ``storage``) is unlimited. Sizes are bytes."""

    properties: int = 128
    tags: int = 128
    members: int = 128
    storage: int = 0
    images: int = -1
    staging: int = -1
    uploading: int = -1

    @classmethod
    def from_settings(cls, s) -> "Limits":
        """From an :class:`kumo.config.ImageSettings`."""
        return cls(properties=s.image_property_quota, tags=s.image_tag_quota,
                   members=s.image_member_quota, storage=s.user_storage_quota,
                   images=s.image_count_total, staging=s.image_stage_total,
                   uploading=s.image_count_uploading)


def check_per_image(what: str, count: int, limit: int) -> None:
    """413 when an image would have ``count`` > ``limit`` properties, tags or members."""
    if 0 <= limit < count:
        raise PayloadTooLarge(f"Maximum number of {what} exceeded. Attempted: {count}, Maximum: {limit}")


async def project_usage(session, project_id: str | None) -> dict[str, int]:
    """``{"images", "storage", "staging", "uploading"}`` of the project (bytes for sizes)."""
    owned = Image.owner == project_id
    storage = await session.scalar(select(func.coalesce(func.sum(Image.size), 0))
                                   .where(owned, Image.status.in_(("active", "deactivated"))))
    total = await session.scalar(select(func.count(Image.id)).where(owned))
    staging = await session.scalar(select(func.coalesce(func.sum(Image.size), 0))
                                   .where(owned, Image.status.in_(("uploading", "importing"))))
    uploading = await session.scalar(select(func.count(Image.id))
                                     .where(owned, Image.status.in_(UPLOADING)))
    return {"images": int(total), "storage": int(storage or 0), "staging": int(staging or 0),
            "uploading": int(uploading)}


async def check_new_image(session, limits: Limits, project_id: str | None) -> None:
    """413 when the project already owns ``image_count_total`` images."""
    if limits.images < 0:
        return
    used = (await project_usage(session, project_id))["images"]
    if used + 1 > limits.images:
        raise PayloadTooLarge(f"Maximum number of images exceeded for project: {used} of "
                              f"{limits.images} already used.")


async def check_start_upload(session, limits: Limits, project_id: str | None) -> None:
    """413 when the project already runs ``image_count_uploading`` uploads or imports."""
    if limits.uploading < 0:
        return
    used = (await project_usage(session, project_id))["uploading"]
    if used + 1 > limits.uploading:
        raise PayloadTooLarge("Maximum number of image uploads in progress exceeded for project.")


async def storage_room(session, limits: Limits, project_id: str | None, cap: int) -> int:
    """Bytes the project may still store, at most ``cap``; 413 when nothing is left."""
    if limits.storage <= 0:
        return cap
    used = (await project_usage(session, project_id))["storage"]
    room = limits.storage - used
    if room <= 0:
        raise PayloadTooLarge("Denying attempt to upload image because it exceeds the quota: "
                              f"the project uses {used} of {limits.storage} bytes.")
    return min(cap, room)


async def staging_room(session, limits: Limits, project_id: str | None, cap: int) -> int:
    """Bytes the project may still stage, at most ``cap``; 413 when nothing is left."""
    if limits.staging < 0:
        return cap
    used = (await project_usage(session, project_id))["staging"]
    room = limits.staging - used
    if room <= 0:
        raise PayloadTooLarge("Denying attempt to stage image because it exceeds the staging quota.")
    return min(cap, room)


async def usage(session, limits: Limits, project_id: str | None) -> dict:
    """The ``GET /v2/info/usage`` body: ``{"usage": {name: {"limit", "usage"}}}``."""
    used = await project_usage(session, project_id)

    def mib(n: int) -> int:
        return -(-n // MiB)

    storage_limit = mib(limits.storage) if limits.storage > 0 else -1
    staging_limit = mib(limits.staging) if limits.staging >= 0 else -1
    return {"usage": {
        "image_size_total": {"limit": storage_limit, "usage": mib(used["storage"])},
        "image_stage_total": {"limit": staging_limit, "usage": mib(used["staging"])},
        "image_count_total": {"limit": limits.images, "usage": used["images"]},
        "image_count_uploading": {"limit": limits.uploading, "usage": used["uploading"]},
    }}
