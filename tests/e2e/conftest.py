"""The end-to-end layer: a real cloud started by `kumo up`, driven by the real `openstack` CLI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
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

    def __init__(self, cloud: str, config_file: str | None = None):
        self.env = dict(os.environ, OS_CLOUD=cloud)
        for var in [v for v in self.env if v.startswith("OS_") and v != "OS_CLOUD"]:
            del self.env[var]
        if config_file:  # a clouds.yaml of the test's own (another project's user)
            self.env["OS_CLIENT_CONFIG_FILE"] = config_file

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


SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def ssh_try(key: str, ip: str, command: str, netns: str | None = None) -> subprocess.CompletedProcess:
    """One ssh attempt as ``cirros`` (from namespace ``netns`` when given)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run([*prefix, "ssh", "-i", key, *SSH_OPTIONS, f"cirros@{ip}", command],
                          capture_output=True, text=True, timeout=60)


def ssh(key: str, ip: str, command: str, deadline_s: float = 90, netns: str | None = None) -> str:
    """Run ``command`` on the guest over ssh, retrying until it answers or the deadline passes."""
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        proc = ssh_try(key, ip, command, netns)
        if proc.returncode == 0:
            return proc.stdout.strip()
        last = proc.stderr
        time.sleep(2)
    raise AssertionError(f"ssh to {ip} never succeeded: {last}")


def allow_ping_and_ssh(cli: Cli) -> list[str]:
    """The install guide's two rules in the project's ``default`` group (icmp, tcp 22 ingress);
    creates the ones missing, returns the ids of all of them."""
    rules = cli.json("security", "group", "rule", "list", "default", "--ingress")
    ids = []
    for proto, port in (("icmp", None), ("tcp", 22)):
        found = [r for r in rules if r["IP Protocol"] == proto and r["Ethertype"] == "IPv4"
                 and not r.get("Remote Security Group")
                 and (port is None or r["Port Range"] == f"{port}:{port}")]
        if found:
            ids.append(found[0]["ID"])
            continue
        args = ["--protocol", proto] + (["--dst-port", str(port)] if port else [])
        ids.append(cli.json("security", "group", "rule", "create", *args, "default")["id"])
    return ids


@pytest.fixture(scope="session")
def demo_ssh_open(demo) -> Cli:
    """demo's default security group lets ping and ssh in, as the install guide sets it up."""
    allow_ping_and_ssh(demo)
    return demo
