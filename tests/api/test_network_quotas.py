"""Quotas extension: show/update/reset/defaults/details, and enforcement on create."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import ALT, DEMO, as_token, create, error, network_client

ADMIN = as_token("admin-token")
DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100}


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def test_show_update_reset_and_rbac(client):
    r = await client.get(f"/v2.0/quotas/{DEMO}")
    assert r.status_code == 200 and r.json() == {"quota": DEFAULTS}
    r = await client.get(f"/v2.0/quotas/{ALT}")
    assert r.status_code == 403
    r = await client.put(f"/v2.0/quotas/{DEMO}", json={"quota": {"network": 5}})
    assert error(r) == (403, "PolicyNotAuthorized")
    r = await client.put(f"/v2.0/quotas/{DEMO}", json={"quota": {"network": 5, "port": -1}},
                         headers=ADMIN)
    assert r.status_code == 200 and r.json()["quota"] == {**DEFAULTS, "network": 5, "port": -1}
    for bad in ({"quota": {"network": -2}}, {"quota": {"widgets": 1}}, {"quota": {"port": "x"}},
                {"nothing": {}}):
        r = await client.put(f"/v2.0/quotas/{DEMO}", json=bad, headers=ADMIN)
        assert r.status_code == 400, bad
    r = await client.get("/v2.0/quotas", headers=ADMIN)
    assert r.json()["quotas"] == [{"project_id": DEMO, "tenant_id": DEMO, **DEFAULTS,
                                   "network": 5, "port": -1}]
    assert (await client.get("/v2.0/quotas")).status_code == 403
    r = await client.get(f"/v2.0/quotas/{DEMO}/default")
    assert r.json() == {"quota": DEFAULTS}
    assert (await client.delete(f"/v2.0/quotas/{DEMO}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/v2.0/quotas/{DEMO}")).json() == {"quota": DEFAULTS}


async def test_enforced_on_create_with_details(client):
    await client.put(f"/v2.0/quotas/{DEMO}", json={"quota": {"network": 1, "security_group": 2,
                                                             "port": 2}}, headers=ADMIN)
    net = await create(client, "network", name="one")
    r = await client.post("/v2.0/networks", json={"network": {"name": "two"}})
    assert error(r) == (409, "OverQuota")
    await create(client, "subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    await create(client, "port", network_id=net["id"])
    await create(client, "port", network_id=net["id"])
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
    assert error(r) == (409, "OverQuota")
    r = await client.post("/v2.0/security-groups", json={"security_group": {"name": "a"}})
    assert r.status_code == 201  # the default group made by the first port counts, as in neutron
    r = await client.post("/v2.0/security-groups", json={"security_group": {"name": "b"}})
    assert error(r) == (409, "OverQuota")
    r = await client.get(f"/v2.0/quotas/{DEMO}/details.json")
    details = r.json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert details["port"]["used"] == 2 and details["subnet"]["used"] == 1
    assert details["security_group"] == {"limit": 2, "used": 2, "reserved": 0}
    # Unlimited.
    await client.put(f"/v2.0/quotas/{DEMO}", json={"quota": {"network": -1}}, headers=ADMIN)
    await create(client, "network", name="two")
    # Another project keeps the defaults.
    await create(client, "network", "alt-token", name="alt")
