"""Cross-project isolation matrix: every resource type, every service (issue 3, item 4).

Projects A and B each have a member; A also has a reader. For each row:

- ``CROSS``: A's member tries an operation on B's resource and gets 404 (or
  403 where the API says so); B still sees its resource, unchanged.
- ``LISTS``: B's resource never shows up in A's member's list.
- ``READER``: A's reader tries to change A's own resource (or create one) and
  gets 403; A's member still sees it unchanged.

Adding a resource type: build it in the service's ``*_world`` (an id for A and
one for B under the same placeholder, and a probe path its owner can GET),
then add one line per operation below. Placeholders in paths and bodies are
``{name}`` keys of the world's ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import httpx
import pytest

from kumo.compute import api as compute_api
from kumo.compute import scheduler
from kumo.identity import passwords
from kumo.identity.api import component as identity_component
from kumo.identity.bootstrap import bootstrap
from kumo.image.api import component as image_component
from kumo.network.api import component as network_component
from tests.api.test_compute_fakes import SSH_KEY, FakeCloud, fake_agent
from tests.api.test_identity_base import ADMIN_PASSWORD, SERVICE_PASSWORD, hdr, issue, make_project, make_user
from tests.fakes import PROJECTS, user_id

A, A_READER, B = "a", "a_reader", "b"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
MV = {"X-OpenStack-Nova-API-Version": "2.10"}


@dataclass(frozen=True)
class Op:
    """One request: ``who`` (A or A's reader) against the resource ``resource`` of ``whose``."""

    service: str
    resource: str
    action: str
    method: str
    path: str
    body: object = None
    status: int = 404
    headers: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.resource}-{self.action}"


@dataclass(frozen=True)
class Listing:
    """A list of ``service`` that must not show B's ``resource`` to A's member."""

    service: str
    resource: str
    path: str
    ids: Callable[[dict], list[str]]
    #: A's member sees its own resource in the same list (False where A has none there).
    a_sees_own: bool = True

    @property
    def name(self) -> str:
        return f"{self.service}-{self.resource}-list:{self.path}"


def _key(collection: str, attr: str = "id") -> Callable[[dict], list[str]]:
    return lambda body: [item[attr] for item in body[collection]]


SERVER = "/v2.1/servers/{server}"
NET, SUBNET, PORT = "/v2.0/networks/{network}", "/v2.0/subnets/{subnet}", "/v2.0/ports/{port}"
SG, SG_RULE = "/v2.0/security-groups/{security_group}", "/v2.0/security-group-rules/{security_group_rule}"
ROUTER, FIP = "/v2.0/routers/{router}", "/v2.0/floatingips/{floatingip}"
POOL, SCOPE = "/v2.0/subnetpools/{subnetpool}", "/v2.0/address-scopes/{address_scope}"
IMAGE = "/v2/images/{image}"
SHARED, NS = "/v2/images/{shared}", "/v2/metadefs/namespaces/{namespace}"
OCTETS = {"Content-Type": "application/octet-stream"}
#: server lifecycle actions (kumo/compute/api/lifecycle.py) and a valid body for each
LIFECYCLE = [("pause", None), ("suspend", None), ("rescue", None), ("rebuild", {"imageRef": "{image}"}),
             ("resize", {"flavorRef": "1"}), ("createImage", {"name": "snap"}), ("shelve", None),
             ("createBackup", {"name": "b", "backup_type": "daily", "rotation": 1})]
