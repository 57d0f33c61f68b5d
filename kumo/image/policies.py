"""Default policy of the image API (glance's rule names; override in ``<policy_dir>/image.yaml``).

:mod:`kumo.image.policy` builds the targets and makes every check through
these rules. Targets: an image's ``project_id`` and ``owner`` (its owner),
``visibility``, and ``member_id`` / ``member_status`` (the caller's project and
its status when it is a member of a shared image); image members: ``member_id``
is the member project; creates and lists: the caller's own project (creates
also ``owner``, the project the new image is for); metadef namespaces:
``project_id`` (owner) and ``visibility``.
"""
from __future__ import annotations

from kumo.common.api.errors import Forbidden
from kumo.common.policy import Policy, RuleDefault
from kumo.common.policy.base import ADMIN, PROJECT_MEMBER, PROJECT_READER, table

ADMIN_ONLY = "rule:context_is_admin"
MEMBER = "rule:context_is_admin or rule:project_member"
READER = "rule:context_is_admin or rule:project_reader"
#: Who may read one image: admins, and readers of its owner, of a member project, or any
#: reader for public, community and shared images (shared ones only reach members: the API
#: filters them first).
GET_IMAGE = ("rule:context_is_admin or (role:reader and (project_id:%(project_id)s or "
             "project_id:%(member_id)s or 'public':%(visibility)s or 'community':%(visibility)s or "
             "'shared':%(visibility)s))")
#: Image members: the owner, or the member project itself.
GET_MEMBER = READER + " or (role:reader and project_id:%(member_id)s)"
#: Creating an image: a member of the project it is for (admins: any project).
ADD_IMAGE = "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)"
#: Metadef definitions are read by anyone who sees the namespace; writes are for admins.
METADEF_READ = "@"
METADEF_OBJECTS = ("namespace", "object", "property", "tag")


def rules() -> list[RuleDefault]:
    """Every image rule (Image API v2 operations in the descriptions)."""
    return table([
        ("context_is_admin", ADMIN, "Who is an administrator"),
        ("project_member", PROJECT_MEMBER, ""),
        ("project_reader", PROJECT_READER, ""),
        ("default", ADMIN_ONLY, "Any action without a rule of its own"),
        ("add_image", ADD_IMAGE, "POST /v2/images"),
        ("get_images", READER, "GET /v2/images"),
        ("get_image", GET_IMAGE, "GET /v2/images/{image_id}"),
        ("modify_image", MEMBER, "PATCH /v2/images/{image_id}, PUT/DELETE /v2/images/{image_id}/tags/{tag}"),
        ("publicize_image", ADMIN_ONLY, "visibility public on create or update"),
        ("communitize_image", MEMBER, "visibility community on create or update"),
        ("delete_image", MEMBER, "DELETE /v2/images/{image_id}"),
        ("upload_image", MEMBER, "PUT /v2/images/{image_id}/file"),
        ("download_image", GET_IMAGE, "GET /v2/images/{image_id}/file"),
        ("import_image", MEMBER, "POST /v2/images/{image_id}/import, PUT /v2/images/{image_id}/stage"),
        ("deactivate", MEMBER, "POST /v2/images/{image_id}/actions/deactivate"),
        ("reactivate", MEMBER, "POST /v2/images/{image_id}/actions/reactivate"),
        ("copy_image", ADMIN_ONLY, "POST /v2/images/{image_id}/import (copy-image)"),
        ("get_image_location", MEMBER, "locations of an image"),
        ("set_image_location", MEMBER, "add a location to an image"),
        ("delete_image_location", ADMIN_ONLY, "remove a location from an image"),
        ("add_image_location", MEMBER, "POST /v2/images/{image_id}/locations"),
        ("fetch_image_location", "rule:context_is_admin or role:service",
         "GET /v2/images/{image_id}/locations (service users)"),
        ("add_member", MEMBER, "POST /v2/images/{image_id}/members"),
        ("delete_member", MEMBER, "DELETE /v2/images/{image_id}/members/{member_id}"),
        ("get_member", GET_MEMBER, "GET /v2/images/{image_id}/members/{member_id}"),
        ("get_members", GET_MEMBER, "GET /v2/images/{image_id}/members"),
        ("modify_member", "rule:context_is_admin or (role:member and project_id:%(member_id)s)",
         "PUT /v2/images/{image_id}/members/{member_id}"),
        ("manage_image_cache", ADMIN_ONLY, "/v2/cache"),
        ("cache_list", ADMIN_ONLY, "GET /v2/cache"),
        ("cache_image", ADMIN_ONLY, "PUT /v2/cache/{image_id}"),
        ("cache_delete", ADMIN_ONLY, "DELETE /v2/cache/{image_id}, DELETE /v2/cache"),
        ("stores_info_detail", ADMIN_ONLY, "GET /v2/info/stores/detail"),
        ("tasks_api_access", ADMIN_ONLY, "/v2/tasks"),
        ("get_task", ADMIN_ONLY, "GET /v2/tasks/{task_id}"),
        ("get_tasks", ADMIN_ONLY, "GET /v2/tasks"),
        ("add_task", ADMIN_ONLY, "POST /v2/tasks"),
        ("modify_task", ADMIN_ONLY, "task updates"),
        ("list_metadef_resource_types", METADEF_READ, "GET /v2/metadefs/resource_types"),
        ("get_metadef_resource_type", METADEF_READ, "GET /v2/metadefs/namespaces/{ns}/resource_types"),
        ("add_metadef_resource_type_association", ADMIN_ONLY,
         "POST /v2/metadefs/namespaces/{ns}/resource_types"),
        ("remove_metadef_resource_type_association", ADMIN_ONLY,
         "DELETE /v2/metadefs/namespaces/{ns}/resource_types/{name}"),
        ("add_metadef_tags", ADMIN_ONLY, "POST /v2/metadefs/namespaces/{ns}/tags"),
        ("remove_metadef_properties", ADMIN_ONLY, "DELETE /v2/metadefs/namespaces/{ns}/properties"),
        *_metadef_rules(),
    ])


def _metadef_rules() -> list[tuple[str, str, str]]:
    """get_/add_/modify_/delete_ rules of metadef namespaces, objects, properties and tags
    (properties say ``remove_``), plus the plural ``get_``/``delete_`` rules (Metadata
    definitions API v2)."""
    rows = []
    for kind in METADEF_OBJECTS:
        plural = "properties" if kind == "property" else kind + "s"
        remove = "remove" if kind == "property" else "delete"
        path = "/v2/metadefs/namespaces" + ("" if kind == "namespace" else "/{ns}/" + plural)
        rows += [(f"get_metadef_{kind}", METADEF_READ, f"GET {path}/{{name}}"),
                 (f"get_metadef_{plural}", METADEF_READ, f"GET {path}"),
                 (f"add_metadef_{kind}", ADMIN_ONLY, f"POST {path}"),
                 (f"modify_metadef_{kind}", ADMIN_ONLY, f"PUT {path}/{{name}}"),
                 (f"{remove}_metadef_{kind}", ADMIN_ONLY, f"DELETE {path}/{{name}}")]
        if kind in ("object", "tag"):
            rows.append((f"delete_metadef_{plural}", ADMIN_ONLY, f"DELETE {path}"))
    return rows


def denial(action: str) -> Forbidden:
    """glance's 403 text."""
    return Forbidden(f"You are not authorized to complete {action} action.")


def policy(settings) -> Policy:
    """The image API's :class:`Policy`."""
    return Policy("image", rules(), settings, denial=denial)
