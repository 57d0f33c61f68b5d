"""Signing the instance id between the metadata proxy and the metadata API.

The neutron metadata proxy adds ``X-Instance-ID-Signature`` to each request it
forwards to nova's metadata API: the hex HMAC-SHA256 of the instance id keyed
with the shared secret (``[metadata] shared_secret``). The metadata API
recomputes it and refuses the request (403) on a mismatch.
"""
from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, instance_id: str) -> str:
    """Hex HMAC-SHA256 of ``instance_id`` keyed with ``secret`` (64 lowercase hex chars)."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, instance_id: str, signature: str) -> bool:
    """True if ``signature`` is :func:`sign` of ``instance_id``; constant-time compare."""
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, instance_id), signature.strip().lower())
