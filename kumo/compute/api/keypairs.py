"""Key pairs (Compute API reference: "Keypairs (keypairs)").

Routes under ``/v2.1/os-keypairs``: list, create or import, show, delete.
Key pairs belong to a user; admins may act for another one with
``user_id`` (2.10+). Types ``ssh`` (default) and ``x509`` (2.2+).

Fingerprints are nova's: for ssh the MD5 of the decoded key blob, for x509
the SHA-1 of the certificate (DER), both as colon-separated lowercase hex.
A created (not imported) key returns its ``private_key`` once: RSA 2048,
PEM, with the public key in OpenSSH form.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api import context
from kumo.common.api.body import json_body
from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.compute import quotas
from kumo.compute.api.common import at_least, limit_param, next_link, ok, policy, version
from kumo.compute.models import KeyPair
from kumo.compute.objects import nova_time
from kumo.compute.schemas import parse_keypair_create


def _colon_hex(digest: bytes) -> str:
    text = digest.hex()
    return ":".join(text[i:i + 2] for i in range(0, len(text), 2))


def ssh_fingerprint(public_key: str) -> str:
    """MD5 fingerprint of an OpenSSH public key line; BadRequest if it is not one."""
    parts = public_key.strip().split()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, IndexError, binascii.Error, TypeError):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob).digest())


def x509_fingerprint(pem: str) -> str:
    """SHA-1 fingerprint of a PEM certificate; BadRequest if it is not one."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise BadRequest("Keypair data is invalid: failed to generate X509 fingerprint") from None
    return _colon_hex(cert.fingerprint(hashes.SHA1()))


def generate(key_type: str, user_id: str) -> tuple[str, str]:
    """A new key pair: (public key, private key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    if key_type == "x509":
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "kumo")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .sign(key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode(), private
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return f"{public} Generated-by-Nova", private


def _owner(request: Request, user_id: str | None, rule: str) -> str:
    """The user whose key pairs are meant (the caller, or ``user_id`` from 2.10) once the policy
    allows ``os_compute_api:os-keypairs:<rule>`` on ``{"user_id": owner}``; 403 otherwise."""
    ctx = context(request)
    owner = ctx.user_id if user_id is None or not at_least(request, 2, 10) else user_id
    policy(request).authorize(ctx, f"os_compute_api:os-keypairs:{rule}", {"user_id": owner})
    return owner


def _view(request: Request, kp: KeyPair, full: bool) -> dict:
    body = {"name": kp.name, "public_key": kp.public_key, "fingerprint": kp.fingerprint}
    if full:
        body.update({"user_id": kp.user_id, "created_at": nova_time(kp.created_at),
                     "updated_at": nova_time(kp.updated_at), "deleted": False,
                     "deleted_at": None, "id": kp.id})
    if at_least(request, 2, 2):
        body["type"] = kp.type
    return body


async def list_keypairs(request: Request):
    """GET /os-keypairs[?user_id= 2.10+ admin][&limit&marker 2.35+] -> 200 {"keypairs": [{"keypair":
    {"name", "public_key", "fingerprint"(, "type")}}]}.
    """
    user_id = _owner(request, request.query_params.get("user_id"), "index")
    paged = at_least(request, 2, 35)
    limit = limit_param(request) if paged else None
    async with request.app.state.db.session() as s:
        rows = list((await s.execute(select(KeyPair).where(KeyPair.user_id == user_id)
                                     .order_by(KeyPair.name))).scalars().all())
    marker = request.query_params.get("marker") if paged else None
    if marker:
        names = [k.name for k in rows]
        if marker not in names:
            raise BadRequest(f"marker [{marker}] not found")
        rows = rows[names.index(marker) + 1:]
    if limit is not None:
        rows = rows[:limit]
    body = {"keypairs": [{"keypair": _view(request, k, False)} for k in rows]}
    if paged:
        more = next_link(request, "os-keypairs", [{"name": k.name} for k in rows], limit, key="name")
        if more:
            body["keypairs_links"] = more
    return ok(body)


async def create_keypair(request: Request):
    """POST /os-keypairs {"keypair": {"name", "public_key"?, "type"? 2.2+, "user_id"? 2.10+}} -> 200
    (201 from 2.2) {"keypair": {... "private_key" when generated}}; 400 bad name/key, 403 quota or
    reader, 409 name taken.
    """
    req = parse_keypair_create(await json_body(request, "keypair"), version(request))
    user_id = _owner(request, req["user_id"], "create")
    private = None
    if req["public_key"] is None:
        public, private = generate(req["type"], user_id)
    else:
        public = req["public_key"].strip()
    fingerprint = x509_fingerprint(public) if req["type"] == "x509" else ssh_fingerprint(public)
    async with request.app.state.db.session() as s:
        await quotas.check_key_pairs(s, context(request).project_id, user_id)
        clash = (await s.execute(select(KeyPair.id).where(
            KeyPair.user_id == user_id, KeyPair.name == req["name"]))).first()
        if clash:
            raise Conflict(f"Key pair '{req['name']}' already exists.")
        kp = KeyPair(name=req["name"], user_id=user_id, fingerprint=fingerprint,
                     public_key=public, type=req["type"])
        s.add(kp)
    body = _view(request, kp, False)
    body["user_id"] = user_id
    if private is not None:
        body["private_key"] = private
    return ok({"keypair": body}, 201 if at_least(request, 2, 2) else 200)


async def _find(request: Request, rule: str) -> tuple[KeyPair, str]:
    user_id = _owner(request, request.query_params.get("user_id"), rule)
    name = request.path_params["name"]
    async with request.app.state.db.session() as s:
        kp = (await s.execute(select(KeyPair).where(
            KeyPair.user_id == user_id, KeyPair.name == name))).scalar_one_or_none()
    if kp is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return kp, user_id


async def show_keypair(request: Request):
    """GET /os-keypairs/{name} -> 200 {"keypair": {"id", "name", "public_key", "fingerprint", "user_id",
    "created_at", ...}}; 404.
    """
    kp, _ = await _find(request, "show")
    return ok({"keypair": _view(request, kp, True)})


async def delete_keypair(request: Request):
    """DELETE /os-keypairs/{name} -> 202 (204 from 2.2); 403 reader, 404."""
    kp, _ = await _find(request, "delete")
    async with request.app.state.db.session() as s:
        row = await s.get(KeyPair, kp.id)
        if row is not None:
            await s.delete(row)
    return ok(status=204 if at_least(request, 2, 2) else 202)


def routes() -> list[Route]:
    """The os-keypairs routes."""
    p = "/v2.1/os-keypairs"
    return [
        Route(p, list_keypairs, methods=["GET"]),
        Route(p, create_keypair, methods=["POST"]),
        Route(p + "/{name}", show_keypair, methods=["GET"]),
        Route(p + "/{name}", delete_keypair, methods=["DELETE"]),
    ]
