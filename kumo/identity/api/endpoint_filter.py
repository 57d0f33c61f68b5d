"""Endpoint groups and project endpoints (Identity API v3 extension OS-EP-FILTER).

Under ``/v3/OS-EP-FILTER``:

- ``endpoint_groups`` GET (filter ``name``) / POST (201), ``endpoint_groups/{id}``
  GET / HEAD (200) / PATCH / DELETE (204). An endpoint group is
  ``{id, name, description, filters: {interface?, service_id?, region_id?}, links}``.
- ``endpoint_groups/{id}/endpoints`` GET: the endpoints its filters select.
- ``endpoint_groups/{id}/projects`` GET; ``endpoint_groups/{id}/projects/{project_id}``
  PUT (204), GET (200, the project), HEAD (200), DELETE (204).
- ``projects/{project_id}/endpoint_groups`` GET.
- ``projects/{project_id}/endpoints`` GET (direct and endpoint-group endpoints);
  ``projects/{project_id}/endpoints/{endpoint_id}`` PUT / GET / HEAD / DELETE (204).
- ``endpoints/{endpoint_id}/projects`` GET.

Everything needs the admin role. 404 for unknown ids or associations, 400
for invalid bodies (an unknown filter key included).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity import views
from kumo.identity.api.common import base, body, enforce, json, no_content
from kumo.identity.endpoint_filter import EndpointFilterService

PREFIX = "/v3/OS-EP-FILTER"


def _svc(request: Request) -> EndpointFilterService:
    return request.app.state.endpoint_filter


def group_view(g: m.EndpointGroup, root: str) -> dict:
    return {"id": g.id, "name": g.name, "description": g.description or "", "filters": dict(g.filters or {}),
            "links": {"self": f"{root}{PREFIX}/endpoint_groups/{g.id}"}}


def _links(root: str, path: str) -> dict:
    return {"self": f"{root}{PREFIX}/{path}", "previous": None, "next": None}


def _endpoints(request: Request, found: list[m.Endpoint], path: str):
    root = base(request)
    return json({"endpoints": [views.endpoint(e, root) for e in found], "links": _links(root, path)})


def _projects(request: Request, found: list[m.Project], path: str):
    root = base(request)
    return json({"projects": [views.project(p, root) for p in found], "links": _links(root, path)})


def _groups(request: Request, found: list[m.EndpointGroup], path: str):
    root = base(request)
    return json({"endpoint_groups": [group_view(g, root) for g in found], "links": _links(root, path)})


async def list_groups(request: Request):
    enforce(request, "identity:list_endpoint_groups")
    return _groups(request, await _svc(request).list_groups(request.query_params.get("name")),
                   "endpoint_groups")


async def create_group(request: Request):
    enforce(request, "identity:create_endpoint_group")
    data = await body(request, "endpoint_group", rs.EndpointGroupCreate)
    g = await _svc(request).create_group(data)
    return json({"endpoint_group": group_view(g, base(request))}, status=201)


async def show_group(request: Request):
    enforce(request, "identity:get_endpoint_group")
    g = await _svc(request).get_group(request.path_params["group_id"])
    if request.method == "HEAD":
        return Response(status_code=200)
    return json({"endpoint_group": group_view(g, base(request))})


async def update_group(request: Request):
    enforce(request, "identity:update_endpoint_group")
    data = await body(request, "endpoint_group", rs.EndpointGroupUpdate)
    g = await _svc(request).update_group(request.path_params["group_id"], data)
    return json({"endpoint_group": group_view(g, base(request))})


async def delete_group(request: Request):
    enforce(request, "identity:delete_endpoint_group")
    await _svc(request).delete_group(request.path_params["group_id"])
    return no_content()


async def group_endpoints(request: Request):
    enforce(request, "identity:list_endpoints_associated_with_endpoint_group")
    group_id = request.path_params["group_id"]
    return _endpoints(request, await _svc(request).group_endpoints(group_id),
                      f"endpoint_groups/{group_id}/endpoints")


async def group_projects(request: Request):
    enforce(request, "identity:list_projects_associated_with_endpoint_group")
    group_id = request.path_params["group_id"]
    return _projects(request, await _svc(request).group_projects(group_id),
                     f"endpoint_groups/{group_id}/projects")


async def add_group_project(request: Request):
    enforce(request, "identity:add_endpoint_group_to_project")
    p = request.path_params
    await _svc(request).add_group_project(p["group_id"], p["project_id"])
    return no_content()


async def show_group_project(request: Request):
    enforce(request, "identity:get_endpoint_group_in_project")
    p = request.path_params
    project = await _svc(request).group_project(p["group_id"], p["project_id"])
    if request.method == "HEAD":
        return Response(status_code=200)
    return json({"project": views.project(project, base(request))})


async def remove_group_project(request: Request):
    enforce(request, "identity:remove_endpoint_group_from_project")
    p = request.path_params
    await _svc(request).remove_group_project(p["group_id"], p["project_id"])
    return no_content()


async def project_groups(request: Request):
    enforce(request, "identity:list_endpoint_groups_for_project")
    project_id = request.path_params["project_id"]
    return _groups(request, await _svc(request).project_groups(project_id),
                   f"projects/{project_id}/endpoint_groups")


async def project_endpoints(request: Request):
    enforce(request, "identity:list_endpoints_for_project")
    project_id = request.path_params["project_id"]
    return _endpoints(request, await _svc(request).project_endpoints(project_id),
                      f"projects/{project_id}/endpoints")


async def add_project_endpoint(request: Request):
    enforce(request, "identity:add_endpoint_to_project")
    p = request.path_params
    await _svc(request).add_project_endpoint(p["project_id"], p["endpoint_id"])
    return no_content()


async def check_project_endpoint(request: Request):
    enforce(request, "identity:check_endpoint_in_project")
    p = request.path_params
    await _svc(request).check_project_endpoint(p["project_id"], p["endpoint_id"])
    return no_content()


async def remove_project_endpoint(request: Request):
    enforce(request, "identity:remove_endpoint_from_project")
    p = request.path_params
    await _svc(request).remove_project_endpoint(p["project_id"], p["endpoint_id"])
    return no_content()


async def endpoint_projects(request: Request):
    enforce(request, "identity:list_projects_for_endpoint")
    endpoint_id = request.path_params["endpoint_id"]
    return _projects(request, await _svc(request).endpoint_projects(endpoint_id),
                     f"endpoints/{endpoint_id}/projects")


_G = PREFIX + "/endpoint_groups/{group_id}"
_P = PREFIX + "/projects/{project_id}"

routes = [
    Route(PREFIX + "/endpoint_groups", list_groups, methods=["GET"]),
    Route(PREFIX + "/endpoint_groups", create_group, methods=["POST"]),
    Route(_G, show_group, methods=["GET", "HEAD"]),
    Route(_G, update_group, methods=["PATCH"]),
    Route(_G, delete_group, methods=["DELETE"]),
    Route(_G + "/endpoints", group_endpoints, methods=["GET"]),
    Route(_G + "/projects", group_projects, methods=["GET"]),
    Route(_G + "/projects/{project_id}", add_group_project, methods=["PUT"]),
    Route(_G + "/projects/{project_id}", show_group_project, methods=["GET", "HEAD"]),
    Route(_G + "/projects/{project_id}", remove_group_project, methods=["DELETE"]),
    Route(_P + "/endpoint_groups", project_groups, methods=["GET"]),
    Route(_P + "/endpoints", project_endpoints, methods=["GET"]),
    Route(_P + "/endpoints/{endpoint_id}", add_project_endpoint, methods=["PUT"]),
    Route(_P + "/endpoints/{endpoint_id}", check_project_endpoint, methods=["GET", "HEAD"]),
    Route(_P + "/endpoints/{endpoint_id}", remove_project_endpoint, methods=["DELETE"]),
    Route(PREFIX + "/endpoints/{endpoint_id}/projects", endpoint_projects, methods=["GET"]),
]
