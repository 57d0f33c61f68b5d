"""Test doubles for the compute API tests (no tests here).

- :class:`FakeCloud`: tiny image and network APIs (Starlette apps mounted on
  the image and network endpoints) holding images, networks and ports;
- :func:`fake_agent`: a component standing in for the compute agent on
  ``compute.testhost``: it reports a compute node, heartbeats, and drives
  instances through the conductor (build -> active with a port per requested
  network; terminate -> destroyed; console -> text; stop/start/reboot ->
  stopped/active, unless ``hold_power``);
- :func:`validate`: checks a response against a Tempest response schema.
"""
from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.runtime import Component
from tests.fakes import PROJECTS

DEMO, ALT, ADMIN = PROJECTS["demo"], PROJECTS["alt"], PROJECTS["admin"]

# An RSA public key generated for these tests.
SSH_KEY = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC80r5fhaN60F+X/ktwwt57ouJwOpziz7ZTKdNSMy4Zyf2k"
           "EE2JxDDwCQvurWJhyzOgig1GGTXEdIcTQ1GTyyGFjDKmo9fVeNBd244hUngzZ80vCgXVWtR14EUeNEprOd+uF5BN"
           "W8SkzA7TBcDZ+l08zyqLktVwYkC2JJQgaSHevw== test@kumo")


def validate(schema: dict, response) -> None:
    """Assert ``response`` matches a Tempest response schema (status code and body)."""
    from tempest.lib.common.jsonschema_validator import FORMAT_CHECKER, JSONSCHEMA_VALIDATOR
    assert response.status_code in schema["status_code"], (response.status_code, response.text)
    if "response_body" in schema:
        JSONSCHEMA_VALIDATOR(schema["response_body"], format_checker=FORMAT_CHECKER).validate(
            response.json())


def mv(version: str) -> dict:
    return {"OpenStack-API-Version": f"compute {version}"}


class FakeCloud:
    """Images, networks and ports behind fake image/network APIs."""

    def __init__(self):
        self.images: dict[str, dict] = {}
        self.members: dict[tuple[str, str], dict] = {}
        self.networks: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.deleted_ports: list[str] = []

    def add_image(self, status="active", owner=DEMO, visibility="public", size=1024 ** 2, **kw) -> str:
        image_id = str(uuid.uuid4())
        self.images[image_id] = {"id": image_id, "name": f"img-{image_id[:4]}", "status": status,
                                 "owner": owner, "visibility": visibility, "size": size,
                                 "min_disk": 0, "min_ram": 0, "disk_format": "qcow2",
                                 "container_format": "bare", **kw}
        return image_id

    def add_network(self, name: str, project=DEMO, shared=False) -> str:
        net_id = str(uuid.uuid4())
        self.networks[net_id] = {"id": net_id, "name": name, "project_id": project,
                                 "tenant_id": project, "shared": shared, "status": "ACTIVE",
                                 "router:external": False}
        return net_id

    def add_port(self, network_id: str, project=DEMO, device_id="") -> str:
        port_id = str(uuid.uuid4())
        self.ports[port_id] = {"id": port_id, "network_id": network_id, "project_id": project,
                               "device_id": device_id, "mac_address": "fa:16:3e:00:00:99",
                               "fixed_ips": [{"ip_address": "10.0.0.99", "subnet_id": "s1"}]}
        return port_id

    def image_app(self) -> Starlette:
        async def show(request: Request):
            image = self.images.get(request.path_params["image_id"])
            return JSONResponse(image) if image else Response("404 Not Found", 404)

        async def member(request: Request):
            m = self.members.get((request.path_params["image_id"], request.path_params["member"]))
            return JSONResponse(m) if m else Response("404 Not Found", 404)

        return Starlette(routes=[Route("/v2/images/{image_id}", show),
                                 Route("/v2/images/{image_id}/members/{member}", member)])

    def network_app(self) -> Starlette:
        async def list_networks(request: Request):
            nets = list(self.networks.values())
            q = request.query_params
            if "project_id" in q:
                nets = [n for n in nets if n["project_id"] == q["project_id"]]
            if "shared" in q:
                nets = [n for n in nets if n["shared"] == (q["shared"].lower() == "true")]
            return JSONResponse({"networks": nets})

        async def show_network(request: Request):
            net = self.networks.get(request.path_params["id"])
            return JSONResponse({"network": net}) if net else JSONResponse({"NeutronError": {}}, 404)

        async def port(request: Request):
            port_id = request.path_params["id"]
            if port_id not in self.ports:
                return JSONResponse({"NeutronError": {}}, 404)
            if request.method == "DELETE":
                self.ports.pop(port_id)
                self.deleted_ports.append(port_id)
                return Response(status_code=204)
            if request.method == "PUT":
                self.ports[port_id].update((await request.json())["port"])
            return JSONResponse({"port": self.ports[port_id]})

        return Starlette(routes=[Route("/v2.0/networks", list_networks),
                                 Route("/v2.0/networks/{id}", show_network),
                                 Route("/v2.0/ports/{id}", port, methods=["GET", "PUT", "DELETE"])])

    def mount(self, rt, router) -> None:
        router.add(rt.settings.endpoint("image"), self.image_app())
        router.add(rt.settings.endpoint("network"), self.network_app())


