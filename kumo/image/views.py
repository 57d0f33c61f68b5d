"""The image representation of Image API v2 ("Show image" response body).

Base properties are always present (``null`` when unset); extra properties
follow at the top level; ``self``, ``file`` and ``schema`` are relative URLs;
timestamps are ISO 8601 UTC with a ``Z``.
"""
from __future__ import annotations

from kumo.common.db import isotime
from kumo.image.models import Image


def image_view(image: Image) -> dict:
    """``{"id": ..., "name": ..., "status": ..., ...}`` for one image."""
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
    return body
