"""Routes of Image API v2 "Interoperable image import", "Tasks" and "Quota usage".

| route | success |
|---|---|
| ``PUT /v2/images/{id}/stage`` (``application/octet-stream``, else 415) | 204 |
| ``POST /v2/images/{id}/import`` ``{"method": {"name", "uri"?}, "stores"?, "all_stores"?}`` | 202, empty |
| ``GET /v2/images/{id}/tasks`` | 200 ``{"tasks": [task + image_id, request_id, user_id]}`` |
| ``POST /v2/tasks`` ``{"type": "import", "input": {...}}`` (admin) | 201 task |
| ``GET /v2/tasks`` (admin; ``type``, ``status``, ``limit``, ``marker``) | 200 ``{"tasks", "first", "schema", "next"?}`` |
| ``GET /v2/tasks/{id}`` (admin) | 200 task |
| ``GET /v2/info/import`` | 200 ``{"import-methods": {"description", "type": "array", "value": [...]}}`` |
| ``GET /v2/info/usage`` | 200 ``{"usage": {"image_size_total": {"limit", "usage"}, ...}}`` (MiB, counts) |

See :mod:`kumo.image.imports` and :mod:`kumo.image.tasks` for errors.
"""
from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.image.api.common import receive_data
from kumo.image.imports import ImportService
from kumo.image.tasks import TaskService
from kumo.image.views import task_view


def _imports(request: Request) -> ImportService:
    return request.app.state.imports


def _tasks(request: Request) -> TaskService:
    return request.app.state.tasks


async def stage(request: Request) -> Response:
    ctx, image_id = context(request), request.path_params["image_id"]
    await receive_data(request, lambda chunks, size: _imports(request).stage(ctx, image_id, chunks, size))
    return Response(status_code=204)


async def import_image(request: Request) -> Response:
    ctx = context(request)
    await _imports(request).start_import(ctx, request.path_params["image_id"], await json_body(request))
    return Response(status_code=202)


async def image_tasks(request: Request) -> JSONResponse:
    tasks = await _tasks(request).for_image(context(request), request.path_params["image_id"])
    return JSONResponse({"tasks": [task_view(t, image=True) for t in tasks]})


async def create_task(request: Request) -> JSONResponse:
    ctx = context(request)
    task = await _imports(request).create_task(ctx, await json_body(request))
    return JSONResponse(task_view(task), status_code=201, headers={"Location": f"/v2/tasks/{task.id}"})


async def list_tasks(request: Request) -> JSONResponse:
    params = dict(request.query_params)
    tasks, more = await _tasks(request).list(context(request), params)
    rest = [(k, v) for k, v in params.items() if k != "marker"]
    body = {"tasks": [task_view(t, detail=False) for t in tasks],
            "first": "/v2/tasks" + (f"?{urlencode(rest)}" if rest else ""), "schema": "/v2/schemas/tasks"}
    if more and tasks:
        body["next"] = "/v2/tasks?" + urlencode(rest + [("marker", tasks[-1].id)])
    return JSONResponse(body)


async def show_task(request: Request) -> JSONResponse:
    return JSONResponse(task_view(await _tasks(request).get(context(request), request.path_params["task_id"])))


async def import_info(request: Request) -> JSONResponse:
    return JSONResponse({"import-methods": {
        "description": "Import methods available.", "type": "array", "value": _imports(request).methods}})


async def usage_info(request: Request) -> JSONResponse:
    return JSONResponse(await request.app.state.images.usage(context(request)))


routes = [
    Route("/v2/images/{image_id}/stage", stage, methods=["PUT"]),
    Route("/v2/images/{image_id}/import", import_image, methods=["POST"]),
    Route("/v2/images/{image_id}/tasks", image_tasks, methods=["GET"]),
    Route("/v2/tasks", create_task, methods=["POST"]),
    Route("/v2/tasks", list_tasks, methods=["GET"]),
    Route("/v2/tasks/{task_id}", show_task, methods=["GET"]),
    Route("/v2/info/import", import_info, methods=["GET"]),
    Route("/v2/info/usage", usage_info, methods=["GET"]),
]
