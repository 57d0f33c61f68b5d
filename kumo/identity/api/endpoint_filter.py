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
from kumo.identity.api import crud
from kumo.identity.api.common import enforce
from kumo.identity.endpoint_filter import EndpointFilterService

PREFIX = "/v3/OS-EP-FILTER"


def _svc(request: Request) -> EndpointFilterService:
    return request.app.state.endpoint_filter


def group_view(g: m.EndpointGroup, root: str) -> dict:
    return {"id": g.id, "name": g.name, "description": g.description or "", "filters": dict(g.filters or {}),
            "links": {"self": f"{root}{PREFIX}/endpoint_groups/{g.id}"}}


def _lister(action: str, key: str, view: crud.View, method: str, param: str, path: str):
    """A GET handler listing ``key`` rows of ``method(path param)`` under ``PREFIX/<path>``."""
    async def handler(request: Request):
        enforce(request, action)
        ident = request.path_params[param]
        found = await getattr(_svc(request), method)(ident)
        return crud.listed(request, key, found, view, f"OS-EP-FILTER/{path.format(ident)}")
    return handler


async def show_group_project(request: Request):
    """GET (the project) or HEAD (200) of an endpoint group's project association."""
    enforce(request, "identity:get_endpoint_group_in_project")
    p = request.path_params
    project = await _svc(request).group_project(p["group_id"], p["project_id"])
    if request.method == "HEAD":
        return Response(status_code=200)
    return crud.shown(request, "project", project, views.project)


_G = PREFIX + "/endpoint_groups/{group_id}"
_P = PREFIX + "/projects/{project_id}"

routes = [
    *crud.standard(PREFIX + "/endpoint_groups", "group_id", singular="endpoint_group", plural="endpoint_groups",
                   service=_svc, view=group_view, create_schema=rs.EndpointGroupCreate,
                   update_schema=rs.EndpointGroupUpdate, noun="group", nouns="groups", filters=("name",),
                   head=True),
    Route(_G + "/endpoints", _lister("identity:list_endpoints_associated_with_endpoint_group", "endpoints",
                                     views.endpoint, "group_endpoints", "group_id", "endpoint_groups/{}/endpoints"),
          methods=["GET"]),
    Route(_G + "/projects", _lister("identity:list_projects_associated_with_endpoint_group", "projects",
                                    views.project, "group_projects", "group_id", "endpoint_groups/{}/projects"),
          methods=["GET"]),
    *crud.association(_G + "/projects/{project_id}", _svc, ("group_id", "project_id"),
                      add=("identity:add_endpoint_group_to_project", "add_group_project"), check=None,
                      remove=("identity:remove_endpoint_group_from_project", "remove_group_project"),
                      show=show_group_project),
    Route(_P + "/endpoint_groups", _lister("identity:list_endpoint_groups_for_project", "endpoint_groups",
                                           group_view, "project_groups", "project_id", "projects/{}/endpoint_groups"),
          methods=["GET"]),
    Route(_P + "/endpoints", _lister("identity:list_endpoints_for_project", "endpoints", views.endpoint,
                                     "project_endpoints", "project_id", "projects/{}/endpoints"), methods=["GET"]),
    *crud.association(_P + "/endpoints/{endpoint_id}", _svc, ("project_id", "endpoint_id"),
                      add=("identity:add_endpoint_to_project", "add_project_endpoint"),
                      check=("identity:check_endpoint_in_project", "check_project_endpoint"),
                      remove=("identity:remove_endpoint_from_project", "remove_project_endpoint")),
    Route(PREFIX + "/endpoints/{endpoint_id}/projects",
          _lister("identity:list_projects_for_endpoint", "projects", views.project, "endpoint_projects",
                  "endpoint_id", "endpoints/{}/projects"), methods=["GET"]),
]
