"""What ``keystone-manage bootstrap`` does, for kumo: the first domain, projects, users, roles and catalog.

:func:`bootstrap` is idempotent: a second run finds what the first made,
resets the two passwords if they changed and points the endpoints at the
given URLs, never duplicating anything. Everything happens in one database
transaction, so a failure leaves the database as it was.
"""
from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.db import Database, utcnow
from kumo.config import Settings
from kumo.identity import models as m
from kumo.identity.passwords import check_password, hash_password
from kumo.identity.tokens import setup_keys

#: service type -> (service name, settings section, path after the base URL)
SERVICES = {
    "identity": ("keystone", "identity", "/v3"),
    "image": ("glance", "image", ""),
    "compute": ("nova", "compute", "/v2.1"),
    "network": ("neutron", "network", ""),
}
INTERFACES = ("public", "internal", "admin")
ROLES = ("admin", "manager", "member", "reader", "service")
#: keystone-manage bootstrap's implied roles: admin -> manager -> member -> reader.
IMPLIED = (("admin", "manager"), ("manager", "member"), ("member", "reader"))
#: Rules of older bootstraps that the chain above replaces (removed on upgrade).
OBSOLETE_IMPLIED = (("admin", "member"),)


def default_endpoints(settings: Settings) -> dict[str, str]:
    """Catalog URL of each service type on this node (``http://HOST:5000/v3``, ...)."""
    return {kind: settings.endpoint(section) + path for kind, (_, section, path) in SERVICES.items()}


async def _one(db: AsyncSession, q):
    return (await db.scalars(q)).first()


async def _project(db: AsyncSession, name: str, domain_id: str) -> m.Project:
    p = await _one(db, select(m.Project).where(m.Project.name == name, m.Project.domain_id == domain_id))
    if p is None:
        p = m.Project(name=name, domain_id=domain_id, parent_id=domain_id, enabled=True, tags=[], extra={},
                      description="Bootstrap project for initializing the cloud.")
        db.add(p)
        await db.flush()
    return p


async def _user(db: AsyncSession, name: str, domain_id: str, new_hash: str | None,
                default_project_id: str) -> m.User:
    u = await _one(db, select(m.User).where(m.User.name == name, m.User.domain_id == domain_id))
    if u is None:
        u = m.User(name=name, domain_id=domain_id, enabled=True, default_project_id=default_project_id,
                   password_hash=new_hash, password_changed_at=utcnow(), extra={})
        db.add(u)
        await db.flush()
    else:
        u.enabled = True
        if new_hash is not None:
            u.password_hash, u.password_changed_at = new_hash, utcnow()
    return u


async def _grant(db: AsyncSession, kind: str, user_id: str, target_id: str, role_id: str) -> None:
    if await db.get(m.Assignment, (kind, user_id, target_id, role_id)) is None:
        db.add(m.Assignment(type=kind, actor_id=user_id, target_id=target_id, role_id=role_id))


async def _new_hashes(db: Database, wanted: dict[tuple[str, str], str]) -> dict[tuple[str, str], str | None]:
    """A new hash for each (domain, user) whose stored password differs from the wanted one."""
    out: dict[tuple[str, str], str | None] = {}
    async with db.session() as s:
        for (domain_id, name), password in wanted.items():
            u = await _one(s, select(m.User).where(m.User.name == name, m.User.domain_id == domain_id))
            same = u is not None and await asyncio.to_thread(check_password, password, u.password_hash)
            out[(domain_id, name)] = None if same else await asyncio.to_thread(hash_password, password)
    return out


