"""The Debian image with the real cloud-init on the libvirt cloud (issue 5: boot-time configuration).

``make image-debian`` (scripts/debian-image.sh) builds ``build/debian.qcow2`` once (cached by its
recipe) and uploads it as image ``debian``. Two servers boot at once on ``public`` with a keypair:

- ``md``: a ``#cloud-config`` user data (write_files + runcmd) read from the metadata service;
- ``cd``: a shell-script user data on a config drive (``--config-drive true``); cloud-init must
  have taken its data from the drive (data source ConfigDrive), not from the metadata service.

Both are checked over ssh as ``debian`` with the key: hostname, the written file, the runcmd and
script outputs, and the data source cloud-init reports in /run/cloud-init/result.json.
Waits are bounded: the build (cold: about 2 minutes here), ACTIVE, then cloud-init's
``boot-finished`` (about 1.5 minutes under TCG).
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.e2e.conftest import ROOT, SSH_OPTIONS, Cli, allow_ping_and_ssh

pytestmark = pytest.mark.e2e

IMAGE = ROOT / "build" / "debian.qcow2"
BUILD_TIMEOUT_S = 1200
BOOT_DEADLINE_S = 420

CLOUD_CONFIG = """#cloud-config
write_files:
  - path: /etc/kumo-e2e
    content: written by cloud-init from kumo
    permissions: '0644'
runcmd:
  - [sh, -c, 'echo runcmd ran as $(id -un) > /var/tmp/kumo-runcmd']
"""
SCRIPT = """#!/bin/sh
echo "script ran on $(hostname)" > /var/tmp/kumo-script
"""


@pytest.fixture(scope="module")
def clouds(request) -> tuple[Cli, Cli]:
    """(admin, demo) of a running cloud: the one already answering as it is, else `kumo up` (the
    session's ``cloud`` fixture)."""
    admin, demo = Cli("admin"), Cli("demo")
    if admin.run("token", "issue", check=False, timeout=60).returncode != 0:
        request.getfixturevalue("cloud")
    allow_ping_and_ssh(demo)
    return admin, demo


@pytest.fixture(scope="module")
def debian_image(clouds) -> str:
    """Image ``debian``: built (or taken from the cache) and uploaded by scripts/debian-image.sh."""
    admin = clouds[0]
    env = dict(admin.env)
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "debian-image.sh"), "--upload", str(IMAGE)],
                          capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, f"debian-image.sh failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"debian image ready in {time.monotonic() - started:.0f} s:\n{proc.stderr}")
    images = admin.json("image", "list", "--name", "debian")
    assert len(images) == 1 and images[0]["Status"] == "active", images
    return images[0]["ID"]


def ssh_debian(key: str, ip: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-i", key, *SSH_OPTIONS, f"debian@{ip}", command],
                          capture_output=True, text=True, timeout=60)


def wait_cloud_init(key: str, ips: dict[str, str]) -> dict[str, str]:
    """Poll every server until cloud-init's final stage is done; returns each one's result.json."""
    end = time.monotonic() + BOOT_DEADLINE_S
    results, last = {}, {}
    while time.monotonic() < end and len(results) < len(ips):
        for name, ip in ips.items():
            if name in results:
                continue
            proc = ssh_debian(key, ip, "test -f /var/lib/cloud/instance/boot-finished && "
                                       "cat /run/cloud-init/result.json")
            if proc.returncode == 0:
                results[name] = proc.stdout
            else:
                last[name] = proc.stderr.strip()[-300:]
        time.sleep(5)
    assert len(results) == len(ips), f"cloud-init did not finish in {BOOT_DEADLINE_S} s: {last}"
    return results


def test_debian_cloud_init_metadata_service_and_config_drive(clouds, debian_image: str, tmp_path):
    demo = clouds[1]
    key = str(tmp_path / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    (tmp_path / "cloud-config").write_text(CLOUD_CONFIG)
    (tmp_path / "script").write_text(SCRIPT)
    suffix = os.urandom(3).hex()
    keypair, names = f"e2e-debian-{suffix}", {"md": f"deb-md-{suffix}", "cd": f"deb-cd-{suffix}"}
    demo.run("keypair", "create", "--public-key", key + ".pub", keypair)
    try:
        common = ["server", "create", "--flavor", "m1.tiny", "--image", debian_image,
                  "--network", "public", "--key-name", keypair]
        demo.json(*common, "--user-data", str(tmp_path / "cloud-config"), names["md"])
        demo.json(*common, "--user-data", str(tmp_path / "script"), "--config-drive", "true", names["cd"])
        ips = {}
        for role, name in names.items():
            end = time.monotonic() + 300
            while True:
                server = demo.json("server", "show", name)
                if server["status"] == "ACTIVE" or time.monotonic() > end:
                    break
                assert server["status"] != "ERROR", server.get("fault")
                time.sleep(3)
            assert server["status"] == "ACTIVE", server
            ips[role] = server["addresses"]["public"][0]

        results = wait_cloud_init(key, ips)
        for role, raw in results.items():
            result = json.loads(raw)["v1"]
            assert result["errors"] == [], (role, result)
            if role == "cd":
                assert "ConfigDrive" in result["datasource"], result
            else:
                assert "OpenStack" in result["datasource"], result

        md = ssh_debian(key, ips["md"], "hostname; cat /etc/kumo-e2e; echo; cat /var/tmp/kumo-runcmd")
        assert md.returncode == 0, md.stderr
        assert md.stdout.split("\n")[:3] == [names["md"], "written by cloud-init from kumo",
                                             "runcmd ran as root"], md.stdout
        cd = ssh_debian(key, ips["cd"], "hostname; cat /var/tmp/kumo-script; "
                                        "sudo cat /run/cloud-init/instance-data.json")
        assert cd.returncode == 0, cd.stderr
        lines = cd.stdout.split("\n")
        assert lines[:2] == [names["cd"], f"script ran on {names['cd']}"], cd.stdout
        instance_data = json.loads("\n".join(lines[2:]))
        assert instance_data["v1"]["platform"] in ("configdrive", "openstack")  # per cloud-init release
        assert instance_data["v1"]["subplatform"].startswith("config-disk"), instance_data["v1"]
        # the console log shows cloud-init's output (serial console)
        console = demo.run("console", "log", "show", names["md"]).stdout
        assert "Cloud-init v." in console and "finished" in console
    finally:
        for name in names.values():
            demo.run("server", "delete", "--wait", name, check=False, timeout=180)
        demo.run("keypair", "delete", keypair, check=False)
