"""Helpers shared by the network API tests (no tests here)."""
from __future__ import annotations

import httpx

from kumo.network.api import component
from tests.fakes import PROJECTS

DEMO, ALT, ADMIN = PROJECTS["demo"], PROJECTS["alt"], PROJECTS["admin"]


def as_token(token: str) -> dict:
    return {"X-Auth-Token": token}


async def network_client(mount) -> httpx.AsyncClient:
    """The network API, mounted; the client speaks as demo (pass headers=as_token(...) to switch)."""
    return await mount(component)


class DhcpRecorder:
    """Stands in for the DHCP agents on bus topic ``dhcp_agent``; records what it is told."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    async def network_changed(self, network_id: str) -> None:
        self.calls.append(("network_changed", network_id))

    async def network_deleted(self, network_id: str) -> None:
        self.calls.append(("network_deleted", network_id))


async def create(client: httpx.AsyncClient, kind: str, token: str = "demo-token", **body) -> dict:
    """POST a network/subnet/port; asserts 201 and returns the object."""
    r = await client.post(f"/v2.0/{kind}s", json={kind: body}, headers=as_token(token))
    assert r.status_code == 201, r.text
    return r.json()[kind]


async def network_with_subnet(client: httpx.AsyncClient, token: str = "demo-token",
                              cidr: str = "10.0.0.0/24", net: dict | None = None,
                              **subnet) -> tuple[dict, dict]:
    network = await create(client, "network", token, name="net", **(net or {}))
    sub = await create(client, "subnet", token, network_id=network["id"], cidr=cidr, ip_version=4,
                       **subnet)
    return network, sub


def error(r: httpx.Response) -> tuple[int, str]:
    """(status, NeutronError type) of an error response; asserts the neutron body shape."""
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}, body
    return r.status_code, body["NeutronError"]["type"]
