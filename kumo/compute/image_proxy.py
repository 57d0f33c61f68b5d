"""The compute API's image proxy (Compute API reference "Images (DEPRECATED)", up to 2.35).

Calls the image API v2 with the caller's own token, so the image service
decides visibility and rights exactly as for a direct call. Image API errors
become nova's: 404 "Image not found.", 403, 409, 400; anything else 503.
Extra properties (every key outside :data:`BASE_KEYS`) are nova's image
``metadata``; changes go to the image API as a JSON patch.
"""
from __future__ import annotations

from datetime import datetime

import httpx

from kumo.common.api.errors import (BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable,
                                    response_message)
from kumo.common.auth.context import RequestContext
from kumo.compute import objects

#: image API v2 attributes that are not extra properties
BASE_KEYS = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
    "container_format", "created_at", "updated_at", "tags", "self", "file", "schema", "stores",
    "locations", "direct_url"})
#: image API status -> nova image status
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "uploading": "SAVING",
          "importing": "SAVING", "killed": "ERROR", "deactivated": "ERROR", "deleted": "DELETED",
          "pending_delete": "DELETED"}
#: nova's progress per status
PROGRESS = {"ACTIVE": 100, "SAVING": 25}
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
#: Most properties an image may have through this API (nova's metadata_items quota).
MAX_METADATA = 128


def status(image: dict) -> str:
    """The nova status of an image API image (``UNKNOWN`` for others)."""
    return STATUS.get(image.get("status"), "UNKNOWN")


def properties(image: dict) -> dict:
    """The image's extra properties (nova's image ``metadata``)."""
    return {k: v for k, v in image.items() if k not in BASE_KEYS and not k.startswith("os_glance")}


class ImageProxy:
    """Image API calls as the caller (``ctx.token``) through ``service_auth``'s HTTP client."""

    def __init__(self, service_auth):
        self.auth = service_auth

    async def endpoint(self) -> str:
        """The image API's base URL (for the ``alternate`` links)."""
        return await self.auth.endpoint("image")

    async def _call(self, ctx: RequestContext, method: str, path: str, **kw) -> httpx.Response:
        headers = {"X-Auth-Token": ctx.token, **kw.pop("headers", {})}
        try:
            r = await self.auth.http.request(method, await self.endpoint() + path, headers=headers, **kw)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(f"image service unreachable: {e}") from None
        if r.status_code < 400:
            return r
        message = response_message(r)
        if r.status_code == 404:
            raise NotFound("Image not found.")
        errors = {400: BadRequest, 403: Forbidden, 409: Conflict, 413: Forbidden}
        if r.status_code in errors:
            raise errors[r.status_code](message or "The image service refused the request.")
        raise ServiceUnavailable(f"image service answered {r.status_code}: {message}")

    async def list(self, ctx: RequestContext, *, name: str | None = None, state: str | None = None,
                   server: str | None = None, kind: str | None = None, min_ram: int | None = None,
                   min_disk: int | None = None, changes_since: datetime | None = None) -> list[dict]:
        """Every image the caller sees matching the filters, newest first (all pages)."""
        params: list[tuple[str, str]] = [("limit", "1000")]
        for key, value in (("name", name), ("instance_uuid", server), ("image_type", kind)):
            if value is not None:
                params.append((key, value))
        images: list[dict] = []
        path = "/v2/images"
        while path:
            body = (await self._call(ctx, "GET", path, params=params)).json()
            images += body.get("images", [])
            path, params = body.get("next"), []
        out = []
        for image in images:
            if state is not None and status(image) != state.upper():
                continue
            if min_ram is not None and int(image.get("min_ram") or 0) < min_ram:
                continue
            if min_disk is not None and int(image.get("min_disk") or 0) < min_disk:
                continue
            if changes_since is not None:
                updated = objects.parse_time(image.get("updated_at"))
                if updated is None or updated < changes_since:
                    continue
            out.append(image)
        return out

    async def get(self, ctx: RequestContext, image_id: str) -> dict:
        """One image; 404 "Image not found." when the caller does not see it."""
        return (await self._call(ctx, "GET", f"/v2/images/{image_id}")).json()

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete an image (403 protected or not the caller's, 404)."""
        await self._call(ctx, "DELETE", f"/v2/images/{image_id}")

    async def set_properties(self, ctx: RequestContext, image_id: str, values: dict[str, str],
                             replace: bool = False, remove: str | None = None) -> dict:
        """Merge (or ``replace``) extra properties, or ``remove`` one (404 "Metadata item was not
        found" when absent); 403 past :data:`MAX_METADATA`. Returns the properties after."""
        current = properties(await self.get(ctx, image_id))
        wanted = {} if replace else dict(current)
        if remove is not None:
            if remove not in wanted:
                raise NotFound("Metadata item was not found")
            del wanted[remove]
        wanted.update(values)
        if len(wanted) > MAX_METADATA:
            raise Forbidden(f"Quota exceeded for metadata_items: Maximum number of metadata items "
                            f"exceeds {MAX_METADATA}")
        ops = [{"op": "remove", "path": f"/{k}"} for k in current if k not in wanted]
        ops += [{"op": "replace" if k in current else "add", "path": f"/{k}", "value": v}
                for k, v in wanted.items() if current.get(k) != v or k not in current]
        if not ops:
            return wanted
        r = await self._call(ctx, "PATCH", f"/v2/images/{image_id}", json=ops,
                             headers={"Content-Type": PATCH_TYPE})
        return properties(r.json())
