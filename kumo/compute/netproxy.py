"""The network API as the compute API's proxies see it (Compute API reference: "Security groups
(os-security-groups)", "Rules for default security group", "Floating IPs (os-floating-ips)",
"Floating IP pools", "Networks (os-networks)", "Project networks (os-tenant-networks)").

:class:`NetworkProxy` calls the Networking API v2.0 with the *caller's* token,
as nova does, so the network service scopes every answer to the caller's
project and applies its own policy. Network API errors come back as the
compute API's errors: 404 -> NotFound, 400 -> BadRequest, 409 -> Conflict
(or the caller's choice, see ``conflict``), 403 -> Forbidden; an unreachable
network API or any other answer -> 503.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import quote

import httpx

from kumo.common.api.errors import (ApiError, BadRequest, Conflict, Forbidden, NotFound,
                                    ServiceUnavailable, response_message)
from kumo.common.auth.context import RequestContext

#: neutron status code -> compute error class
_ERRORS = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict, 413: Forbidden}


def q(value: str) -> str:
    """A path segment, quoted."""
    return quote(str(value), safe="")


class NetworkProxy:
    """Networking API v2.0 calls made with the caller's token (``ctx.token``)."""

    def __init__(self, service_auth):
        self.auth = service_auth

    async def call(self, ctx: RequestContext, method: str, path: str, *, ok=(200, 201, 204),
                   errors: dict[int, type[ApiError]] | None = None, **kwargs) -> dict:
        """``method path`` as the caller; the JSON body ({} for 204). ``errors`` overrides the
        status -> error class mapping for this call (e.g. ``{409: BadRequest}``)."""
        try:
            base = await self.auth.endpoint("network")
            resp = await self.auth.http.request(method, base + path, headers={"X-Auth-Token": ctx.token},
                                                **kwargs)
        except ServiceUnavailable:
            raise
        except (httpx.HTTPError, ApiError) as e:
            raise ServiceUnavailable(f"network service unreachable: {e}") from None
        if resp.status_code in ok:
            return resp.json() if resp.content else {}
        cls = {**_ERRORS, **(errors or {})}.get(resp.status_code)
        if cls is None:
            raise ServiceUnavailable(f"network service answered {resp.status_code} to {method} {path}")
        raise cls(response_message(resp))

    async def get(self, ctx: RequestContext, path: str, **params) -> dict:
        """GET with query parameters (lists repeat a parameter)."""
        return await self.call(ctx, "GET", path, params={k: v for k, v in params.items() if v is not None})

    async def find(self, ctx: RequestContext, collection: str, path: str, ident: str) -> dict | None:
        """``GET path/ident`` -> the resource, or None on 404."""
        try:
            return (await self.call(ctx, "GET", f"{path}/{q(ident)}"))[collection]
        except NotFound:
            return None

    # -- server ports ------------------------------------------------------------

    async def server_ports(self, ctx: RequestContext, server_id: str) -> list[dict]:
        """The ports whose ``device_id`` is the server (as the service user: a port of the server
        may belong to another project when an admin attached it)."""
        resp = await self.auth.request("network", "GET", "/v2.0/ports", params={"device_id": server_id})
        if resp.status_code != 200:
            raise ServiceUnavailable(f"network service answered {resp.status_code} to GET /v2.0/ports")
        return [p for p in resp.json().get("ports", []) if p.get("device_id") == server_id]

    async def set_port_groups(self, port_id: str, groups: list[str]) -> None:
        """Replace a port's security groups (as the service user, after the caller's checks)."""
        resp = await self.auth.request("network", "PUT", f"/v2.0/ports/{q(port_id)}",
                                       json={"port": {"security_groups": groups}})
        if resp.status_code != 200:
            cls = _ERRORS.get(resp.status_code, ServiceUnavailable)
            raise cls(response_message(resp))

    # -- security groups ------------------------------------------------------------

    async def security_group(self, ctx: RequestContext, ref: str, by_name: bool = True) -> dict:
        """A group by id, or by name in the caller's project; 404 "Security group X not found."."""
        group = None
        if uuid_like(ref):
            group = await self.find(ctx, "security_group", "/v2.0/security-groups", ref)
        if group is None and by_name:
            found = (await self.get(ctx, "/v2.0/security-groups", name=ref)).get("security_groups", [])
            own = [g for g in found if g.get("name") == ref and project_of(g) == ctx.project_id]
            if len(own) > 1:
                raise Conflict(f"Multiple security groups found matching '{ref}'. Use an ID to be "
                               "more specific.")
            group = (own or [g for g in found if g.get("name") == ref] or [None])[0]
        if group is None:
            raise NotFound(f"Security group {ref} not found.")
        return group

    async def resolve_groups(self, ctx: RequestContext, refs: list[str]) -> list[dict]:
        """Security group names or ids -> the groups (each once); 400 "Security group X not
        found." for an unknown one."""
        groups: dict[str, dict] = {}
        for ref in refs:
            try:
                group = await self.security_group(ctx, ref)
            except NotFound:
                raise BadRequest(f"Security group {ref} not found.") from None
            groups.setdefault(group["id"], group)
        return list(groups.values())


def project_of(resource: dict) -> str | None:
    """``project_id`` (or the older ``tenant_id``) of a network API resource."""
    return resource.get("project_id") or resource.get("tenant_id")


def uuid_like(value: str) -> bool:
    """True if ``value`` looks like a UUID (with or without dashes)."""
    hexes = str(value).replace("-", "")
    return len(hexes) == 32 and all(c in "0123456789abcdefABCDEF" for c in hexes)


def ip_version(address: str) -> int:
    """4 or 6 (4 when ``address`` does not parse)."""
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 4
