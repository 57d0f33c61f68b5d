"""Who may do what with an image: every access rule of the image service, in one place.

Follows glance's default policy:

- **see** an image (show, download, list it by id): admins; anyone for
  ``public`` and ``community`` images; the owner project; and, for a
  ``shared`` image, its member projects whatever their member status;
- **write** (create, update, upload, stage, import, tag, delete, deactivate,
  reactivate): a member or admin role, on an image the project owns (or any
  image for admins); only admins publicize images, create them for another
  project or change their owner, and download deactivated images;
- **members**: the owner adds and removes them, a member sets its own status,
  the owner sees all members and a member only itself (Image API v2 "Image
  members");
- **lists** (``GET /v2/images``, :func:`listed`): the default list holds
  public images, the caller's own and shared images whose membership it
  accepted (``member_status`` changes that); ``community`` images appear only
  with ``visibility=community`` (or ``all``).

Errors: an image the caller may not see is 404 (glance does not reveal it),
a forbidden action on a visible image is 403 with glance's message.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, false, or_, true
from sqlalchemy.sql import ColumnElement

from kumo.common.api.errors import Forbidden, NotFound
from kumo.common.auth.context import RequestContext
from kumo.image.models import Image, ImageMember

MEMBER_STATUSES = ("pending", "accepted", "rejected")


def denied(action: str) -> Forbidden:
    """The 403 glance answers when a policy rule refuses ``action``."""
    return Forbidden(f"You are not authorized to complete {action} action.")


def membership(ctx: RequestContext, image: Image) -> ImageMember | None:
    """The caller's project membership of ``image`` (None if not a member)."""
    if ctx.project_id is None:
        return None
    for m in image.members:
        if m.member_id == ctx.project_id:
            return m
    return None


def can_see(ctx: RequestContext, image: Image) -> bool:
    """True if the caller may see ``image`` (see the module rules)."""
    if ctx.is_admin or image.visibility in ("public", "community"):
        return True
    if ctx.project_id is not None and image.owner == ctx.project_id:
        return True
    return image.visibility == "shared" and membership(ctx, image) is not None


def check_write(ctx: RequestContext, image: Image | None, action: str) -> None:
    """403 unless the caller has a writing role and owns ``image`` (or is admin)."""
    if not ctx.can_write:
        raise denied(action)
    if image is not None and not ctx.owns(image.owner):
        raise denied(action)


def check_create(ctx: RequestContext, owner: str | None, visibility: str) -> None:
    """Creating an image: a project-scoped token (or admin); only admins create images for another
    project (``owner``) or ``public`` ones (403)."""
    if ctx.project_id is None and not ctx.is_admin:
        raise Forbidden("Creating an image needs a project-scoped token.")
    if owner != ctx.project_id and not ctx.is_admin:
        raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
    if visibility == "public" and not ctx.is_admin:
        raise denied("publicize_image")


def check_update(ctx: RequestContext, old: dict, new: dict) -> None:
    """An update from ``old`` to ``new`` (patch snapshots): only admins publicize or change the owner."""
    if new["visibility"] == "public" and old["visibility"] != "public" and not ctx.is_admin:
        raise denied("publicize_image")
    if new["owner"] != old["owner"] and not ctx.is_admin:
        raise Forbidden("Only administrators may change the owner of an image.")


def check_download(ctx: RequestContext, image: Image) -> None:
    """A deactivated image's data is for admins only (403)."""
    if image.status == "deactivated" and not ctx.is_admin:
        raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")


async def load(session, ctx: RequestContext, image_id: str) -> Image:
    """The image ``image_id`` read in ``session``; 404 if unknown or not visible to the caller."""
    image = await session.get(Image, image_id)
    if image is None or not can_see(ctx, image):
        raise NotFound(f"No image found with ID {image_id}")
    return image


# --- members ------------------------------------------------------------------------------------

def check_manage_members(ctx: RequestContext, image: Image, action: str) -> None:
    """Adding or removing members: the owner (or an admin) of a ``shared`` image.

    403 for anyone else and for an image that is not ``shared``.
    """
    check_write(ctx, image, action)
    check_shared(image)


def check_shared(image: Image) -> None:
    """403 unless ``image`` is ``shared``: only shared images have members."""
    if image.visibility != "shared":
        raise Forbidden(f"Only shared images have members. Image {image.id} has visibility "
                        f"{image.visibility!r}.")


def can_see_member(ctx: RequestContext, image: Image, member_id: str) -> bool:
    """The owner and admins see every member; a member sees only its own membership."""
    return ctx.owns(image.owner) or member_id == ctx.project_id


def check_member_status_change(ctx: RequestContext, member_id: str) -> None:
    """Only the member project itself (or an admin) changes a membership's status (403)."""
    if not ctx.can_write or (member_id != ctx.project_id and not ctx.is_admin):
        raise Forbidden("You are not permitted to modify 'status' on this image member.")


# --- lists --------------------------------------------------------------------------------------

def _own(ctx: RequestContext) -> ColumnElement:
    return Image.owner == ctx.project_id if ctx.project_id else false()


def _member(ctx: RequestContext, member_status: str | None) -> ColumnElement:
    """Shared images the caller's project is a member of, with ``member_status`` (``all``: any)."""
    if not ctx.project_id:
        return false()
    cond = [ImageMember.image_id == Image.id, ImageMember.member_id == ctx.project_id]
    status = member_status or "accepted"
    if status != "all":
        cond.append(ImageMember.status == status)
    return and_(Image.visibility == "shared", exists().where(*cond))


def visible(ctx: RequestContext) -> ColumnElement:
    """SQL for :func:`can_see`: the images ``ctx`` may see one by one."""
    if ctx.is_admin:
        return true()
    return or_(Image.visibility.in_(("public", "community")), _own(ctx), _member(ctx, "all"))


def listed(ctx: RequestContext, visibility: str | None, member_status: str | None = None) -> ColumnElement:
    """SQL for the images a list shows for a ``visibility`` filter (None: the default list).

    ``member_status`` (default ``accepted``; ``all``) selects which shared
    images the caller is a member of are listed. Admins list everything
    (narrowed by ``visibility`` when given).
    """
    if visibility == "all":
        return visible(ctx)
    if ctx.is_admin:
        return true() if visibility is None else Image.visibility == visibility
    if visibility is None:
        return or_(Image.visibility == "public", _own(ctx), _member(ctx, member_status))
    if visibility in ("public", "community"):
        return Image.visibility == visibility
    if visibility == "shared":
        return or_(and_(Image.visibility == "shared", _own(ctx)), _member(ctx, member_status))
    return and_(Image.visibility == visibility, _own(ctx))
