"""The L3 agent starts each router's metadata proxy with a working network API caller."""
from __future__ import annotations

from types import SimpleNamespace

from kumo.network.agents import l3
from kumo.network.agents.l3_wiring import RouterSpec


async def test_router_metadata_proxy_gets_the_agents_api_caller(rt, monkeypatch):
    made = []

    class FakeProxy:
        running = False

        def __init__(self, router_id, netns, **kwargs):
            self.router_id, self.netns, self.kwargs = router_id, netns, kwargs
            made.append(self)

        async def start(self):
            self.running = True

    agent = l3.L3Agent(rt)
    seen = []

    async def fake_api_get(path, key, params=None, **filters):
        seen.append((path, filters))
        return [{"network_id": "net-1"}]

    monkeypatch.setattr(l3, "RouterMetadataProxy", FakeProxy)
    monkeypatch.setattr(agent, "api_get", fake_api_get)
    spec = RouterSpec(router_id="r-1")
    await agent._proxy(spec, {"id": "r-1"})

    assert len(made) == 1 and made[0].running
    assert made[0].kwargs["api"] == agent.api  # the bound NetworkAgent.api, callable by the proxy
    assert agent.proxies["r-1"].networks == {"net-1"}
    assert seen[0][1]["device_id"] == "r-1"
    # a running proxy is reused, not started twice
    await agent._proxy(spec, {"id": "r-1"})
    assert len(made) == 1
