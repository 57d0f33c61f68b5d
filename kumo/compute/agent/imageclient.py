"""Reading images from the image API (Image API v2 "Show image", "Download binary image data")."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from kumo.common.api.errors import response_message
from kumo.compute.virt.images import ImageError, ImageGone

CHUNK = 1024 * 1024


class ImageClient:
    """Image metadata and data as the service user."""

    def __init__(self, service_auth):
        self.auth = service_auth

    async def show(self, image_id: str) -> dict:
        """``GET /v2/images/{image_id}``: the image's metadata.

        Raises ImageError: "Image <id> could not be found." (404), "Image <id>
        is not active." (any status but ``active``), or the API's message.
        """
        try:
            resp = await self.auth.request("image", "GET", f"/v2/images/{quote(image_id, safe='')}")
        except Exception as e:
            raise ImageError(f"Image {image_id} could not be read: {e}") from None
        if resp.status_code == 404:
            raise ImageError(f"Image {image_id} could not be found.")
        if resp.status_code != 200:
            raise ImageError(f"Image {image_id} could not be read: {response_message(resp)}")
        meta = resp.json()
        if meta.get("status") != "active":
            raise ImageError(f"Image {image_id} is not active.")
        return meta

    async def download(self, image_id: str, write: Callable[[bytes], Awaitable[None]]) -> int:
        """Stream ``GET /v2/images/{image_id}/file`` into ``write``; returns the byte count.

        Raises ImageError when the API answers anything but 200 (204: no data)
        or the transfer breaks.
        """
        try:
            base = await self.auth.endpoint("image")
            headers = {"X-Auth-Token": await self.auth.token()}
            url = f"{base}/v2/images/{quote(image_id, safe='')}/file"
            total = 0
            async with self.auth.http.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 204:
                    raise ImageError(f"Image {image_id} has no data.")
                if resp.status_code != 200:
                    await resp.aread()
                    raise ImageError(f"Image {image_id} download failed: {response_message(resp)}")
                async for chunk in resp.aiter_bytes(CHUNK):
                    total += len(chunk)
                    await write(chunk)
            return total
        except ImageError:
            raise
        except (httpx.HTTPError, OSError) as e:
            raise ImageError(f"Image {image_id} download failed: {e}") from None
        except Exception as e:  # ServiceUnavailable from the catalog lookup
            raise ImageError(f"Image {image_id} download failed: {e}") from None

    async def upload(self, image_id: str, path) -> None:
        """``PUT /v2/images/{image_id}/file`` with the bytes of the file ``path`` (streamed).

        Raises ImageGone when the image was deleted meanwhile (404, 410, or a 409 for an image
        that is gone or ``deleted``), ImageError when the API answers anything else but 204 or
        the transfer breaks.
        """
        async def chunks():
            with open(path, "rb") as f:
                while block := await asyncio.to_thread(f.read, CHUNK):
                    yield block
        try:
            resp = await self.auth.request(
                "image", "PUT", f"/v2/images/{quote(image_id, safe='')}/file", content=chunks(),
                headers={"Content-Type": "application/octet-stream"})
        except Exception as e:
            raise ImageError(f"Image {image_id} upload failed: {e}") from None
        if resp.status_code in (404, 410) or (resp.status_code == 409 and await self._gone(image_id)):
            raise ImageGone(f"Image {image_id} was deleted during the upload.")
        if resp.status_code not in (200, 201, 204):
            raise ImageError(f"Image {image_id} upload failed: {response_message(resp)}")

    async def _gone(self, image_id: str) -> bool:
        """True when ``GET /v2/images/{image_id}`` says 404 or status ``deleted``."""
        try:
            resp = await self.auth.request("image", "GET", f"/v2/images/{quote(image_id, safe='')}")
        except Exception:  # noqa: BLE001 - unknown: not proven gone
            return False
        return resp.status_code == 404 or (resp.status_code == 200 and resp.json().get("status") == "deleted")

    async def delete(self, image_id: str) -> None:
        """``DELETE /v2/images/{image_id}``; a missing image is fine; raises ImageError."""
        try:
            resp = await self.auth.request("image", "DELETE", f"/v2/images/{quote(image_id, safe='')}")
        except Exception as e:
            raise ImageError(f"Image {image_id} could not be deleted: {e}") from None
        if resp.status_code not in (204, 404):
            raise ImageError(f"Image {image_id} could not be deleted: {response_message(resp)}")

    async def list(self, params: dict) -> list[dict]:
        """``GET /v2/images`` with ``params`` (filters, sort), every page; raises ImageError."""
        images: list[dict] = []
        path = "/v2/images"
        query = dict(params)
        while True:
            try:
                resp = await self.auth.request("image", "GET", path, params=query)
            except Exception as e:
                raise ImageError(f"Images could not be listed: {e}") from None
            if resp.status_code != 200:
                raise ImageError(f"Images could not be listed: {response_message(resp)}")
            body = resp.json()
            images += body.get("images", [])
            if not body.get("next") or not body.get("images"):
                return images
            query = dict(params, marker=body["images"][-1]["id"])
