"""Issuing, validating and revoking tokens (Identity API v3: "Authentication and token management").

:class:`TokenService` implements ``POST /v3/auth/tokens`` (methods
``password``, ``token`` and ``application_credential``; project, domain,
system (``{"system": {"all": true}}``), trust (``{"OS-TRUST:trust": {"id"}}``)
or no scope), ``GET``/``HEAD /v3/auth/tokens`` and ``DELETE /v3/auth/tokens``.
A token only carries who, how, which scope and until when (see
:mod:`kumo.identity.tokens`); names, roles and the catalog are looked up
each time it is validated, so a deleted role assignment, a disabled user or
project, a deleted project, trust or application credential invalidates it
at once. Revocations are events in the database, so they hold across
restarts and processes.

Errors: Unauthorized (401) for any failed authentication, BadRequest (400)
for a malformed request, Forbidden (403) for rescoping a trust or
application credential token, :class:`TokenNotFound` (404) for a subject
token (or the ``token`` method's token) that is invalid, expired or revoked.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from kumo.common.db import Database
from kumo.identity import models as m
from kumo.identity import schemas as s
from kumo.identity import tokens as clock
from kumo.identity.appcreds import AppCredService
from kumo.identity.assignment import AssignmentService
from kumo.identity.cache import TokenCache
from kumo.identity.catalog import CatalogService
from kumo.identity.service import IdentityService
from kumo.identity.tokens import (InvalidToken, KeyRepository, TokenFormatter, TokenPayload, datetime_us,
                                  isotime_us, new_audit_id)
from kumo.identity.trusts import TrustService, usable

UNAUTHORIZED = "The request you have made requires authentication."
METHODS = ("password", "token", "application_credential")


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
    trust: m.Trust | None = None
    app_cred: m.ApplicationCredential | None = None


@dataclass
class _Who:
    """The authenticated user, and what the methods add: a parent token's expiry and audit id, an
    application credential."""

    user_id: str | None = None
    methods: list[str] = field(default_factory=list)
    expires_at: int | None = None
    parent_audit: str | None = None
    app_cred: m.ApplicationCredential | None = None


@dataclass
class _Scope:
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    trust: m.Trust | None = None


def _ref(d: m.Domain) -> dict:
    return {"id": d.id, "name": d.name}


class TokenService:
    def __init__(self, db: Database, identity: IdentityService, assignments: AssignmentService,
                 catalog: CatalogService, keys: KeyRepository, expiration: int = 3600):
        self.db = db
        self.identity = identity
        self.assignments = assignments
        #: Resolved tokens and catalogs, dropped on any identity write (kumo.identity.cache).
        self.cache = TokenCache(db)
        self.catalog = self.cache.catalogs(catalog)
        self.formatter = self.cache.formatter(TokenFormatter(keys))
        self.expiration = expiration
        self.appcreds = AppCredService(db, identity, assignments)
        self.trusts = TrustService(db, assignments)

    # --- issuing -------------------------------------------------------------------------

    async def issue(self, req: s.AuthRequest, *, nocatalog: bool = False) -> tuple[str, dict]:
        """Authenticate ``req``; returns ``(token id, {"token": {...}})`` (401 on any failure)."""
        who = await self._authenticate(req.auth.identity)
        scope = await self._scope(who.user_id, req.auth.scope, who.app_cred)
        issued = clock.now_us()
        expires = who.expires_at or issued + self.expiration * 1_000_000
        for limit in (who.app_cred.expires_at if who.app_cred else None,
                      scope.trust.expires_at if scope.trust else None):
            if limit is not None:
                expires = min(expires, datetime_us(limit))
        token_user = who.user_id
        if scope.trust is not None and scope.trust.impersonation:
            token_user = scope.trust.trustor_user_id
        payload = TokenPayload(
            user_id=token_user, methods=list(dict.fromkeys(who.methods)), issued_at=issued, expires_at=expires,
            audit_ids=[new_audit_id()] + ([who.parent_audit] if who.parent_audit else []),
            project_id=scope.project_id, domain_id=scope.domain_id, system=scope.system,
            trust_id=scope.trust.id if scope.trust else None,
            app_cred_id=who.app_cred.id if who.app_cred else None)
        token = self.formatter.pack(payload)
        try:
            resolved = await self._load(payload)
        except _Invalid:
            raise Unauthorized(UNAUTHORIZED) from None
        return token, await self.body(resolved, nocatalog=nocatalog)

    async def _authenticate(self, ident: s.Identity) -> _Who:
        """Check every method of ``ident``; they must all name the same user (401 otherwise)."""
        methods = list(dict.fromkeys(ident.methods))
        if any(meth not in METHODS for meth in methods):
            raise Unauthorized("Attempted to authenticate with an unsupported method.")
        who = _Who()
        if "password" in methods:
            if ident.password is None:
                raise BadRequest("Expecting to find password in identity.")
            ref = ident.password.user
            dom = ref.domain
            user = await self.identity.authenticate_password(
                password=ref.password, user_id=ref.id, name=ref.name,
                domain_id=dom.id if dom else None, domain_name=dom.name if dom else None)
            who.user_id = user.id
            who.methods.append("password")
        if "application_credential" in methods:
            if ident.application_credential is None:
                raise BadRequest("Expecting to find application_credential in identity.")
            who.app_cred = await self.appcreds.authenticate(ident.application_credential)
            if who.user_id is not None and who.user_id != who.app_cred.user_id:
                raise Unauthorized(UNAUTHORIZED)
            who.user_id = who.app_cred.user_id
            who.methods.append("application_credential")
        if "token" in methods:
            if ident.token is None:
                raise BadRequest("Expecting to find token in identity.")
            try:  # as keystone: an invalid, expired or revoked token here is 404, not 401
                parent = (await self._resolve(ident.token.id)).payload
            except _Invalid:
                raise TokenNotFound(ident.token.id) from None
            if parent.trust_id:
                raise Forbidden("A trust-scoped token cannot be used to get another token.")
            if parent.app_cred_id:
                raise Forbidden("A token created with an application credential cannot be rescoped.")
            if who.user_id is not None and who.user_id != parent.user_id:
                raise Unauthorized(UNAUTHORIZED)
            who.user_id, who.expires_at, who.parent_audit = parent.user_id, parent.expires_at, parent.audit_ids[-1]
            who.methods = ["token", *who.methods, *parent.methods]
        return who

    async def _scope(self, user_id: str, scope: s.Scope | str | None,
                     app_cred: m.ApplicationCredential | None) -> _Scope:
        """What the token is scoped to; 401 if the user may not have it."""
        if app_cred is not None:
            if isinstance(scope, s.Scope):
                async with self.db.session() as db:
                    wanted = await self._find_project(db, scope.project) if scope.project else None
                if wanted is None or wanted.id != app_cred.project_id:
                    raise Unauthorized("An application credential token is scoped to its project only.")
            return _Scope(project_id=app_cred.project_id)
        async with self.db.session() as db:
            if scope is None:
                user = await db.get(m.User, user_id)
                if user is None:
                    raise Unauthorized(UNAUTHORIZED)
                pid = user.default_project_id
                project = await db.get(m.Project, pid) if pid else None
                if project is not None and project.enabled and \
                        await self.assignments.roles_on(user_id, project_id=project.id, db=db):
                    return _Scope(project_id=project.id)
                return _Scope()
            if isinstance(scope, str):
                return _Scope()
            if scope.system is not None:
                if not scope.system.all:
                    raise BadRequest("Only the system scope {'all': true} exists.")
                if not await self.assignments.roles_on(user_id, system=True, db=db):
                    raise Unauthorized(f"User {user_id} has no access to the system.")
                return _Scope(system=True)
            if scope.project is not None:
                return _Scope(project_id=await self._project_scope(db, user_id, scope.project))
            if scope.domain is not None:
                dom = await self.identity.find_domain(db, id=scope.domain.id, name=scope.domain.name)
                if dom is None:
                    raise Unauthorized(UNAUTHORIZED)
                if not await self.assignments.roles_on(user_id, domain_id=dom.id, db=db):
                    raise Unauthorized(f"User {user_id} has no access to domain {dom.id}.")
                return _Scope(domain_id=dom.id)
        if scope.trust is not None:
            try:
                trust = await self.trusts.consume(scope.trust.id, user_id)
            except (NotFound, Forbidden) as e:
                raise Unauthorized(str(e)) from None
            return _Scope(project_id=trust.project_id, trust=trust)
        return _Scope()

    async def _find_project(self, db: AsyncSession, ref: s.ProjectScope) -> m.Project | None:
        if ref.id:
            return await db.get(m.Project, ref.id)
        dom = await self.identity.find_domain(db, id=ref.domain.id, name=ref.domain.name)
        return await self.identity.find_project(db, name=ref.name, domain_id=dom.id) if dom else None

    async def _project_scope(self, db: AsyncSession, user_id: str, ref: s.ProjectScope) -> str:
        project = await self._find_project(db, ref)
        if project is None:
            raise Unauthorized(UNAUTHORIZED)
        if not await self.assignments.roles_on(user_id, project_id=project.id, db=db):
            raise Unauthorized(f"User {user_id} has no access to project {project.id}.")
        return project.id

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
        return await self.cache.load(token, self._load, payload)

    async def _load(self, payload: TokenPayload) -> Resolved:
        """The rows of a token: a revocation check, the user, the scope and the roles (few queries)."""
        async with self.db.session() as db:
            # A trust token is revoked with the tokens of either party (the row stays in the session).
            trust = await db.get(m.Trust, payload.trust_id) if payload.trust_id else None
            parties = {payload.user_id} | ({trust.trustor_user_id, trust.trustee_user_id} if trust else set())
            q = select(m.RevocationEvent.id).where(or_(
                m.RevocationEvent.audit_id.in_(payload.audit_ids[:1]),
                m.RevocationEvent.user_id.in_(parties)
                & (m.RevocationEvent.issued_before >= payload.issued_at))).limit(1)
            if (await db.scalars(q)).first() is not None:
                raise _Invalid("revoked")
            user = await db.get(m.User, payload.user_id)
            user_domain = await db.get(m.Domain, user.domain_id) if user else None
            if user is None or not user.enabled or user_domain is None or not user_domain.enabled:
                raise _Invalid("user")
            r = Resolved(payload, user, user_domain, None, None, None, [])
            if payload.project_id:
                r.project = await db.get(m.Project, payload.project_id)
                r.project_domain = await db.get(m.Domain, r.project.domain_id) if r.project else None
                if r.project is None or not r.project.enabled or r.project_domain is None or \
                        not r.project_domain.enabled:
                    raise _Invalid("project")
                if payload.trust_id:
                    await self._trust_roles(db, r)
                else:
                    r.roles = await self.assignments.roles_on(user.id, project_id=r.project.id, db=db)
            elif payload.domain_id:
                r.domain = await db.get(m.Domain, payload.domain_id)
                if r.domain is None or not r.domain.enabled:
                    raise _Invalid("domain")
                r.roles = await self.assignments.roles_on(user.id, domain_id=r.domain.id, db=db)
            elif payload.system:
                r.roles = await self.assignments.roles_on(user.id, system=True, db=db)
            elif payload.trust_id:
                await self._trust_roles(db, r)
            if payload.app_cred_id:
                await self._app_cred_roles(db, r)
            if (payload.project_id or payload.domain_id or payload.system) and not r.roles:
                raise _Invalid("no roles")
        return r

    async def _trust_roles(self, db: AsyncSession, r: Resolved) -> None:
        """A trust token keeps the trust's roles while the trustor still holds them all."""
        trust = await db.get(m.Trust, r.payload.trust_id)
        if not usable(trust):
            raise _Invalid("trust")
        other = trust.trustee_user_id if r.payload.user_id == trust.trustor_user_id else trust.trustor_user_id
        if r.payload.user_id not in (trust.trustor_user_id, trust.trustee_user_id):
            raise _Invalid("trust")
        counterpart = await db.get(m.User, other)
        if counterpart is None or not counterpart.enabled:
            raise _Invalid("trust user")
        if trust.project_id:
            held = await self.assignments.roles_on(trust.trustor_user_id, project_id=trust.project_id, db=db)
            wanted = set(trust.role_ids or [])
            r.roles = [role for role in held if role.id in wanted]
            if len(r.roles) < len(wanted):
                raise _Invalid("trustor lost a role")
        r.trust = trust

    async def _app_cred_roles(self, db: AsyncSession, r: Resolved) -> None:
        """An application credential token has the credential's roles while the user holds them."""
        cred = await db.get(m.ApplicationCredential, r.payload.app_cred_id)
        if cred is None or cred.user_id != r.user.id or cred.project_id != r.payload.project_id or \
                (cred.expires_at is not None and datetime_us(cred.expires_at) <= clock.now_us()):
            raise _Invalid("application credential")
        wanted = set(cred.role_ids or [])
        held = {role.id: role for role in r.roles}
        if not wanted <= set(held):
            raise _Invalid("user lost a role")
        r.roles = [held[i] for i in held if i in wanted]
        r.app_cred = cred

    async def body(self, r: Resolved, *, nocatalog: bool = False) -> dict:
        """The v3 token body (``{"token": {...}}``) of a resolved token."""
        p = r.payload
        token = {
            "methods": list(p.methods),
            "user": {"id": r.user.id, "name": r.user.name, "domain": _ref(r.user_domain),
                     "password_expires_at": await self._password_expiry(r.user)},
            "audit_ids": list(p.audit_ids),
            "expires_at": isotime_us(p.expires_at),
            "issued_at": isotime_us(p.issued_at),
        }
        if r.project is not None:
            token["project"] = {"id": r.project.id, "name": r.project.name, "domain": _ref(r.project_domain)}
            token["is_domain"] = False
        if r.domain is not None:
            token["domain"] = _ref(r.domain)
        if p.system:
            token["system"] = {"all": True}
        if r.trust is not None:
            t = r.trust
            token["OS-TRUST:trust"] = {"id": t.id, "impersonation": t.impersonation,
                                       "trustee_user": {"id": t.trustee_user_id},
                                       "trustor_user": {"id": t.trustor_user_id}}
        if r.app_cred is not None:
            token["application_credential"] = await self._app_cred_body(r.app_cred)
        if r.project is not None or r.domain is not None or p.system:
            token["roles"] = [{"id": role.id, "name": role.name} for role in r.roles]
            if not nocatalog:
                token["catalog"] = await self.catalog.catalog(r.project.id if r.project else None)
        return {"token": token}

    async def _password_expiry(self, user: m.User) -> str | None:
        if not self.identity.compliance.settings.password_expires_days:
            return None
        details = await self.identity.user_details([user])
        expires = details[user.id][1]
        return expires.strftime("%Y-%m-%dT%H:%M:%S.%f") if expires else None

    async def _app_cred_body(self, cred: m.ApplicationCredential) -> dict:
        out = {"id": cred.id, "name": cred.name, "restricted": not cred.unrestricted}
        rules = await self.appcreds.rules_of(cred.id)
        if rules:
            out["access_rules"] = [{"id": a.id, "service": a.service, "method": a.method, "path": a.path}
                                   for a in rules]
        return out

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


