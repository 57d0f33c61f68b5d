"""A fake Networking API for the compute API's network proxies: the ports and networks of
tests/api/test_compute_agent.py plus security groups, their rules, floating IPs and subnets
(Networking API v2.0 shapes), and a ``cloud`` fixture with the real compute API, scheduler and
agent (fake driver) in front of it.

The fake scopes lists and lookups to the caller's project unless the token is an admin's, as
the network API does, so the tests see whether the compute API passes the caller's token.
"""
from __future__ import annotations

import uuid as uuidlib

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kumo.common.api import context, create_app
from kumo.common.api.errors import Conflict, NotFound
from kumo.compute import agent as compute_agent
from kumo.compute import api as compute_api
from kumo.compute import scheduler
from tests.api.test_compute_agent import NET_ID, PROJECT, FakeImageAPI, FakeNetworkAPI, wait_until
from tests.fakes import FakeValidator

EXT_ID = "5a3e1c2b-0000-4000-8000-00000000eeee"


class FakeNeutron(FakeNetworkAPI):
    """Networking API v2.0: networks, subnets, ports, security groups and rules, floating IPs."""

    def __init__(self):
        super().__init__()
        self.networks[EXT_ID] = {"id": EXT_ID, "name": "public", "project_id": "admin-project",
                                 "shared": False, "router:external": True, "subnets": []}
        self.networks[NET_ID]["subnets"] = ["11111111-2222-4333-8444-555555555555"]
        self.subnets = {"11111111-2222-4333-8444-555555555555": {
            "id": "11111111-2222-4333-8444-555555555555", "network_id": NET_ID, "ip_version": 4,
            "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "enable_dhcp": True, "project_id": PROJECT}}
        self.groups: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.fips: dict[str, dict] = {}
        self.free_fips = [f"172.24.4.{n}" for n in range(10, 20)]
        self.app = create_app(style="neutron", validator=FakeValidator(), routes=self.app.routes + [
            Route("/v2.0/subnets", self.list_subnets, methods=["GET"]),
            Route("/v2.0/security-groups", self.list_groups, methods=["GET"]),
            Route("/v2.0/security-groups", self.create_group, methods=["POST"]),
            Route("/v2.0/security-groups/{id}", self.show_group, methods=["GET"]),
            Route("/v2.0/security-groups/{id}", self.update_group, methods=["PUT"]),
            Route("/v2.0/security-groups/{id}", self.delete_group, methods=["DELETE"]),
            Route("/v2.0/security-group-rules", self.create_rule, methods=["POST"]),
            Route("/v2.0/security-group-rules/{id}", self.show_rule, methods=["GET"]),
            Route("/v2.0/security-group-rules/{id}", self.delete_rule, methods=["DELETE"]),
            Route("/v2.0/floatingips", self.list_fips, methods=["GET"]),
            Route("/v2.0/floatingips", self.create_fip, methods=["POST"]),
            Route("/v2.0/floatingips/{id}", self.show_fip, methods=["GET"]),
            Route("/v2.0/floatingips/{id}", self.update_fip, methods=["PUT"]),
            Route("/v2.0/floatingips/{id}", self.delete_fip, methods=["DELETE"]),
        ])

    @staticmethod
    def _visible(request: Request, resource: dict) -> bool:
        ctx = context(request)
        return "admin" in ctx.roles or resource.get("project_id") == ctx.project_id

    # -- networks, subnets, ports --------------------------------------------------
    async def list_networks(self, request: Request):
        nets = list(self.networks.values())
        if request.query_params.get("router:external") == "true":
            nets = [n for n in nets if n.get("router:external")]
        if request.query_params.get("project_id"):
            nets = [n for n in nets if n["project_id"] == request.query_params["project_id"]]
        if request.query_params.get("shared") == "true":
            nets = [n for n in nets if n["shared"]]
        return JSONResponse({"networks": nets})

    async def list_subnets(self, request: Request):
        return JSONResponse({"subnets": list(self.subnets.values())})

    async def list_ports(self, request: Request):
        q = request.query_params
        ports = [p for p in self.ports.values() if q.get("device_id") in (None, p["device_id"])
                 and q.get("network_id") in (None, p["network_id"])]
        return JSONResponse({"ports": ports})

    def add_port(self, network_id=NET_ID, **over) -> dict:
        port = super().add_port(network_id, **over)
        port.setdefault("security_groups", [])
        port.setdefault("status", "ACTIVE")
        return port

    # -- security groups ------------------------------------------------------------------
    def group(self, name: str, project: str = PROJECT) -> dict:
        gid = str(uuidlib.uuid4())
        self.groups[gid] = {"id": gid, "name": name, "description": "", "project_id": project,
                            "tenant_id": project, "security_group_rules": []}
        return self.groups[gid]

    def _group(self, request: Request) -> dict:
        group = self.groups.get(request.path_params["id"])
        if group is None or not self._visible(request, group):
            raise NotFound(f"Security group {request.path_params['id']} does not exist",
                           kind="SecurityGroupNotFound")
        return group

    def _with_rules(self, group: dict) -> dict:
        return dict(group, security_group_rules=[r for r in self.rules.values()
                                                 if r["security_group_id"] == group["id"]])

    async def list_groups(self, request: Request):
        q = request.query_params
        ids = q.getlist("id")
        found = [g for g in self.groups.values() if self._visible(request, g)
                 and q.get("project_id") in (None, g["project_id"]) and q.get("name") in (None, g["name"])
                 and (not ids or g["id"] in ids)]
        return JSONResponse({"security_groups": [self._with_rules(g) for g in found]})

    async def create_group(self, request: Request):
        body = (await request.json())["security_group"]
        group = self.group(body["name"], context(request).project_id)
        group["description"] = body.get("description", "")
        return JSONResponse({"security_group": self._with_rules(group)}, status_code=201)

    async def show_group(self, request: Request):
        return JSONResponse({"security_group": self._with_rules(self._group(request))})

    async def update_group(self, request: Request):
        group = self._group(request)
        group.update((await request.json())["security_group"])
        return JSONResponse({"security_group": self._with_rules(group)})

    async def delete_group(self, request: Request):
        group = self._group(request)
        if group["name"] == "default":
            raise Conflict("Insufficient rights for removing default security group.",
                           kind="SecurityGroupCannotRemoveDefault")
        if any(group["id"] in p.get("security_groups", []) for p in self.ports.values()):
            raise Conflict(f"Security Group {group['id']} in use.", kind="SecurityGroupInUse")
        del self.groups[group["id"]]
        for rid in [r for r, rule in self.rules.items() if group["id"] in (
                rule["security_group_id"], rule.get("remote_group_id"))]:
            del self.rules[rid]
        return Response(status_code=204)

    async def create_rule(self, request: Request):
        body = (await request.json())["security_group_rule"]
        keys = ("security_group_id", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
                "remote_group_id", "direction")
        for rule in self.rules.values():
            if all(rule.get(k) == body.get(k) for k in keys):
                raise Conflict("Security group rule already exists.", kind="SecurityGroupRuleExists")
        rid = str(uuidlib.uuid4())
        rule = {"id": rid, "ethertype": "IPv4", "protocol": None, "port_range_min": None,
                "port_range_max": None, "remote_ip_prefix": None, "remote_group_id": None,
                "project_id": context(request).project_id}
        rule.update(body)
        self.rules[rid] = rule
        return JSONResponse({"security_group_rule": rule}, status_code=201)

    def _rule(self, request: Request) -> dict:
        rule = self.rules.get(request.path_params["id"])
        if rule is None or not self._visible(request, rule):
            raise NotFound("Security group rule could not be found.", kind="SecurityGroupRuleNotFound")
        return rule

    async def show_rule(self, request: Request):
        return JSONResponse({"security_group_rule": self._rule(request)})

    async def delete_rule(self, request: Request):
        del self.rules[self._rule(request)["id"]]
        return Response(status_code=204)

    # -- floating IPs -------------------------------------------------------------------------
    def _fip(self, request: Request) -> dict:
        fip = self.fips.get(request.path_params["id"])
        if fip is None or not self._visible(request, fip):
            raise NotFound("Floating IP could not be found.", kind="FloatingIPNotFound")
        return fip

    async def list_fips(self, request: Request):
        q = request.query_params
        found = [f for f in self.fips.values() if self._visible(request, f)
                 and q.get("project_id") in (None, f["project_id"])
                 and q.get("floating_ip_address") in (None, f["floating_ip_address"])
                 and q.get("port_id") in (None, f["port_id"])]
        return JSONResponse({"floatingips": found})

    async def create_fip(self, request: Request):
        body = (await request.json())["floatingip"]
        if body["floating_network_id"] not in self.networks:
            raise NotFound("Network could not be found.", kind="NetworkNotFound")
        if not self.free_fips:
            raise Conflict("No more IP addresses available.", kind="IpAddressGenerationFailure")
        fid = str(uuidlib.uuid4())
        self.fips[fid] = {"id": fid, "floating_ip_address": self.free_fips.pop(0),
                          "floating_network_id": body["floating_network_id"], "port_id": None,
                          "fixed_ip_address": None, "project_id": context(request).project_id,
                          "status": "DOWN"}
        return JSONResponse({"floatingip": self.fips[fid]}, status_code=201)

    async def show_fip(self, request: Request):
        return JSONResponse({"floatingip": self._fip(request)})

    async def update_fip(self, request: Request):
        fip = self._fip(request)
        body = (await request.json())["floatingip"]
        port_id = body.get("port_id")
        if port_id and any(f["port_id"] == port_id for f in self.fips.values() if f["id"] != fip["id"]):
            raise Conflict("Port already has a floating IP.", kind="FloatingIPPortAlreadyAssociated")
        fip.update(port_id=port_id, fixed_ip_address=body.get("fixed_ip_address") if port_id else None)
        return JSONResponse({"floatingip": fip})

    async def delete_fip(self, request: Request):
        del self.fips[self._fip(request)["id"]]
        return Response(status_code=204)


@pytest.fixture
async def cloud(rt, router, mount):
    """Compute API + scheduler + agent (fake driver) over :class:`FakeNeutron` and a fake image API;
    ``demo`` / ``admin`` / ``alt`` / ``reader`` clients and a bootable ``image``."""
    from tests.api.test_compute_agent import bootable_raw
    network, images = FakeNeutron(), FakeImageAPI()
    router.add(rt.settings.endpoint("network"), network.app)
    router.add(rt.settings.endpoint("image"), images.app)
    demo = await mount(compute_api.component)
    await mount(scheduler.component)
    agent = await mount(compute_agent.component)
    await wait_until(lambda: agent.manager.last_report is not None)
    clients = {name: httpx.AsyncClient(transport=router, base_url=str(demo.base_url),
                                       headers={"X-Auth-Token": f"{name}-token"}, timeout=30)
               for name in ("admin", "alt", "reader")}
    r = await clients["admin"].post("/v2.1/flavors", json={"flavor": {"name": "m1.tiny", "id": "1", "ram": 512,
                                                                      "vcpus": 1, "disk": 1}})
    assert r.status_code == 200, r.text
    yield type("Cloud", (), {"demo": demo, "network": network, "images": images, "agent": agent, "rt": rt,
                             "image": images.add(bootable_raw()), **clients})
    for c in clients.values():
        await c.aclose()
