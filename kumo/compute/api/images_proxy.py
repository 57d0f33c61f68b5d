"""Images through the compute API (Compute API reference "Images (DEPRECATED)" and "Image
metadata (DEPRECATED)"); every route is 404 from microversion 2.36.

``GET /v2.1/images[/detail]`` (filters ``name``, ``status``, ``server`` (id or
link), ``type``, ``minRam``, ``minDisk``, ``changes-since``; paging ``limit``,
``marker``), ``GET/DELETE /v2.1/images/{id}``,
``GET/POST/PUT /v2.1/images/{id}/metadata`` and
``GET/PUT/DELETE /v2.1/images/{id}/metadata/{key}``. The image API does
the work with the caller's token (:class:`kumo.compute.image_proxy.ImageProxy`).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, NotFound
from kumo.compute import image_proxy, objects
from kumo.compute.api.common import at_least, limit_param, links, next_link, ok
from kumo.compute.image_proxy import ImageProxy
from kumo.compute.schemas import metadata_value, single_item


def _proxy(request: Request) -> ImageProxy:
    if at_least(request, 2, 36):
        raise NotFound("The resource could not be found.")
    return ImageProxy(request.app.state.compute.rt.service_auth)


async def _links(request: Request, proxy: ImageProxy, image_id: str) -> list[dict]:
    return links(request, "images", image_id) + [
        {"rel": "alternate", "type": "application/vnd.openstack.image",
         "href": f"{await proxy.endpoint()}/images/{image_id}"}]


def _time(value: str | None) -> str | None:
    parsed = objects.parse_time(value) if value else None
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


async def _view(request: Request, proxy: ImageProxy, image: dict, detail: bool = True) -> dict:
    body = {"id": image["id"], "name": image.get("name"),
            "links": await _links(request, proxy, image["id"])}
    if not detail:
        return body
    state = image_proxy.status(image)
    meta = image_proxy.properties(image)
    body.update({"status": state, "progress": image_proxy.PROGRESS.get(state, 0),
                 "minRam": int(image.get("min_ram") or 0), "minDisk": int(image.get("min_disk") or 0),
                 "created": _time(image.get("created_at")), "updated": _time(image.get("updated_at")),
                 "metadata": meta, "OS-EXT-IMG-SIZE:size": image.get("size")})
    if meta.get("instance_uuid"):
        body["server"] = {"id": meta["instance_uuid"],
                          "links": links(request, "servers", meta["instance_uuid"])}
    return body


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}.") from None


async def _list(request: Request, detail: bool):
    proxy = _proxy(request)
    q = request.query_params
    since = None
    if q.get("changes-since"):
        try:
            since = objects.parse_time(q["changes-since"])
        except ValueError:
            raise BadRequest(f"Invalid input for query parameters changes-since. Value: "
                             f"{q['changes-since']}.") from None
    server = q.get("server")
    images = await proxy.list(context(request), name=q.get("name") or None, state=q.get("status") or None,
                              server=server.rstrip("/").rsplit("/", 1)[-1] if server else None,
                              kind=q.get("type") or None, min_ram=_int(request, "minRam"),
                              min_disk=_int(request, "minDisk"), changes_since=since)
    limit, marker = limit_param(request), q.get("marker")
    if marker:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        images = images[ids.index(marker) + 1:]
    images = images[:limit]
    body = {"images": [await _view(request, proxy, i, detail) for i in images]}
    more = next_link(request, "images/detail" if detail else "images", body["images"], limit)
    if more:
        body["images_links"] = more
    return ok(body)


async def list_images(request: Request):
    """GET /images -> 200 {"images": [{"id", "name", "links"}], "images_links"?}; 404 from 2.36."""
    return await _list(request, detail=False)


async def list_images_detail(request: Request):
    """GET /images/detail -> 200 {"images": [{"id", "name", "status", "progress", "minRam" (MiB),
    "minDisk" (GiB), "created", "updated", "metadata", "server"?, "OS-EXT-IMG-SIZE:size" (bytes),
    "links"}]}."""
    return await _list(request, detail=True)


async def show_image(request: Request):
    """GET /images/{id} -> 200 {"image": detail body}; 404."""
    proxy = _proxy(request)
    image = await proxy.get(context(request), request.path_params["image_id"])
    return ok({"image": await _view(request, proxy, image)})


async def delete_image(request: Request):
    """DELETE /images/{id} -> 204; 403 protected or not the caller's, 404."""
    await _proxy(request).delete(context(request), request.path_params["image_id"])
    return ok(status=204)


