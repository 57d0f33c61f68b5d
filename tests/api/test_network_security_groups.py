"""Security groups and rules, and the port attributes that use them (port security,
security_groups), with the L2 agents' notices."""
from __future__ import annotations

import pytest

from tests.api.test_network_support import (ALT, DEMO, as_token, create, error, network_client,
                                            network_with_subnet)

ADMIN = as_token("admin-token")
SG = "/v2.0/security-groups"
RULES = "/v2.0/security-group-rules"


class L2Recorder:
    """Stands in for the L2 agents on bus topic ``l2_agent``."""

    def __init__(self):
        self.calls: list[list[str]] = []

    async def security_groups_changed(self, port_ids: list[str]) -> None:
        self.calls.append(sorted(port_ids))


@pytest.fixture
async def client(mount):
    return await network_client(mount)


async def new_group(client, token="demo-token", **body) -> dict:
    r = await client.post(SG, json={"security_group": {"name": "web", **body}},
                          headers=as_token(token))
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


async def new_rule(client, group_id, token="demo-token", **body):
    return await client.post(RULES, json={"security_group_rule": {
        "security_group_id": group_id, "direction": "ingress", **body}}, headers=as_token(token))


async def test_default_group_made_lazily_with_its_rules(client):
    r = await client.get(SG)
    assert r.status_code == 200
    groups = r.json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert default["project_id"] == DEMO and default["stateful"] is True
    rules = {(x["direction"], x["ethertype"], x["remote_group_id"]) for x in
             default["security_group_rules"]}
    assert rules == {("egress", "IPv4", None), ("egress", "IPv6", None),
                     ("ingress", "IPv4", default["id"]), ("ingress", "IPv6", default["id"])}
    # Listing again does not make a second one; another project gets its own.
    r = await client.get(SG)
    assert [g["id"] for g in r.json()["security_groups"]] == [default["id"]]
    r = await client.get(SG, headers=as_token("alt-token"))
    alt = r.json()["security_groups"]
    assert len(alt) == 1 and alt[0]["project_id"] == ALT and alt[0]["id"] != default["id"]
    # Members cannot delete or rename it, nor make another "default".
    r = await client.delete(f"{SG}/{default['id']}")
    assert error(r) == (409, "SecurityGroupCannotRemoveDefault")
    r = await client.put(f"{SG}/{default['id']}", json={"security_group": {"name": "x"}})
    assert r.status_code == 409
    r = await client.post(SG, json={"security_group": {"name": "default"}})
    assert error(r) == (409, "SecurityGroupDefaultAlreadyExists")


async def test_group_crud_and_isolation(client):
    group = await new_group(client, description="d")
    assert {(x["direction"], x["ethertype"]) for x in group["security_group_rules"]} == \
        {("egress", "IPv4"), ("egress", "IPv6")}
    r = await client.put(f"{SG}/{group['id']}", json={"security_group": {"name": "db",
                                                                          "description": "e"}})
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "db"
    r = await client.put(f"{SG}/{group['id']}", json={"security_group": {"name": "default"}})
    assert error(r) == (409, "SecurityGroupDefaultAlreadyExists")
    r = await client.get(f"{SG}/{group['id']}", headers=as_token("alt-token"))
    assert error(r) == (404, "SecurityGroupNotFound")
    r = await client.delete(f"{SG}/{group['id']}", headers=as_token("reader-token"))
    assert r.status_code == 403
    r = await client.get(f"{SG}?name=db")
    assert [g["id"] for g in r.json()["security_groups"]] == [group["id"]]
    rule_ids = [x["id"] for x in group["security_group_rules"]]
    assert (await client.delete(f"{SG}/{group['id']}")).status_code == 204
    for rule_id in rule_ids:  # its rules went with it
        assert (await client.get(f"{RULES}/{rule_id}")).status_code == 404
    r = await client.post(SG, json={"security_group": {"name": "x", "bogus": 1}})
    assert r.status_code == 400