CROSS = [
    Op("compute", "server", "show", "GET", SERVER),
    Op("compute", "server", "update", "PUT", SERVER, {"server": {"name": "taken"}}),
    Op("compute", "server", "delete", "DELETE", SERVER),
    Op("compute", "server", "stop", "POST", SERVER + "/action", {"os-stop": None}),
    Op("compute", "server", "start", "POST", SERVER + "/action", {"os-start": None}),
    Op("compute", "server", "reboot", "POST", SERVER + "/action", {"reboot": {"type": "HARD"}}),
    Op("compute", "server", "console-output", "POST", SERVER + "/action", {"os-getConsoleOutput": {}}),
    *[Op("compute", "server", name, "POST", SERVER + "/action", {name: args}) for name, args in LIFECYCLE],
    Op("compute", "server", "ips", "GET", SERVER + "/ips"),
    Op("compute", "server", "volume-attachments", "GET", SERVER + "/os-volume_attachments"),
    Op("compute", "server", "metadata-show", "GET", SERVER + "/metadata"),
    Op("compute", "server", "metadata-set", "PUT", SERVER + "/metadata/k", {"meta": {"k": "w"}}),
    Op("compute", "server", "metadata-delete", "DELETE", SERVER + "/metadata/k"),
    Op("compute", "keypair", "show", "GET", "/v2.1/os-keypairs/{keypair}"),
    Op("compute", "keypair", "delete", "DELETE", "/v2.1/os-keypairs/{keypair}"),
    Op("compute", "keypair", "show-by-user_id", "GET", "/v2.1/os-keypairs/{keypair}?user_id={user}",
       status=403, headers=MV),
    Op("compute", "flavor", "show", "GET", "/v2.1/flavors/{flavor}"),
    Op("compute", "flavor", "extra-specs", "GET", "/v2.1/flavors/{flavor}/os-extra_specs"),
    Op("compute", "flavor", "access-list", "GET", "/v2.1/flavors/{flavor}/os-flavor-access", status=403),
    Op("compute", "flavor", "add-tenant-access", "POST", "/v2.1/flavors/{flavor}/action",
       {"addTenantAccess": {"tenant": PROJECTS["demo"]}}, status=403),
    Op("compute", "quota", "show", "GET", "/v2.1/os-quota-sets/{project}", status=403),
    Op("compute", "quota", "limits", "GET", "/v2.1/limits?tenant_id={project}", status=403),
    Op("compute", "quota", "update", "PUT", "/v2.1/os-quota-sets/{project}", {"quota_set": {"ram": 1}}, 403),
    Op("compute", "quota", "delete", "DELETE", "/v2.1/os-quota-sets/{project}", status=403),
    Op("compute", "quota", "usage", "GET", "/v2.1/os-simple-tenant-usage/{project}", status=403),
    Op("compute", "server_group", "show", "GET", "/v2.1/os-server-groups/{server_group}"),
    Op("compute", "server_group", "delete", "DELETE", "/v2.1/os-server-groups/{server_group}"),
    Op("network", "network", "show", "GET", NET),
    Op("network", "network", "update", "PUT", NET, {"network": {"name": "taken"}}),
    Op("network", "network", "delete", "DELETE", NET),
    Op("network", "network", "tag-add", "PUT", NET + "/tags/red"),
    Op("network", "network", "subnet-create", "POST", "/v2.0/subnets",
       {"subnet": {"network_id": "{network}", "cidr": "10.77.0.0/24", "ip_version": 4}}),
    Op("network", "network", "port-create", "POST", "/v2.0/ports", {"port": {"network_id": "{network}"}}),
    Op("network", "subnet", "show", "GET", SUBNET),
    Op("network", "subnet", "update", "PUT", SUBNET, {"subnet": {"name": "taken"}}),
    Op("network", "subnet", "delete", "DELETE", SUBNET),
    Op("network", "port", "show", "GET", PORT),
    Op("network", "port", "update", "PUT", PORT, {"port": {"name": "taken"}}),
    Op("network", "port", "delete", "DELETE", PORT),
    Op("network", "port", "tags", "GET", PORT + "/tags"),
    Op("network", "security_group", "show", "GET", SG),
    Op("network", "security_group", "update", "PUT", SG, {"security_group": {"name": "taken"}}),
    Op("network", "security_group", "delete", "DELETE", SG),
    Op("network", "security_group", "rule-create", "POST", "/v2.0/security-group-rules",
       {"security_group_rule": {"security_group_id": "{security_group}", "direction": "ingress"}}),
    Op("network", "security_group_rule", "show", "GET", SG_RULE),
    Op("network", "security_group_rule", "delete", "DELETE", SG_RULE),
    Op("network", "router", "show", "GET", ROUTER),
    Op("network", "router", "update", "PUT", ROUTER, {"router": {"name": "taken"}}),
    Op("network", "router", "delete", "DELETE", ROUTER),
    Op("network", "router", "add-interface", "PUT", ROUTER + "/add_router_interface",
       {"subnet_id": "{subnet}"}),
    Op("network", "floatingip", "show", "GET", FIP),
    Op("network", "floatingip", "update", "PUT", FIP, {"floatingip": {"description": "taken"}}),
    Op("network", "floatingip", "delete", "DELETE", FIP),
    Op("network", "subnetpool", "show", "GET", POOL),
    Op("network", "subnetpool", "update", "PUT", POOL, {"subnetpool": {"name": "taken"}}),
    Op("network", "subnetpool", "delete", "DELETE", POOL),
    Op("network", "subnetpool", "add-prefixes", "PUT", POOL + "/add_prefixes", {"prefixes": ["10.99.0.0/24"]}),
    Op("network", "subnetpool", "tag-add", "PUT", POOL + "/tags/red"),
    Op("network", "subnetpool", "subnet-create", "POST", "/v2.0/subnets",
       {"subnet": {"network_id": "{network}", "subnetpool_id": "{subnetpool}", "ip_version": 4}}),
    Op("network", "address_scope", "show", "GET", SCOPE),
    Op("network", "address_scope", "update", "PUT", SCOPE, {"address_scope": {"name": "taken"}}),
    Op("network", "address_scope", "delete", "DELETE", SCOPE),
    Op("image", "image", "show", "GET", IMAGE),
    Op("image", "image", "update", "PATCH", IMAGE, [{"op": "replace", "path": "/name", "value": "x"}],
       headers=PATCH),
    Op("image", "image", "delete", "DELETE", IMAGE),
    Op("image", "image", "download", "GET", IMAGE + "/file"),
    Op("image", "image", "tag-add", "PUT", IMAGE + "/tags/red"),
    Op("image", "image", "tag-delete", "DELETE", IMAGE + "/tags/blue"),
    Op("image", "image", "members", "GET", IMAGE + "/members"),
    Op("image", "shared", "members", "GET", SHARED + "/members"),
    Op("image", "shared", "member-show", "GET", SHARED + "/members/{member}"),
    Op("image", "shared", "member-add", "POST", SHARED + "/members", {"member": "{own_project}"}),
    Op("image", "shared", "member-accept", "PUT", SHARED + "/members/{member}", {"status": "accepted"}),
    Op("image", "shared", "member-delete", "DELETE", SHARED + "/members/{member}"),
    Op("image", "shared", "show", "GET", SHARED),
    Op("image", "shared", "update", "PATCH", SHARED, [{"op": "replace", "path": "/name", "value": "x"}],
       headers=PATCH),
    Op("image", "shared", "stage", "PUT", SHARED + "/stage", headers=OCTETS),
    Op("image", "shared", "import", "POST", SHARED + "/import", {"method": {"name": "glance-direct"}}),
    Op("image", "image", "deactivate", "POST", IMAGE + "/actions/deactivate"),
    Op("image", "image", "tasks", "GET", "/v2/tasks", status=403),
    Op("image", "image", "task-create", "POST", "/v2/tasks", {"type": "import", "input": {}}, 403),
    Op("image", "image", "cache-list", "GET", "/v2/cache", status=403),
    Op("image", "image", "cache-queue", "PUT", "/v2/cache/{image}", status=403),
    Op("image", "image", "cache-delete", "DELETE", "/v2/cache/{image}", status=403),
    Op("image", "namespace", "show", "GET", NS),
    Op("image", "namespace", "update", "PUT", NS, {"namespace": "{namespace}", "description": "x"}),
    Op("image", "namespace", "delete", "DELETE", NS),
    Op("image", "namespace", "tag-add", "POST", NS + "/tags/red"),
    Op("identity", "project", "show", "GET", "/v3/projects/{project}", status=403),
    Op("identity", "project", "update", "PATCH", "/v3/projects/{project}", {"project": {"description": "x"}},
       status=403),
    Op("identity", "project", "delete", "DELETE", "/v3/projects/{project}", status=403),
    Op("identity", "project", "role-assignments", "GET", "/v3/role_assignments?scope.project.id={project}",
       status=403),
    Op("identity", "project", "grants", "GET", "/v3/projects/{project}/users/{user}/roles", status=403),
    Op("identity", "user", "show", "GET", "/v3/users/{user}", status=403),
    Op("identity", "user", "update", "PATCH", "/v3/users/{user}", {"user": {"description": "x"}}, status=403),
    Op("identity", "user", "delete", "DELETE", "/v3/users/{user}", status=403),
    Op("identity", "user", "projects", "GET", "/v3/users/{user}/projects", status=403),
    Op("identity", "user", "groups", "GET", "/v3/users/{user}/groups", status=403),
    Op("identity", "credential", "show", "GET", "/v3/credentials/{credential}", status=403),
    Op("identity", "credential", "update", "PATCH", "/v3/credentials/{credential}",
       {"credential": {"blob": "stolen"}}, status=403),
    Op("identity", "credential", "delete", "DELETE", "/v3/credentials/{credential}", status=403),
    Op("identity", "app_credential", "list", "GET", "/v3/users/{user}/application_credentials", status=403),
    Op("identity", "app_credential", "show", "GET", "/v3/users/{user}/application_credentials/{app_credential}",
       status=403),
    Op("identity", "app_credential", "delete", "DELETE",
       "/v3/users/{user}/application_credentials/{app_credential}", status=403),
]

