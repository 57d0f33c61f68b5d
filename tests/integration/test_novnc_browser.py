"""Integration: noVNC's own page in a real browser reaches "Connected" through the proxy.

Headless Debian ``chromium`` (driven by Playwright with ``executable_path``; no browser download)
opens a console URL of the proxy from tests/integration/test_novncproxy.py (``vnc_lite.html?path=
%3Ftoken%3D<token>``); noVNC's script opens the websocket (with the browser's Origin), does the RFB
handshake with the fake RFB server and shows "Connected to <desktop name>". With a bad token the
page never connects. Needs the ``novnc`` and ``chromium`` packages and the ``playwright`` module.
"""
from __future__ import annotations

import re
import shutil

import pytest

from kumo.compute.virt.fakerfb import NAME
from tests.integration.test_novncproxy import Proxy

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: quiet, sandbox-less headless flags for a root user on a machine without outside network
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def proxy(tmp_path):
    p = Proxy(tmp_path)
    await p.start()
    yield p
    await p.stop()


async def test_novnc_page_connects(proxy):
    from playwright.async_api import async_playwright

    good = f"http://127.0.0.1:{proxy.port}/vnc_lite.html?path=%3Ftoken%3D{await proxy.token()}"
    bad = good.replace("token%3D", "token%3Dbad")
    async with async_playwright() as pw:  # Playwright gives the browser a fresh profile
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(good)
            status = page.locator("#status")
            await status.filter(has_text="Connected").wait_for(timeout=30000)
            assert NAME.decode() in await status.inner_text()

            await page.goto(bad)
            # a refused upgrade is not a clean close: "Something went wrong, connection is closed"
            await status.filter(has_text=re.compile("Disconnected|connection is closed")).wait_for(timeout=30000)
            assert "Connected to" not in await status.inner_text()
        finally:
            await browser.close()