async def test_rule_validation(client):
    group = await new_group(client)
    gid = group["id"]
    cases = [
        ({"protocol": "bad_protocol_name"}, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "tcp", "port_range_min": -16, "port_range_max": 80}, "Invalid value for port -16"),
        ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 79}, "port_range_min must be <="),
        ({"protocol": "tcp", "port_range_min": None, "port_range_max": 6}, "port_range_min must be <="),
        ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 65536}, "Invalid value for port"),
        ({"protocol": "icmp", "port_range_min": 1, "port_range_max": 256}, "Invalid value for ICMP code"),
        ({"protocol": "icmp", "port_range_min": 300, "port_range_max": 1}, "Invalid value for ICMP type"),
        ({"protocol": "icmp", "port_range_max": 6}, "ICMP type (port-range-min) is missing"),
        ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "only supported for TCP"),
        ({"port_range_min": 1, "port_range_max": 2}, "Must also specify protocol"),
        ({"ethertype": "bad"}, "Invalid input for ethertype"),
        ({"direction": "sideways"}, "Invalid input for direction"),
        ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/24"}, "Conflicting value ethertype"),
        ({"remote_ip_prefix": "10.0.0.0/33"}, "not a valid IP subnet"),
        ({"remote_ip_prefix": "10.0.0.0/24", "remote_group_id": gid}, "Only remote_ip_prefix"),
    ]
    for body, text in cases:
        r = await new_rule(client, gid, **body)
        assert r.status_code == 400 and text in r.text, (body, r.text)
    for missing in ("9d3b1d4e-0000-4000-8000-000000000001", "bad_group_id"):
        r = await new_rule(client, gid, remote_group_id=missing)
        assert error(r) == (404, "SecurityGroupNotFound")
    r = await new_rule(client, gid, remote_address_group_id="9d3b1d4e-0000-4000-8000-000000000004")
    assert error(r) == (404, "AddressGroupNotFound")
    r = await new_rule(client, "9d3b1d4e-0000-4000-8000-000000000002")
    assert error(r) == (404, "SecurityGroupNotFound")
    r = await new_rule(client, gid, token="alt-token")  # another project's group
    assert r.status_code == 404


async def test_rules_normalised_duplicates_and_listing(client):
    group = await new_group(client)
    gid = group["id"]
    r = await new_rule(client, gid, protocol="tcp", port_range_min=66, port_range_max=67,
                       remote_ip_prefix="10.0.0.7/24")
    assert r.status_code == 201, r.text
    rule = r.json()["security_group_rule"]
    assert (rule["protocol"], rule["remote_ip_prefix"], rule["ethertype"], rule["project_id"]) == \
        ("tcp", "10.0.0.0/24", "IPv4", DEMO)
    r = await new_rule(client, gid, protocol="6", port_range_min=66, port_range_max=67,
                       remote_ip_prefix="10.0.0.0/24")
    assert error(r) == (409, "SecurityGroupRuleExists") and rule["id"] in r.text
    r = await new_rule(client, gid, protocol=17)
    assert r.status_code == 201 and r.json()["security_group_rule"]["protocol"] == "17"
    r = await new_rule(client, gid, protocol="any", ethertype="IPv6")
    assert r.status_code == 201 and r.json()["security_group_rule"]["protocol"] is None
    r = await new_rule(client, gid, protocol="icmp", port_range_min=11)
    assert r.status_code == 201
    r = await new_rule(client, gid, protocol="ipv6-icmp", ethertype="IPv6", port_range_min=3,
                       port_range_max=0)
    assert r.status_code == 201
    other = await new_group(client, name="other")
    r = await new_rule(client, gid, protocol="udp", port_range_min=50, port_range_max=55,
                       remote_group_id=other["id"])
    assert r.status_code == 201
    r = await client.get(f"{SG}/{gid}")
    assert len(r.json()["security_group"]["security_group_rules"]) == 2 + 6
    r = await client.get(f"{RULES}?security_group_id={gid}&direction=ingress")
    assert len(r.json()["security_group_rules"]) == 6
    r = await client.get(RULES, headers=as_token("alt-token"))
    assert gid not in {x["security_group_id"] for x in r.json()["security_group_rules"]}
    r = await client.get(f"{RULES}/{rule['id']}", headers=as_token("alt-token"))
    assert error(r) == (404, "SecurityGroupRuleNotFound")
    assert (await client.delete(f"{RULES}/{rule['id']}")).status_code == 204
    assert (await client.get(f"{RULES}/{rule['id']}")).status_code == 404


