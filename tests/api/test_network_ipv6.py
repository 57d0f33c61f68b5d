"""IPv6 subnets: ipv6_ra_mode / ipv6_address_mode checks and SLAAC (EUI-64) port addresses."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import create, error, network_client


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def test_modes_validated(client):
    net = await create(client, "network", name="v6")
    for body in ({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"},
                 {"ipv6_ra_mode": "dhcpv6-stateless", "ipv6_address_mode": "slaac"}):
        r = await client.post("/v2.0/subnets", json={"subnet": {
            "network_id": net["id"], "cidr": "2001:db8::/64", "ip_version": 6, **body}})
        assert error(r) == (400, "InvalidInput"), body
    r = await client.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4, "ipv6_address_mode": "slaac"}})
    assert error(r) == (400, "InvalidInput")
    r = await client.get("/v2.0/subnets", params={"network_id": net["id"]})
    assert r.json()["subnets"] == []


async def test_slaac_ports_get_eui64_addresses(client):
    net = await create(client, "network", name="v6")
    v4 = await create(client, "subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    slaac = await create(client, "subnet", network_id=net["id"], cidr="2001:db8::/64", ip_version=6,
                         ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert (slaac["ipv6_ra_mode"], slaac["ipv6_address_mode"]) == ("slaac", "slaac")
    port = await create(client, "port", network_id=net["id"], mac_address="fa:16:3e:12:34:56")
    assert port["fixed_ips"] == [{"subnet_id": v4["id"], "ip_address": "10.0.0.2"},
                                 {"subnet_id": slaac["id"], "ip_address": "2001:db8::f816:3eff:fe12:3456"}]
    stateful = await create(client, "subnet", network_id=net["id"], cidr="2001:db8:1::/64",
                            ip_version=6, ipv6_address_mode="dhcpv6-stateful")
    port = await create(client, "port", network_id=net["id"], mac_address="fa:16:3e:12:34:57",
                        fixed_ips=[{"subnet_id": stateful["id"]}, {"subnet_id": slaac["id"]}])
    assert port["fixed_ips"] == [{"subnet_id": stateful["id"], "ip_address": "2001:db8:1::2"},
                                 {"subnet_id": slaac["id"], "ip_address": "2001:db8::f816:3eff:fe12:3457"}]


async def test_deleting_a_slaac_subnet_drops_its_addresses_from_ports(client):
    net = await create(client, "network", name="v6")
    v4 = await create(client, "subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    slaac = await create(client, "subnet", network_id=net["id"], cidr="2001:db8::/64", ip_version=6,
                         ipv6_address_mode="dhcpv6-stateless", ipv6_ra_mode="dhcpv6-stateless")
    port = await create(client, "port", network_id=net["id"])
    assert len(port["fixed_ips"]) == 2
    r = await client.delete(f"/v2.0/subnets/{v4['id']}")
    assert error(r) == (409, "SubnetInUse")  # a pooled address still counts
    assert (await client.delete(f"/v2.0/subnets/{slaac['id']}")).status_code == 204
    r = await client.get(f"/v2.0/ports/{port['id']}")
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": v4["id"], "ip_address": "10.0.0.2"}]
    r = await client.delete(f"/v2.0/networks/{net['id']}")
    assert error(r) == (409, "NetworkInUse")
