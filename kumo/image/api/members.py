"""Routes of Image API v2 "Image members" (see :mod:`kumo.image.members` for the rules).

| route | success |
|---|---|
| ``GET /v2/images/{id}/members`` | 200 ``{"members": [member], "schema": "/v2/schemas/members"}`` |
| ``POST /v2/images/{id}/members`` ``{"member": "<project id>"}`` | 200 member |
| ``GET /v2/images/{id}/members/{member_id}`` | 200 member |
| ``PUT /v2/images/{id}/members/{member_id}`` ``{"status": "accepted"}`` | 200 member |
| ``DELETE /v2/images/{id}/members/{member_id}`` | 204 |

A member is ``{"image_id", "member_id", "status", "created_at", "updated_at", "schema"}``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.image.members import MemberService
from kumo.image.views import member_view


def _svc(request: Request) -> MemberService:
    return request.app.state.members


async def list_members(request: Request) -> JSONResponse:
    members = await _svc(request).list(context(request), request.path_params["image_id"])
    return JSONResponse({"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"})


async def create_member(request: Request) -> JSONResponse:
    ctx = context(request)
    member = await _svc(request).create(ctx, request.path_params["image_id"], await json_body(request))
    return JSONResponse(member_view(member))


async def show_member(request: Request) -> JSONResponse:
    p = request.path_params
    return JSONResponse(member_view(await _svc(request).get(context(request), p["image_id"], p["member_id"])))


async def update_member(request: Request) -> JSONResponse:
    ctx, p = context(request), request.path_params
    member = await _svc(request).update(ctx, p["image_id"], p["member_id"], await json_body(request))
    return JSONResponse(member_view(member))


async def delete_member(request: Request) -> Response:
    p = request.path_params
    await _svc(request).delete(context(request), p["image_id"], p["member_id"])
    return Response(status_code=204)


routes = [
    Route("/v2/images/{image_id}/members", list_members, methods=["GET"]),
    Route("/v2/images/{image_id}/members", create_member, methods=["POST"]),
    Route("/v2/images/{image_id}/members/{member_id}", show_member, methods=["GET"]),
    Route("/v2/images/{image_id}/members/{member_id}", update_member, methods=["PUT"]),
    Route("/v2/images/{image_id}/members/{member_id}", delete_member, methods=["DELETE"]),
]
