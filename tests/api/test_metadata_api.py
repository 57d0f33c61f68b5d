"""Metadata API: signed requests from the proxy, OpenStack and EC2 layouts."""
from __future__ import annotations

import base64

import httpx
import pytest

from kumo.common.auth.metadata_sign import sign
from kumo.compute import metadata
from tests.api.test_compute_fakes import ALT, DEMO, SSH_KEY, FakeCloud, user_data
from tests.api.test_compute_servers import boot, make_env

SECRET = "s3cret"


@pytest.fixture
def settings(settings):
    settings.metadata.shared_secret = SECRET
    return settings


@pytest.fixture
async def env(rt, router, mount):
    cloud = FakeCloud()
    cloud.mount(rt, router)
    env = await make_env(rt, router, mount, cloud)
    env.meta = await mount(metadata.component, token=None)
    await env.demo.post("/v2.1/os-keypairs", json={"keypair": {"name": "k1", "public_key": SSH_KEY}})
    env.server = await boot(env, name="Web_Server.1", key_name="k1", metadata={"role": "web"},
                            user_data=user_data("#cloud-config\n"))
    env.plain = await boot(env, name="plain")
    await env.rt.bus.drain()
    yield env
    for c in env.clients:
        await c.aclose()


def signed(instance_id: str, tenant: str = DEMO, secret: str = SECRET) -> dict:
    return {"X-Instance-ID": instance_id, "X-Tenant-ID": tenant, "X-Forwarded-For": "10.0.0.10",
            "X-Instance-ID-Signature": sign(secret, instance_id)}


async def test_signature_and_identity_checks(env):
    meta: httpx.AsyncClient = env.meta
    ok = await meta.get("/openstack/latest/meta_data.json", headers=signed(env.server))
    assert ok.status_code == 200
    bad = signed(env.server, secret="wrong")
    assert (await meta.get("/openstack/latest/meta_data.json", headers=bad)).status_code == 403
    missing = signed(env.server)
    del missing["X-Instance-ID-Signature"]
    r = await meta.get("/openstack", headers=missing)
    assert r.status_code == 403 and r.text.startswith("403 Forbidden")
    no_id = signed(env.server)
    del no_id["X-Instance-ID"]
    assert (await meta.get("/openstack", headers=no_id)).status_code == 400
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await meta.get("/openstack", headers=signed(unknown))).status_code == 404
    assert (await meta.get("/openstack", headers=signed(env.server, tenant=ALT))).status_code == 404
    await env.demo.delete(f"/v2.1/servers/{env.plain}")
    await env.rt.bus.drain()
    assert (await meta.get("/openstack", headers=signed(env.plain))).status_code == 404


async def test_openstack_layout(env):
    meta, h = env.meta, signed(env.server)
    versions = (await meta.get("/openstack", headers=h)).text.split("\n")
    assert versions[0] == "2012-08-10" and versions[-1] == "latest" and "2018-08-27" in versions
    files = (await meta.get("/openstack/latest", headers=h)).text.split("\n")
    assert set(files) == {"meta_data.json", "user_data", "password", "vendor_data.json",
                          "network_data.json", "vendor_data2.json"}
    data = (await meta.get("/openstack/latest/meta_data.json", headers=h)).json()
    assert data["uuid"] == env.server and data["name"] == "Web_Server.1"
    assert data["hostname"] == "web-server-1" and data["project_id"] == DEMO
    assert data["public_keys"] == {"k1": SSH_KEY} and data["keys"][0]["data"] == SSH_KEY
    assert data["meta"] == {"role": "web"} and data["availability_zone"] == "nova"
    assert data["launch_index"] == 0 and len(base64.b64decode(data["random_seed"])) == 512
    old = (await meta.get("/openstack/2012-08-10/meta_data.json", headers=h)).json()
    assert "random_seed" not in old and "project_id" not in old
    assert (await meta.get("/openstack/latest/user_data", headers=h)).content == b"#cloud-config\n"
    assert (await meta.get("/openstack/latest/vendor_data.json", headers=h)).json() == {}
    net = (await meta.get("/openstack/latest/network_data.json", headers=h)).json()
    assert net["links"][0]["ethernet_mac_address"] == "fa:16:3e:00:00:00"
    assert net["networks"][0]["type"] == "ipv4_dhcp" and net["networks"][0]["link"] == net["links"][0]["id"]
    assert (await meta.get("/openstack/1999-01-01/meta_data.json", headers=h)).status_code == 404
    plain = signed(env.plain)
    assert (await meta.get("/openstack/latest/user_data", headers=plain)).status_code == 404
    assert "user_data" not in (await meta.get("/openstack/latest", headers=plain)).text


async def test_ec2_layout(env):
    meta, h = env.meta, signed(env.server)
    versions = (await meta.get("/", headers=h)).text.split("\n")
    assert "2009-04-04" in versions and versions[-1] == "latest"
    assert (await meta.get("/latest", headers=h)).text == "meta-data/\nuser-data"
    listing = (await meta.get("/latest/meta-data/", headers=h)).text.split("\n")
    assert {"instance-id", "hostname", "local-ipv4", "public-keys/", "placement/"} <= set(listing)

    async def value(path, headers=h):
        r = await meta.get(f"/latest/meta-data/{path}", headers=headers)
        assert r.status_code == 200, path
        return r.text

    server = (await env.admin.get(f"/v2.1/servers/{env.server}")).json()["server"]
    number = int(server["OS-EXT-SRV-ATTR:instance_name"].split("-")[1], 16)
    assert await value("instance-id") == f"i-{number:08x}"
    assert await value("hostname") == "web-server-1"
    assert await value("local-hostname") == "web-server-1.novalocal"
    assert await value("local-ipv4") == "10.0.0.10"
    assert await value("instance-type") == "m1.tiny"
    assert await value("placement/availability-zone") == "nova"
    assert await value("public-keys/") == "0=k1"
    assert await value("public-keys/0/") == "openssh-key"
    assert await value("public-keys/0/openssh-key") == SSH_KEY
    assert (await meta.get("/2009-04-04/meta-data/instance-id", headers=h)).text == f"i-{number:08x}"
    assert (await meta.get("/latest/user-data", headers=h)).content == b"#cloud-config\n"
    assert (await meta.get("/latest/meta-data/nope", headers=h)).status_code == 404
    plain = signed(env.plain)
    assert (await meta.get("/latest/user-data", headers=plain)).status_code == 404
    assert (await meta.get("/latest/meta-data/public-keys/", headers=plain)).status_code == 404
