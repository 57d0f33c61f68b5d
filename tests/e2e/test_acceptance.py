"""Issue 2's acceptance flow, as a new user types it, with the real `openstack` CLI."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

from tests.e2e.conftest import ssh

pytestmark = pytest.mark.e2e


def _host_leftovers(server_id: str, port_ids: list[str]) -> list[str]:
    """Anything of the server still on the host: libvirt domain, tap, dnsmasq host entry."""
    left = []
    doms = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--uuid"],
                          capture_output=True, text=True).stdout
    if server_id in doms:
        left.append("libvirt domain")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for pid in port_ids:
        if f"tap{pid[:11]}" in links:
            left.append(f"tap{pid[:11]}")
    return left


def test_catalog_image_flavor_network_lists(demo):
    types = {row["Type"] for row in demo.json("catalog", "list")}
    assert {"identity", "image", "compute", "network"} <= types
    assert "cirros" in {i["Name"] for i in demo.json("image", "list")}
    flavors = {f["Name"]: f for f in demo.json("flavor", "list")}
    assert flavors["m1.tiny"]["ID"] == "1" and flavors["m1.tiny"]["RAM"] == 512
    assert flavors["m1.xlarge"]["ID"] == "5" and flavors["m1.xlarge"]["VCPUs"] == 8
    assert flavors["m1.nano"]["ID"] == "42" and flavors["m1.micro"]["RAM"] == 192
    assert "public" in {n["Name"] for n in demo.json("network", "list")}


def test_image_create_checksum_and_size(demo, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    image = demo.json("image", "create", "e2e-image", "--file", str(path), "--disk-format", "raw",
                      "--container-format", "bare", "--private")
    try:
        shown = demo.json("image", "show", image["id"])
        assert shown["status"] == "active"
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert int(shown["size"]) == len(data)
    finally:
        demo.run("image", "delete", image["id"])


def test_wrong_password_is_refused(demo):
    env = dict(demo.env)
    proc = subprocess.run(["openstack", "--os-password", "wrong-password", "token", "issue"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    assert "401" in proc.stderr or "authenticat" in proc.stderr.lower()


def test_unknown_flavor_is_an_error(demo):
    proc = demo.run("server", "create", "--flavor", "no-such-flavor", "--image", "cirros",
                    "--network", "public", "e2e-bad", check=False)
    assert proc.returncode != 0
    assert "no-such-flavor" in proc.stderr or "No Flavor" in proc.stderr


def test_boot_ssh_console_delete(demo_ssh_open, tmp_path):
    demo = demo_ssh_open
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    demo.run("keypair", "delete", "e2e-key", check=False)
    demo.run("server", "delete", "--wait", "vm1", check=False)
    kp = demo.json("keypair", "create", "--public-key", f"{key}.pub", "e2e-key")
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", kp["fingerprint"])
    server = demo.json("server", "create", "--flavor", "m1.nano", "--image", "cirros", "--network", "public",
                       "--key-name", "e2e-key", "vm1", "--wait", timeout=600)
    port_ids = []
    try:
        shown = demo.json("server", "show", "vm1")
        assert shown["status"] == "ACTIVE"
        assert shown["OS-EXT-STS:power_state"] in ("Running", 1, "1")
        addresses = shown["addresses"]
        text = str(addresses)
        match = re.search(r"172\.24\.4\.\d+", text)
        assert match, addresses
        ip = match.group(0)
        port_ids = [p["ID"] for p in demo.json("port", "list", "--server", server["id"])]
        assert port_ids
        assert ssh(str(key), ip, "hostname") == "vm1"
        log = demo.run("console", "log", "show", "vm1").stdout
        assert "kumo-cirros" in log or "Linux version" in log
    finally:
        demo.run("server", "delete", "--wait", "vm1", timeout=300)
        demo.run("keypair", "delete", "e2e-key", check=False)
    assert demo.run("server", "show", "vm1", check=False).returncode != 0
    assert _host_leftovers(server["id"], port_ids) == []
    assert demo.json("port", "list", "--device-id", server["id"]) == []


def test_unbootable_image_ends_in_error_with_nothing_left(demo, tmp_path):
    # raw: the image service refuses data that is not in a declared header format (qcow2...), so
    # junk gets past it only as raw, and the compute agent must refuse to boot it.
    path = tmp_path / "junk.raw"
    path.write_bytes(b"this is not a disk image\n" * 1000)
    image = demo.json("image", "create", "e2e-junk", "--file", str(path), "--disk-format", "raw",
                      "--container-format", "bare", "--private")
    server = None
    try:
        proc = demo.run("server", "create", "--flavor", "m1.nano", "--image", image["id"],
                        "--network", "public", "e2e-junk-vm", "--wait", check=False, timeout=300)
        assert proc.returncode != 0
        server = demo.json("server", "show", "e2e-junk-vm")
        assert server["status"] == "ERROR"
        assert "not" in str(server.get("fault", "")).lower()
        assert _host_leftovers(server["id"], []) == []
        assert demo.json("port", "list", "--device-id", server["id"]) == []
    finally:
        demo.run("server", "delete", "--wait", "e2e-junk-vm", check=False, timeout=300)
        demo.run("image", "delete", image["id"], check=False)
