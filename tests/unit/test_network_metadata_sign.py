"""The instance-id signature shared by the metadata proxy and the metadata API."""
from __future__ import annotations

from kumo.common.auth.metadata_sign import sign, verify


def test_sign_is_hmac_sha256_hex():
    # RFC 4231, test case 2.
    assert sign("Jefe", "what do ya want for nothing?") == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_verify():
    sig = sign("secret", "inst-1")
    assert verify("secret", "inst-1", sig)
    assert verify("secret", "inst-1", sig.upper())
    assert not verify("secret", "inst-2", sig)
    assert not verify("other", "inst-1", sig)
    assert not verify("secret", "inst-1", "")
    assert not verify("secret", "inst-1", None)  # type: ignore[arg-type]