LISTS = [
    Listing("compute", "server", "/v2.1/servers", _key("servers")),
    Listing("compute", "server", "/v2.1/servers/detail", _key("servers")),
    Listing("compute", "server", "/v2.1/servers?all_tenants=0", _key("servers")),
    Listing("compute", "keypair", "/v2.1/os-keypairs", lambda b: [k["keypair"]["name"] for k in b["keypairs"]]),
    Listing("compute", "server_group", "/v2.1/os-server-groups", _key("server_groups")),
    Listing("compute", "flavor", "/v2.1/flavors", _key("flavors"), a_sees_own=False),
    Listing("compute", "flavor", "/v2.1/flavors/detail?is_public=none", _key("flavors"), a_sees_own=False),
    Listing("network", "network", "/v2.0/networks", _key("networks")),
    Listing("network", "subnet", "/v2.0/subnets", _key("subnets")),
    Listing("network", "port", "/v2.0/ports", _key("ports")),
    Listing("network", "port", "/v2.0/ports?network_id={network}", _key("ports"), a_sees_own=False),
    Listing("network", "security_group", "/v2.0/security-groups", _key("security_groups")),
    Listing("network", "security_group_rule", "/v2.0/security-group-rules", _key("security_group_rules")),
    Listing("network", "router", "/v2.0/routers", _key("routers")),
    Listing("network", "floatingip", "/v2.0/floatingips", _key("floatingips")),
    Listing("network", "subnetpool", "/v2.0/subnetpools", _key("subnetpools")),
    Listing("network", "address_scope", "/v2.0/address-scopes", _key("address_scopes")),
    Listing("image", "image", "/v2/images", _key("images")),
    Listing("image", "image", "/v2/images?visibility=private", _key("images")),
    Listing("identity", "project", "/v3/auth/projects", _key("projects")),
    Listing("identity", "project", "/v3/users/{own_user}/projects", _key("projects")),
    Listing("identity", "credential", "/v3/credentials", _key("credentials")),
]

