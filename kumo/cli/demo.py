"""The demo data ``kumo up`` creates, through the public REST APIs only.

Idempotent: every step looks its resource up by name first, so running
``kumo up`` again on a running cloud changes nothing.
"""
from __future__ import annotations

from pathlib import Path

import httpx

from kumo.config import Settings

#: The install guide's flavors (same ids and sizes) plus devstack's nano/micro:
#: name -> (id, RAM MB, disk GB, vCPUs).
FLAVORS = {
    "m1.nano": ("42", 128, 1, 1),
    "m1.micro": ("84", 192, 1, 1),
    "m1.tiny": ("1", 512, 1, 1),
    "m1.small": ("2", 2048, 20, 1),
    "m1.medium": ("3", 4096, 40, 2),
    "m1.large": ("4", 8192, 80, 4),
    "m1.xlarge": ("5", 16384, 160, 8),
}

PUBLIC_CIDR = "172.24.4.0/24"
PUBLIC_GATEWAY = "172.24.4.1"


class DemoError(Exception):
    """An API refused a demo-data step; the message names the call and the answer."""


class AdminClient:
    """A tiny admin-scoped REST client over the catalog's public endpoints."""

    def __init__(self, settings: Settings, password: str):
        self.settings = settings
        self.http = httpx.Client(timeout=120)
        auth = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        r = self.http.post(settings.endpoint("identity") + "/v3/auth/tokens", json=auth)
        self._check(r, "token")
        self.http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.urls = {}
        for svc in r.json()["token"]["catalog"]:
            for ep in svc["endpoints"]:
                if ep["interface"] == "public":
                    self.urls[svc["type"]] = ep["url"].rstrip("/")
        self.project_id = r.json()["token"]["project"]["id"]

    @staticmethod
    def _check(r: httpx.Response, what: str) -> None:
        if r.status_code >= 400:
            raise DemoError(f"{what}: {r.request.method} {r.request.url} -> {r.status_code} {r.text[:300]}")

    def call(self, service: str, method: str, path: str, **kw) -> dict:
        r = self.http.request(method, self.urls[service] + path, **kw)
        self._check(r, service)
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else {}

    def find(self, service: str, path: str, key: str, name: str) -> dict | None:
        items = self.call(service, "GET", path, params={"name": name})[key]
        return next((i for i in items if i.get("name") == name), None)


def create_demo(settings: Settings, admin_password: str, demo_password: str,
                image_path: Path | None, step=lambda text: None) -> dict:
    """Create project/user demo, flavors, image ``cirros`` and network ``public``; returns their ids."""
    c = AdminClient(settings, admin_password)
    out = {}

    step("demo project and user")
    project = c.find("identity", "/projects", "projects", "demo") or c.call(
        "identity", "POST", "/projects", json={"project": {"name": "demo", "domain_id": "default",
                                                           "description": "Demo project"}})["project"]
    user = c.find("identity", "/users", "users", "demo")
    if user is None:
        user = c.call("identity", "POST", "/users", json={"user": {
            "name": "demo", "domain_id": "default", "password": demo_password,
            "default_project_id": project["id"]}})["user"]
    else:
        c.call("identity", "PATCH", f"/users/{user['id']}", json={"user": {"password": demo_password}})
    roles = {r["name"]: r["id"] for r in c.call("identity", "GET", "/roles")["roles"]}
    for role in ("member", "reader"):
        c.call("identity", "PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{roles[role]}")
    out["demo_project"] = project["id"]

    step("flavors")
    existing = {f["name"] for f in c.call("compute", "GET", "/flavors/detail?is_public=None")["flavors"]}
    for name, (fid, ram, disk, vcpus) in FLAVORS.items():
        if name not in existing:
            c.call("compute", "POST", "/flavors", json={"flavor": {
                "name": name, "id": fid, "ram": ram, "disk": disk, "vcpus": vcpus}})

    step("image cirros")
    image = c.find("image", "/v2/images", "images", "cirros")
    if image is not None and image["status"] != "active":
        c.call("image", "DELETE", f"/v2/images/{image['id']}")
        image = None
    if image is None and image_path is not None:
        image = c.call("image", "POST", "/v2/images", json={
            "name": "cirros", "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public"})
        with open(image_path, "rb") as f:
            c.call("image", "PUT", f"/v2/images/{image['id']}/file", content=f,
                   headers={"Content-Type": "application/octet-stream"})
    out["image"] = image and image["id"]

    step("network public")
    net = c.find("network", "/v2.0/networks", "networks", "public")
    if net is None:
        net = c.call("network", "POST", "/v2.0/networks", json={"network": {
            "name": "public", "shared": True, "router:external": True,
            "provider:network_type": "flat", "provider:physical_network": "public"}})["network"]
    elif not net.get("router:external"):  # clouds made before routers: public becomes external
        net = c.call("network", "PUT", f"/v2.0/networks/{net['id']}",
                     json={"network": {"router:external": True}})["network"]
    if not net.get("subnets"):
        c.call("network", "POST", "/v2.0/subnets", json={"subnet": {
            "name": "public-subnet", "network_id": net["id"], "ip_version": 4, "cidr": PUBLIC_CIDR,
            "gateway_ip": PUBLIC_GATEWAY, "enable_dhcp": True,
            "allocation_pools": [{"start": "172.24.4.10", "end": "172.24.4.250"}]}})
    out["network"] = net["id"]
    return out
