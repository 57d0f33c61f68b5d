"""Files ``kumo up`` writes for users: clouds.yaml and the openrc files."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from kumo.config import Settings

#: Where clouds.yaml goes: ``$OS_CLIENT_CONFIG_FILE`` (the file openstacksdk reads) if set.
CLOUDS_YAML = Path(os.environ.get("OS_CLIENT_CONFIG_FILE") or "/etc/openstack/clouds.yaml")


def _cloud(settings: Settings, user: str, project: str, password: str) -> dict:
    return {
        "auth": {"auth_url": settings.endpoint("identity") + "/v3", "username": user, "password": password,
                 "project_name": project, "user_domain_id": "default", "project_domain_id": "default"},
        "region_name": settings.common.region,
        "interface": "public",
        "identity_api_version": 3,
    }


def write_clouds_yaml(settings: Settings, passwords: dict[str, str], path: Path = CLOUDS_YAML) -> Path:
    """Write (or update) clouds ``admin`` and ``demo`` in ``path``, keeping other clouds."""
    data: dict = {}
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
    clouds = data.setdefault("clouds", {})
    clouds["admin"] = _cloud(settings, "admin", "admin", passwords["admin"])
    clouds["demo"] = _cloud(settings, "demo", "demo", passwords["demo"])
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(data, sort_keys=False))
    return path


def write_openrc(settings: Settings, user: str, password: str) -> Path:
    """``<state_dir>/<user>-openrc``: the OS_* variables for ``source``."""
    lines = {
        "OS_AUTH_URL": settings.endpoint("identity") + "/v3",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": user,
        "OS_USER_DOMAIN_ID": "default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_REGION_NAME": settings.common.region,
        "OS_INTERFACE": "public",
    }
    text = "".join(f"export {k}='{v}'\n" for k, v in lines.items())
    path = settings.path(f"{user}-openrc")
    _write_private(path, "unset OS_CLOUD OS_TOKEN\n" + text)
    return path


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