READER = [
    Op("compute", "server", "create", "POST", "/v2.1/servers", {"server": {
        "name": "r", "imageRef": "{image}", "flavorRef": "1", "networks": [{"uuid": "{net}"}]}}, 403),
    Op("compute", "server", "update", "PUT", SERVER, {"server": {"name": "r"}}, 403),
    Op("compute", "server", "delete", "DELETE", SERVER, status=403),
    Op("compute", "server", "stop", "POST", SERVER + "/action", {"os-stop": None}, 403),
    Op("compute", "server", "reboot", "POST", SERVER + "/action", {"reboot": {"type": "SOFT"}}, 403),
    Op("compute", "server", "console-output", "POST", SERVER + "/action", {"os-getConsoleOutput": {}}, 403),
    *[Op("compute", "server", name, "POST", SERVER + "/action", {name: args}, 403) for name, args in LIFECYCLE],
    Op("compute", "server", "metadata-set", "PUT", SERVER + "/metadata/k", {"meta": {"k": "r"}}, 403),
    Op("compute", "server", "metadata-delete", "DELETE", SERVER + "/metadata/k", status=403),
    Op("compute", "server_group", "create", "POST", "/v2.1/os-server-groups",
       {"server_group": {"name": "r", "policies": ["affinity"]}}, 403),
    Op("compute", "server_group", "delete", "DELETE", "/v2.1/os-server-groups/{server_group}", status=403),
    Op("compute", "keypair", "create", "POST", "/v2.1/os-keypairs",
       {"keypair": {"name": "rk", "public_key": SSH_KEY}}, 403),
    Op("network", "network", "create", "POST", "/v2.0/networks", {"network": {"name": "r"}}, 403),
    Op("network", "network", "update", "PUT", NET, {"network": {"name": "r"}}, 403),
    Op("network", "network", "delete", "DELETE", NET, status=403),
    Op("network", "network", "tag-add", "PUT", NET + "/tags/red", status=403),
    Op("network", "subnet", "create", "POST", "/v2.0/subnets",
       {"subnet": {"network_id": "{network}", "cidr": "10.78.0.0/24", "ip_version": 4}}, 403),
    Op("network", "subnet", "update", "PUT", SUBNET, {"subnet": {"name": "r"}}, 403),
    Op("network", "subnet", "delete", "DELETE", SUBNET, status=403),
    Op("network", "port", "create", "POST", "/v2.0/ports", {"port": {"network_id": "{network}"}}, 403),
    Op("network", "port", "update", "PUT", PORT, {"port": {"name": "r"}}, 403),
    Op("network", "port", "delete", "DELETE", PORT, status=403),
    Op("network", "security_group", "create", "POST", "/v2.0/security-groups",
       {"security_group": {"name": "r"}}, 403),
    Op("network", "security_group", "update", "PUT", SG, {"security_group": {"name": "r"}}, 403),
    Op("network", "security_group", "delete", "DELETE", SG, status=403),
    Op("network", "security_group_rule", "create", "POST", "/v2.0/security-group-rules",
       {"security_group_rule": {"security_group_id": "{security_group}", "direction": "ingress"}}, 403),
    Op("network", "security_group_rule", "delete", "DELETE", SG_RULE, status=403),
    Op("network", "router", "create", "POST", "/v2.0/routers", {"router": {"name": "r"}}, 403),
    Op("network", "router", "update", "PUT", ROUTER, {"router": {"name": "r"}}, 403),
    Op("network", "router", "delete", "DELETE", ROUTER, status=403),
    Op("network", "router", "add-interface", "PUT", ROUTER + "/add_router_interface",
       {"subnet_id": "{subnet}"}, 403),
    Op("network", "floatingip", "create", "POST", "/v2.0/floatingips",
       {"floatingip": {"floating_network_id": "{external}"}}, 403),
    Op("network", "floatingip", "update", "PUT", FIP, {"floatingip": {"port_id": None}}, 403),
    Op("network", "floatingip", "delete", "DELETE", FIP, status=403),
    Op("network", "subnetpool", "create", "POST", "/v2.0/subnetpools",
       {"subnetpool": {"prefixes": ["10.98.0.0/16"]}}, 403),
    Op("network", "subnetpool", "update", "PUT", POOL, {"subnetpool": {"name": "r"}}, 403),
    Op("network", "subnetpool", "delete", "DELETE", POOL, status=403),
    Op("network", "subnetpool", "remove-prefixes", "PUT", POOL + "/remove_prefixes",
       {"prefixes": ["10.50.0.0/24"]}, 403),
    Op("network", "address_scope", "create", "POST", "/v2.0/address-scopes",
       {"address_scope": {"ip_version": 4}}, 403),
    Op("network", "address_scope", "update", "PUT", SCOPE, {"address_scope": {"name": "r"}}, 403),
    Op("network", "address_scope", "delete", "DELETE", SCOPE, status=403),
    Op("image", "image", "create", "POST", "/v2/images", {"name": "r", "disk_format": "raw",
                                                          "container_format": "bare"}, 403),
    Op("image", "image", "update", "PATCH", IMAGE, [{"op": "replace", "path": "/name", "value": "r"}], 403,
       headers=PATCH),
    Op("image", "image", "delete", "DELETE", IMAGE, status=403),
    Op("image", "image", "tag-add", "PUT", IMAGE + "/tags/red", status=403),
    Op("image", "image", "deactivate", "POST", IMAGE + "/actions/deactivate", status=403),
    Op("image", "shared", "stage", "PUT", SHARED + "/stage", headers=OCTETS, status=403),
    Op("image", "shared", "member-add", "POST", SHARED + "/members", {"member": "{other}"}, 403),
    Op("image", "shared", "member-delete", "DELETE", SHARED + "/members/{member}", status=403),
    Op("image", "namespace", "update", "PUT", NS, {"namespace": "{namespace}", "description": "r"}, 403),
    Op("identity", "project", "update", "PATCH", "/v3/projects/{project}", {"project": {"description": "r"}},
       403),
    Op("identity", "user", "create", "POST", "/v3/users", {"user": {"name": "intruder"}}, 403),
    Op("identity", "project", "grant", "PUT", "/v3/projects/{project}/users/{own_user}/roles/{admin_role}",
       status=403),
]


