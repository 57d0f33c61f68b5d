"""Server tags (Compute API reference "Server tags (servers, tags)", microversion 2.26+).

``GET/PUT/DELETE /v2.1/servers/{server_id}/tags`` and
``GET/PUT/DELETE /v2.1/servers/{server_id}/tags/{tag}``; before 2.26 these
URLs are 404. :func:`list_filter` reads the ``tags``, ``tags-any``,
``not-tags`` and ``not-tags-any`` filters of ``GET /servers``.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute import server_extras
from kumo.compute.api.common import at_least, ok, prefix, server_for
from kumo.compute.policies import TAGS
from kumo.compute.schemas import check_extra, parse_tags


def _since_2_26(request: Request) -> None:
    if not at_least(request, 2, 26):
        raise NotFound("The resource could not be found.")


def _tag(request: Request) -> str:
    tag = request.path_params["tag"]
    parse_tags([tag])  # 400 when it is not a valid tag
    return tag


async def list_tags(request: Request):
    """GET /servers/{id}/tags -> 200 {"tags": [str]}; 404."""
    _since_2_26(request)
    _, inst = await server_for(request, TAGS + "index")
    return ok({"tags": list(inst.tags or [])})


async def replace_tags(request: Request):
    """PUT /servers/{id}/tags {"tags": [str]} -> 200 {"tags": [...]}; 400 bad tags or over 50,
    404, 409 wrong state."""
    _since_2_26(request)
    body = await json_body(request)
    if not isinstance(body, dict) or "tags" not in body:
        raise BadRequest("Invalid input for field/attribute tags. 'tags' is a required property")
    check_extra(body, {"tags"})
    if isinstance(body["tags"], list) and len(body["tags"]) > server_extras.MAX_TAGS:
        raise BadRequest(f"The number of tags exceeded the per-server limit {server_extras.MAX_TAGS}")
    tags = parse_tags(body["tags"])
    ctx, inst = await server_for(request, TAGS + "update_all")
    new, _ = await server_extras.change_tags(request.app.state.compute, ctx, inst.uuid, replace=tags)
    return ok({"tags": new})


async def delete_tags(request: Request):
    """DELETE /servers/{id}/tags -> 204; 404, 409."""
    _since_2_26(request)
    ctx, inst = await server_for(request, TAGS + "delete_all")
    await server_extras.change_tags(request.app.state.compute, ctx, inst.uuid, replace=[])
    return ok(status=204)


async def check_tag(request: Request):
    """GET /servers/{id}/tags/{tag} -> 204 when the server has it; 404 otherwise."""
    _since_2_26(request)
    _, inst = await server_for(request, TAGS + "show")
    tag = request.path_params["tag"]
    if tag not in (inst.tags or []):
        raise NotFound(f"Tag {tag} could not be found.")
    return ok(status=204)


async def add_tag(request: Request):
    """PUT /servers/{id}/tags/{tag} -> 201 with Location (added) or 204 (already there); 400 bad
    tag or over 50 tags, 404, 409."""
    _since_2_26(request)
    tag = _tag(request)
    ctx, inst = await server_for(request, TAGS + "update")
    _, changed = await server_extras.change_tags(request.app.state.compute, ctx, inst.uuid, add=tag)
    response = ok(status=201 if changed else 204)
    response.headers["Location"] = f"{prefix(request)}/servers/{inst.uuid}/tags/{tag}"
    return response


async def delete_tag(request: Request):
    """DELETE /servers/{id}/tags/{tag} -> 204; 404 unknown server or tag, 409."""
    _since_2_26(request)
    ctx, inst = await server_for(request, TAGS + "delete")
    await server_extras.change_tags(request.app.state.compute, ctx, inst.uuid,
                                    remove=request.path_params["tag"])
    return ok(status=204)


def list_filter(request: Request):
    """The tag filters of ``GET /servers`` (2.26+; comma-separated lists) as an instance predicate,
    or None when none is given."""
    if not at_least(request, 2, 26):
        return None
    q = request.query_params
    lists = [[t for t in (q.get(name) or "").split(",") if t]
             for name in ("tags", "tags-any", "not-tags", "not-tags-any")]
    if not any(lists):
        return None
    return server_extras.tag_filter(*lists)


def routes() -> list[Route]:
    """The server tag routes (under /v2.1)."""
    p = "/v2.1/servers/{server_id}/tags"
    return [Route(p, list_tags, methods=["GET"]),
            Route(p, replace_tags, methods=["PUT"]),
            Route(p, delete_tags, methods=["DELETE"]),
            Route(p + "/{tag}", check_tag, methods=["GET"]),
            Route(p + "/{tag}", add_tag, methods=["PUT"]),
            Route(p + "/{tag}", delete_tag, methods=["DELETE"])]
