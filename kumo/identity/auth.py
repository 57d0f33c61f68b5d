"""Issuing, validating and revoking tokens (Identity API v3: "Authentication and token management").

:class:`TokenService` implements ``POST /v3/auth/tokens`` (methods
``password`` and ``token``; project, domain or no scope),
``GET``/``HEAD /v3/auth/tokens`` and ``DELETE /v3/auth/tokens``. A token
only carries who, how, which scope and until when (see
:mod:`kumo.identity.tokens`); names, roles and the catalog are looked up
each time it is validated, so a deleted role assignment, a disabled user or
project, or a deleted project invalidates it at once. Revocations are
events in the database, so they hold across restarts and processes.

Errors: Unauthorized (401) for any failed authentication, BadRequest (400)
for a malformed request, :class:`TokenNotFound` (404) for a subject token
that is invalid, expired or revoked.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select

from kumo.common.api.errors import BadRequest, NotFound, Unauthorized
from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity.assignment import AssignmentService
from kumo.identity.catalog import CatalogService
from kumo.identity.service import IdentityService
from kumo.identity import tokens as clock
from kumo.identity.tokens import InvalidToken, KeyRepository, TokenFormatter, TokenPayload, isotime_us, new_audit_id

UNAUTHORIZED = "The request you have made requires authentication."
METHODS = ("password", "token")


class TokenNotFound(NotFound):
    def __init__(self, token: str = ""):
        shown = token if len(token) <= 255 else token[:255] + "..."
        super().__init__(f"Could not find token: {shown}.")


class _Invalid(Exception):
    """The token's subject or scope no longer allows it (internal)."""


@dataclass
class Resolved:
    """A payload with its rows: what a token body is built from."""

    payload: TokenPayload
    user: m.User
    user_domain: m.Domain
    project: m.Project | None
    project_domain: m.Domain | None
    domain: m.Domain | None
    roles: list[m.Role]


def _ref(d: m.Domain) -> dict:
    return {"id": d.id, "name": d.name}


