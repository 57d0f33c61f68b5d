"""Credentials and EC2 credentials (Identity API v3: "Credentials"; extension OS-EC2).

A credential belongs to a user (and, for ``ec2``, to a project) and has a
``type`` (``ec2``, ``totp``, ``cert``...) and a ``blob`` string. Blobs are
encrypted at rest with the Fernet keys of the credential key repository
(``<state dir>/credential-keys``, separate from the token keys), see
:class:`SecretBox`. An ``ec2`` blob is JSON with at least ``access``; the
credential's id is the SHA-256 hex digest of that access key, as keystone
makes it, so ``/v3/users/{id}/credentials/OS-EC2/{access}`` finds it.

:meth:`CredentialService.authenticate_ec2` checks an EC2-signed request
(``POST /v3/ec2tokens``). Errors: NotFound (404) for unknown credentials, users or projects;
BadRequest (400) for an ``ec2`` blob that is not JSON with an ``access``
string, or an ``ec2`` credential without a project; Conflict (409) for a
second credential with the same ec2 access key.
"""
from __future__ import annotations

import hashlib
import json
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, Unauthorized
from kumo.common.db import Database
from kumo.identity import ec2tokens
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity.crud import not_found
from kumo.identity.tokens import KeyRepository

EC2 = "ec2"


class SecretBox:
    """Encrypts and decrypts short secrets with a Fernet key repository (primary key first)."""

    def __init__(self, keys: KeyRepository):
        self.keys = keys

    def encrypt(self, text: str) -> str:
        return self.keys.crypto().encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self.keys.crypto().decrypt(token.encode()).decode()


def ec2_id(access: str) -> str:
    """The id keystone gives an ec2 credential: the SHA-256 hex digest of its access key."""
    return hashlib.sha256(access.encode()).hexdigest()


def _ec2_access(blob: str) -> str:
    try:
        data = json.loads(blob)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("access"), str) or not data["access"]:
        raise BadRequest("Invalid blob in credential: an ec2 blob must be JSON with an 'access' key.")
    return data["access"]


class CredentialService:
    def __init__(self, db: Database, box: SecretBox):
        self.db = db
        self.box = box

    def blob(self, c: m.Credential) -> str:
        """The decrypted blob of a credential."""
        return self.box.decrypt(c.encrypted_blob)

    async def list_credentials(self, *, user_id: str | None = None, type: str | None = None) -> list[m.Credential]:
        return await crud.list_rows(self.db, m.Credential, {"user_id": user_id, "type": type})

    async def get_credential(self, credential_id: str) -> m.Credential:
        return await crud.fetch(self.db, m.Credential, credential_id, "credential")

    @staticmethod
    async def _credential(db: AsyncSession, credential_id: str) -> m.Credential:
        return await crud.get_or_404(db, m.Credential, credential_id, "credential")

    async def create_credential(self, data: rs.CredentialCreate) -> m.Credential:
        """Create a credential (ec2: id from the access key, project required)."""
        cred_id = None
        if data.type == EC2:
            if not data.project_id:
                raise BadRequest("Invalid input for field project_id: an ec2 credential needs a project.")
            cred_id = ec2_id(_ec2_access(data.blob))
        c = m.Credential(user_id=data.user_id, project_id=data.project_id, type=data.type,
                         encrypted_blob=self.box.encrypt(data.blob), extra={})
        if cred_id:
            c.id = cred_id
        async with self.db.session() as db:
            if cred_id and await db.get(m.Credential, cred_id) is not None:
                raise Conflict(f"Conflict occurred attempting to store credential - "
                               f"Duplicate ID, {cred_id}.")
            db.add(c)
        return c

    async def update_credential(self, credential_id: str, data: rs.CredentialUpdate) -> m.Credential:
        """Change a credential's blob, type, user or project (the id stays)."""
        fields = data.model_fields_set
        async with self.db.session() as db:
            c = await self._credential(db, credential_id)
            blob = data.blob if "blob" in fields and data.blob is not None else self.blob(c)
            kind = data.type if "type" in fields and data.type else c.type
            project = data.project_id if "project_id" in fields else c.project_id
            if kind == EC2:
                _ec2_access(blob)
                if not project:
                    raise BadRequest("Invalid input for field project_id: an ec2 credential needs a project.")
            c.type, c.project_id, c.encrypted_blob = kind, project, self.box.encrypt(blob)
            if "user_id" in fields and data.user_id:
                c.user_id = data.user_id
        return c

    async def delete_credential(self, credential_id: str) -> None:
        await crud.delete_or_404(self.db, m.Credential, credential_id, "credential")

    # --- OS-EC2 ----------------------------------------------------------------------------

    async def create_ec2(self, user_id: str, project_id: str) -> tuple[m.Credential, dict]:
        """A new ec2 credential of a user in a project: ``(row, {access, secret, trust_id})``."""
        async with self.db.session() as db:
            if await db.get(m.User, user_id) is None:
                raise not_found("user", user_id)
            if await db.get(m.Project, project_id) is None:
                raise not_found("project", project_id)
        blob = {"access": secrets.token_hex(16), "secret": secrets.token_hex(16), "trust_id": None}
        c = await self.create_credential(rs.CredentialCreate(
            user_id=user_id, project_id=project_id, type=EC2, blob=json.dumps(blob)))
        return c, blob

    def ec2_blob(self, c: m.Credential) -> dict:
        return json.loads(self.blob(c))

    async def list_ec2(self, user_id: str) -> list[tuple[m.Credential, dict]]:
        async with self.db.session() as db:
            if await db.get(m.User, user_id) is None:
                raise not_found("user", user_id)
        return [(c, self.ec2_blob(c)) for c in await self.list_credentials(user_id=user_id, type=EC2)]

    async def get_ec2(self, user_id: str, access: str) -> tuple[m.Credential, dict]:
        """The user's ec2 credential with this access key (404 if it is not the user's)."""
        async with self.db.session() as db:
            c = await db.get(m.Credential, ec2_id(access))
        if c is None or c.type != EC2 or c.user_id != user_id:
            raise not_found("credential", access)
        return c, self.ec2_blob(c)

    async def authenticate_ec2(self, req: rs.Ec2Signed) -> m.Credential:
        """The ec2 credential that signed ``req`` (:mod:`kumo.identity.ec2tokens`); Unauthorized
        (401) for an unknown access key, a wrong signature or a stale signing time."""
        async with self.db.session() as db:
            c = await db.get(m.Credential, ec2_id(req.access))
        blob = self.ec2_blob(c) if c is not None and c.type == EC2 else {}
        secret = blob.get("secret")
        if not secret or not c.project_id or not ec2tokens.signature_matches(secret, req.model_dump()) \
                or not ec2tokens.fresh(req.model_dump()):
            raise Unauthorized("The request you have made requires authentication.")
        return c

    async def delete_ec2(self, user_id: str, access: str) -> None:
        c, _ = await self.get_ec2(user_id, access)
        await self.delete_credential(c.id)
