"""Compute API security groups: the os-security-groups / os-security-group-rules proxies, a
server's groups, addSecurityGroup / removeSecurityGroup and ``security_groups`` at create,
over the fake network API of test_compute_network_fakes (responses checked with Tempest's schemas).
"""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import security_groups as sg_schema

from tests.api.test_compute_agent import NET_ID
from tests.api.test_compute_agent_e2e import wait_for_status
from tests.api.test_compute_fakes import mv, validate
from tests.api.test_compute_network_fakes import cloud  # noqa: F401 (fixture)


async def boot(cloud, **extra) -> str:
    body = {"name": "vm", "imageRef": cloud.image, "flavorRef": "1", "networks": [{"uuid": NET_ID}], **extra}
    r = await cloud.demo.post("/v2.1/servers", json={"server": body})
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "ACTIVE")
    return server_id


async def test_group_crud_and_rules(cloud):
    r = await cloud.demo.post("/v2.1/os-security-groups", json={"security_group": {"name": "web",
                                                                                  "description": "w"}})
    validate(sg_schema.create_security_group, r)
    group = r.json()["security_group"]
    assert group["name"] == "web" and group["rules"] == [] and group["tenant_id"] == cloud.network.groups[
        group["id"]]["project_id"]

    r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22}})
    validate(sg_schema.create_security_group_rule, r)
    rule = r.json()["security_group_rule"]
    assert rule["ip_range"] == {"cidr": "0.0.0.0/0"} and rule["from_port"] == 22
    stored = cloud.network.rules[rule["id"]]
    assert (stored["protocol"], stored["port_range_min"], stored["direction"]) == ("tcp", 22, "ingress")

    r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": group["id"], "ip_protocol": "udp", "from_port": 53, "to_port": 53,
        "cidr": "10.2.3.124/24"}})
    validate(sg_schema.create_security_group_rule, r)
    assert r.json()["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}
    udp = r.json()["security_group_rule"]["id"]
    assert cloud.network.rules[udp]["remote_ip_prefix"] == "10.2.3.0/24"
    await cloud.demo.delete(f"/v2.1/os-security-group-rules/{udp}")
    r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": group["id"], "ip_protocol": "icmp", "from_port": -1, "to_port": -1,
        "group_id": group["id"]}})
    validate(sg_schema.create_security_group_rule, r)
    assert r.json()["security_group_rule"]["group"] == {"name": "web", "tenant_id": group["tenant_id"]}

    r = await cloud.demo.get(f"/v2.1/os-security-groups/{group['id']}")
    validate(sg_schema.get_security_group, r)
    assert len(r.json()["security_group"]["rules"]) == 2
    r = await cloud.demo.get("/v2.1/os-security-groups")
    validate(sg_schema.list_security_groups, r)
    assert [g["id"] for g in r.json()["security_groups"]] == [group["id"]]
    r = await cloud.alt.get("/v2.1/os-security-groups")
    assert r.json()["security_groups"] == []  # another project's groups stay hidden

    r = await cloud.demo.put(f"/v2.1/os-security-groups/{group['id']}", json={"security_group": {
        "name": "web2", "description": "new"}})
    validate(sg_schema.update_security_group, r)
    assert cloud.network.groups[group["id"]]["name"] == "web2"

    r = await cloud.demo.delete(f"/v2.1/os-security-group-rules/{rule['id']}")
    assert r.status_code == 202 and rule["id"] not in cloud.network.rules
    assert (await cloud.demo.delete(f"/v2.1/os-security-group-rules/{rule['id']}")).status_code == 404
    r = await cloud.demo.delete(f"/v2.1/os-security-groups/{group['id']}")
    assert r.status_code == 202 and group["id"] not in cloud.network.groups
    assert (await cloud.demo.get(f"/v2.1/os-security-groups/{group['id']}")).status_code == 404


async def test_group_errors(cloud):
    for body in ({"name": "", "description": "x"}, {"name": " ", "description": "x"},
                 {"name": "n" * 256, "description": "x"}, {"name": "ok", "description": "d" * 256},
                 {"description": "x"}, {"name": 5, "description": "x"}):
        r = await cloud.demo.post("/v2.1/os-security-groups", json={"security_group": body})
        assert r.status_code == 400, (body, r.text)
        assert "badRequest" in r.json()
    assert cloud.network.groups == {}
    assert (await cloud.demo.delete("/v2.1/os-security-groups/")).status_code == 404
    missing = "8f3a3a4e-1111-4222-8333-444444444444"
    assert (await cloud.demo.get(f"/v2.1/os-security-groups/{missing}")).status_code == 404
    assert (await cloud.demo.delete(f"/v2.1/os-security-groups/{missing}")).status_code == 404
    r = await cloud.demo.put(f"/v2.1/os-security-groups/{missing}", json={"security_group": {
        "name": "a", "description": "b"}})
    assert r.status_code == 404
    default = cloud.network.group("default")
    r = await cloud.demo.delete(f"/v2.1/os-security-groups/{default['id']}")
    assert r.status_code == 400 and default["id"] in cloud.network.groups
    # removed from 2.36
    assert (await cloud.demo.get("/v2.1/os-security-groups", headers=mv("2.36"))).status_code == 404
    assert (await cloud.demo.get("/v2.1/os-security-groups", headers=mv("2.35"))).status_code == 200
    # another project's group is not found
    other = cloud.network.group("theirs", project="e0000000000000000000000000000003")
    assert (await cloud.demo.get(f"/v2.1/os-security-groups/{other['id']}")).status_code == 404


