"""The compute agent over the bus, with the fake driver, a fake conductor and
fake image and network APIs mounted in-process.

Each test casts to ``compute.testhost`` exactly as the scheduler and compute
API do, drains the bus and checks what the agent told the conductor, what it
asked of the network and image APIs, and what it left on disk.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import subprocess
import uuid as uuidlib
from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kumo.common.api import create_app
from kumo.common.api.errors import Conflict, NotFound
from kumo.compute import agent as compute_agent
from kumo.compute.virt import base
from tests.fakes import FakeValidator

MiB = 1024 * 1024
PROJECT = "d0000000000000000000000000000002"
NET_ID = "5a3e1c2b-0000-4000-8000-00000000aaaa"
NET2_ID = "5a3e1c2b-0000-4000-8000-00000000bbbb"


def bootable_raw(size=MiB) -> bytes:
    data = bytearray(size)
    data[510:512] = b"\x55\xaa"
    return bytes(data)


# -- fakes ----------------------------------------------------------------------
class FakeConductor:
    """Serves topic "conductor": keeps instance rows and records every call."""

    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.updates: list[tuple[str, dict]] = []
        self.faults: dict[str, dict] = {}
        self.destroyed: list[str] = []
        self.heartbeats: list[tuple] = []
        self.nodes: list[dict] = []

    def task_states(self, uuid):
        return [v["task_state"] for u, v in self.updates if u == uuid and "task_state" in v]

    async def instance_update(self, instance_id: str, values: dict) -> dict:
        row = self.rows[instance_id]
        values = dict(values)
        if "expected_task_state" in values:
            expected = values.pop("expected_task_state")
            if row["task_state"] != expected:
                raise RuntimeError(f"UnexpectedTaskStateError: expected {expected}, "
                                   f"actual {row['task_state']}")
        self.updates.append((instance_id, values))
        row.update(values)
        return row

    async def instance_fault(self, instance_id: str, message: str, code: int = 500, details: str = ""):
        self.faults[instance_id] = {"message": message, "code": code, "details": details}
        self.rows[instance_id].update(vm_state="error", task_state=None)

    async def instance_destroyed(self, instance_id: str):
        self.destroyed.append(instance_id)
        self.rows[instance_id].update(vm_state="deleted")

    async def host_instances(self, host: str, uuids: list | None = None) -> list[dict]:
        return [dict(r, deleted=r["vm_state"] == "deleted") for u, r in self.rows.items()
                if (r.get("host") == host and r["vm_state"] != "deleted") or u in (uuids or [])]

    async def service_heartbeat(self, host: str, binary: str, topic: str):
        self.heartbeats.append((host, binary, topic))

    async def report_compute_node(self, node: dict):
        self.nodes.append(node)


class FakeNetworkAPI:
    """Just enough of Networking API v2.0: ports and networks."""

    def __init__(self):
        self.networks = {NET_ID: {"id": NET_ID, "name": "private", "mtu": 1450, "project_id": PROJECT,
                                  "shared": False, "provider:network_type": "vxlan"},
                         NET2_ID: {"id": NET2_ID, "name": "public", "mtu": 1500, "project_id": PROJECT,
                                   "shared": True, "provider:network_type": "flat",
                                   "provider:physical_network": "public"}}
        self.ports: dict[str, dict] = {}
        self.calls: list[tuple[str, str, dict | None]] = []
        self.fail_create: str | None = None
        self.vif_details: dict = {}
        self._ips = itertools.count(10)
        self.app = create_app(style="neutron", validator=FakeValidator(), routes=[
            Route("/v2.0/ports", self.create_port, methods=["POST"]),
            Route("/v2.0/ports", self.list_ports, methods=["GET"]),
            Route("/v2.0/ports/{id}", self.show_port, methods=["GET"]),
            Route("/v2.0/ports/{id}", self.update_port, methods=["PUT"]),
            Route("/v2.0/ports/{id}", self.delete_port, methods=["DELETE"]),
            Route("/v2.0/networks/{id}", self.show_network, methods=["GET"]),
            Route("/v2.0/networks", self.list_networks, methods=["GET"]),
        ])

    def add_port(self, network_id=NET_ID, **over) -> dict:
        pid = str(uuidlib.uuid4())
        n = next(self._ips)
        port = {"id": pid, "network_id": network_id, "mac_address": f"fa:16:3e:00:00:{n:02x}",
                "fixed_ips": [{"subnet_id": "sub-1", "ip_address": f"10.0.0.{n}"}],
                "device_id": "", "device_owner": "", "binding:host_id": "",
                "binding:vif_type": "unbound", "binding:vif_details": {}, "project_id": PROJECT}
        port.update(over)
        self.ports[pid] = port
        return port

    def _bind(self, port):
        if port.get("binding:host_id"):
            port["binding:vif_type"] = "bridge"
            port["binding:vif_details"] = dict(self.vif_details)
        return port

    async def create_port(self, request: Request):
        body = (await request.json())["port"]
        self.calls.append(("POST", "/v2.0/ports", body))
        if body["network_id"] not in self.networks:
            raise NotFound(f"Network {body['network_id']} could not be found.", kind="NetworkNotFound")
        if self.fail_create:
            raise Conflict(self.fail_create, kind="IpAddressAlreadyAllocated")
        port = self.add_port(**{k: v for k, v in body.items() if k != "fixed_ips"})
        if body.get("fixed_ips"):
            port["fixed_ips"] = [dict(ip, subnet_id="sub-1") for ip in body["fixed_ips"]]
        return JSONResponse({"port": self._bind(port)}, status_code=201)

    async def list_ports(self, request: Request):
        device = request.query_params.get("device_id")
        self.calls.append(("GET", "/v2.0/ports", dict(request.query_params)))
        return JSONResponse({"ports": [p for p in self.ports.values() if device in (None, p["device_id"])]})

    def _port(self, request) -> dict:
        port = self.ports.get(request.path_params["id"])
        if port is None:
            raise NotFound(f"Port {request.path_params['id']} could not be found.", kind="PortNotFound")
        return port

    async def show_port(self, request: Request):
        return JSONResponse({"port": self._port(request)})

    async def update_port(self, request: Request):
        body = (await request.json())["port"]
        self.calls.append(("PUT", request.url.path, body))
        port = self._port(request)
        port.update(body)
        return JSONResponse({"port": self._bind(port)})

    async def delete_port(self, request: Request):
        self.calls.append(("DELETE", request.url.path, None))
        self._port(request)
        del self.ports[request.path_params["id"]]
        return Response(status_code=204)

    async def list_networks(self, request: Request):
        nets = list(self.networks.values())
        if request.query_params.get("project_id"):
            nets = [n for n in nets if n["project_id"] == request.query_params["project_id"]]
        if request.query_params.get("shared") == "true":
            nets = [n for n in nets if n["shared"]]
        return JSONResponse({"networks": nets})

    async def show_network(self, request: Request):
        net = self.networks.get(request.path_params["id"])
        if net is None:
            raise NotFound("Network could not be found.", kind="NetworkNotFound")
        return JSONResponse({"network": net})


class FakeImageAPI:
    """Image API v2 show + download."""

    def __init__(self):
        self.images: dict[str, tuple[dict, bytes]] = {}
        self.downloads: list[str] = []
        self.file_status = 200
        self.app = create_app(style="glance", validator=FakeValidator(), routes=[
            Route("/v2/images/{id}", self.show, methods=["GET"]),
            Route("/v2/images/{id}/file", self.download, methods=["GET"]),
        ])

    def add(self, data: bytes, disk_format="raw", status="active") -> str:
        image_id = str(uuidlib.uuid4())
        meta = {"id": image_id, "name": "img", "status": status, "disk_format": disk_format,
                "owner": PROJECT, "visibility": "public", "min_disk": 0, "min_ram": 0,
                "container_format": "bare", "size": len(data), "checksum": hashlib.md5(data).hexdigest(),
                "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(data).hexdigest()}
        self.images[image_id] = (meta, data)
        return image_id

    def _image(self, request):
        try:
            return self.images[request.path_params["id"]]
        except KeyError:
            raise NotFound(f"No image found with ID {request.path_params['id']}") from None

    async def show(self, request: Request):
        return JSONResponse(self._image(request)[0])

    async def download(self, request: Request):
        _meta, data = self._image(request)
        self.downloads.append(request.path_params["id"])
        if self.file_status != 200:
            return Response("500 Internal Server Error\n\nstore unavailable", status_code=self.file_status)

        async def chunks():
            for i in range(0, len(data), 256 * 1024):
                yield data[i:i + 256 * 1024]

        return StreamingResponse(chunks(), media_type="application/octet-stream")


# -- fixtures -------------------------------------------------------------------
_ids = itertools.count(1)


def make_instance(image_id: str, networks=None, **over) -> dict:
    n = next(_ids)
    inst = {"uuid": str(uuidlib.uuid4()), "id": n, "instance_name": "instance-%08x" % n,
            "display_name": f"vm{n}", "hostname": f"vm{n}", "project_id": PROJECT, "user_id": "u-demo",
            "host": "testhost", "node": "testhost",
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0,
                       "swap": 0, "extra_specs": {}},
            "image_ref": image_id, "key_name": None, "key_data": None, "user_data": None, "metadata": {},
            "availability_zone": None, "config_drive": False,
            "requested_networks": networks if networks is not None else
            [{"network_id": NET_ID, "port_id": None, "fixed_ip": None}],
            "network_info": [], "vm_state": "building", "task_state": "scheduling", "power_state": 0,
            "launched_at": None}
    inst.update(over)
    return inst


@pytest.fixture
async def env(rt, router, mount):
    conductor, network, images = FakeConductor(), FakeNetworkAPI(), FakeImageAPI()
    router.add(rt.settings.endpoint("network"), network.app)
    router.add(rt.settings.endpoint("image"), images.app)
    await rt.bus.serve("conductor", conductor)
    agent = await mount(compute_agent.component)
    image_id = images.add(bootable_raw())

    async def build(inst):
        conductor.rows[inst["uuid"]] = dict(inst)
        await rt.bus.cast("compute.testhost", "build_instance", instance=inst)
        await rt.bus.drain()
        return conductor.rows[inst["uuid"]]

    async def terminate(inst):
        await rt.bus.cast("compute.testhost", "terminate_instance", instance=conductor.rows[inst["uuid"]])
        await rt.bus.drain()

    return SimpleNamespace(rt=rt, conductor=conductor, network=network, images=images, agent=agent,
                           driver=agent.driver, image_id=image_id, build=build, terminate=terminate,
                           instances_dir=rt.settings.instances_dir)


async def wait_until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def instance_dirs(env):
    return sorted(p.name for p in env.instances_dir.iterdir() if p.name != "_base")


# -- periodic report --------------------------------------------------------------
async def test_heartbeat_and_node_report_at_start(env):
    await wait_until(lambda: env.conductor.nodes)
    assert env.conductor.heartbeats[0] == ("testhost", "nova-compute", "compute")
    node = env.conductor.nodes[0]
    assert node["host"] == "testhost"
    assert node["hypervisor_type"] == "QEMU"
    for key in ("hypervisor_hostname", "hypervisor_version", "vcpus", "memory_mb", "local_gb", "cpu_info",
                "host_ip"):
        assert key in node


async def test_component_serves_only_the_contract_methods(env):
    from kumo.common.bus import RemoteError
    with pytest.raises(RemoteError):
        await env.rt.bus.call("compute.testhost", "prepare")


# -- build ----------------------------------------------------------------------
async def test_build_success(env):
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    uuid = inst["uuid"]

    assert env.conductor.faults == {}
    assert env.conductor.task_states(uuid) == ["networking", "block_device_mapping", "spawning", None]
    assert row["vm_state"] == "active" and row["power_state"] == base.RUNNING and row["task_state"] is None
    assert row["launched_at"] and row["launched_at"].endswith("Z")

    # the port: created on the requested network, owned by the instance's project, bound here
    (method, path, body), = [c for c in env.network.calls if c[0] == "POST"]
    assert body == {"network_id": NET_ID, "device_id": uuid, "device_owner": "compute:nova",
                    "binding:host_id": "testhost", "project_id": PROJECT}
    port = next(iter(env.network.ports.values()))
    vif, = row["network_info"]
    assert vif == {"port_id": port["id"], "network_id": NET_ID, "network_name": "private",
                   "mac_address": port["mac_address"],
                   "fixed_ips": [{"ip_address": port["fixed_ips"][0]["ip_address"], "subnet_id": "sub-1",
                                  "version": 4}],
                   "vif_type": "bridge", "bridge": "brq" + NET_ID[:11], "devname": "tap" + port["id"][:11],
                   "created_port": True, "mtu": 1450}

    guest = env.driver.guests[uuid]
    assert guest["name"] == inst["instance_name"] and guest["network_info"] == [vif]
    disk = env.instances_dir / uuid / "disk"
    assert guest["disks"] == {"vda": str(disk)} and disk.exists()
    assert (env.instances_dir / "_base" / env.image_id).exists()


async def test_build_with_fixed_ip_and_az(env):
    inst = make_instance(env.image_id, availability_zone="zone1",
                         networks=[{"network_id": NET_ID, "port_id": None, "fixed_ip": "10.0.0.99"}])
    row = await env.build(inst)
    body = [c[2] for c in env.network.calls if c[0] == "POST"][0]
    assert body["fixed_ips"] == [{"ip_address": "10.0.0.99"}]
    assert body["device_owner"] == "compute:zone1"
    assert row["network_info"][0]["fixed_ips"][0]["ip_address"] == "10.0.0.99"


async def test_build_binds_a_user_port_and_flat_networks_use_the_physical_bridge(env):
    user_port = env.network.add_port(NET2_ID)
    inst = make_instance(env.image_id, networks=[{"network_id": None, "port_id": user_port["id"],
                                                  "fixed_ip": None}])
    row = await env.build(inst)
    assert [c for c in env.network.calls if c[0] == "POST"] == []
    put, = [c for c in env.network.calls if c[0] == "PUT"]
    assert put[2] == {"device_id": inst["uuid"], "device_owner": "compute:nova",
                      "binding:host_id": "testhost"}
    vif, = row["network_info"]
    assert vif["created_port"] is False and vif["port_id"] == user_port["id"]
    assert vif["bridge"] == "br-ex" and vif["network_name"] == "public"


async def test_build_two_networks(env):
    inst = make_instance(env.image_id, networks=[{"network_id": NET_ID}, {"network_id": NET2_ID}])
    row = await env.build(inst)
    assert [v["network_id"] for v in row["network_info"]] == [NET_ID, NET2_ID]
    assert len(env.network.ports) == 2


async def test_port_in_use_by_another_instance_fails(env):
    port = env.network.add_port(device_id="someone-else", device_owner="compute:nova")
    inst = make_instance(env.image_id, networks=[{"port_id": port["id"]}])
    row = await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == f"Port {port['id']} is still in use."
    assert row["vm_state"] == "error"
    assert env.network.ports[port["id"]]["device_id"] == "someone-else"


# -- build failures: a fault, and nothing left behind ------------------------------
def assert_nothing_left(env, inst):
    uuid = inst["uuid"]
    assert uuid not in env.driver.guests
    assert instance_dirs(env) == []
    assert [p for p in env.network.ports.values() if p["device_id"] == uuid] == []
    assert env.conductor.rows[uuid]["network_info"] == []
    assert [p.name for p in (env.instances_dir / "_base").iterdir() if ".part-" in p.name] == []


async def test_image_download_failure(env):
    env.images.file_status = 500
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    fault = env.conductor.faults[inst["uuid"]]
    assert fault["message"].startswith(f"Image {env.image_id} download failed")
    assert fault["code"] == 500
    assert row["vm_state"] == "error" and row["task_state"] is None
    assert env.conductor.task_states(inst["uuid"])[:3] == ["networking", "block_device_mapping", "spawning"]
    # the port the agent created was deleted again
    deleted = [c[1] for c in env.network.calls if c[0] == "DELETE"]
    assert len(deleted) == 1 and env.network.ports == {}
    assert_nothing_left(env, inst)
    assert not (env.instances_dir / "_base" / env.image_id).exists()


async def test_image_not_bootable(env):
    image_id = env.images.add(bytes(MiB))  # raw zeros: no MBR, no partition table
    inst = make_instance(image_id)
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == (
        f"Image {image_id} is not a bootable disk: no MBR boot signature or partition table")
    assert_nothing_left(env, inst)
    assert not (env.instances_dir / "_base" / image_id).exists()


async def test_image_declared_qcow2_but_raw(env):
    image_id = env.images.add(bootable_raw(), disk_format="qcow2")
    inst = make_instance(image_id)
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"].startswith(
        f"Image {image_id} is not a bootable disk: not a valid qcow2 image")
    assert_nothing_left(env, inst)


async def test_missing_and_inactive_images(env):
    inst = make_instance("7d6b7c9e-0000-4000-8000-000000000000")
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == \
        "Image 7d6b7c9e-0000-4000-8000-000000000000 could not be found."
    assert_nothing_left(env, inst)
    queued = env.images.add(bootable_raw(), status="queued")
    inst2 = make_instance(queued)
    await env.build(inst2)
    assert env.conductor.faults[inst2["uuid"]]["message"] == f"Image {queued} is not active."


async def test_spawn_failure_removes_disks_and_ports(env):
    env.driver.fail_spawn = "internal error: qemu unexpectedly closed the monitor"
    user_port = env.network.add_port()
    inst = make_instance(env.image_id, networks=[{"network_id": NET_ID}, {"port_id": user_port["id"]}])
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == \
        "internal error: qemu unexpectedly closed the monitor"
    # the created port is gone, the user's port survives unbound
    assert list(env.network.ports) == [user_port["id"]]
    assert env.network.ports[user_port["id"]]["device_id"] == ""
    assert env.network.ports[user_port["id"]]["binding:host_id"] == ""
    assert_nothing_left(env, inst)


async def test_flavor_disk_too_small(env):
    big = bytearray(3 * MiB)
    big[510:512] = b"\x55\xaa"
    image_id = env.images.add(bytes(big))
    inst = make_instance(image_id)
    inst["flavor"]["disk"] = 0  # image size: fine
    await env.build(inst)
    assert inst["uuid"] not in env.conductor.faults
    # a 1 GiB flavor cannot hold an image of 3 GiB virtual size: fake the size via a qcow2 image
    qcow = env.instances_dir / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "3G"], check=True)
    qimage = env.images.add(qcow.read_bytes(), disk_format="qcow2")
    qcow.unlink()
    inst2 = make_instance(qimage)
    await env.build(inst2)
    assert env.conductor.faults[inst2["uuid"]]["message"] == (
        "Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, "
        "image is 3221225472 bytes.")
    assert inst2["uuid"] not in env.driver.guests
    assert not (env.instances_dir / inst2["uuid"]).exists()


async def test_port_create_refused(env):
    env.network.fail_create = "IP address 10.0.0.5 already allocated in subnet sub-1"
    inst = make_instance(env.image_id)
    await env.build(inst)
    assert env.conductor.faults[inst["uuid"]]["message"] == (
        f"Failed to create a port on network {NET_ID}: "
        "IP address 10.0.0.5 already allocated in subnet sub-1")
    assert env.images.downloads == []  # it stopped before the image
    assert_nothing_left(env, inst)


async def test_second_port_fails_first_is_deleted(env):
    inst = make_instance(env.image_id, networks=[{"network_id": NET_ID},
                                                 {"network_id": "0bad0000-0000-4000-8000-000000000000"}])
    await env.build(inst)
    assert "Failed to create a port on network 0bad0000" in env.conductor.faults[inst["uuid"]]["message"]
    assert env.network.ports == {}
    assert_nothing_left(env, inst)


async def test_deleted_during_build_undoes_everything(env):
    """The API moved the instance to task_state deleting while the agent was networking."""
    inst = make_instance(env.image_id)
    original = env.conductor.instance_update

    async def delete_meanwhile(instance_id, values):
        if values.get("task_state") == "block_device_mapping":
            env.conductor.rows[instance_id]["task_state"] = "deleting"
        return await original(instance_id, values)

    env.conductor.instance_update = delete_meanwhile
    await env.build(inst)
    assert env.images.downloads == []
    assert env.network.ports == {}
    assert inst["uuid"] not in env.driver.guests
    assert instance_dirs(env) == []


async def test_concurrent_builds_of_one_image_download_once(env):
    insts = [make_instance(env.image_id) for _ in range(3)]
    for inst in insts:
        env.conductor.rows[inst["uuid"]] = dict(inst)
        await env.rt.bus.cast("compute.testhost", "build_instance", instance=inst)
    await env.rt.bus.drain()
    assert env.images.downloads == [env.image_id]
    assert all(env.conductor.rows[i["uuid"]]["vm_state"] == "active" for i in insts)
    assert len(instance_dirs(env)) == 3


# -- terminate ----------------------------------------------------------------------
async def test_terminate(env):
    user_port = env.network.add_port()
    inst = make_instance(env.image_id, networks=[{"network_id": NET_ID}, {"port_id": user_port["id"]}])
    row = await env.build(inst)
    created = row["network_info"][0]["port_id"]
    assert (env.instances_dir / inst["uuid"]).is_dir()

    await env.terminate(inst)
    assert env.conductor.destroyed == [inst["uuid"]]
    assert inst["uuid"] not in env.driver.guests
    assert not (env.instances_dir / inst["uuid"]).exists()
    assert ("DELETE", f"/v2.0/ports/{created}", None) in env.network.calls
    assert created not in env.network.ports
    kept = env.network.ports[user_port["id"]]
    assert (kept["device_id"], kept["device_owner"], kept["binding:host_id"]) == ("", "", "")
    # the cached image stays for the next build
    assert (env.instances_dir / "_base" / env.image_id).exists()


async def test_terminate_finds_ports_missing_from_network_info(env):
    """A port created just before a crash is found by device_id and deleted."""
    inst = make_instance(env.image_id)
    row = await env.build(inst)
    orphan = env.network.add_port(device_id=inst["uuid"], device_owner="compute:nova")
    env.conductor.rows[inst["uuid"]] = dict(row)
    await env.terminate(inst)
    assert env.network.ports == {}
    assert ("DELETE", f"/v2.0/ports/{orphan['id']}", None) in env.network.calls


async def test_terminate_of_a_failed_build_still_destroys(env):
    env.images.file_status = 500
    inst = make_instance(env.image_id)
    await env.build(inst)
    await env.terminate(inst)
    assert env.conductor.destroyed == [inst["uuid"]]


async def test_terminate_failure_keeps_the_instance_and_faults(env):
    inst = make_instance(env.image_id)
    await env.build(inst)

    async def broken(instance):
        raise base.VirtError("Failed to stop the domain: Device or resource busy")

    env.driver.destroy = broken
    await env.terminate(inst)
    assert env.conductor.destroyed == []
    assert "Device or resource busy" in env.conductor.faults[inst["uuid"]]["message"]
    assert (env.instances_dir / inst["uuid"]).is_dir()
