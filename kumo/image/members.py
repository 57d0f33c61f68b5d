"""Image sharing (Image API v2 "Image members").

A ``shared`` image's owner adds projects as members (status ``pending``); a
member project accepts or rejects the share. Members of any status may see
the image by id; an accepted share also shows in the member's default image
list (:func:`kumo.image.policy.listed`).

Errors (glance's): 404 for an image the caller cannot see or an unknown
member (or another project's membership); 403 when the caller may not do the
action (not the owner for add/remove, not the member for a status change, an
image that is not ``shared``); 409 for a project that is already a member;
400 for a bad body; 413 past ``image_member_quota`` members.
"""
from __future__ import annotations

from kumo.common.api.errors import Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, utcnow
from kumo.image import policy, quota, schemas
from kumo.image.models import Image, ImageMember


class MemberService:
    """Members of images in ``db``; at most ``limit`` members per image."""

    def __init__(self, db: Database, limit: int = 128):
        self.db = db
        self.limit = limit

    @staticmethod
    def _find(image: Image, member_id: str) -> ImageMember:
        for m in image.members:
            if m.member_id == member_id:
                return m
        raise NotFound(f"{member_id} is not a member of image {image.id}")

    async def list(self, ctx: RequestContext, image_id: str) -> list[ImageMember]:
        """Members the caller may see: all for the owner, its own membership for a member.

        403 for an image that is not ``shared``.
        """
        async with self.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_list_members(ctx, image)
            return sorted((m for m in image.members if policy.can_see_member(ctx, image, m.member_id)),
                          key=lambda m: (m.created_at, m.member_id))

    async def get(self, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
        """One membership; 404 unless the caller is the owner or that member."""
        async with self.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_shared(image)
            if not policy.can_see_member(ctx, image, member_id):
                raise NotFound(f"{member_id} is not a member of image {image_id}")
            return self._find(image, member_id)

    async def create(self, ctx: RequestContext, image_id: str, body: dict) -> ImageMember:
        """Share the image with ``body["member"]`` (status ``pending``)."""
        member_id = schemas.validate_member_body(body)
        async with self.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_manage_members(ctx, image, "add_member")
            if any(m.member_id == member_id for m in image.members):
                raise Conflict(f"{member_id} is already a member of image {image_id}")
            quota.check_per_image("image members", len(image.members) + 1, self.limit)
            now = utcnow()
            member = ImageMember(image_id=image_id, member_id=member_id, status="pending",
                                 created_at=now, updated_at=now)
            image.members.append(member)
        return member

    async def update(self, ctx: RequestContext, image_id: str, member_id: str, body: dict) -> ImageMember:
        """Set the membership status (``pending``, ``accepted``, ``rejected``): the member only."""
        status = schemas.validate_member_status(body)
        async with self.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_shared(image)
            if not policy.can_see_member(ctx, image, member_id):
                raise NotFound(f"{member_id} is not a member of image {image_id}")
            member = self._find(image, member_id)
            policy.check_member_status_change(ctx, image, member_id)
            if member.status != status:
                member.status, member.updated_at = status, utcnow()
        return member

    async def delete(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        """Stop sharing the image with ``member_id``: the owner only."""
        async with self.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            if not policy.can_see_member(ctx, image, member_id):
                raise NotFound(f"{member_id} is not a member of image {image_id}")
            policy.check_manage_members(ctx, image, "delete_member")
            image.members.remove(self._find(image, member_id))
