"""The end-to-end layer: a real cloud started by `kumo up`, driven by the real `openstack` CLI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
IMAGE = ROOT / "build" / "cirros.qcow2"

pytestmark = pytest.mark.e2e


def _kumo(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "kumo"), *args], capture_output=True, text=True,
                          check=check, timeout=timeout)


class Cli:
    """Runs `openstack` as a cloud of clouds.yaml and parses `-f json` output."""

    def __init__(self, cloud: str):
        self.env = dict(os.environ, OS_CLOUD=cloud)
        for var in [v for v in self.env if v.startswith("OS_") and v != "OS_CLOUD"]:
            del self.env[var]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(VENV_BIN / "openstack"), *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str, timeout: float = 300):
        return json.loads(self.run(*args, "-f", "json", timeout=timeout).stdout)


@pytest.fixture(scope="session")
def cloud():
    """A running all-in-one cloud: started by `kumo up` if needed, stopped after if we started it."""
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests need root (bridges, libvirt, dnsmasq)")
    if shutil.which("virsh") is None:
        pytest.fail("libvirt is not installed: run `make install` (scripts/install.sh)")
    was_up = _kumo("status", check=False).returncode == 0
    proc = _kumo("up", "--image", str(IMAGE), check=False)
    assert proc.returncode == 0, f"kumo up failed:\n{proc.stdout}\n{proc.stderr}"
    yield proc.stdout
    if not was_up:
        _kumo("down", check=False)


@pytest.fixture(scope="session")
def demo(cloud) -> Cli:
    return Cli("demo")


@pytest.fixture(scope="session")
def admin(cloud) -> Cli:
    return Cli("admin")
