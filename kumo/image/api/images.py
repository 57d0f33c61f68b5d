"""Routes of Image API v2 "Images", "Image data", "Image tags" and "Image actions".

| route | success | reference section |
|---|---|---|
| ``POST /v2/images`` | 201 image, ``Location``, ``OpenStack-image-import-methods`` | Create image |
| ``GET /v2/images`` | 200 ``{"images", "first", "schema", "next"?}`` | List images |
| ``GET /v2/images/{id}`` | 200 image | Show image |
| ``PATCH /v2/images/{id}`` (json-patch media type, else 415) | 200 image | Update image |
| ``DELETE /v2/images/{id}`` | 204 | Delete image |
| ``/v2/images/`` (empty id, any method) | 404, as glance (not a redirect to the list) | |
| ``PUT /v2/images/{id}/file`` (``application/octet-stream``, else 415) | 204 | Upload binary image data |
| ``GET /v2/images/{id}/file`` (``Range: bytes=a-b`` -> 206, bad range 416) | 200 stream, 204 no data | Download binary image data |
| ``PUT/DELETE /v2/images/{id}/tags/{tag}`` | 204 | Add / Delete image tag |
| ``POST /v2/images/{id}/actions/deactivate`` and ``/reactivate`` | 204 | Deactivate / Reactivate image |

Errors are glance's plain-text bodies (see :mod:`kumo.image.service` for which status when).
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import ApiError, NotFound, UnsupportedMediaType
from kumo.image import patch, query
from kumo.image.api import common
from kumo.image.api.common import receive_data
from kumo.image.service import ImageService

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ApiError):
    status, kind = 416, "RequestedRangeNotSatisfiable"


def _svc(request: Request) -> ImageService:
    return request.app.state.images


async def create_image(request: Request) -> JSONResponse:
    ctx = context(request)
    image = await _svc(request).create(ctx, await json_body(request))
    headers = {"Location": f"/v2/images/{image.id}"}
    methods = request.app.state.imports.methods
    if methods:  # as glance: clients learn here that they may stage and import
        headers["OpenStack-image-import-methods"] = ",".join(methods)
    return JSONResponse(common.view(request, image), status_code=201, headers=headers)


async def list_images(request: Request) -> JSONResponse:
    ctx = context(request)
    params = list(request.query_params.multi_items())
    q = query.parse(params)
    images, more = await _svc(request).list(ctx, q)
    rest = [(k, v) for k, v in params if k != "marker"]
    body = {"images": [common.view(request, i) for i in images],
            "first": "/v2/images" + (f"?{urlencode(rest)}" if rest else ""),
            "schema": "/v2/schemas/images"}
    if more and images:
        body["next"] = "/v2/images?" + urlencode(rest + [("marker", images[-1].id)])
    return JSONResponse(body)


async def show_image(request: Request) -> JSONResponse:
    image = await _svc(request).get(context(request), request.path_params["image_id"])
    return JSONResponse(common.view(request, image))


async def update_image(request: Request) -> JSONResponse:
    ctx = context(request)
    media_type = common.media_type(request)
    if media_type not in patch.MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type: use {patch.MEDIA_TYPES[0]}",
            headers={"Accept-Patch": ", ".join(patch.MEDIA_TYPES)})
    changes = patch.parse(await json_body(request), media_type)
    image_id = request.path_params["image_id"]
    located = [c for c in changes if c.key == "locations"]
    if located:  # kumo.image.locations
        await request.app.state.locations.patch(ctx, image_id, located)
    rest = [c for c in changes if c.key != "locations"]
    image = await (_svc(request).update(ctx, image_id, rest) if rest or not located
                   else _svc(request).get(ctx, image_id))
    return JSONResponse(common.view(request, image))


async def add_location(request: Request) -> Response:
    """``POST /v2/images/{id}/locations`` (v2.17): 202, see :mod:`kumo.image.locations`."""
    await request.app.state.locations.add(context(request), request.path_params["image_id"],
                                          await json_body(request))
    return Response(status_code=202)


async def list_locations(request: Request) -> JSONResponse:
    """``GET /v2/images/{id}/locations`` (v2.17, service role): ``[{"url", "metadata"}]``."""
    return JSONResponse(await request.app.state.locations.list(context(request), request.path_params["image_id"]))


async def empty_image_id(request: Request) -> Response:
    """``/v2/images/``: glance has no image with an empty id (tempest's null-id tests)."""
    raise NotFound("No image found with an empty ID")


async def delete_image(request: Request) -> Response:
    await _svc(request).delete(context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def upload_data(request: Request) -> Response:
    ctx, image_id = context(request), request.path_params["image_id"]
    store = common.store_header(request)
    await receive_data(request, lambda chunks, size: _svc(request).upload(ctx, image_id, chunks, size, store))
    return Response(status_code=204)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` for a single ``bytes=`` range, None for no header; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise RangeNotSatisfiable("Invalid Range header", headers={"Content-Range": f"bytes */{size}"})
    first, last = m.group(1), m.group(2)
    if first == "":
        length = min(int(last), size)
        start = size - length
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        length = end - start + 1
    if start >= size or length <= 0:
        raise RangeNotSatisfiable("Requested range not satisfiable",
                                  headers={"Content-Range": f"bytes */{size}"})
    return start, length


async def download_data(request: Request) -> Response:
    svc = _svc(request)
    image, source = await svc.open_data(context(request), request.path_params["image_id"])
    if source is None:
        return Response(status_code=204)
    try:
        size = source.size
        wanted = _byte_range(request.headers.get("range"), size) if size is not None else None
    except BaseException:
        source.close()
        raise
    headers = {"Content-Type": "application/octet-stream"}
    if wanted is None:
        start, length, status = 0, size, 200
        if image.checksum:
            headers["Content-MD5"] = image.checksum
    else:
        (start, length), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    if length is not None:
        headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        source.close()
        return Response(status_code=status, headers=headers)
    return StreamingResponse(_closing(source, start, length), status_code=status, headers=headers)


async def _closing(source, start: int, length: int | None):
    try:
        async for chunk in source.chunks(start, length):
            yield chunk
    finally:
        source.close()


async def add_tag(request: Request) -> Response:
    p = request.path_params
    await _svc(request).add_tag(context(request), p["image_id"], p["tag"])
    return Response(status_code=204)


async def delete_tag(request: Request) -> Response:
    p = request.path_params
    await _svc(request).remove_tag(context(request), p["image_id"], p["tag"])
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    await _svc(request).set_active(context(request), request.path_params["image_id"], False)
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    await _svc(request).set_active(context(request), request.path_params["image_id"], True)
    return Response(status_code=204)


routes = [
    Route("/v2/images", create_image, methods=["POST"]),
    Route("/v2/images", list_images, methods=["GET"]),
    # Without this, Starlette redirects "/v2/images/" to the list route (GET 200, DELETE 405).
    Route("/v2/images/", empty_image_id, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    Route("/v2/images/{image_id}", show_image, methods=["GET"]),
    Route("/v2/images/{image_id}", update_image, methods=["PATCH"]),
    Route("/v2/images/{image_id}", delete_image, methods=["DELETE"]),
    Route("/v2/images/{image_id}/locations", add_location, methods=["POST"]),
    Route("/v2/images/{image_id}/locations", list_locations, methods=["GET"]),
    Route("/v2/images/{image_id}/file", upload_data, methods=["PUT"]),
    Route("/v2/images/{image_id}/file", download_data, methods=["GET"]),
    Route("/v2/images/{image_id}/tags/{tag}", add_tag, methods=["PUT"]),
    Route("/v2/images/{image_id}/tags/{tag}", delete_tag, methods=["DELETE"]),
    Route("/v2/images/{image_id}/actions/deactivate", deactivate, methods=["POST"]),
    Route("/v2/images/{image_id}/actions/reactivate", reactivate, methods=["POST"]),
]
