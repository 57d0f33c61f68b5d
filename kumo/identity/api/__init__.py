"""The identity API component (Keystone v3 on port 5000, and on the admin port 35357).

``component(rt)`` builds the ``identity-api`` :class:`~kumo.common.runtime.Component`:
its app answers in keystone's error format and validates ``X-Auth-Token``
locally with its own :class:`~kumo.identity.auth.TokenService` (no HTTP to
itself), which also honours ``[identity] admin_token`` when it is set. The
same app is served on ``[identity] admin_port`` (``extra_ports``). Version
discovery, ``POST /v3/auth/tokens``, ``POST /v2.0/tokens`` and ``POST
/v3/users/{id}/password`` need no token. ``start()`` creates the schema and
the Fernet key repository if they are missing (and the default domain when an
admin token is configured, as ``keystone-manage db_sync`` does);
``kumo.identity.bootstrap`` fills them.
"""
from __future__ import annotations

from kumo.common.api import create_app
from kumo.common.db import Database
from kumo.common.runtime import Component, Runtime
from kumo.identity import models
from kumo.identity.api import catalog, projects, roles, tokens, users, v2, versions
from kumo.identity.api import appcreds, trusts
from kumo.identity.api import resources
from kumo.identity.api import assignments as role_assignments, groups, implied
from kumo.identity.assignment import AssignmentService
from kumo.identity.auth import LocalValidator, TokenService, ensure_default_domain
from kumo.identity.catalog import CatalogService
from kumo.identity.security import Compliance
from kumo.identity.service import IdentityService
from kumo.identity.tokens import KeyRepository, setup_keys

_PUBLIC = {
    ("GET", "/"), ("GET", "/v3"), ("GET", "/v3/"), ("GET", "/v2.0"), ("GET", "/v2.0/"),
    ("HEAD", "/"), ("HEAD", "/v3"), ("HEAD", "/v3/"), ("HEAD", "/v2.0"), ("HEAD", "/v2.0/"),
    ("POST", "/v3/auth/tokens"), ("POST", "/v2.0/tokens"), ("POST", "/v3/ec2tokens"),
}


def public(method: str, path: str) -> bool:
    """Routes that need no token: discovery, token creation and a user's own password change
    (``POST /v3/users/{id}/password``: the original password is the proof)."""
    if method == "POST" and path.startswith("/v3/users/") and path.endswith("/password") and \
            path.count("/") == 4:
        return True
    return (method, path) in _PUBLIC


ROUTES = [*versions.routes, *tokens.routes, *projects.routes, *users.routes, *roles.routes,
          *groups.routes, *implied.routes, *role_assignments.routes,
          *catalog.routes, *v2.routes, *appcreds.routes, *trusts.routes, *resources.routes]


def component(rt: Runtime) -> Component:
    """The ``identity-api`` component on ``settings.identity.port``."""
    settings = rt.settings
    db = Database(settings.database_url("identity"), models.Base.metadata)
    expiration = settings.identity.token_expiration
    identity = IdentityService(db, token_expiration=expiration, compliance=Compliance(settings.identity))
    assignments = AssignmentService(db)
    cat = CatalogService(db)
    keys = KeyRepository(settings.fernet_keys)
    token_service = TokenService(db, identity, assignments, cat, keys, expiration)
    token_service.cache.ttl = settings.identity.cache_seconds
    app = create_app(style="keystone", routes=ROUTES, validator=LocalValidator(token_service, settings.identity.admin_token),
                     public=public,
                     state={"settings": settings, "db": db, "identity": identity, "assignments": assignments,
                            "catalog": cat, "tokens": token_service, **resources.services(settings, db)})

    async def start() -> None:
        setup_keys(settings.fernet_keys)
        resources.setup(settings)
        await db.create_schema()
        if settings.identity.admin_token:
            await ensure_default_domain(db)

    async def stop() -> None:
        await db.close()

    admin_port = settings.identity.admin_port
    return Component(name="identity-api", app=app, port=settings.identity.port,
                     extra_ports=[admin_port] if admin_port and admin_port != settings.identity.port else [],
                     starters=[start], stoppers=[stop])
