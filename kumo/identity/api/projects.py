"""Domains, projects and project tags (Identity API v3: "Domains", "Projects", "Project tags").

- ``GET/POST /v3/domains``, ``GET/PATCH/DELETE /v3/domains/{domain_id}``
  (list filters ``name``, ``enabled``).
- ``GET/POST /v3/projects``, ``GET/PATCH/DELETE /v3/projects/{project_id}``.
  List filters: ``name``, ``domain_id``, ``enabled``, ``parent_id``,
  ``is_domain`` (true lists the domains in the project form), ``tags``,
  ``tags-any``, ``not-tags``, ``not-tags-any`` (comma-separated). Show
  takes ``parents_as_list`` / ``parents_as_ids`` and ``subtree_as_list`` /
  ``subtree_as_ids`` (``parents``: ``[{"project": {...}}]`` nearest first or
  ``{parent_id: {grandparent_id: null}}``; ``subtree``: the same downwards;
  with ``include_limits`` each listed project also carries its ``limits``).
  A domain reader lists only the projects of its domain.
- ``GET/PUT/DELETE /v3/projects/{project_id}/tags`` (``{"tags": [...]}``,
  PUT answers 200 with the new list, DELETE 204) and
  ``GET/HEAD/PUT/DELETE /v3/projects/{project_id}/tags/{tag}`` (204 if the
  project has the tag, 404 if not; PUT answers 201).

Policy: keystone's ``identity:*`` rules (:mod:`kumo.identity.policies`), the
target being the URL's ids plus the project's ``domain_id``. Creates answer
201, updates 200, deletes 204; 404 for unknown ids, 409 for
a duplicate name, 400 for invalid bodies or query values, 403 for what the
hierarchy rules refuse (see :mod:`kumo.identity.resource`).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.common.api.body import query_bool
from kumo.common.api.errors import BadRequest
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import resource_schemas as rs
from kumo.identity import views
from kumo.common.api import context
from kumo.identity.api import crud
from kumo.identity.api.common import base, body, default_domain, enforce, flag, identity, json, no_content, policy
from kumo.identity.api.limits import limit_view

_TAG_FILTERS = {"tags": "all_of", "tags-any": "any_of", "not-tags": "not_all", "not-tags-any": "not_any"}


async def list_domains(request: Request):
    enforce(request, "identity:list_domains")
    q = request.query_params
    found = await identity(request).list_domains(name=q.get("name"), enabled=query_bool(request, "enabled"))
    return crud.listed(request, "domains", found, views.domain, "domains")


def _tag_query(request: Request) -> dict[str, list[str]]:
    out = {}
    for param, key in _TAG_FILTERS.items():
        raw = request.query_params.get(param)
        if raw is not None:
            out[key] = [t for t in raw.split(",") if t]
    return out


def _listing_domain(request: Request) -> str | None:
    """The domain a project listing is limited to: the ``domain_id`` filter, or, for a caller
    allowed to list only in its own domain (a domain reader), that domain (403 if neither)."""
    ctx = context(request)
    wanted = request.query_params.get("domain_id")
    if policy(request).check(ctx, "identity:list_projects", {"domain_id": wanted} if wanted else {}):
        return wanted
    enforce(request, "identity:list_projects", target={"domain_id": ctx.domain_id})
    if wanted and wanted != ctx.domain_id:
        enforce(request, "identity:list_projects", target={"domain_id": wanted})
    return ctx.domain_id


async def list_projects(request: Request):
    domain_id = _listing_domain(request)
    q = request.query_params
    root = base(request)
    svc = identity(request)
    enabled = query_bool(request, "enabled")
    if query_bool(request, "is_domain"):
        domains = await svc.list_domains(name=q.get("name"), enabled=enabled)
        if domain_id or q.get("parent_id"):
            domains = []
        shown = [views.domain_as_project(d, root) for d in domains]
    else:
        found = await svc.list_projects(name=q.get("name"), domain_id=domain_id, enabled=enabled,
                                        parent_id=q.get("parent_id"), tags=_tag_query(request))
        shown = [views.project(p, root) for p in found]
    return json({"projects": shown, "links": views.collection_links(root, "projects")})


async def create_project(request: Request):
    data = await body(request, "project", s.ProjectCreate)
    ctx = context(request)
    enforce(request, "identity:create_project", target={"domain_id": data.domain_id or default_domain(ctx)})
    p = await identity(request).create_project(data, default_domain(ctx))
    return json({"project": views.project_or_domain(p, base(request))}, status=201)


def _as_ids(root: str, edges: list[tuple[str, str]]) -> dict | None:
    """Nested ``{child: {grandchild: None}}`` below ``root`` from (child, parent) edges."""
    kids = [c for c, parent in edges if parent == root]
    return {c: _as_ids(c, edges) for c in kids} or None


def _with_limits(request: Request):
    """``include_limits``: an async ``project -> [limit]`` for the listed parents or subtree."""
    service = request.app.state.limits
    root = base(request)

    async def of(p: m.Project) -> list[dict]:
        return [limit_view(lim, root) for lim in await service.list_limits(project_id=p.id)]
    return of


async def _listed(p: m.Project, root: str, limits_of) -> dict:
    shown = views.project(p, root)
    if limits_of is not None:
        shown["limits"] = await limits_of(p)
    return shown


async def show_project(request: Request):
    project_id = request.path_params["project_id"]
    for a, b in (("parents_as_list", "parents_as_ids"), ("subtree_as_list", "subtree_as_ids")):
        if flag(request, a) and flag(request, b):
            raise BadRequest(f"Cannot use {a} and {b} query params at the same time.")
    svc = identity(request)
    p = await _authorized(request, "identity:get_project")
    root = base(request)
    shown = views.project_or_domain(p, root)
    parents, subtree = flag(request, "parents_as_list") or flag(request, "parents_as_ids"), \
        flag(request, "subtree_as_list") or flag(request, "subtree_as_ids")
    if isinstance(p, m.Project) and (parents or subtree):
        ancestors, below = await svc.hierarchy(project_id, parents=parents, subtree=subtree)
        listed = _with_limits(request) if flag(request, "include_limits") else None
        if flag(request, "parents_as_list"):
            shown["parents"] = [{"project": await _listed(a, root, listed)} for a in ancestors]
        elif parents:
            nested: dict | None = None
            for a in reversed(ancestors):
                nested = {a.id: nested}
            shown["parents"] = nested
        if flag(request, "subtree_as_list"):
            shown["subtree"] = [{"project": await _listed(c, root, listed)} for c, _ in below]
        elif subtree:
            shown["subtree"] = _as_ids(project_id, [(c.id, parent) for c, parent in below])
    return json({"project": shown})


async def update_project(request: Request):
    await _authorized(request, "identity:update_project")
    data = await body(request, "project", s.ProjectUpdate)
    p = await identity(request).update_project(request.path_params["project_id"], data)
    return json({"project": views.project_or_domain(p, base(request))})


async def delete_project(request: Request):
    await _authorized(request, "identity:delete_project")
    await identity(request).delete_project(request.path_params["project_id"])
    return no_content()


# --- project tags ----------------------------------------------------------------------------

async def _authorized(request: Request, action: str) -> m.Project | m.Domain:
    """The project of the URL (or the domain acting as one) once ``action`` is allowed on it
    (the policy target carries its domain)."""
    p = await identity(request).project_or_domain(request.path_params["project_id"])
    enforce(request, action, target={"domain_id": p.id if isinstance(p, m.Domain) else p.domain_id})
    return p


async def list_tags(request: Request):
    p = await _authorized(request, "identity:list_project_tags")
    return json({"tags": list(p.tags or [])})


async def replace_tags(request: Request):
    await _authorized(request, "identity:update_project_tags")
    data = await body(request, None, rs.ProjectTags)
    tags = await identity(request).set_tags(request.path_params["project_id"], data.tags)
    return json({"tags": tags})


async def clear_tags(request: Request):
    await _authorized(request, "identity:delete_project_tags")
    await identity(request).set_tags(request.path_params["project_id"], [])
    return no_content()


async def check_tag(request: Request):
    await _authorized(request, "identity:get_project_tag")
    await identity(request).check_tag(request.path_params["project_id"], request.path_params["tag"])
    return no_content()


async def add_tag(request: Request):
    await _authorized(request, "identity:create_project_tag")
    project_id, tag = request.path_params["project_id"], request.path_params["tag"]
    await identity(request).add_tag(project_id, tag)
    return Response(status_code=201, headers={"Location": f"{base(request)}/v3/projects/{project_id}/tags/{tag}"})


async def remove_tag(request: Request):
    await _authorized(request, "identity:delete_project_tag")
    await identity(request).remove_tag(request.path_params["project_id"], request.path_params["tag"])
    return no_content()


routes = [
    *crud.standard("/v3/domains", "domain_id", singular="domain", plural="domains", service=identity,
                   view=views.domain, create_schema=s.DomainCreate, update_schema=s.DomainUpdate, noun="domain",
                   nouns="domains", list=list_domains),
    *crud.routes("/v3/projects", "project_id", list=list_projects, create=create_project, show=show_project,
                 update=update_project, delete=delete_project),
    Route("/v3/projects/{project_id}/tags", list_tags, methods=["GET"]),
    Route("/v3/projects/{project_id}/tags", replace_tags, methods=["PUT"]),
    Route("/v3/projects/{project_id}/tags", clear_tags, methods=["DELETE"]),
    Route("/v3/projects/{project_id}/tags/{tag}", check_tag, methods=["GET", "HEAD"]),
    Route("/v3/projects/{project_id}/tags/{tag}", add_tag, methods=["PUT"]),
    Route("/v3/projects/{project_id}/tags/{tag}", remove_tag, methods=["DELETE"]),
]
