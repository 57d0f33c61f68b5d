"""Ports of an instance through the network API (Networking API v2.0 "Ports").

The agent creates a port per requested network (``POST /v2.0/ports``) or
binds a port the user gave (``PUT /v2.0/ports/{port_id}``) with
``device_id`` = instance uuid, ``device_owner`` = ``compute:<az>`` and
``binding:host_id`` = this host, and turns the ports into the contract's
``network_info`` entries. On terminate it deletes the ports it created and
unbinds the others. Calls go as the service user (``rt.service_auth``).
"""
from __future__ import annotations

import ipaddress
import logging
from urllib.parse import quote

import httpx

from kumo.common.api.errors import response_message

log = logging.getLogger(__name__)


class NetworkError(Exception):
    """A network API call failed; the message is fit for an instance fault."""


def _ip_version(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 4


class NetworkClient:
    """Allocate and release an instance's ports on node ``host``.

    ``physical_bridges`` (``[network] physical_bridges``) names the bridge of
    a flat network on a physical network when the port binding does not.
    """

    def __init__(self, service_auth, host: str, physical_bridges: dict[str, str] | None = None):
        self.auth = service_auth
        self.host = host
        self.physical_bridges = dict(physical_bridges or {})

    async def _request(self, method: str, path: str, ok: tuple[int, ...], what: str,
                       **kwargs) -> httpx.Response:
        try:
            resp = await self.auth.request("network", method, path, **kwargs)
        except Exception as e:  # ServiceUnavailable and friends
            raise NetworkError(f"Failed to {what}: {e}") from None
        if resp.status_code not in ok:
            err = NetworkError(f"Failed to {what}: {response_message(resp)}")
            err.status = resp.status_code
            raise err
        return resp

    # -- allocation ---------------------------------------------------------
    async def allocate(self, instance: dict, created: list[str], bound: list[str]) -> list[dict]:
        """Ports for ``instance["requested_networks"]``; returns network_info entries.

        Appends the ids of ports it creates to ``created`` and of ports it
        binds to ``bound`` as it goes, so the caller can undo a partial
        allocation. Raises NetworkError.
        """
        uuid = instance["uuid"]
        owner = f"compute:{instance.get('availability_zone') or 'nova'}"
        binding = {"device_id": uuid, "device_owner": owner, "binding:host_id": self.host}
        network_info = []
        for req in instance.get("requested_networks") or []:
            if req.get("port_id"):
                port_id = req["port_id"]
                port = await self.show_port(port_id)
                if port.get("device_id") and port["device_id"] != uuid:
                    raise NetworkError(f"Port {port_id} is still in use.")
                resp = await self._request("PUT", f"/v2.0/ports/{quote(port_id, safe='')}", (200,),
                                           f"bind port {port_id}", json={"port": binding})
                bound.append(port_id)
                port, created_port = resp.json()["port"], False
            elif req.get("network_id"):
                body = dict(binding, network_id=req["network_id"])
                if instance.get("project_id"):
                    body["project_id"] = instance["project_id"]
                if req.get("fixed_ip"):
                    body["fixed_ips"] = [{"ip_address": req["fixed_ip"]}]
                if req.get("security_groups"):
                    body["security_groups"] = list(req["security_groups"])
                resp = await self._request("POST", "/v2.0/ports", (201,),
                                           f"create a port on network {req['network_id']}",
                                           json={"port": body})
                port, created_port = resp.json()["port"], True
                created.append(port["id"])
            else:
                log.warning("instance %s: requested network without network or port: %s", uuid, req)
                continue
            if port.get("binding:vif_type") == "binding_failed":
                raise NetworkError(f"Binding failed for port {port['id']}, please check neutron "
                                   "logs for more information.")
            network = await self.show_network(port["network_id"])
            network_info.append(self.vif(port, network, created_port, await self.subnets_of(port)))
        return network_info

    def vif(self, port: dict, network: dict, created_port: bool, subnets: dict | None = None) -> dict:
        """One network_info entry (the contract's keys, plus ``mtu`` when the network has one).

        A fixed IP whose subnet is in ``subnets`` (id -> :meth:`subnets_of`'s dict) carries it as
        ``subnet``: what the guest needs to configure the address without DHCP."""
        details = port.get("binding:vif_details") or {}
        bridge = details.get("bridge_name")
        physnet = network.get("provider:physical_network")
        if not bridge and network.get("provider:network_type") == "flat" and physnet in self.physical_bridges:
            bridge = self.physical_bridges[physnet]
        entry = {
            "port_id": port["id"],
            "network_id": port["network_id"],
            "network_name": network.get("name") or "",
            "mac_address": port["mac_address"],
            "fixed_ips": [{"ip_address": ip["ip_address"], "subnet_id": ip.get("subnet_id"),
                           "version": _ip_version(ip["ip_address"]),
                           **({"subnet": subnets[ip.get("subnet_id")]}
                              if subnets and ip.get("subnet_id") in subnets else {})}
                          for ip in port.get("fixed_ips") or []],
            "vif_type": "bridge",
            "bridge": bridge or "brq" + port["network_id"][:11],
            "devname": "tap" + port["id"][:11],
            "created_port": created_port,
        }
        if network.get("mtu"):
            entry["mtu"] = network["mtu"]
        return entry

    async def subnets_of(self, port: dict) -> dict[str, dict]:
        """The subnets of ``port``'s fixed IPs (``GET /v2.0/subnets/{id}``): id -> {cidr, gateway_ip,
        enable_dhcp, dns_nameservers, host_routes, ipv6_address_mode}. A subnet that cannot be read
        is left out (its addresses are then described as DHCP ones)."""
        out = {}
        for subnet_id in {ip.get("subnet_id") for ip in port.get("fixed_ips") or []} - {None}:
            try:
                resp = await self._request("GET", f"/v2.0/subnets/{quote(subnet_id, safe='')}", (200,),
                                           f"read subnet {subnet_id}")
                subnet = resp.json()["subnet"]
            except (NetworkError, ValueError, KeyError) as e:
                log.warning("port %s: subnet %s left out of network_info: %s", port.get("id"), subnet_id, e)
                continue
            out[subnet_id] = {k: subnet.get(k) for k in ("cidr", "gateway_ip", "enable_dhcp",
                                                         "dns_nameservers", "host_routes",
                                                         "ipv6_address_mode")}
        return out

    async def show_port(self, port_id: str) -> dict:
        resp = await self._request("GET", f"/v2.0/ports/{quote(port_id, safe='')}", (200,),
                                   f"read port {port_id}")
        return resp.json()["port"]

    async def show_network(self, network_id: str) -> dict:
        resp = await self._request("GET", f"/v2.0/networks/{quote(network_id, safe='')}", (200,),
                                   f"read network {network_id}")
        return resp.json()["network"]

    async def rebind(self, network_info: list[dict], host: str) -> list[dict]:
        """Bind the instance's ports to ``host`` (``""``: to no host, the device stays: a
        shelve offload); returns the network_info entries read back. Raises NetworkError."""
        out = []
        for vif in network_info:
            port_id = vif["port_id"]
            resp = await self._request("PUT", f"/v2.0/ports/{quote(port_id, safe='')}", (200,),
                                       f"bind port {port_id}", json={"port": {"binding:host_id": host}})
            port = resp.json()["port"]
            out.append(self.vif(port, await self.show_network(port["network_id"]),
                                bool(vif.get("created_port")), await self.subnets_of(port)))
        return out

    # -- release --------------------------------------------------------------
    async def delete_port(self, port_id: str) -> None:
        """Delete a port; an already deleted port is fine."""
        await self._request("DELETE", f"/v2.0/ports/{quote(port_id, safe='')}", (204, 404),
                            f"delete port {port_id}")

    async def unbind_port(self, port_id: str) -> None:
        """Detach a port the user owns from the instance and host; a deleted port is fine."""
        body = {"port": {"device_id": "", "device_owner": "", "binding:host_id": ""}}
        await self._request("PUT", f"/v2.0/ports/{quote(port_id, safe='')}", (200, 404),
                            f"unbind port {port_id}", json=body)

    async def deallocate(self, instance: dict) -> None:
        """Release every port of ``instance``: delete those the agent created, unbind the others.

        Ports come from ``network_info`` and from ``GET /v2.0/ports?device_id=``
        (a port created before a crash is still found). Raises NetworkError.
        """
        user_ports = {r["port_id"] for r in instance.get("requested_networks") or [] if r.get("port_id")}
        done: set[str] = set()
        for vif in instance.get("network_info") or []:
            port_id = vif.get("port_id")
            if not port_id or port_id in done:
                continue
            if vif.get("created_port") and port_id not in user_ports:
                await self.delete_port(port_id)
            else:
                await self.unbind_port(port_id)
            done.add(port_id)
        resp = await self._request("GET", "/v2.0/ports", (200,), "list the instance's ports",
                                   params={"device_id": instance["uuid"]})
        for port in resp.json().get("ports", []):
            if port["id"] in done or port.get("device_id") != instance["uuid"]:
                continue
            if port["id"] in user_ports:
                await self.unbind_port(port["id"])
            else:
                await self.delete_port(port["id"])
            done.add(port["id"])
