"""The compute agent's network_info carries each fixed IP's subnet (for network_data.json)."""
from __future__ import annotations

import httpx

from kumo.compute.agent.network import NetworkClient

SUBNET = {"id": "s1", "cidr": "192.168.7.0/24", "gateway_ip": "192.168.7.1", "enable_dhcp": False,
          "dns_nameservers": ["192.168.7.2"], "host_routes": [], "ipv6_address_mode": None,
          "name": "static", "allocation_pools": []}
PORT = {"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
        "fixed_ips": [{"subnet_id": "s1", "ip_address": "192.168.7.20"},
                      {"subnet_id": "gone", "ip_address": "10.0.0.3"}]}


class FakeAuth:
    def __init__(self):
        self.paths = []

    async def request(self, service, method, path, **kw):
        self.paths.append((service, method, path))
        if path == "/v2.0/subnets/s1":
            return httpx.Response(200, json={"subnet": SUBNET})
        return httpx.Response(404, json={"NeutronError": {"type": "SubnetNotFound", "message": "no"}})


async def test_subnets_of_reads_each_subnet_and_skips_unreadable():
    auth = FakeAuth()
    client = NetworkClient(auth, "host1")
    subnets = await client.subnets_of(PORT)
    assert set(subnets) == {"s1"}
    assert subnets["s1"] == {"cidr": "192.168.7.0/24", "gateway_ip": "192.168.7.1", "enable_dhcp": False,
                             "dns_nameservers": ["192.168.7.2"], "host_routes": [],
                             "ipv6_address_mode": None}
    assert sorted(p for _, _, p in auth.paths) == ["/v2.0/subnets/gone", "/v2.0/subnets/s1"]
    vif = client.vif(PORT, {"id": "n1", "name": "net"}, True, subnets)
    first, second = vif["fixed_ips"]
    assert first["subnet"]["cidr"] == "192.168.7.0/24" and first["version"] == 4
    assert "subnet" not in second
    assert "subnet" not in client.vif(PORT, {"id": "n1"}, True)["fixed_ips"][0]