def fill(value, ids: dict):
    """``value`` with ``{placeholder}`` strings replaced from ``ids`` (recursively)."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


async def send(client: httpx.AsyncClient, op: Op, ids: dict) -> httpx.Response:
    kwargs: dict = {"headers": op.headers}
    if op.body is not None:
        kwargs["json"] = fill(op.body, ids)
    return await client.request(op.method, fill(op.path, ids), **kwargs)


# --- worlds: one per service, A's and B's resources under the same names ------------------------

@dataclass
class World:
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, dict[str, str]]
    probes: dict[str, str]  # resource -> path its owner GETs (200)


def _clients(router, base: str, tokens: dict[str, str]) -> dict[str, httpx.AsyncClient]:
    return {who: httpx.AsyncClient(transport=router, base_url=base, headers={"X-Auth-Token": token}, timeout=30)
            for who, token in tokens.items()}


FAKE_TOKENS = {A: "demo-token", A_READER: "reader-token", B: "alt-token"}


def _ok(r: httpx.Response, *codes: int) -> dict:
    assert r.status_code in (codes or (200, 201, 202)), r.text
    return r.json() if r.content else {}


async def compute_world(env) -> World:
    cloud = FakeCloud()
    cloud.mount(env.rt, env.router)
    client = await env.mount(compute_api.component)
    await env.mount(scheduler.component)
    await env.mount(fake_agent(cloud))
    clients = _clients(env.router, str(client.base_url), {**FAKE_TOKENS, "admin": "admin-token"})
    admin = clients.pop("admin")
    env.closing.append(admin)
    _ok(await admin.post("/v2.1/flavors", json={"flavor": {"name": "tiny", "id": "1", "ram": 512, "vcpus": 1,
                                                            "disk": 1}}))
    _ok(await admin.post("/v2.1/flavors", json={"flavor": {"name": "private", "id": "p1", "ram": 512,
                                                            "vcpus": 1, "disk": 1,
                                                            "os-flavor-access:is_public": False}}))
    _ok(await admin.post("/v2.1/flavors/p1/action", json={"addTenantAccess": {"tenant": PROJECTS["alt"]}}))
    image = cloud.add_image()
    ids = {}
    for who, project in ((A, "demo"), (B, "alt")):
        net = cloud.add_network(f"{project}-net", project=PROJECTS[project])
        server = _ok(await clients[who].post("/v2.1/servers", json={"server": {
            "name": f"{project}-vm", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}],
            "metadata": {"k": "v"}}}))["server"]["id"]
        _ok(await clients[who].post("/v2.1/os-keypairs", json={"keypair": {"name": f"{project}-key",
                                                                            "public_key": SSH_KEY}}))
        group = _ok(await clients[who].post("/v2.1/os-server-groups", json={"server_group": {
            "name": f"{project}-group", "policies": ["anti-affinity"]}}))["server_group"]["id"]
        ids[who] = {"server": server, "net": net, "image": image, "keypair": f"{project}-key",
                    "flavor": "p1", "project": PROJECTS[project], "user": user_id(project),
                    "server_group": group}
    await env.rt.bus.drain()
    ids[A_READER] = ids[A]
    return World(clients, ids, {"server": SERVER, "keypair": "/v2.1/os-keypairs/{keypair}",
                                "flavor": "/v2.1/flavors/{flavor}", "quota": "/v2.1/os-quota-sets/{project}",
                                "server_group": "/v2.1/os-server-groups/{server_group}"})


async def network_world(env) -> World:
    client = await env.mount(network_component)
    clients = _clients(env.router, str(client.base_url), FAKE_TOKENS)
    ext = _ok(await client.post("/v2.0/networks", headers={"X-Auth-Token": "admin-token"}, json={
        "network": {"name": "ext", "router:external": True}}))["network"]["id"]
    _ok(await client.post("/v2.0/subnets", headers={"X-Auth-Token": "admin-token"}, json={"subnet": {
        "network_id": ext, "cidr": "172.31.0.0/24", "ip_version": 4}}))
    ids = {}
    for n, who in enumerate((A, B)):
        c = clients[who]
        net = _ok(await c.post("/v2.0/networks", json={"network": {"name": f"net-{who}"}}))["network"]["id"]
        _ok(await c.put(f"/v2.0/networks/{net}/tags/blue"), 201)
        subnet = _ok(await c.post("/v2.0/subnets", json={"subnet": {
            "network_id": net, "cidr": f"10.{n}.0.0/24", "ip_version": 4}}))["subnet"]["id"]
        port = _ok(await c.post("/v2.0/ports", json={"port": {"network_id": net}}))["port"]["id"]
        sg = _ok(await c.post("/v2.0/security-groups", json={"security_group": {"name": f"sg-{who}"}}))
        rule = _ok(await c.post("/v2.0/security-group-rules", json={"security_group_rule": {
            "security_group_id": sg["security_group"]["id"], "direction": "ingress", "protocol": "tcp"}}))
        router = _ok(await c.post("/v2.0/routers", json={"router": {
            "name": f"r-{who}", "external_gateway_info": {"network_id": ext}}}))["router"]["id"]
        fip = _ok(await c.post("/v2.0/floatingips", json={"floatingip": {
            "floating_network_id": ext}}))["floatingip"]["id"]
        scope = _ok(await c.post("/v2.0/address-scopes", json={"address_scope": {
            "name": f"as-{who}", "ip_version": 4}}))["address_scope"]["id"]
        pool = _ok(await c.post("/v2.0/subnetpools", json={"subnetpool": {
            "name": f"sp-{who}", "prefixes": [f"10.{50 + n}.0.0/16"], "default_prefixlen": 24,
            "address_scope_id": scope}}))["subnetpool"]["id"]
        ids[who] = {"network": net, "subnet": subnet, "port": port, "security_group": sg["security_group"]["id"],
                    "security_group_rule": rule["security_group_rule"]["id"], "router": router,
                    "floatingip": fip, "external": ext, "subnetpool": pool, "address_scope": scope}
    ids[A_READER] = ids[A]
    return World(clients, ids, {"network": NET, "subnet": SUBNET, "port": PORT, "security_group": SG,
                                "security_group_rule": SG_RULE, "router": ROUTER, "floatingip": FIP,
                                "subnetpool": POOL, "address_scope": SCOPE})


async def image_world(env) -> World:
    client = await env.mount(image_component)
    clients = _clients(env.router, str(client.base_url), FAKE_TOKENS)
    ids = {}
    for who in (A, B):
        c = clients[who]
        image = _ok(await c.post("/v2/images", json={"name": f"img-{who}", "visibility": "private",
                                                      "disk_format": "raw", "container_format": "bare",
                                                      "tags": ["blue"]}))["id"]
        if who == B:
            _ok(await c.put(f"/v2/images/{image}/file", content=b"secret bits",
                            headers={"Content-Type": "application/octet-stream"}), 204)
        shared = _ok(await c.post("/v2/images", json={"name": f"shared-{who}", "visibility": "shared",
                                                       "disk_format": "raw", "container_format": "bare"}))["id"]
        member = PROJECTS["admin"]
        _ok(await c.post(f"/v2/images/{shared}/members", json={"member": member}))
        namespace = f"ns-{who}"
        _ok(await client.post("/v2/metadefs/namespaces", headers={"X-Auth-Token": "admin-token"}, json={
            "namespace": namespace, "visibility": "private",
            "owner": PROJECTS["demo" if who == A else "alt"]}), 201)
        ids[who] = {"image": image, "shared": shared, "member": member, "namespace": namespace,
                    "own_project": PROJECTS["demo"], "other": PROJECTS["alt"]}
    ids[A_READER] = ids[A]
    return World(clients, ids, {"image": IMAGE, "shared": SHARED + "/members", "namespace": NS})


async def identity_world(env) -> World:
    env.monkeypatch.setattr(passwords, "ROUNDS", 4)
    await bootstrap(env.settings, admin_password=ADMIN_PASSWORD, service_password=SERVICE_PASSWORD)
    ks = await env.mount(identity_component, token=None)
    admin = hdr((await issue(ks))[0])
    admin_role = (await ks.get("/v3/roles?name=admin", headers=admin)).json()["roles"][0]["id"]
    tokens, ids = {}, {}
    for who, project_name, role in ((A, "proj-a", "member"), (B, "proj-b", "member"), (A_READER, None, "reader")):
        project = ids[A]["project"] if project_name is None else (
            await make_project(ks, admin, project_name))["id"]
        user = await make_user(ks, admin, f"user-{who}", "pw-" + who, project_id=project, role=role)
        token, _ = await issue(ks, user=f"user-{who}", password="pw-" + who,
                               project=project_name or "proj-a")
        tokens[who] = token
        ids[who] = {"project": project, "user": user["id"], "own_user": user["id"], "admin_role": admin_role}
    c = _clients(env.router, str(ks.base_url), tokens)
    for who in (A, B):
        cred = _ok(await c[who].post("/v3/credentials", json={"credential": {
            "type": "cert", "blob": f"blob-{who}", "user_id": ids[who]["user"]}}), 201)
        appcred = _ok(await c[who].post(f"/v3/users/{ids[who]['user']}/application_credentials",
                                        json={"application_credential": {"name": f"ac-{who}"}}), 201)
        ids[who].update(credential=cred["credential"]["id"], app_credential=appcred["application_credential"]["id"])
    ids[A_READER].update(credential=ids[A]["credential"], app_credential=ids[A]["app_credential"])
    return World(c, ids, {"project": "/v3/projects/{project}", "user": "/v3/users/{user}",
                          "credential": "/v3/credentials/{credential}",
                          "app_credential": "/v3/users/{user}/application_credentials/{app_credential}"})


WORLDS = {"compute": compute_world, "network": network_world, "image": image_world,
          "identity": identity_world}


@pytest.fixture
async def world_of(settings, rt, router, mount, monkeypatch):
    """``await world_of(service)``: that service's world, clients closed afterwards."""
    env = SimpleNamespace(settings=settings, rt=rt, router=router, mount=mount, monkeypatch=monkeypatch,
                          closing=[])

    async def build(service: str) -> World:
        world = await WORLDS[service](env)
        env.closing += list(world.clients.values())
        return world

    yield build
    for client in env.closing:
        await client.aclose()


