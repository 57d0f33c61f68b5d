"""Consoles on the real cloud: `openstack console url show --novnc` gives a noVNC page on the
proxy (port 6080) whose websocket, with the URL's token, reaches the guest's QEMU VNC server
(its RFB banner); a bad token is refused; `openstack console log show --lines 5` returns at
most 5 lines of the guest's serial boot log.

Uses the running cloud as it is (no `kumo up` on it); when no cloud answers, the e2e session
fixture ``cloud`` starts one (CI on a fresh machine). The server is deleted at the end.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e

NAME = "e2e-console"


@pytest.fixture(scope="module")
def demo_running(request) -> Cli:
    """demo on the cloud that answers; when none does, the session's ``cloud`` fixture starts one."""
    cli = Cli("demo")
    if cli.run("token", "issue", check=False, timeout=60).returncode != 0:
        request.getfixturevalue("cloud")
    return cli


def boot_log(cli: Cli, lines: int | None = None) -> str:
    args = ["console", "log", "show", NAME] + (["--lines", str(lines)] if lines else [])
    return cli.run(*args, timeout=60).stdout


def test_novnc_console_and_console_log(demo_running):
    demo = demo_running
    demo.run("server", "delete", "--wait", NAME, check=False, timeout=300)
    demo.json("server", "create", "--flavor", "m1.nano", "--image", "cirros", "--network", "public",
              NAME, "--wait", timeout=600)
    try:
        console = demo.json("console", "url", "show", "--novnc", NAME)
        assert console["type"] == "novnc" and console["protocol"] == "vnc"
        url = urlsplit(console["url"])
        assert url.port == 6080 and url.path.endswith(".html")
        path = parse_qs(url.query)["path"][0]
        assert path.startswith("?token=")
        page = httpx.get(console["url"], timeout=30)
        assert page.status_code == 200 and "noVNC" in page.text and "<script" in page.text

        with connect(f"ws://{url.hostname}:{url.port}/{path}", open_timeout=30) as ws:
            banner = ws.recv(timeout=30)
        assert banner.startswith(b"RFB 003.00") and banner.endswith(b"\n"), banner
        with pytest.raises(InvalidStatus):
            with connect(f"ws://{url.hostname}:{url.port}/{path.replace('token=', 'token=bad')}",
                         open_timeout=30):
                pass

        end = time.monotonic() + 120  # the guest prints its boot log on the serial console
        while len(boot_log(demo).splitlines()) < 10 and time.monotonic() < end:
            time.sleep(3)
        tail = boot_log(demo, 5)
        lines = tail.rstrip("\n").split("\n")
        assert 0 < len(lines) <= 5, tail
        full = boot_log(demo)
        assert len(full.splitlines()) >= 10 and all(line in full for line in lines)
    finally:
        demo.run("server", "delete", "--wait", NAME, timeout=300)
