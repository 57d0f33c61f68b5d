"""Fernet key repository and token payloads (kumo.identity.tokens), and password hashing."""
from __future__ import annotations

import stat

import pytest

from kumo.identity import passwords, tokens


def _payload(**kw) -> tokens.TokenPayload:
    base = dict(user_id="u1", methods=["password"], issued_at=1_700_000_000_123_456,
                expires_at=1_700_003_600_123_456, audit_ids=["a" * 22], project_id="p1")
    base.update(kw)
    return tokens.TokenPayload(**base)


def test_setup_keys_creates_private_keys_once(tmp_path):
    repo = tokens.setup_keys(tmp_path / "keys")
    assert sorted(p.name for p in repo.iterdir()) == ["0", "1"]
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in repo.iterdir())
    before = {p.name: p.read_bytes() for p in repo.iterdir()}
    tokens.setup_keys(repo)
    assert {p.name: p.read_bytes() for p in repo.iterdir()} == before


def test_pack_unpack_roundtrip_and_compactness(tmp_path):
    fmt = tokens.TokenFormatter(tokens.KeyRepository(tokens.setup_keys(tmp_path / "k")))
    p = _payload()
    token = fmt.pack(p)
    assert "=" not in token and len(token) < 300
    assert fmt.unpack(token) == p
    d = _payload(project_id=None, domain_id="default", audit_ids=["x" * 22, "y" * 22])
    assert fmt.unpack(fmt.pack(d)) == d


def test_rotation_keeps_old_tokens_valid_until_the_key_is_dropped(tmp_path):
    repo = tokens.setup_keys(tmp_path / "k")
    fmt = tokens.TokenFormatter(tokens.KeyRepository(repo))
    old = fmt.pack(_payload())
    assert tokens.rotate_keys(repo) == 2
    assert sorted(p.name for p in repo.iterdir()) == ["0", "1", "2"]
    assert fmt.unpack(old).user_id == "u1"
    tokens.rotate_keys(repo)  # drops key 1, which made `old`
    assert sorted(p.name for p in repo.iterdir()) == ["0", "2", "3"]
    with pytest.raises(tokens.InvalidToken):
        fmt.unpack(old)
    assert fmt.unpack(fmt.pack(_payload())).user_id == "u1"


def test_garbage_and_tampered_tokens_are_invalid(tmp_path):
    fmt = tokens.TokenFormatter(tokens.KeyRepository(tokens.setup_keys(tmp_path / "k")))
    token = fmt.pack(_payload())
    tampered = token[:50] + ("A" if token[50] != "A" else "B") + token[51:]
    for bad in ("", "abc", "!!!!", tampered, token + "x" * 2000):
        with pytest.raises(tokens.InvalidToken):
            fmt.unpack(bad)
    other = tokens.TokenFormatter(tokens.KeyRepository(tokens.setup_keys(tmp_path / "other")))
    with pytest.raises(tokens.InvalidToken):
        other.unpack(token)


def test_missing_repository_is_invalid_token(tmp_path):
    fmt = tokens.TokenFormatter(tokens.KeyRepository(tmp_path / "none"))
    with pytest.raises(tokens.InvalidToken):
        fmt.pack(_payload())


def test_isotime_and_expiry():
    assert tokens.isotime_us(1_700_000_000_123_456) == "2023-11-14T22:13:20.123456Z"
    p = _payload()
    assert not p.expired(p.expires_at - 1) and p.expired(p.expires_at)


def test_passwords(monkeypatch):
    monkeypatch.setattr(passwords, "ROUNDS", 4)
    h = passwords.hash_password("s3cret")
    assert h.startswith("$2b$04$")
    assert passwords.check_password("s3cret", h)
    assert not passwords.check_password("S3cret", h)
    assert not passwords.check_password("s3cret", None)
    assert not passwords.check_password("s3cret", "not-a-hash")
    long = "x" * 100
    assert passwords.check_password(long, passwords.hash_password(long))


def test_scope_fields_roundtrip(tmp_path):
    fmt = tokens.TokenFormatter(tokens.KeyRepository(tokens.setup_keys(tmp_path / "k")))
    for p in (_payload(project_id=None, system=True),
              _payload(trust_id="t" * 32, methods=["token", "password"]),
              _payload(app_cred_id="c" * 32, methods=["application_credential"])):
        assert fmt.unpack(fmt.pack(p)) == p
    assert fmt.unpack(fmt.pack(_payload())).system is False


def test_parse_isotime():
    assert tokens.parse_isotime("2026-01-01T10:00:00Z").isoformat() == "2026-01-01T10:00:00"
    assert tokens.parse_isotime("2026-01-01T10:00:00.123456").microsecond == 123456
    assert tokens.parse_isotime("2026-01-01T11:00:00+01:00").hour == 10
    assert tokens.datetime_us(tokens.parse_isotime("1970-01-01T00:00:01.5Z")) == 1_500_000
    for bad in ("bad.123Z", "2026-01-01", ""):
        with pytest.raises(ValueError):
            tokens.parse_isotime(bad)