async def test_port_security_groups_and_port_security(client, rt):
    l2 = L2Recorder()
    await rt.bus.serve("l2_agent", l2)
    net, _ = await network_with_subnet(client)
    port = await create(client, "port", network_id=net["id"])
    default = (await client.get(f"{SG}?name=default")).json()["security_groups"][0]
    assert port["security_groups"] == [default["id"]]
    await rt.bus.drain()
    assert [port["id"]] in l2.calls
    group = await new_group(client)
    # A group in use cannot go; port security cannot be turned off while groups remain.
    l2.calls.clear()
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {
        "security_groups": [group["id"], default["id"]]}})
    assert r.json()["port"]["security_groups"] == [group["id"], default["id"]]
    await rt.bus.drain()
    assert l2.calls and port["id"] in l2.calls[-1]
    r = await client.delete(f"{SG}/{group['id']}")
    assert error(r) == (409, "SecurityGroupInUse")
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {"port_security_enabled": False}})
    assert error(r) == (409, "PortSecurityPortHasSecurityGroup")
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {
        "port_security_enabled": False, "security_groups": [],
        "allowed_address_pairs": [{"ip_address": "10.0.0.50"}]}})
    assert error(r) == (409, "AddressPairAndPortSecurityRequired")
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {
        "port_security_enabled": False, "security_groups": []}})
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == []
    assert (await client.delete(f"{SG}/{group['id']}")).status_code == 204
    # Rule changes reach the members of the group.
    r = await client.put(f"/v2.0/ports/{port['id']}", json={"port": {
        "port_security_enabled": True, "security_groups": [default["id"]]}})
    assert r.status_code == 200
    await rt.bus.drain()
    l2.calls.clear()
    assert (await new_rule(client, default["id"], protocol="tcp", port_range_min=22,
                           port_range_max=22)).status_code == 201
    await rt.bus.drain()
    assert l2.calls == [[port["id"]]]


async def test_port_create_security_inputs(client):
    net, _ = await network_with_subnet(client)
    off = await create(client, "port", network_id=net["id"], port_security_enabled=False)
    assert off["security_groups"] == [] and off["port_security_enabled"] is False
    r = await client.post("/v2.0/ports", json={"port": {
        "network_id": net["id"], "port_security_enabled": False,
        "security_groups": ["9d3b1d4e-0000-4000-8000-000000000003"]}})
    assert r.status_code == 400
    r = await client.post("/v2.0/ports", json={"port": {
        "network_id": net["id"], "security_groups": ["9d3b1d4e-0000-4000-8000-000000000003"]}})
    assert error(r) == (404, "SecurityGroupNotFound")
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                         "security_groups": ["nope"]}})
    assert r.status_code == 400
    alt_group = await new_group(client, token="alt-token")
    r = await client.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                         "security_groups": [alt_group["id"]]}})
    assert error(r) == (404, "SecurityGroupNotFound")
    r = await client.get("/v2.0/ports", params={"network_id": net["id"]})
    assert [p["id"] for p in r.json()["ports"]] == [off["id"]]  # nothing half made
    quiet = await create(client, "network", name="nosec", port_security_enabled=False)
    port = await create(client, "port", network_id=quiet["id"])
    assert port["port_security_enabled"] is False and port["security_groups"] == []
    dhcp = await create(client, "port", network_id=net["id"], device_owner="network:dhcp")
    assert dhcp["security_groups"] == []