async def test_rule_errors(cloud):
    group = cloud.network.group("g")
    base = {"parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22}
    cases = [({"parent_group_id": "not-a-uuid"}, 400),
             ({"parent_group_id": "8f3a3a4e-1111-4222-8333-444444444444"}, 404),
             ({"ip_protocol": "foo"}, 400), ({"from_port": "abc"}, 400), ({"to_port": 70000}, 400),
             ({"from_port": 30, "to_port": 20}, 400), ({"cidr": "10.0.0.0/99"}, 400),
             ({"ip_protocol": "icmp", "from_port": 300, "to_port": 0}, 400),
             ({"group_id": "8f3a3a4e-1111-4222-8333-444444444444"}, 404)]
    for change, code in cases:
        r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": {**base, **change}})
        assert r.status_code == code, (change, r.text)
    assert cloud.network.rules == {}
    r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": base})
    assert r.status_code == 200
    r = await cloud.demo.post("/v2.1/os-security-group-rules", json={"security_group_rule": base})
    assert r.status_code == 400  # duplicate
    assert len(cloud.network.rules) == 1
    r = await cloud.demo.delete("/v2.1/os-security-group-rules/8f3a3a4e-1111-4222-8333-444444444444")
    assert r.status_code == 404
    r = await cloud.reader.post("/v2.1/os-security-group-rules", json={"security_group_rule": base})
    assert r.status_code == 403


async def test_create_with_groups_and_server_actions(cloud):
    web = cloud.network.group("web")
    db = cloud.network.group("db")
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "vm", "imageRef": cloud.image, "flavorRef": "1", "networks": [{"uuid": NET_ID}],
        "security_groups": [{"name": "nonexistent"}]}})
    assert r.status_code == 400 and "nonexistent" in r.text
    server_id = await boot(cloud, security_groups=[{"name": web["id"]}])  # by id, as the CLI sends
    port, = cloud.network.ports.values()
    assert port["security_groups"] == [web["id"]]  # the created port carries the group
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert r.json()["server"]["security_groups"] == [{"name": "web"}]

    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {"name": "db"}})
    assert r.status_code == 202, r.text
    assert port["security_groups"] == [web["id"], db["id"]]
    r = await cloud.reader.get(f"/v2.1/servers/{server_id}/os-security-groups")
    validate(sg_schema.list_security_groups, r)
    assert sorted(g["name"] for g in r.json()["security_groups"]) == ["db", "web"]
    # in use: the network API refuses, nova answers 400
    assert (await cloud.demo.delete(f"/v2.1/os-security-groups/{db['id']}")).status_code == 400

    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"removeSecurityGroup": {"name": "db"}})
    assert r.status_code == 202 and port["security_groups"] == [web["id"]]
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"removeSecurityGroup": {"name": "db"}})
    assert r.status_code == 400  # not on the server
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {"name": "nope"}})
    assert r.status_code == 404
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {}})
    assert r.status_code == 400
    r = await cloud.reader.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {"name": "db"}})
    assert r.status_code == 403
    r = await cloud.alt.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {"name": "db"}})
    assert r.status_code == 404
    assert port["security_groups"] == [web["id"]]
    # the server shows the groups its ports have now; none left: no security_groups key
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addSecurityGroup": {"name": "db"}})
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert r.json()["server"]["security_groups"] == [{"name": "web"}, {"name": "db"}]
    for name in ("web", "db"):
        r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"removeSecurityGroup": {"name": name}})
        assert r.status_code == 202, r.text
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert "security_groups" not in r.json()["server"]


async def test_groups_shown_follow_port_security(cloud):
    # no groups asked: a port-secured network's port gets "default", shown as such
    server_id = await boot(cloud)
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert r.json()["server"]["security_groups"] == [{"name": "default"}]
    # a network with port security off: its ports get no group, the server shows none
    cloud.network.networks[NET_ID]["port_security_enabled"] = False
    r = await cloud.demo.post("/v2.1/servers", json={"server": {
        "name": "open", "imageRef": cloud.image, "flavorRef": "1", "networks": [{"uuid": NET_ID}],
        "security_groups": []}})
    assert r.status_code == 202, r.text
    assert "security_groups" not in r.json()["server"]
    open_id = r.json()["server"]["id"]
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, open_id, "ACTIVE")
    assert "security_groups" not in (await cloud.demo.get(f"/v2.1/servers/{open_id}")).json()["server"]
