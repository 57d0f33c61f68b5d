"""The ``networks`` of a server create request, checked against the network API (Compute API
reference "Create Server": ``networks`` "auto" / "none" / ``[{"uuid", "port", "fixed_ip"}]``).

:class:`NetworkRequests` is a part of :class:`kumo.compute.service.ComputeService`
(it uses its ``_get`` (service-user GET on the network API, None on 404) and ``sees``).
"""
from __future__ import annotations

from kumo.common.api.errors import BadRequest, Conflict
from kumo.common.auth.context import RequestContext


class NetworkRequests:
    """Resolution of requested networks and ports (mixed into ComputeService)."""

    async def networks_for(self, ctx: RequestContext, requested) -> list[dict]:
        """Resolve the ``networks`` of a create request to the bus ``requested_networks`` list.

        ``requested`` is "auto", "none", None (omitted before 2.37) or a list
        of ``{"network_id", "port_id", "fixed_ip"}``; each entry returned also says whether
        its port gets security groups (``port_security``: the network's
        ``port_security_enabled``, or a given port has groups). "auto", None and []
        take the only network the project sees (its own or shared); 409 when
        there are several, and for "auto" 400 when there is none.
        """
        if requested == "none":
            return []
        if requested in ("auto", None, []):  # an empty list means "any", as nova reads it
            nets = await self._visible_networks(ctx)
            if len(nets) > 1:
                raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
            if not nets:
                if requested == "auto":
                    raise BadRequest(f"Unable to automatically allocate a network for project {ctx.project_id}")
                return []
            return [{"network_id": nets[0]["id"], "port_id": None, "fixed_ip": None,
                     "port_security": nets[0].get("port_security_enabled", True)}]
        out, ports = [], set()
        for req in requested:
            if req["port_id"]:
                if req["port_id"] in ports:
                    raise BadRequest(f"Port {req['port_id']} is requested more than once.")
                ports.add(req["port_id"])
                port = (await self._get("network", f"/v2.0/ports/{req['port_id']}") or {}).get("port")
                if port is None or not self.sees(ctx, port.get("project_id") or port.get("tenant_id")):
                    raise BadRequest(f"Port id {req['port_id']} could not be found.")
                if port.get("device_id"):
                    raise Conflict(f"Port {req['port_id']} is still in use.")
                if not port.get("fixed_ips"):
                    raise BadRequest(f"Port {req['port_id']} requires a FixedIP in order to be used.")
                out.append({"network_id": port["network_id"], "port_id": req["port_id"], "fixed_ip": None,
                            "port_security": bool(port.get("security_groups"))})
                continue
            net = (await self._get("network", f"/v2.0/networks/{req['network_id']}") or {}).get("network")
            if net is None or not (net.get("shared") or self.sees(ctx, net.get("project_id") or net.get("tenant_id"))):
                raise BadRequest(f"Network {req['network_id']} could not be found.")
            if req.get("fixed_ip"):
                await self.check_fixed_ip(req["network_id"], req["fixed_ip"])
            out.append(dict(req, port_security=net.get("port_security_enabled", True)))
        return out

    async def check_fixed_ip(self, network_id: str, address: str) -> None:
        """400 "Fixed IP address X is already in use on instance Y." when a port holds it."""
        used = await self._get("network", f"/v2.0/ports?network_id={network_id}"
                                          f"&fixed_ips=ip_address%3D{address}") or {}
        for port in used.get("ports", []):
            if any(ip.get("ip_address") == address for ip in port.get("fixed_ips") or []):
                raise BadRequest(f"Fixed IP address {address} is already in use on instance "
                                 f"{port.get('device_id') or port['id']}.")

    async def _visible_networks(self, ctx: RequestContext) -> list[dict]:
        owned = await self._get("network", f"/v2.0/networks?project_id={ctx.project_id}") or {}
        shared = await self._get("network", "/v2.0/networks?shared=true") or {}
        seen: dict[str, dict] = {}
        for net in owned.get("networks", []):
            if (net.get("project_id") or net.get("tenant_id")) == ctx.project_id:
                seen.setdefault(net["id"], net)
        for net in shared.get("networks", []):
            if net.get("shared"):
                seen.setdefault(net["id"], net)
        return list(seen.values())