class FakeAgent:
    """``compute.<host>`` endpoint driving instances through the conductor like the real agent."""

    def __init__(self, rt, cloud: FakeCloud, fail_build: str | None = None):
        self.rt, self.cloud, self.fail_build = rt, cloud, fail_build
        self.built: list[str] = []
        self.terminated: list[str] = []
        self.power_calls: list[tuple] = []  # (action, uuid, task_state[, reboot_type])
        self.hold_power = False

    async def _update(self, inst_id: str, **values) -> dict:
        return await self.rt.bus.call("conductor", "instance_update", instance_id=inst_id, values=values)

    async def build_instance(self, instance: dict) -> None:
        inst_id = instance["uuid"]
        try:
            await self._update(inst_id, task_state="networking", expected_task_state="scheduling")
            vifs = []
            for n, req in enumerate(instance["requested_networks"]):
                port_id = req["port_id"] or self.cloud.add_port(req["network_id"], instance["project_id"])
                self.cloud.ports[port_id]["device_id"] = inst_id
                net = self.cloud.networks[req["network_id"]]
                vifs.append({"port_id": port_id, "network_id": net["id"], "network_name": net["name"],
                             "mac_address": f"fa:16:3e:00:00:{n:02x}",
                             "fixed_ips": [{"ip_address": req["fixed_ip"] or f"10.0.0.{10 + n}",
                                            "subnet_id": "s1", "version": 4}],
                             "vif_type": "bridge", "bridge": "brq", "devname": "tap" + port_id[:11],
                             "created_port": req["port_id"] is None})
            await self._update(inst_id, network_info=vifs, task_state="block_device_mapping")
            await self._update(inst_id, task_state="spawning")
            if self.fail_build:
                raise RuntimeError(self.fail_build)
            await self._update(inst_id, vm_state="active", power_state=1, task_state=None,
                               launched_at=datetime.now(timezone.utc).isoformat(),
                               expected_task_state="spawning")
            self.built.append(inst_id)
        except Exception as e:  # undo (nothing on a fake host) and report, as the agent does
            await self.rt.bus.call("conductor", "instance_fault", instance_id=inst_id,
                                   message=f"Build of instance {inst_id} failed: {e}")

    async def terminate_instance(self, instance: dict) -> None:
        self.terminated.append(instance["uuid"])
        await self.rt.bus.call("conductor", "instance_destroyed", instance_id=instance["uuid"])

    async def get_console_output(self, instance: dict, length: int | None) -> str:
        lines = [f"line {i}" for i in range(1, 6)] + [f"\x1b{instance['hostname']} login: "]
        return "\n".join(lines[-length:] if length else lines)

    async def _power(self, instance: dict, call: tuple, vm_state: str, power_state: int) -> None:
        self.power_calls.append(call)
        if not self.hold_power:  # held: the task stays in progress (as while a guest shuts down)
            await self._update(instance["uuid"], vm_state=vm_state, power_state=power_state, task_state=None)

    async def stop_instance(self, instance: dict) -> None:
        await self._power(instance, ("stop", instance["uuid"], instance["task_state"]), "stopped", 4)

    async def start_instance(self, instance: dict) -> None:
        await self._power(instance, ("start", instance["uuid"], instance["task_state"]), "active", 1)

    async def reboot_instance(self, instance: dict, reboot_type: str = "SOFT") -> None:
        await self._power(instance, ("reboot", instance["uuid"], instance["task_state"], reboot_type),
                          "active", 1)



def fake_agent(cloud: FakeCloud, memory_mb=4096, vcpus=4, local_gb=100, host="testhost", **kw):
    """A component factory for :class:`FakeAgent` on ``host`` with the given totals."""
    def factory(rt):
        agent = FakeAgent(rt, cloud, **kw)

        async def start():
            await rt.bus.serve("compute", agent, server=host)
            await rt.bus.call("conductor", "service_heartbeat", host=host, binary="nova-compute",
                              topic="compute")
            await rt.bus.call("conductor", "report_compute_node", node={
                "host": host, "hypervisor_hostname": f"{host}.local", "hypervisor_type": "QEMU",
                "hypervisor_version": 7002000, "vcpus": vcpus, "memory_mb": memory_mb,
                "local_gb": local_gb, "cpu_info": '{"arch": "x86_64"}', "host_ip": "192.0.2.10"})

        async def stop():
            await rt.bus.unserve(agent)

        comp = Component(name="fake-agent", starters=[start], stoppers=[stop])
        comp.agent = agent
        return comp
    return factory


def user_data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
