"""``kumo manage fernet-setup`` and ``fernet-rotate`` (keystone-manage's fernet_setup / fernet_rotate)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kumo.cli.main import app
from kumo.identity import tokens


def _keys(path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_setup_then_rotations_keep_recent_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("KUMO_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("KUMO_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    r = runner.invoke(app, ["manage", "fernet-setup"])
    assert r.exit_code == 0, r.output
    repo = tmp_path / "fernet-keys"
    assert _keys(repo) == ["0", "1"]
    fmt = tokens.TokenFormatter(tokens.KeyRepository(repo))
    payload = tokens.TokenPayload(user_id="u", methods=["password"], issued_at=tokens.now_us(),
                                  expires_at=tokens.now_us() + 10**9, audit_ids=["a" * 22])
    old = fmt.pack(payload)
    r = runner.invoke(app, ["manage", "fernet-rotate"])
    assert r.exit_code == 0 and "primary key is now 2" in r.output
    assert _keys(repo) == ["0", "1", "2"]
    assert fmt.unpack(old) == payload  # issued before one rotation: still valid
    assert fmt.unpack(fmt.pack(payload)) == payload
    runner.invoke(app, ["manage", "fernet-rotate"])  # max_active_keys = 3: key 1 goes
    assert _keys(repo) == ["0", "2", "3"]
    with pytest.raises(tokens.InvalidToken):  # its key was dropped
        fmt.unpack(old)
