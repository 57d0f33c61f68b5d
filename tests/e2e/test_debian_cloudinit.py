"""The Debian image with the real cloud-init on the libvirt cloud (issue 5: boot-time configuration).

``make image-debian`` (scripts/debian-image.sh) builds ``build/debian.qcow2`` once (cached by its
recipe) and uploads it as image ``debian``. Three servers boot at once with a keypair:

- ``md`` (on ``public``): a ``#cloud-config`` user data (write_files + runcmd) from the metadata service;
- ``cd`` (on ``public``): a shell-script user data on a config drive (``--config-drive true``);
  cloud-init must have taken its data from the drive (data source ConfigDrive), not from the metadata service;
- ``static``: the same script on a config drive, on a project network whose subnet has no DHCP
  (and no router, so no metadata service either): the address, default route and DNS server can
  only come from the drive's network_data.json.

The first two are checked over ssh as ``debian`` with the key: hostname, the written file, the
runcmd and script outputs, and the data source cloud-init reports in /run/cloud-init/result.json.
The isolated one through its console log, where the script prints its hostname, address, default
route, DNS server and data source.
Waits are bounded: the build (cold: about 2 minutes here), ACTIVE, then cloud-init's
``boot-finished`` (about 1–1.5 minutes per guest under TCG on a quiet host; 7–8 minutes for
the three at once at load 12).
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
BOOT_DEADLINE_S = 600  # three Debian guests under TCG on a busy 2-core host took up to 440 s

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
echo "kumo-script: host=$(hostname) addr=$(ip -4 -o addr show scope global | awk '{print $4}' | head -n 1)"
echo "kumo-script: $(ip -4 route show default | head -n 1)"
echo "kumo-script: dns=$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)"
echo "kumo-script: datasource=$(cloud-id 2>/dev/null)"
"""
STATIC_CIDR, STATIC_IP, STATIC_GATEWAY, STATIC_DNS = "10.77.3.0/24", "10.77.3.20", "10.77.3.1", "10.77.3.53"


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
def debian_image(clouds):
    """Image ``debian``: built (or taken from the cache) and uploaded by scripts/debian-image.sh;
    deleted after the module when it was not in the cloud before (the cache keeps the file)."""
    admin = clouds[0]
    before = {i["ID"] for i in admin.json("image", "list", "--name", "debian")}
    env = dict(admin.env)
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "debian-image.sh"), "--upload", str(IMAGE)],
                          capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S)
    assert proc.returncode == 0, f"debian-image.sh failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"debian image ready in {time.monotonic() - started:.0f} s:\n{proc.stderr}")
    images = admin.json("image", "list", "--name", "debian")
    assert len(images) == 1 and images[0]["Status"] == "active", images
    yield images[0]["ID"]
    if images[0]["ID"] not in before:
        admin.run("image", "delete", images[0]["ID"], check=False)


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


def wait_active(demo: Cli, name: str) -> dict:
    end = time.monotonic() + 300
    while True:
        server = demo.json("server", "show", name)
        if server["status"] == "ACTIVE" or time.monotonic() > end:
            break
        assert server["status"] != "ERROR", server.get("fault")
        time.sleep(3)
    assert server["status"] == "ACTIVE", server
    return server


def wait_console(demo: Cli, name: str, marker: str, deadline: float) -> str:
    """The console log of ``name`` once it holds ``marker`` (bounded by the monotonic ``deadline``)."""
    console = ""
    while time.monotonic() < deadline:
        console = demo.run("console", "log", "show", name, check=False).stdout
        if marker in console:
            return console
        time.sleep(5)
    raise AssertionError(f"{marker!r} never appeared on {name}'s console:\n{console[-3000:]}")


def test_debian_cloud_init_metadata_service_and_config_drive(clouds, debian_image: str, tmp_path):
    demo = clouds[1]
    key = str(tmp_path / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    (tmp_path / "cloud-config").write_text(CLOUD_CONFIG)
    (tmp_path / "script").write_text(SCRIPT)
    suffix = os.urandom(3).hex()
    keypair, net = f"e2e-debian-{suffix}", f"e2e-nodhcp-{suffix}"
    names = {"md": f"deb-md-{suffix}", "cd": f"deb-cd-{suffix}", "static": f"deb-static-{suffix}"}
    demo.run("keypair", "create", "--public-key", key + ".pub", keypair)
    t0 = time.monotonic()
    try:
        demo.run("network", "create", net)
        demo.run("subnet", "create", "--network", net, "--subnet-range", STATIC_CIDR, "--no-dhcp",
                 "--gateway", STATIC_GATEWAY, "--dns-nameserver", STATIC_DNS, net)
        common = ["server", "create", "--flavor", "m1.tiny", "--image", debian_image, "--key-name", keypair]
        script = ["--user-data", str(tmp_path / "script"), "--config-drive", "true"]
        demo.json(*common, "--network", "public", "--user-data", str(tmp_path / "cloud-config"), names["md"])
        demo.json(*common, "--network", "public", *script, names["cd"])
        net_id = demo.json("network", "show", net)["id"]
        demo.json(*common, "--nic", f"net-id={net_id},v4-fixed-ip={STATIC_IP}", *script, names["static"])
        ips = {role: wait_active(demo, names[role])["addresses"]["public"][0] for role in ("md", "cd")}
        assert wait_active(demo, names["static"])["addresses"][net] == [STATIC_IP]

        print(f"3 servers ACTIVE after {time.monotonic() - t0:.0f} s (load {os.getloadavg()[0]:.1f})")
        results = wait_cloud_init(key, ips)
        print(f"cloud-init done on md and cd after {time.monotonic() - t0:.0f} s")
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

        # no DHCP, no metadata service: everything from the config drive's network_data.json
        static = wait_console(demo, names["static"], "kumo-script: datasource=",
                              time.monotonic() + BOOT_DEADLINE_S)
        print(f"static server configured from its config drive after {time.monotonic() - t0:.0f} s "
              f"(load {os.getloadavg()[0]:.1f})")
        printed = [line.split("kumo-script: ", 1)[1].strip() for line in static.splitlines()
                   if "kumo-script: " in line]
        assert f"host={names['static']} addr={STATIC_IP}/24" in printed, printed
        assert any(p.startswith(f"default via {STATIC_GATEWAY} ") for p in printed), printed
        assert f"dns={STATIC_DNS}" in printed and "datasource=configdrive" in printed, printed
    finally:
        for name in names.values():
            demo.run("server", "delete", "--wait", name, check=False, timeout=180)
        demo.run("subnet", "delete", net, check=False)
        demo.run("network", "delete", net, check=False)
        demo.run("keypair", "delete", keypair, check=False)