async def ensure_default_domain(db: Database) -> None:
    """Create domain ``default`` if it is missing, as ``keystone-manage db_sync`` does: the
    admin token install flow (no bootstrap) creates users and projects in it."""
    async with db.session() as session:
        if await session.get(m.Domain, m.DEFAULT_DOMAIN_ID) is None:
            session.add(m.Domain(id=m.DEFAULT_DOMAIN_ID, name="Default", description="The default domain",
                                 enabled=True, tags=[], extra={}))


def admin_token_body() -> dict:
    """The body the bootstrap admin token validates to: no user, system scope, role admin."""
    return {"token": {"methods": ["token"], "user": {"id": "", "name": "", "domain": {"id": "", "name": ""}},
                      "system": {"all": True}, "roles": [{"id": "", "name": "admin"}],
                      "expires_at": "", "issued_at": "", "audit_ids": []}}


class LocalValidator:
    """The identity API's own token check for ``create_app`` (no HTTP round trip).

    Returns the token body without catalog; raises Unauthorized for any
    token that does not validate. ``admin_token`` (``[identity] admin_token``,
    empty: off) is accepted as a user-less superuser of the identity API, as
    keystone's AdminTokenAuthMiddleware did; other services never accept it
    because they validate through ``GET /v3/auth/tokens``, which does not.
    """

    def __init__(self, tokens: TokenService, admin_token: str = ""):
        self.tokens = tokens
        self.admin_token = admin_token

    async def validate(self, token: str) -> dict:
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return admin_token_body()
        try:
            return await self.tokens.validate(token, nocatalog=True)
        except NotFound:
            raise Unauthorized(UNAUTHORIZED) from None

