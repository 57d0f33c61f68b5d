"""The image representation of Image API v2 ("Show image" response body).

Base properties are always present (``null`` when unset); extra properties
follow at the top level; ``self``, ``file`` and ``schema`` are relative URLs;
timestamps are ISO 8601 UTC with a ``Z``. An image with data names its store
(``"stores": "file1,file2"``). Also the member ("Image
members") and task ("Tasks") representations.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from kumo.common.db import isotime
from kumo.image.models import Image, ImageMember, ImageTask



def image_view(image: Image, order: Callable[[set], list] | None = None, locations: bool = False) -> dict:
    """``{"id": ..., "name": ..., "status": ..., ...}`` for one image.

    ``stores`` (images with data) lists its store ids, comma-separated, in ``order`` (by id
    without one); ``locations`` adds ``[{"url", "metadata"}]`` (glance's show_multiple_locations).
    """
    body = dict(image.extra)
    body.update({
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": bool(image.protected),
        "os_hidden": bool(image.os_hidden),
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "created_at": isotime(image.created_at),
        "updated_at": isotime(image.updated_at),
        "tags": image.tag_list,
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    })
    if image.locations:
        names = {loc.store for loc in image.locations}
        body["stores"] = ",".join(order(names) if order else sorted(names))
    if locations:
        body["locations"] = [{"url": loc.url, "metadata": dict(loc.meta or {})} for loc in image.locations]
    return body


def member_view(member: ImageMember) -> dict:
    """``{"image_id", "member_id", "status", "created_at", "updated_at", "schema"}``."""
    return {"image_id": member.image_id, "member_id": member.member_id, "status": member.status,
            "created_at": isotime(member.created_at), "updated_at": isotime(member.updated_at),
            "schema": "/v2/schemas/member"}


def task_view(task: ImageTask, detail: bool = True, image: bool = False) -> dict:
    """A task: ``id``, ``type``, ``status``, ``owner``, timestamps, ``self``, ``schema``;
    ``input``/``result``/``message`` with ``detail``; ``image_id``/``request_id``/``user_id``
    with ``image`` (the form of ``GET /v2/images/{id}/tasks``)."""
    body = {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
            "expires_at": isotime(task.expires_at) if task.expires_at else None,
            "created_at": isotime(task.created_at), "updated_at": isotime(task.updated_at),
            "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}
    if detail:
        body["input"] = json.loads(task.input or "{}")
        body["result"] = json.loads(task.result) if task.result else None
        body["message"] = task.message or ""
    if image:
        body.update(image_id=task.image_id, request_id=task.request_id, user_id=task.user_id)
    return body
