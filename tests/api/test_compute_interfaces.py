"""Compute API os-interface (attach/detach through the agent and the fake driver), floating IP
and network proxies, over the fake network API of test_compute_network_fakes."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_1 import floating_ips as fip_schema
from tempest.lib.api_schema.response.compute.v2_1 import interfaces as if_schema
from tempest.lib.api_schema.response.compute.v2_1 import tenant_networks as tn_schema
from tempest.lib.api_schema.response.compute.v2_70 import interfaces as if270_schema

from tests.api.test_compute_agent import NET2_ID, NET_ID
from tests.api.test_compute_agent_e2e import wait_for_status
from tests.api.test_compute_fakes import mv, validate
from tests.api.test_compute_network_fakes import EXT_ID, cloud  # noqa: F401 (fixture)
from tests.api.test_compute_security_groups import boot


async def test_attach_list_show_detach(cloud):
    server_id = await boot(cloud)
    first, = cloud.network.ports.values()
    r = await cloud.reader.get(f"/v2.1/servers/{server_id}/os-interface")
    validate(if_schema.list_interfaces, r)
    assert [i["port_id"] for i in r.json()["interfaceAttachments"]] == [first["id"]]

    # by network, with a fixed IP
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface", json={"interfaceAttachment": {
        "net_id": NET2_ID, "fixed_ips": [{"ip_address": "10.0.0.77"}]}})
    validate(if_schema.get_create_interfaces, r)
    made = r.json()["interfaceAttachment"]
    assert made["net_id"] == NET2_ID and made["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    port = cloud.network.ports[made["port_id"]]
    assert port["device_id"] == server_id and port["binding:host_id"] == "testhost"
    guest = cloud.agent.driver.guests[server_id]
    assert [v["port_id"] for v in guest["network_info"]] == [first["id"], made["port_id"]]

    # by port
    mine = cloud.network.add_port(NET_ID)
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface",
                              json={"interfaceAttachment": {"port_id": mine["id"]}})
    validate(if_schema.get_create_interfaces, r)
    assert mine["device_id"] == server_id
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}/os-interface/{mine['id']}")
    validate(if_schema.get_create_interfaces, r)
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert len(r.json()["server"]["addresses"]["private"]) == 2  # network_info has the new ones
    assert len(r.json()["server"]["addresses"]["public"]) == 1

    # detach: the port kumo made is deleted, the user's port is only unbound
    r = await cloud.demo.delete(f"/v2.1/servers/{server_id}/os-interface/{made['port_id']}")
    assert r.status_code == 202, r.text
    assert made["port_id"] not in cloud.network.ports
    r = await cloud.demo.delete(f"/v2.1/servers/{server_id}/os-interface/{mine['id']}")
    assert r.status_code == 202
    assert mine["id"] in cloud.network.ports and mine["device_id"] == "" and mine["binding:host_id"] == ""
    assert [v["port_id"] for v in cloud.agent.driver.guests[server_id]["network_info"]] == [first["id"]]
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}/os-interface")
    assert [i["port_id"] for i in r.json()["interfaceAttachments"]] == [first["id"]]
    assert (await cloud.demo.delete(f"/v2.1/servers/{server_id}/os-interface/{mine['id']}")).status_code == 404
    assert (await cloud.demo.get(f"/v2.1/servers/{server_id}/os-interface/{mine['id']}")).status_code == 404
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}/os-interface", headers=mv("2.70"))
    validate(if270_schema.list_interfaces, r)
    assert r.json()["interfaceAttachments"][0]["tag"] is None


async def test_attach_errors_leave_nothing(cloud):
    server_id = await boot(cloud)
    before = set(cloud.network.ports)
    used = cloud.network.add_port(NET_ID, device_id="someone-else")
    cases = [({"port_id": used["id"]}, 409),
             ({"port_id": "8f3a3a4e-1111-4222-8333-444444444444"}, 404),
             ({"net_id": "8f3a3a4e-1111-4222-8333-444444444444"}, 404),
             ({"net_id": NET_ID, "port_id": used["id"]}, 400),
             ({"fixed_ips": [{"ip_address": "10.0.0.9"}]}, 400),
             ({"net_id": NET_ID, "fixed_ips": [{"ip_address": used["fixed_ips"][0]["ip_address"]}]}, 409),
             ({"port_id": "nope"}, 400), ({"bogus": 1}, 400)]
    for body, code in cases:
        r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface", json={"interfaceAttachment": body})
        assert r.status_code == code, (body, r.text)
    # no network named, two visible: nova asks for a network id
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface", json={"interfaceAttachment": {}})
    assert r.status_code == 400 and "Multiple possible networks" in r.text
    r = await cloud.reader.post(f"/v2.1/servers/{server_id}/os-interface",
                                json={"interfaceAttachment": {"net_id": NET_ID}})
    assert r.status_code == 403
    # the hypervisor refuses: 500 as nova, and the port the agent made is deleted again
    cloud.agent.driver.fail_attach = "no more PCI slots"
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface", json={"interfaceAttachment": {
        "net_id": NET_ID}})
    assert r.status_code == 500 and "no more PCI slots" in r.text
    assert set(cloud.network.ports) == before | {used["id"]}
    r = await cloud.demo.get(f"/v2.1/servers/{server_id}")
    assert len(r.json()["server"]["addresses"]["private"]) == 1
    cloud.agent.driver.fail_attach = None


async def test_delete_server_releases_attached_ports(cloud):
    server_id = await boot(cloud)
    mine = cloud.network.add_port(NET_ID)
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface",
                              json={"interfaceAttachment": {"port_id": mine["id"]}})
    assert r.status_code == 200
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/os-interface",
                              json={"interfaceAttachment": {"net_id": NET2_ID}})
    made = r.json()["interfaceAttachment"]["port_id"]
    assert (await cloud.demo.delete(f"/v2.1/servers/{server_id}")).status_code == 204
    await cloud.rt.bus.drain()
    await wait_for_status(cloud.demo, server_id, "DELETED")
    assert made not in cloud.network.ports
    assert list(cloud.network.ports) == [mine["id"]] and mine["device_id"] == ""


async def test_floating_ips(cloud):
    server_id = await boot(cloud)
    port, = cloud.network.ports.values()
    r = await cloud.demo.get("/v2.1/os-floating-ip-pools")
    assert r.json() == {"floating_ip_pools": [{"name": "public"}]}
    r = await cloud.demo.post("/v2.1/os-floating-ips", json={"pool": "public"})
    validate(fip_schema.create_get_floating_ip, r)
    fip = r.json()["floating_ip"]
    assert fip["pool"] == "public" and fip["instance_id"] is None and fip["fixed_ip"] is None
    r = await cloud.demo.post("/v2.1/os-floating-ips", json={"pool": EXT_ID})  # pools by id too
    assert r.status_code == 200
    second = r.json()["floating_ip"]
    assert (await cloud.demo.post("/v2.1/os-floating-ips", json={"pool": "nope"})).status_code == 404

    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 202, r.text
    stored = cloud.network.fips[fip["id"]]
    assert stored["port_id"] == port["id"] and stored["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    r = await cloud.reader.get(f"/v2.1/os-floating-ips/{fip['id']}")
    validate(fip_schema.create_get_floating_ip, r)
    assert r.json()["floating_ip"]["instance_id"] == server_id
    r = await cloud.demo.get("/v2.1/os-floating-ips")
    validate(fip_schema.list_floating_ips, r)
    assert len(r.json()["floating_ips"]) == 2
    assert (await cloud.alt.get("/v2.1/os-floating-ips")).json()["floating_ips"] == []

    # a second floating IP on the same port: 400; unknown address: 404; bad fixed address: 400
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action",
                              json={"addFloatingIp": {"address": second["ip"]}})
    assert r.status_code == 400
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addFloatingIp": {"address": "1.2.3.4"}})
    assert r.status_code == 404
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"addFloatingIp": {"address": ""}})
    assert r.status_code == 400
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action",
                              json={"addFloatingIp": {"address": second["ip"], "fixed_address": "9.9.9.9"}})
    assert r.status_code == 400
    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action",
                              json={"removeFloatingIp": {"address": second["ip"]}})
    assert r.status_code == 409  # not associated with this server

    r = await cloud.demo.post(f"/v2.1/servers/{server_id}/action", json={"removeFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 202 and cloud.network.fips[fip["id"]]["port_id"] is None
    assert (await cloud.demo.delete(f"/v2.1/os-floating-ips/{fip['id']}")).status_code == 202
    assert fip["id"] not in cloud.network.fips
    assert (await cloud.demo.delete(f"/v2.1/os-floating-ips/{fip['id']}")).status_code == 404
    assert (await cloud.demo.get("/v2.1/os-floating-ips/not-an-id")).status_code == 404
    assert (await cloud.demo.get("/v2.1/os-floating-ips", headers=mv("2.36"))).status_code == 404


async def test_network_proxies(cloud):
    r = await cloud.reader.get("/v2.1/os-tenant-networks")
    validate(tn_schema.list_tenant_networks, r)
    nets = {n["id"]: n for n in r.json()["networks"]}
    assert nets[NET_ID] == {"id": NET_ID, "label": "private", "cidr": "10.0.0.0/24"}
    r = await cloud.reader.get(f"/v2.1/os-tenant-networks/{NET_ID}")
    validate(tn_schema.get_tenant_network, r)
    r = await cloud.admin.get(f"/v2.1/os-networks/{NET_ID}")
    assert r.status_code == 200
    net = r.json()["network"]
    assert (net["label"], net["gateway"], net["netmask"], net["vlan"]) == ("private", "10.0.0.1",
                                                                          "255.255.255.0", None)
    assert (await cloud.admin.get("/v2.1/os-networks/8f3a3a4e-1111-4222-8333-444444444444")).status_code == 404
    assert (await cloud.admin.get("/v2.1/os-networks", headers=mv("2.36"))).status_code == 404
