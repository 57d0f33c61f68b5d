"""Who may do what with an image: every access check of the image service goes through the
image :class:`~kumo.common.policy.Policy` (glance's rule names, defaults in
:mod:`kumo.image.policies`, overrides in ``<[common] policy_dir>/image.yaml``).

The component calls :func:`configure` with its settings; until then the
defaults apply. With the defaults (glance's secure RBAC):

- **see** an image (show, download, list it by id): admins; any project reader for
  ``public`` and ``community`` images; the owner project's readers; and, for a
  ``shared`` image, readers of its member projects whatever their member status
  (``get_image``);
- **write** (``add_image``, ``modify_image``, ``upload_image``, ``import_image``,
  ``delete_image``, ``deactivate``, ``reactivate``...): a member of the owner
  project, or an admin; only admins publicize images (``publicize_image``),
  create them for another project or change their owner, and download
  deactivated images;
- **members**: the owner adds and removes them (``add_member``,
  ``delete_member``), a member sets its own status (``modify_member``), the
  owner sees all members and a member only itself (``get_member(s)``);
- **lists** (``GET /v2/images``, ``get_images``, :func:`listed`): the default list holds
  public images, the caller's own and shared images whose membership it
  accepted (``member_status`` changes that); ``community`` images appear only
  with ``visibility=community`` (or ``all``).

Errors: an image the caller may not see is 404 (glance does not reveal it),
a forbidden action on a visible image is 403 "You are not authorized to
complete <rule> action." (Image API v2 "Images", "Image members").
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import and_, exists, false, or_, true
from sqlalchemy.sql import ColumnElement

from kumo.common.api.errors import Forbidden, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.policy import Policy
from kumo.image import policies
from kumo.image.models import Image, ImageMember

MEMBER_STATUSES = ("pending", "accepted", "rejected")

_engine: Policy = policies.policy(None)


def configure(settings, policy_file: str | None = None) -> Policy:
    """Use the rules of ``settings`` (``[common] policy_dir``/image.yaml, or ``policy_file``)
    from now on; returns the engine."""
    global _engine
    _engine = (policies.policy(settings) if policy_file is None else
               Policy("image", policies.rules(), settings, policy_file=policy_file, denial=policies.denial))
    return _engine


def engine() -> Policy:
    """The image API's policy engine in force."""
    return _engine


denied = policies.denial


def is_admin(ctx: RequestContext) -> bool:
    """The ``context_is_admin`` rule (admins see and change every project's images)."""
    return _engine.is_admin(ctx)


def check(ctx: RequestContext, action: str, target: Mapping | None = None) -> bool:
    """True if rule ``action`` allows ``ctx`` on ``target`` (None: the caller's own project)."""
    return _engine.check(ctx, action, target)


def authorize(ctx: RequestContext, action: str, target: Mapping | None = None) -> None:
    """403 (:func:`denied`) unless rule ``action`` allows ``ctx`` on ``target``."""
    _engine.authorize(ctx, action, target)


def membership(ctx: RequestContext, image: Image) -> ImageMember | None:
    """The caller's project membership of ``image`` (None if not a member)."""
    if ctx.project_id is None:
        return None
    for m in image.members:
        if m.member_id == ctx.project_id:
            return m
    return None


def target(ctx: RequestContext, image: Image) -> dict:
    """The policy target of ``image`` for ``ctx``: ``project_id``/``owner`` (the owner),
    ``visibility``, and ``member_id``/``member_status`` when the caller's project is a
    member of the (shared) image."""
    m = membership(ctx, image) if image.visibility == "shared" else None
    return {"project_id": image.owner, "owner": image.owner, "visibility": image.visibility,
            "member_id": m.member_id if m else None, "member_status": m.status if m else None}


def can_see(ctx: RequestContext, image: Image) -> bool:
    """True if the caller may see ``image``: it is in the caller's scope (:func:`visible`)
    and ``get_image`` allows it."""
    in_scope = (is_admin(ctx) or image.visibility in ("public", "community")
                or (ctx.project_id is not None and image.owner == ctx.project_id)
                or (image.visibility == "shared" and membership(ctx, image) is not None))
    return in_scope and check(ctx, "get_image", target(ctx, image))


