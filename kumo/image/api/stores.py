"""Routes of Image API v2 "Stores" (multistore) and "Cache manage" (v2.14).

| route | success |
|---|---|
| ``GET /v2/info/stores`` | 200 ``{"stores": [{"id", "description", "default"?, "weight", "read-only"?}]}`` |
| ``GET /v2/info/stores/detail`` (admin, else 403) | 200, the same plus ``type`` and ``properties`` |
| ``DELETE /v2/stores/{store_id}/{image_id}`` (admin) | 204; 404 unknown store or image not in it, 409 last location |
| ``GET /v2/cache`` (admin) | 200 ``{"cached_images": [...], "queued_images": [...]}`` |
| ``PUT /v2/cache/{image_id}`` (admin) | 202; 400 not active, 404 unknown |
| ``DELETE /v2/cache/{image_id}`` (admin) | 204 |
| ``DELETE /v2/cache`` (admin; ``x-image-cache-clear-target: cache|queue``) | 204; 400 other target |

See :mod:`kumo.image.cache` and :mod:`kumo.image.locations`.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.errors import NotFound
from kumo.image import policy


def _cache(request: Request):
    cache = request.app.state.cache
    if cache is None:
        raise NotFound("The image cache is not enabled.")
    return cache


async def stores_info(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.images.stores.info())


async def stores_detail(request: Request) -> JSONResponse:
    policy.authorize(context(request), "stores_info_detail")
    return JSONResponse(request.app.state.images.stores.info(detail=True))


async def delete_from_store(request: Request) -> Response:
    p = request.path_params
    await request.app.state.locations.delete_from_store(context(request), p["store_id"], p["image_id"])
    return Response(status_code=204)


async def list_cache(request: Request) -> JSONResponse:
    return JSONResponse(await _cache(request).listing(context(request)))


async def queue_image(request: Request) -> Response:
    await _cache(request).queue(context(request), request.path_params["image_id"])
    return Response(status_code=202)


async def delete_cached(request: Request) -> Response:
    await _cache(request).delete(context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def clear_cache(request: Request) -> Response:
    await _cache(request).clear(context(request), request.headers.get("x-image-cache-clear-target"))
    return Response(status_code=204)


routes = [
    Route("/v2/info/stores", stores_info, methods=["GET"]),
    Route("/v2/info/stores/detail", stores_detail, methods=["GET"]),
    Route("/v2/stores/{store_id}/{image_id}", delete_from_store, methods=["DELETE"]),
    Route("/v2/cache", list_cache, methods=["GET"]),
    Route("/v2/cache", clear_cache, methods=["DELETE"]),
    Route("/v2/cache/{image_id}", queue_image, methods=["PUT"]),
    Route("/v2/cache/{image_id}", delete_cached, methods=["DELETE"]),
]
