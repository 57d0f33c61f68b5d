"""Fixtures shared by every test layer."""
from __future__ import annotations

import httpx
import pytest

from kumo import config
from kumo.common.bus import MemoryBus
from kumo.common.runtime import Runtime
from tests.fakes import AppRouter, FakeServiceAuth, FakeValidator


@pytest.fixture
def settings(tmp_path):
    """All-in-one settings in a temporary state dir, fake virt driver."""
    return config.load(path="/nonexistent", environ={
        "KUMO_STATE_DIR": str(tmp_path / "state"),
        "KUMO_COMPUTE__DRIVER": "fake",
        "KUMO_COMMON__HOST": "testhost",
    })


@pytest.fixture
async def router():
    return AppRouter()


@pytest.fixture
async def rt(settings, router):
    """A Runtime with fake tokens whose HTTP calls reach in-process apps."""
    http = httpx.AsyncClient(transport=router, timeout=30)
    runtime = Runtime(settings=settings, bus=MemoryBus(),
                      service_auth=FakeServiceAuth(settings, http), validator=FakeValidator())
    yield runtime
    await runtime.bus.close()
    await http.aclose()


@pytest.fixture
async def mount(rt, router):
    """``await mount(component_factory)`` starts a component, serves its app in-process,
    and returns an ``httpx.AsyncClient`` (base URL = its endpoint) for API components."""
    started = []
    clients = []

    async def _mount(factory, token: str | None = "demo-token"):
        comp = factory(rt)
        await comp.start()
        started.append(comp)
        if comp.app is None:
            return comp
        base = f"http://{rt.settings.common.public_host}:{comp.port}"
        router.add(base, comp.app)
        headers = {"X-Auth-Token": token} if token else {}
        client = httpx.AsyncClient(transport=router, base_url=base, headers=headers, timeout=30)
        clients.append(client)
        return client

    yield _mount
    for c in clients:
        await c.aclose()
    await rt.bus.drain()
    for comp in reversed(started):
        await comp.stop()