async def _probe(world: World, resource: str, who: str) -> dict:
    """The owner's view of its resource (asserts 200): the resource exists and the owner sees it."""
    r = await world.clients[who].get(fill(world.probes[resource], world.ids[who]))
    assert r.status_code == 200, f"{who} cannot see its own {resource}: {r.status_code} {r.text}"
    return r.json()


# --- the matrix --------------------------------------------------------------------------------

@pytest.mark.parametrize("op", CROSS, ids=lambda op: op.name)
async def test_member_cannot_reach_other_project(world_of, op: Op):
    world = await world_of(op.service)
    before = await _probe(world, op.resource, B)
    r = await send(world.clients[A], op, world.ids[B])
    assert r.status_code == op.status, f"{op.method} {op.path}: {r.status_code} {r.text}"
    assert await _probe(world, op.resource, B) == before


@pytest.mark.parametrize("listing", LISTS, ids=lambda item: item.name)
async def test_member_never_lists_other_project(world_of, listing: Listing):
    """A asks with B's identifiers in the filters (``{own_user}`` stays A's own)."""
    world = await world_of(listing.service)
    ids = world.ids[B]
    own = listing.ids(_ok(await world.clients[B].get(fill(listing.path, ids))))
    assert ids[listing.resource] in own, "B must see its own resource in this list"
    r = await world.clients[A].get(fill(listing.path, {**ids, "own_user": world.ids[A].get("own_user")}))
    assert r.status_code == 200, r.text
    seen = listing.ids(r.json())
    assert ids[listing.resource] not in seen
    if listing.a_sees_own:
        assert world.ids[A][listing.resource] in seen


@pytest.mark.parametrize("op", READER, ids=lambda op: op.name)
async def test_reader_cannot_write_own_project(world_of, op: Op):
    world = await world_of(op.service)
    before = await _probe(world, op.resource, A)
    r = await send(world.clients[A_READER], op, world.ids[A_READER])
    assert r.status_code == op.status, f"{op.method} {op.path}: {r.status_code} {r.text}"
    assert await _probe(world, op.resource, A) == before
