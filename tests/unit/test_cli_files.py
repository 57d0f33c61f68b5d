"""clouds.yaml, openrc files and the settings file `kumo up` writes."""
from __future__ import annotations

import os
import stat

import yaml

from kumo import config
from kumo.cli import files, up


def _settings(tmp_path):
    return config.load("/nonexistent", environ={"KUMO_STATE_DIR": str(tmp_path / "state")})


def test_clouds_yaml_keeps_other_clouds_and_is_private(tmp_path):
    s = _settings(tmp_path)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"other": {"auth": {"auth_url": "http://x"}}}}))
    files.write_clouds_yaml(s, {"admin": "a-pw", "demo": "d-pw"}, path)
    data = yaml.safe_load(path.read_text())["clouds"]
    assert set(data) == {"other", "admin", "demo"}
    assert data["demo"]["auth"]["auth_url"] == "http://127.0.0.1:5000/v3"
    assert data["demo"]["auth"]["project_name"] == "demo" and data["demo"]["auth"]["password"] == "d-pw"
    assert data["admin"]["region_name"] == "RegionOne"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_openrc_exports_the_user(tmp_path):
    s = _settings(tmp_path)
    s.path().mkdir(parents=True)
    path = files.write_openrc(s, "demo", "pw")
    text = path.read_text()
    assert "export OS_USERNAME='demo'" in text and "export OS_PROJECT_NAME='demo'" in text
    assert "export OS_AUTH_URL='http://127.0.0.1:5000/v3'" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_settings_and_passwords_are_made_once(tmp_path):
    conf = tmp_path / "etc" / "kumo.toml"
    first = up.ensure_settings(str(conf))
    assert first.service_user.password and first.metadata.shared_secret
    again = up.ensure_settings(str(conf))
    assert again.service_user.password == first.service_user.password
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    s = _settings(tmp_path)
    pw = up.ensure_passwords(s)
    assert pw == up.ensure_passwords(s) and pw["admin"] != pw["demo"]