def check_write(ctx: RequestContext, image: Image | None, action: str) -> None:
    """403 unless rule ``action`` allows the caller on ``image`` (None: an image of its own
    project, e.g. ``add_image``)."""
    if image is None:
        authorize(ctx, action, {"project_id": ctx.project_id, "owner": ctx.project_id})
    else:
        authorize(ctx, action, target(ctx, image))


def _check_visibility(ctx: RequestContext, visibility: str, owner: str | None) -> None:
    """``publicize_image`` / ``communitize_image`` for an image of ``owner`` made public /
    community (403)."""
    rule = {"public": "publicize_image", "community": "communitize_image"}.get(visibility)
    if rule:
        authorize(ctx, rule, {"project_id": owner, "owner": owner, "visibility": visibility})


def check_create(ctx: RequestContext, owner: str | None, visibility: str) -> None:
    """Creating an image: a project-scoped token (or admin); only admins create images for another
    project (``owner``) or ``public`` ones (403); ``add_image`` with the new image's owner."""
    admin = is_admin(ctx)
    if ctx.project_id is None and not admin:
        raise Forbidden("Creating an image needs a project-scoped token.")
    if owner != ctx.project_id and not admin:
        raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
    authorize(ctx, "add_image", {"project_id": ctx.project_id, "owner": owner})
    _check_visibility(ctx, visibility, owner)


def check_update(ctx: RequestContext, old: dict, new: dict) -> None:
    """An update from ``old`` to ``new`` (patch snapshots): ``publicize_image`` /
    ``communitize_image`` for a visibility change; only admins change the owner (403)."""
    if new["visibility"] != old["visibility"]:
        _check_visibility(ctx, new["visibility"], old["owner"])
    if new["owner"] != old["owner"] and not is_admin(ctx):
        raise Forbidden("Only administrators may change the owner of an image.")


def check_download(ctx: RequestContext, image: Image) -> None:
    """``download_image``; a deactivated image's data is for admins only (403)."""
    authorize(ctx, "download_image", target(ctx, image))
    if image.status == "deactivated" and not is_admin(ctx):
        raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")


async def load(session, ctx: RequestContext, image_id: str) -> Image:
    """The image ``image_id`` read in ``session``; 404 if unknown or not visible to the caller."""
    image = await session.get(Image, image_id)
    if image is None or not can_see(ctx, image):
        raise NotFound(f"No image found with ID {image_id}")
    return image


# --- members ------------------------------------------------------------------------------------

def check_manage_members(ctx: RequestContext, image: Image, action: str) -> None:
    """Adding or removing members (``add_member``, ``delete_member``): the owner (or an admin)
    of a ``shared`` image.

    403 for anyone else and for an image that is not ``shared``.
    """
    check_write(ctx, image, action)
    check_shared(image)


def check_shared(image: Image) -> None:
    """403 unless ``image`` is ``shared``: only shared images have members."""
    if image.visibility != "shared":
        raise Forbidden(f"Only shared images have members. Image {image.id} has visibility "
                        f"{image.visibility!r}.")


def _member_target(image: Image, member_id: str) -> dict:
    return {"project_id": image.owner, "owner": image.owner, "visibility": image.visibility,
            "member_id": member_id}


def check_list_members(ctx: RequestContext, image: Image) -> None:
    """``get_members`` on a shared image (403 for an image that is not shared or refused)."""
    check_shared(image)
    authorize(ctx, "get_members", target(ctx, image))


def can_see_member(ctx: RequestContext, image: Image, member_id: str) -> bool:
    """``get_member``: the owner and admins see every member; a member sees only its own
    membership."""
    return check(ctx, "get_member", _member_target(image, member_id))


def check_member_status_change(ctx: RequestContext, image: Image, member_id: str) -> None:
    """``modify_member``: only the member project itself (or an admin) changes a membership's
    status (403)."""
    if not check(ctx, "modify_member", _member_target(image, member_id)):
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
    if is_admin(ctx):
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
    if is_admin(ctx):
        return true() if visibility is None else Image.visibility == visibility
    if visibility is None:
        return or_(Image.visibility == "public", _own(ctx), _member(ctx, member_status))
    if visibility in ("public", "community"):
        return Image.visibility == visibility
    if visibility == "shared":
        return or_(and_(Image.visibility == "shared", _own(ctx)), _member(ctx, member_status))
    return and_(Image.visibility == visibility, _own(ctx))
