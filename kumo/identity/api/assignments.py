"""``GET /v3/role_assignments`` (Identity API v3: "List role assignments").

Query: ``user.id``, ``group.id``, ``role.id``, ``scope.project.id``,
``scope.domain.id``, ``scope.system`` (``all``),
``scope.OS-INHERIT:inherited_to`` (``projects``), and the flags
``effective``, ``include_names``, ``include_subtree`` (see
:mod:`kumo.identity.role_assignments` for what they select; 400 for
combinations keystone refuses).

Answer: ``{"role_assignments": [entry], "links": {"self", "previous", "next"}}``
where an entry is ``{"role": {"id"}, "user"|"group": {"id"}, "scope":
{"project"|"domain": {"id"}} or {"system": {"all": true}}, "links":
{"assignment": url}}``. An OS-INHERIT grant's scope also has
``"OS-INHERIT:inherited_to": "projects"``; effective entries from a group add
``links.membership`` and those from an implied role ``links.prior_role``.
With ``include_names`` every reference also has its ``name`` (and users,
groups, projects and domain-specific roles their ``domain``).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.errors import BadRequest
from kumo.identity import models as m
from kumo.identity.api.common import assignments, base, enforce, flag, json
from kumo.identity.assignment import Grant
from kumo.identity.role_assignments import Filters, Row, list_assignments


def grant_url(root: str, g: Grant) -> str:
    """The URL of the stored grant ``g`` (``links.assignment``)."""
    actor = f"{g.actor_type}s/{g.actor_id}"
    if g.target_type == "system":
        return f"{root}/v3/system/{actor}/roles/{g.role_id}"
    target = f"{g.target_type}s/{g.target_id}/{actor}/roles/{g.role_id}"
    if g.inherited:
        return f"{root}/v3/OS-INHERIT/{target}/inherited_to_projects"
    return f"{root}/v3/{target}"


def _filters(request: Request) -> Filters:
    q = request.query_params
    inherited_to = q.get("scope.OS-INHERIT:inherited_to")
    if inherited_to not in (None, "projects"):
        raise BadRequest(f"Invalid value for scope.OS-INHERIT:inherited_to: {inherited_to}")
    system = q.get("scope.system")
    if system not in (None, "all"):
        raise BadRequest(f"Invalid value for scope.system: {system}")
    return Filters(user_id=q.get("user.id") or None, group_id=q.get("group.id") or None,
                   role_id=q.get("role.id") or None, project_id=q.get("scope.project.id") or None,
                   domain_id=q.get("scope.domain.id") or None, system=system is not None,
                   inherited=inherited_to is not None, effective=flag(request, "effective"),
                   include_subtree=flag(request, "include_subtree"))


async def role_assignments(request: Request):
    f = _filters(request)
    enforce(request, "list_role_assignments_for_tree" if f.include_subtree else "list_role_assignments")
    svc = assignments(request)
    rows = await list_assignments(svc, f)
    root = base(request)
    names = await _names(svc, rows) if flag(request, "include_names") else None
    links = {"self": str(request.url).replace(f"{request.url.scheme}://{request.url.netloc}", root),
             "previous": None, "next": None}
    return json({"role_assignments": [_entry(r, root, names) for r in rows], "links": links})


def _entry(r: Row, root: str, names: dict | None) -> dict:
    links = {"assignment": grant_url(root, r.source)}
    if r.via_group:
        links["membership"] = f"{root}/v3/groups/{r.via_group}/users/{r.actor_id}"
    if r.prior_role:
        links["prior_role"] = f"{root}/v3/roles/{r.prior_role}"
    if r.target_type == "system":
        scope: dict = {"system": {"all": True}}
    else:
        scope = {r.target_type: _ref(names, r.target_type, r.target_id)}
        if r.inherited:
            scope["OS-INHERIT:inherited_to"] = "projects"
    return {"role": _ref(names, "role", r.role_id), r.actor_type: _ref(names, r.actor_type, r.actor_id),
            "scope": scope, "links": links}


def _ref(names: dict | None, kind: str, ident: str) -> dict:
    """``{"id"}``, or with names ``{"id", "name"}`` plus the owning ``domain`` where there is one."""
    if names is None or ident not in names[kind]:
        return {"id": ident}
    row = names[kind][ident]
    out = {"id": ident, "name": row.name}
    owner = getattr(row, "domain_id", None)
    if kind != "domain" and owner and owner != m.NULL_DOMAIN_ID:
        domain = names["domain"].get(owner)
        out["domain"] = {"id": owner, "name": domain.name if domain else None}
    return out


async def _names(svc, rows: list[Row]) -> dict:
    wanted: dict[str, set[str]] = {"role": set(), "user": set(), "group": set(), "project": set(), "domain": set()}
    for r in rows:
        wanted["role"].add(r.role_id)
        wanted[r.actor_type].add(r.actor_id)
        if r.target_type != "system":
            wanted[r.target_type].add(r.target_id)
    names = await svc.names(wanted)
    owners = {row.domain_id for kind in ("role", "user", "group", "project") for row in names[kind].values()}
    owners -= set(names["domain"]) | {m.NULL_DOMAIN_ID}
    names["domain"].update((await svc.names({"domain": owners}))["domain"])
    return names
routes = [Route("/v3/role_assignments", role_assignments, methods=["GET"])]