async def bootstrap(settings: Settings, *, admin_password: str, service_password: str,
                    endpoints: dict[str, str] | None = None, region: str = "RegionOne") -> dict:
    """Create (or find) the base identity data; returns the ids.

    Makes the schema and Fernet keys; domain ``default``; projects ``admin``
    and ``service``; roles admin, manager, member, reader (admin implies
    manager, manager member, member reader; an older admin -> member rule is
    removed) and service; user ``admin`` with role admin on project admin,
    domain default and the system; the service user
    (``settings.service_user``) with roles admin and service on its project;
    region ``region``; services identity/image/compute/network with public,
    internal and admin endpoints. ``endpoints`` maps a service type to the
    URL to use instead of the default (other types are added as services
    named after their type).

    Returns ``{"domain_id", "region_id", "project_ids": {name: id},
    "user_ids": {name: id}, "role_ids": {name: id}, "service_ids": {type: id},
    "endpoint_ids": {type: {interface: id}}}``. Raises ValueError for empty
    passwords or a service user domain that does not exist.
    """
    if not admin_password or not service_password:
        raise ValueError("bootstrap needs the admin and service passwords")
    setup_keys(settings.fernet_keys)
    urls = {**default_endpoints(settings), **(endpoints or {})}
    su = settings.service_user
    db = Database(settings.database_url("identity"), m.Base.metadata)
    try:
        await db.create_schema()
        dom_id = m.DEFAULT_DOMAIN_ID
        hashes = await _new_hashes(db, {(dom_id, "admin"): admin_password,
                                        (su.domain_id, su.username): service_password})
        async with db.session() as s:
            domain = await s.get(m.Domain, dom_id)
            if domain is None:
                domain = m.Domain(id=dom_id, name="Default", description="The default domain", enabled=True,
                                  tags=[], extra={})
                s.add(domain)
                await s.flush()
            if await s.get(m.Domain, su.domain_id) is None:
                raise ValueError(f"service user domain {su.domain_id!r} does not exist")
            admin_project = await _project(s, "admin", dom_id)
            service_project = await _project(s, su.project_name, su.domain_id)
            roles = {}
            for name in ROLES:
                r = await _one(s, select(m.Role).where(m.Role.name == name, m.Role.domain_id == m.NULL_DOMAIN_ID))
                if r is None:
                    r = m.Role(name=name, domain_id=m.NULL_DOMAIN_ID, extra={})
                    s.add(r)
                    await s.flush()
                roles[name] = r.id
            for prior, implied in IMPLIED:
                if await s.get(m.ImpliedRole, (roles[prior], roles[implied])) is None:
                    s.add(m.ImpliedRole(prior_role_id=roles[prior], implied_role_id=roles[implied]))
            for prior, implied in OBSOLETE_IMPLIED:
                old = await s.get(m.ImpliedRole, (roles[prior], roles[implied]))
                if old is not None:
                    await s.delete(old)
            admin = await _user(s, "admin", dom_id, hashes[(dom_id, "admin")], admin_project.id)
            service_user = await _user(s, su.username, su.domain_id, hashes[(su.domain_id, su.username)],
                                       service_project.id)
            await _grant(s, m.USER_PROJECT, admin.id, admin_project.id, roles["admin"])
            await _grant(s, m.USER_DOMAIN, admin.id, dom_id, roles["admin"])
            await _grant(s, m.USER_SYSTEM, admin.id, m.SYSTEM_TARGET, roles["admin"])
            for name in ("admin", "service"):
                await _grant(s, m.USER_PROJECT, service_user.id, service_project.id, roles[name])
            if await s.get(m.Region, region) is None:
                s.add(m.Region(id=region, description="", parent_region_id=None))
                await s.flush()
            service_ids, endpoint_ids = await _catalog(s, urls, region)
            result = {
                "domain_id": dom_id, "region_id": region,
                "project_ids": {"admin": admin_project.id, su.project_name: service_project.id},
                "user_ids": {"admin": admin.id, su.username: service_user.id},
                "role_ids": roles, "service_ids": service_ids, "endpoint_ids": endpoint_ids,
            }
        return result
    finally:
        await db.close()


async def _catalog(s: AsyncSession, urls: dict[str, str], region: str) -> tuple[dict, dict]:
    service_ids: dict[str, str] = {}
    endpoint_ids: dict[str, dict[str, str]] = {}
    for kind, url in urls.items():
        name = SERVICES.get(kind, (kind,))[0]
        svc = await _one(s, select(m.Service).where(m.Service.type == kind).order_by(m.Service.id))
        if svc is None:
            svc = m.Service(type=kind, name=name, description="", enabled=True)
            s.add(svc)
            await s.flush()
        service_ids[kind] = svc.id
        endpoint_ids[kind] = {}
        for interface in INTERFACES:
            ep = await _one(s, select(m.Endpoint).where(
                m.Endpoint.service_id == svc.id, m.Endpoint.interface == interface,
                m.Endpoint.region_id == region).order_by(m.Endpoint.id))
            if ep is None:
                ep = m.Endpoint(service_id=svc.id, interface=interface, region_id=region, url=url, enabled=True)
                s.add(ep)
                await s.flush()
            else:
                ep.url, ep.enabled = url, True
            endpoint_ids[kind][interface] = ep.id
    return service_ids, endpoint_ids
