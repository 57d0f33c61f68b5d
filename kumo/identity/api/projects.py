"""Domains and projects (Identity API v3: "Domains", "Projects").

- ``GET/POST /v3/domains``, ``GET/PATCH/DELETE /v3/domains/{domain_id}``
  (list filters ``name``, ``enabled``). Writes need the admin role; a
  member may read the domain its token belongs to.
- ``GET/POST /v3/projects``, ``GET/PATCH/DELETE /v3/projects/{project_id}``
  (list filters ``name``, ``domain_id``, ``enabled``, ``parent_id``,
  ``is_domain``, ``tags``). Listing and writes need the admin role; a
  member may read its own project.

Creates answer 201, updates 200, deletes 204; 404 for unknown ids, 409 for
a duplicate name, 400 for invalid bodies or query values.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.body import query_bool
from kumo.identity import schemas as s
from kumo.identity import views
from kumo.identity.api.common import base, body, default_domain, enforce, identity, json, no_content


async def list_domains(request: Request):
    enforce(request, "list_domains")
    q = request.query_params
    found = await identity(request).list_domains(name=q.get("name"), enabled=query_bool(request, "enabled"))
    root = base(request)
    return json({"domains": [views.domain(d, root) for d in found],
                 "links": views.collection_links(root, "domains")})


async def create_domain(request: Request):
    enforce(request, "create_domain")
    data = await body(request, "domain", s.DomainCreate)
    d = await identity(request).create_domain(data)
    return json({"domain": views.domain(d, base(request))}, status=201)


async def show_domain(request: Request):
    domain_id = request.path_params["domain_id"]
    enforce(request, "get_domain", lambda c: domain_id in (c.domain_id, c.project_domain_id))
    d = await identity(request).get_domain(domain_id)
    return json({"domain": views.domain(d, base(request))})


async def update_domain(request: Request):
    enforce(request, "update_domain")
    data = await body(request, "domain", s.DomainUpdate)
    d = await identity(request).update_domain(request.path_params["domain_id"], data)
    return json({"domain": views.domain(d, base(request))})


async def delete_domain(request: Request):
    enforce(request, "delete_domain")
    await identity(request).delete_domain(request.path_params["domain_id"])
    return no_content()


async def list_projects(request: Request):
    enforce(request, "list_projects")
    q = request.query_params
    root = base(request)
    if query_bool(request, "is_domain"):
        found = []
    else:
        tags = [t for t in q.get("tags", "").split(",") if t] or None
        found = await identity(request).list_projects(
            name=q.get("name"), domain_id=q.get("domain_id"), enabled=query_bool(request, "enabled"),
            parent_id=q.get("parent_id"), tags=tags)
    return json({"projects": [views.project(p, root) for p in found],
                 "links": views.collection_links(root, "projects")})


async def create_project(request: Request):
    ctx = enforce(request, "create_project")
    data = await body(request, "project", s.ProjectCreate)
    p = await identity(request).create_project(data, default_domain(ctx))
    return json({"project": views.project(p, base(request))}, status=201)


async def show_project(request: Request):
    project_id = request.path_params["project_id"]
    enforce(request, "get_project", lambda c: c.project_id == project_id)
    p = await identity(request).get_project(project_id)
    return json({"project": views.project(p, base(request))})


async def update_project(request: Request):
    enforce(request, "update_project")
    data = await body(request, "project", s.ProjectUpdate)
    p = await identity(request).update_project(request.path_params["project_id"], data)
    return json({"project": views.project(p, base(request))})


async def delete_project(request: Request):
    enforce(request, "delete_project")
    await identity(request).delete_project(request.path_params["project_id"])
    return no_content()


routes = [
    Route("/v3/domains", list_domains, methods=["GET"]),
    Route("/v3/domains", create_domain, methods=["POST"]),
    Route("/v3/domains/{domain_id}", show_domain, methods=["GET"]),
    Route("/v3/domains/{domain_id}", update_domain, methods=["PATCH"]),
    Route("/v3/domains/{domain_id}", delete_domain, methods=["DELETE"]),
    Route("/v3/projects", list_projects, methods=["GET"]),
    Route("/v3/projects", create_project, methods=["POST"]),
    Route("/v3/projects/{project_id}", show_project, methods=["GET"]),
    Route("/v3/projects/{project_id}", update_project, methods=["PATCH"]),
    Route("/v3/projects/{project_id}", delete_project, methods=["DELETE"]),
]
