"""Helpers shared by the image API routes: request media types and binary uploads."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request

from kumo.common.api.body import parse_int
from kumo.common.api.errors import BadRequest, UnsupportedMediaType
from kumo.image.views import image_view


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower-case ("" when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def declared_size(request: Request) -> int | None:
    """The data size the client announces (``x-openstack-image-size`` or Content-Length), bytes."""
    for header in ("x-openstack-image-size", "content-length"):
        raw = request.headers.get(header)
        if raw:
            return parse_int(f"{header} header", raw)
    return None


async def receive_data(request: Request, consume: Callable[..., Awaitable[object]]) -> None:
    """Stream an ``application/octet-stream`` body into ``consume(chunks, declared_size)``.

    415 for another media type; 400 when the client disconnects midway.
    """
    if media_type(request) != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Content-Type {media_type(request) or 'None'} is not supported; use application/octet-stream")
    try:
        await consume(request.stream(), declared_size(request))
    except ClientDisconnect:
        raise BadRequest("The client disconnected before the image data was complete.") from None


def view(request: Request, image) -> dict:
    """The image as this API shows it: stores in weight order, ``locations`` when
    ``[image] show_multiple_locations``."""
    state = request.app.state
    return image_view(image, order=state.images.stores.ordered,
                      locations=state.settings.image.show_multiple_locations)


def store_header(request: Request) -> str | None:
    """The store a client names for its data (``X-Image-Meta-Store``), None for the default."""
    return request.headers.get("x-image-meta-store") or None
