"""JSON views of identity resources, with the fields keystone returns (Identity API v3).

Every function takes the model and ``base`` (``http://host:5000``, the URL
the client used) for the ``links.self`` href.
"""
from __future__ import annotations

from kumo.identity import models as m


def _self(base: str, path: str) -> dict:
    return {"self": f"{base}/v3/{path}"}


def collection_links(base: str, path: str) -> dict:
    """``links`` of a list response (keystone does not paginate: no previous/next)."""
    return {"self": f"{base}/v3/{path}", "previous": None, "next": None}


def domain(d: m.Domain, base: str) -> dict:
    return {"id": d.id, "name": d.name, "description": d.description or "", "enabled": d.enabled,
            "tags": list(d.tags or []), "options": {}, "links": _self(base, f"domains/{d.id}")}


def project(p: m.Project, base: str) -> dict:
    body = dict(p.extra or {})
    body.update({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description or "",
                 "enabled": p.enabled, "parent_id": p.parent_id, "is_domain": False,
                 "tags": list(p.tags or []), "options": {}, "links": _self(base, f"projects/{p.id}")})
    return body


def domain_as_project(d: m.Domain, base: str) -> dict:
    """A domain in the project form (``is_domain: true``, no domain or parent)."""
    return {"id": d.id, "name": d.name, "domain_id": None, "description": d.description or "",
            "enabled": d.enabled, "parent_id": None, "is_domain": True, "tags": list(d.tags or []),
            "options": {}, "links": _self(base, f"projects/{d.id}")}


def project_or_domain(p: m.Project | m.Domain, base: str) -> dict:
    return domain_as_project(p, base) if isinstance(p, m.Domain) else project(p, base)


def user(u: m.User, base: str, details: tuple | None = None) -> dict:
    """``details`` is ``(options, password_expires_at)`` from ``IdentityService.user_details``."""
    options, expires = details or ({}, None)
    body = dict(u.extra or {})
    body.update({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
                 "default_project_id": u.default_project_id, "options": dict(options),
                 "password_expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f") if expires else None,
                 "links": _self(base, f"users/{u.id}")})
    return body


def role(r: m.Role, base: str) -> dict:
    body = {"id": r.id, "name": r.name, "domain_id": None if r.domain_id == m.NULL_DOMAIN_ID else r.domain_id,
            "options": {}, "links": _self(base, f"roles/{r.id}")}
    if r.description is not None:
        body["description"] = r.description
    return body


def region(r: m.Region, base: str) -> dict:
    return {"id": r.id, "description": r.description or "", "parent_region_id": r.parent_region_id,
            "links": _self(base, f"regions/{r.id}")}


def service(s: m.Service, base: str) -> dict:
    body = {"id": s.id, "type": s.type, "enabled": s.enabled, "description": s.description or "",
            "links": _self(base, f"services/{s.id}")}
    if s.name:
        body["name"] = s.name
    return body


def endpoint(e: m.Endpoint, base: str) -> dict:
    return {"id": e.id, "interface": e.interface, "region_id": e.region_id, "region": e.region_id,
            "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
            "links": _self(base, f"endpoints/{e.id}")}
