"""The install guide's Image chapter with the real `openstack` CLI: upload, save, import.

Create an image from a file (active, right checksum and size), get identical
bytes back with `openstack image save`, and import the same disk with the
interoperable import methods: glance-direct (`image create --import`, which
stages then imports) and web-download from a URL served on loopback.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import pty
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import IMAGE, VENV_BIN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def disk() -> Path:
    if not IMAGE.exists():
        pytest.fail(f"{IMAGE} is missing: run `make image`")
    return IMAGE


@pytest.fixture
def web_root(tmp_path):
    """An HTTP server on loopback serving ``tmp_path``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _create_queued(cli, name: str) -> dict:
    """`openstack image create` without data, typed at a terminal: stdin is a pty (the CLI
    uploads a non-terminal stdin as the image data)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([str(VENV_BIN / "openstack"), "image", "create", name, "--disk-format",
                               "qcow2", "--container-format", "bare", "--private", "-f", "json"],
                              stdin=slave, capture_output=True, text=True, env=cli.env, timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _wait_active(cli, image_id: str, deadline_s: float = 120) -> dict:
    end = time.monotonic() + deadline_s
    while True:
        shown = cli.json("image", "show", image_id)
        if shown["status"] == "active" or time.monotonic() > end:
            return shown
        time.sleep(1)


def _check_same_bytes(cli, image_id: str, data: bytes, tmp_path: Path) -> None:
    shown = cli.json("image", "show", image_id)
    assert shown["status"] == "active", shown
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert int(shown["size"]) == len(data)
    saved = tmp_path / f"saved-{image_id}"
    cli.run("image", "save", "--file", str(saved), image_id)
    assert saved.read_bytes() == data


def test_create_from_file_and_save(admin, disk, tmp_path):
    data = disk.read_bytes()
    image = admin.json("image", "create", "e2e-chapter-upload", "--file", str(disk),
                       "--disk-format", "qcow2", "--container-format", "bare", "--public")
    try:
        _check_same_bytes(admin, image["id"], data, tmp_path)
        assert "e2e-chapter-upload" in {i["Name"] for i in admin.json("image", "list")}
    finally:
        admin.run("image", "delete", image["id"])


def test_glance_direct_import(demo, disk, tmp_path):
    data = disk.read_bytes()
    image = demo.json("image", "create", "e2e-chapter-direct", "--import", "--file", str(disk),
                      "--disk-format", "qcow2", "--container-format", "bare", "--private")
    try:
        _wait_active(demo, image["id"])
        _check_same_bytes(demo, image["id"], data, tmp_path)
    finally:
        demo.run("image", "delete", image["id"])


def test_web_download_import(demo, disk, web_root, tmp_path):
    root, base = web_root
    data = disk.read_bytes()
    (root / "cirros.qcow2").write_bytes(data)
    image = _create_queued(demo, "e2e-chapter-web")
    try:
        assert image["status"] == "queued"
        demo.run("image", "import", "--method", "web-download", "--uri", f"{base}/cirros.qcow2",
                 image["id"])
        _wait_active(demo, image["id"])
        _check_same_bytes(demo, image["id"], data, tmp_path)
    finally:
        demo.run("image", "delete", image["id"])


def test_web_download_of_missing_url_leaves_image_queued(demo, web_root):
    _, base = web_root
    image = _create_queued(demo, "e2e-chapter-missing")
    try:
        demo.run("image", "import", "--method", "web-download", "--uri", f"{base}/nothing-here",
                 image["id"])
        end = time.monotonic() + 60
        shown = demo.json("image", "show", image["id"])
        while shown["status"] != "queued" and time.monotonic() < end:
            time.sleep(1)
            shown = demo.json("image", "show", image["id"])
        assert shown["status"] == "queued"
        assert shown["properties"].get("os_glance_failed_import") == "file1"   # the default store
    finally:
        demo.run("image", "delete", image["id"])
