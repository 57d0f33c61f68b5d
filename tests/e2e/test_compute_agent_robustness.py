"""Compute agent robustness on the real cloud (libvirt): a guest powered off behind kumo's back
becomes SHUTOFF (power-state sync, woken by libvirt's lifecycle event or its interval), starts
again through the API, and a delete leaves no domain and no instance directory.

Uses the running cloud as it is (no `kumo up` on it); when no cloud answers, the e2e session
fixture ``cloud`` starts one (CI on a fresh machine).
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kumo import config
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e

NAME = "e2e-agent-sync"


@pytest.fixture(scope="module")
def demo_running(request) -> Cli:
    """demo on the cloud that answers; when none does, the session's ``cloud`` fixture starts one."""
    cli = Cli("demo")
    if cli.run("token", "issue", check=False, timeout=60).returncode != 0:
        request.getfixturevalue("cloud")
    return cli


def wait_status(cli: Cli, name: str, wanted: str, timeout: float) -> dict:
    end = time.monotonic() + timeout
    server = {}
    while time.monotonic() < end:
        server = cli.json("server", "show", name)
        if server["status"] == wanted:
            return server
        time.sleep(2)
    raise AssertionError(f"{name} is {server.get('status')} after {timeout:.0f} s, not {wanted}")


def domain_uuids() -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--uuid"],
                          capture_output=True, text=True, timeout=60).stdout


def test_guest_powered_off_outside_becomes_shutoff_and_delete_cleans_up(demo_running):
    demo = demo_running
    demo.run("server", "delete", "--wait", NAME, check=False, timeout=300)
    server = demo.json("server", "create", "--flavor", "m1.nano", "--image", "cirros", "--network", "public",
                       NAME, "--wait", timeout=600)
    instance_dir = Path(config.load().instances_dir, server["id"])
    try:
        assert instance_dir.is_dir() and (instance_dir / "disk").exists()
        # `virsh destroy`: the guest stops without kumo knowing
        subprocess.run(["virsh", "-c", "qemu:///system", "destroy", server["id"]], check=True,
                       capture_output=True, timeout=60)
        shown = wait_status(demo, NAME, "SHUTOFF", timeout=90)
        assert shown["OS-EXT-STS:power_state"] in ("Shutdown", 4, "4")
        assert shown["OS-EXT-STS:task_state"] in (None, "", "None")
        demo.run("server", "start", NAME)
        wait_status(demo, NAME, "ACTIVE", timeout=120)
    finally:
        demo.run("server", "delete", "--wait", NAME, timeout=300)
    assert server["id"] not in domain_uuids()
    assert not instance_dir.exists()
