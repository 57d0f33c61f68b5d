"""EC2 signature checks for ``POST /v3/ec2tokens`` (Identity API v3 extension OS-EC2).

A client signs an EC2-style request with the secret of one of its ec2
credentials; keystone recomputes the signature from the request's
description and, when it matches, issues a token scoped to the credential's
project. The request description is ``{access, signature, host, verb, path,
params, headers, body_hash}``. Supported signature versions (AWS's
published algorithms):

- 0: HMAC-SHA1 of ``Action`` + ``Timestamp``, base64;
- 1: HMAC-SHA1 of the parameters (sorted case-insensitively) as key+value, base64;
- 2: HMAC-SHA256 (or SHA1) of ``VERB\\nhost\\npath\\ncanonical query``, base64;
- 4: ``AWS4-HMAC-SHA256`` from the ``Authorization`` header or the
  ``X-Amz-*`` query parameters, hex.

:func:`signature_matches` compares in constant time and also tries the host
without its port, as some clients sign without it; :func:`fresh` refuses a
signing time more than :data:`AUTH_TTL` away from now.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import quote

#: How old (or how far in the future) a signed request's timestamp may be, in seconds
#: (keystone's ``[credential] auth_ttl``, 15 minutes).
AUTH_TTL = 900


def _b64_hmac(secret: str, text: str, digest=hashlib.sha256) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), digest).digest()).decode()


def _encode(value: str) -> str:
    return quote(str(value), safe="-_.~")


def _canonical_query(params: dict, skip: str) -> str:
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()) if k != skip)


def _v0(secret: str, req: dict) -> str:
    p = req.get("params") or {}
    return _b64_hmac(secret, str(p.get("Action", "")) + str(p.get("Timestamp", "")), hashlib.sha1)


def _v1(secret: str, req: dict) -> str:
    p = req.get("params") or {}
    text = "".join(f"{k}{p[k]}" for k in sorted(p, key=str.lower) if k != "Signature")
    return _b64_hmac(secret, text, hashlib.sha1)


def _v2(secret: str, req: dict) -> str:
    p = req.get("params") or {}
    digest = hashlib.sha1 if p.get("SignatureMethod") == "HmacSHA1" else hashlib.sha256
    text = "\n".join([str(req.get("verb", "")).upper(), str(req.get("host", "")).lower(),
                      req.get("path") or "/", _canonical_query(p, "Signature")])
    return _b64_hmac(secret, text, digest)


def _v4_parts(req: dict) -> dict | None:
    """Credential scope, signed headers and date of a v4 request (header or query form)."""
    headers = {str(k).lower(): str(v) for k, v in (req.get("headers") or {}).items()}
    params = req.get("params") or {}
    if params.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
        return {"credential": params.get("X-Amz-Credential", ""), "signed": params.get("X-Amz-SignedHeaders", ""),
                "date": params.get("X-Amz-Date", ""), "query": True}
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(",") if "=" in part)
    return {"credential": fields.get("Credential", ""), "signed": fields.get("SignedHeaders", ""),
            "date": headers.get("x-amz-date", ""), "query": False}


def _v4(secret: str, req: dict) -> str:
    parts = _v4_parts(req)
    if parts is None:
        return ""
    scope_parts = parts["credential"].split("/")[1:]
    if len(scope_parts) != 4:
        return ""
    day, region, service, terminator = scope_parts
    headers = {str(k).lower(): " ".join(str(v).split()) for k, v in (req.get("headers") or {}).items()}
    signed = parts["signed"].split(";") if parts["signed"] else []
    canonical_headers = "".join(f"{h}:{headers.get(h, '')}\n" for h in signed)
    params = req.get("params") or {}
    query = _canonical_query(params, "X-Amz-Signature") if parts["query"] else _canonical_query(params, "")
    canonical = "\n".join([str(req.get("verb", "")).upper(), req.get("path") or "/", query, canonical_headers,
                           parts["signed"], req.get("body_hash") or hashlib.sha256(b"").hexdigest()])
    scope = "/".join(scope_parts)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", parts["date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def compute(secret: str, req: dict) -> str:
    """The signature ``req`` should carry when signed with ``secret`` ("" if its version is unknown)."""
    if _v4_parts(req) is not None:
        return _v4(secret, req)
    version = str((req.get("params") or {}).get("SignatureVersion", ""))
    return {"0": _v0, "1": _v1, "2": _v2}.get(version, lambda *_: "")(secret, req)


def signature_matches(secret: str, req: dict) -> bool:
    """True if ``req["signature"]`` is right for ``secret`` (also tried with the port stripped
    from the host and the ``Host`` header)."""
    given = str(req.get("signature") or "")
    if not given:
        return False
    candidates = [req]
    host = str(req.get("host", ""))
    if ":" in host:
        headers = {k: (str(v).rsplit(":", 1)[0] if k.lower() == "host" else v)
                   for k, v in (req.get("headers") or {}).items()}
        candidates.append({**req, "host": host.rsplit(":", 1)[0], "headers": headers})
    for candidate in candidates:
        expected = compute(secret, candidate)
        if expected and hmac.compare_digest(expected, given):
            return True
    return False


def _timestamp(req: dict) -> datetime | None:
    """The signing time a request carries (``X-Amz-Date`` or ``Timestamp``), if any."""
    params = req.get("params") or {}
    headers = {str(k).lower(): v for k, v in (req.get("headers") or {}).items()}
    raw = params.get("X-Amz-Date") or headers.get("x-amz-date")
    if raw:
        try:
            return datetime.strptime(str(raw), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return datetime.min.replace(tzinfo=timezone.utc)
    raw = params.get("Timestamp")
    if raw:
        try:
            stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            return datetime.min.replace(tzinfo=timezone.utc)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    return None


def fresh(req: dict, now: datetime | None = None) -> bool:
    """False when the request's signing time is more than :data:`AUTH_TTL` away from ``now``."""
    stamp = _timestamp(req)
    if stamp is None:
        return True
    now = now or datetime.now(timezone.utc)
    return abs((now - stamp).total_seconds()) <= AUTH_TTL