class TokenService:
    def __init__(self, db: Database, identity: IdentityService, assignments: AssignmentService,
                 catalog: CatalogService, keys: KeyRepository, expiration: int = 3600):
        self.db = db
        self.identity = identity
        self.assignments = assignments
        self.catalog = catalog
        self.formatter = TokenFormatter(keys)
        self.expiration = expiration

    # --- issuing -------------------------------------------------------------------------

    async def issue(self, req: s.AuthRequest, *, nocatalog: bool = False) -> tuple[str, dict]:
        """Authenticate ``req``; returns ``(token id, {"token": {...}})`` (401 on any failure)."""
        ident = req.auth.identity
        methods = list(dict.fromkeys(ident.methods))
        if any(meth not in METHODS for meth in methods):
            raise Unauthorized("Attempted to authenticate with an unsupported method.")
        user_id: str | None = None
        expires_at: int | None = None
        parent_audit: str | None = None
        out_methods: list[str] = []
        if "password" in methods:
            if ident.password is None:
                raise BadRequest("Expecting to find password in identity.")
            ref = ident.password.user
            dom = ref.domain
            user = await self.identity.authenticate_password(
                password=ref.password, user_id=ref.id, name=ref.name,
                domain_id=dom.id if dom else None, domain_name=dom.name if dom else None)
            user_id = user.id
            out_methods.append("password")
        if "token" in methods:
            if ident.token is None:
                raise BadRequest("Expecting to find token in identity.")
            try:
                parent = (await self._resolve(ident.token.id)).payload
            except (TokenNotFound, _Invalid):
                raise Unauthorized(UNAUTHORIZED) from None
            if user_id is not None and user_id != parent.user_id:
                raise Unauthorized(UNAUTHORIZED)
            user_id = parent.user_id
            expires_at = parent.expires_at
            parent_audit = parent.audit_ids[-1]
            out_methods = ["token", *out_methods, *parent.methods]
        project_id, domain_id = await self._scope(user_id, req.auth.scope)
        issued = clock.now_us()
        payload = TokenPayload(
            user_id=user_id, methods=list(dict.fromkeys(out_methods)), issued_at=issued,
            expires_at=expires_at or issued + self.expiration * 1_000_000,
            audit_ids=[new_audit_id()] + ([parent_audit] if parent_audit else []),
            project_id=project_id, domain_id=domain_id)
        token = self.formatter.pack(payload)
        try:
            resolved = await self._load(payload)
        except _Invalid:
            raise Unauthorized(UNAUTHORIZED) from None
        return token, await self.body(resolved, nocatalog=nocatalog)

    async def _scope(self, user_id: str, scope: s.Scope | str | None) -> tuple[str | None, str | None]:
        """``(project_id, domain_id)`` the token is for; 401 if the user may not have it."""
        async with self.db.session() as db:
            if scope is None:
                user = await db.get(m.User, user_id)
                if user is None:
                    raise Unauthorized(UNAUTHORIZED)
                pid = user.default_project_id
                project = await db.get(m.Project, pid) if pid else None
                if project is not None and project.enabled and \
                        await self.assignments.roles_on(user_id, project_id=project.id, db=db):
                    return project.id, None
                return None, None
            if isinstance(scope, str):
                return None, None
            if scope.system is not None:
                raise Unauthorized("The user has no access to the system scope.")
            if scope.project is not None:
                ref = scope.project
                if ref.id:
                    project = await db.get(m.Project, ref.id)
                else:
                    dom = await self.identity.find_domain(db, id=ref.domain.id, name=ref.domain.name)
                    project = await self.identity.find_project(db, name=ref.name, domain_id=dom.id) \
                        if dom else None
                if project is None:
                    raise Unauthorized(UNAUTHORIZED)
                if not await self.assignments.roles_on(user_id, project_id=project.id, db=db):
                    raise Unauthorized(f"User {user_id} has no access to project {project.id}.")
                return project.id, None
            if scope.domain is not None:
                dom = await self.identity.find_domain(db, id=scope.domain.id, name=scope.domain.name)
                if dom is None:
                    raise Unauthorized(UNAUTHORIZED)
                if not await self.assignments.roles_on(user_id, domain_id=dom.id, db=db):
                    raise Unauthorized(f"User {user_id} has no access to domain {dom.id}.")
                return None, dom.id
        return None, None

    # --- validating ----------------------------------------------------------------------

    async def validate(self, token: str, *, nocatalog: bool = False) -> dict:
        """The ``{"token": {...}}`` body of a valid token; TokenNotFound (404) otherwise."""
        try:
            resolved = await self._resolve(token)
        except _Invalid:
            raise TokenNotFound(token) from None
        return await self.body(resolved, nocatalog=nocatalog)

    async def payload(self, token: str) -> TokenPayload:
        """The payload of a valid token; TokenNotFound (404) otherwise."""
        try:
            return (await self._resolve(token)).payload
        except _Invalid:
            raise TokenNotFound(token) from None

    async def _resolve(self, token: str) -> Resolved:
        try:
            payload = self.formatter.unpack(token)
        except InvalidToken:
            raise TokenNotFound(token) from None
        if payload.expired():
            raise TokenNotFound(token)
        return await self._load(payload)

    async def _load(self, payload: TokenPayload) -> Resolved:
        async with self.db.session() as db:
            q = select(m.RevocationEvent.id).where(or_(
                m.RevocationEvent.audit_id == payload.audit_id,
                (m.RevocationEvent.user_id == payload.user_id)
                & (m.RevocationEvent.issued_before >= payload.issued_at))).limit(1)
            if (await db.scalars(q)).first() is not None:
                raise _Invalid("revoked")
            user = await db.get(m.User, payload.user_id)
            user_domain = await db.get(m.Domain, user.domain_id) if user else None
            if user is None or not user.enabled or user_domain is None or not user_domain.enabled:
                raise _Invalid("user")
            project = project_domain = domain = None
            roles: list[m.Role] = []
            if payload.project_id:
                project = await db.get(m.Project, payload.project_id)
                project_domain = await db.get(m.Domain, project.domain_id) if project else None
                if project is None or not project.enabled or project_domain is None or \
                        not project_domain.enabled:
                    raise _Invalid("project")
                roles = await self.assignments.roles_on(user.id, project_id=project.id, db=db)
            elif payload.domain_id:
                domain = await db.get(m.Domain, payload.domain_id)
                if domain is None or not domain.enabled:
                    raise _Invalid("domain")
                roles = await self.assignments.roles_on(user.id, domain_id=domain.id, db=db)
            if (project or domain) and not roles:
                raise _Invalid("no roles")
        return Resolved(payload, user, user_domain, project, project_domain, domain, roles)

    async def body(self, r: Resolved, *, nocatalog: bool = False) -> dict:
        """The v3 token body (``{"token": {...}}``) of a resolved token."""
        p = r.payload
        token = {
            "methods": list(p.methods),
            "user": {"id": r.user.id, "name": r.user.name, "domain": _ref(r.user_domain),
                     "password_expires_at": None},
            "audit_ids": list(p.audit_ids),
            "expires_at": isotime_us(p.expires_at),
            "issued_at": isotime_us(p.issued_at),
        }
        if r.project is not None:
            token["project"] = {"id": r.project.id, "name": r.project.name, "domain": _ref(r.project_domain)}
            token["is_domain"] = False
        if r.domain is not None:
            token["domain"] = _ref(r.domain)
        if r.project is not None or r.domain is not None:
            token["roles"] = [{"id": role.id, "name": role.name} for role in r.roles]
            if not nocatalog:
                token["catalog"] = await self.catalog.catalog(r.project.id if r.project else None)
        return {"token": token}

    # --- revoking ------------------------------------------------------------------------

    async def revoke(self, token: str) -> TokenPayload:
        """Revoke a valid token (TokenNotFound if it is not); returns its payload."""
        payload = await self.payload(token)
        now = clock.now_us()
        async with self.db.session() as db:
            await db.execute(delete(m.RevocationEvent).where(m.RevocationEvent.expires_at < now))
            db.add(m.RevocationEvent(audit_id=payload.audit_id, issued_before=payload.issued_at,
                                     expires_at=payload.expires_at))
        return payload


class LocalValidator:
    """The identity API's own token check for ``create_app`` (no HTTP round trip).

    Returns the token body without catalog; raises Unauthorized for any
    token that does not validate.
    """

    def __init__(self, tokens: TokenService):
        self.tokens = tokens

    async def validate(self, token: str) -> dict:
        try:
            return await self.tokens.validate(token, nocatalog=True)
        except NotFound:
            raise Unauthorized(UNAUTHORIZED) from None