async def show_metadata(request: Request):
    """GET /images/{id}/metadata -> 200 {"metadata": {key: value}}; 404."""
    image = await _proxy(request).get(context(request), request.path_params["image_id"])
    return ok({"metadata": image_proxy.properties(image)})


async def _write(request: Request, replace: bool):
    proxy = _proxy(request)
    items = metadata_value(await json_body(request, "metadata"))
    meta = await proxy.set_properties(context(request), request.path_params["image_id"], items, replace=replace)
    return ok({"metadata": meta})


async def update_metadata(request: Request):
    """POST /images/{id}/metadata {"metadata": {...}} -> 200 all properties after the merge; 400,
    403 (rights, over 128 items), 404."""
    return await _write(request, replace=False)


async def replace_metadata(request: Request):
    """PUT /images/{id}/metadata {"metadata": {...}} -> 200 the new properties (the others are
    removed); 400, 403, 404."""
    return await _write(request, replace=True)


async def show_metadata_item(request: Request):
    """GET /images/{id}/metadata/{key} -> 200 {"meta": {key: value}}; 404 unknown image or key."""
    image = await _proxy(request).get(context(request), request.path_params["image_id"])
    key = request.path_params["key"]
    meta = image_proxy.properties(image)
    if key not in meta:
        raise NotFound("Metadata item was not found")
    return ok({"meta": {key: meta[key]}})


async def set_metadata_item(request: Request):
    """PUT /images/{id}/metadata/{key} {"meta": {key: value}} -> 200 {"meta": ...}; 400 body/URI
    mismatch or several items."""
    proxy = _proxy(request)
    key = request.path_params["key"]
    items = metadata_value(single_item(await json_body(request, "meta"), key), "meta")
    await proxy.set_properties(context(request), request.path_params["image_id"], items)
    return ok({"meta": items})


async def delete_metadata_item(request: Request):
    """DELETE /images/{id}/metadata/{key} -> 204; 404 unknown image or key."""
    await _proxy(request).set_properties(context(request), request.path_params["image_id"], {},
                                         remove=request.path_params["key"])
    return ok(status=204)


async def missing_image(request: Request):
    """``/images/`` (an empty image id) -> 404."""
    raise NotFound("Image not found.")


def routes() -> list[Route]:
    """The image proxy routes (under /v2.1)."""
    p = "/v2.1/images"
    return [Route(p, list_images, methods=["GET"]),
            Route(p + "/detail", list_images_detail, methods=["GET"]),
            Route(p + "/", missing_image, methods=["GET", "DELETE"]),
            Route(p + "/{image_id}", show_image, methods=["GET"]),
            Route(p + "/{image_id}", delete_image, methods=["DELETE"]),
            Route(p + "/{image_id}/metadata", show_metadata, methods=["GET"]),
            Route(p + "/{image_id}/metadata", update_metadata, methods=["POST"]),
            Route(p + "/{image_id}/metadata", replace_metadata, methods=["PUT"]),
            Route(p + "/{image_id}/metadata/{key}", show_metadata_item, methods=["GET"]),
            Route(p + "/{image_id}/metadata/{key}", set_metadata_item, methods=["PUT"]),
            Route(p + "/{image_id}/metadata/{key}", delete_metadata_item, methods=["DELETE"])]
