"""Neutron's error types, rendered as ``{"NeutronError": {"type", "message", "detail"}}``.

Names and messages follow neutron-lib's exceptions (the ``type`` is the
exception class name); statuses: NotFound 404, InUse/Conflict 409,
InvalidInput/BadRequest 400, NotAuthorized/PolicyNotAuthorized 403.
"""
from __future__ import annotations

from kumo.common.api.errors import BadRequest, Conflict, Forbidden, NotFound


def invalid_input(message: str) -> BadRequest:
    """400 ``InvalidInput``: "Invalid input for operation: <message>."."""
    return BadRequest(f"Invalid input for operation: {message}.", kind="InvalidInput")


def bad_attribute(attr: str, reason: str) -> BadRequest:
    """400 ``HTTPBadRequest`` as neutron's attribute validation words it."""
    return BadRequest(f"Invalid input for {attr}. Reason: {reason}.", kind="HTTPBadRequest")


def policy(rule: str) -> Forbidden:
    """403 ``PolicyNotAuthorized`` for ``rule`` (e.g. ``create_network:shared``)."""
    return Forbidden(f"rule:{rule} is disallowed by policy", kind="PolicyNotAuthorized")


def not_found(resource: str, ident: str) -> NotFound:
    """404 ``<Resource>NotFound``: "<Resource> <id> could not be found."."""
    kinds = {"network": "Network", "subnet": "Subnet", "port": "Port", "agent": "Agent"}
    name = kinds.get(resource, resource.capitalize())
    if resource == "agent":
        return NotFound(f"Agent {ident} could not be found.", kind="AgentNotFound")
    return NotFound(f"{name} {ident} could not be found.", kind=f"{name}NotFound")


def network_in_use(net_id: str) -> Conflict:
    return Conflict(f"Unable to complete operation on network {net_id}. There are one or more "
                    "ports still in use on the network.", kind="NetworkInUse")


def subnet_in_use(subnet_id: str) -> Conflict:
    return Conflict(f"Unable to complete operation on subnet {subnet_id}: One or more ports "
                    "have an IP allocation from this subnet.", kind="SubnetInUse")


def ip_in_use(ip: str, subnet_id: str) -> Conflict:
    return Conflict(f"IP address {ip} already allocated in subnet {subnet_id}",
                    kind="IpAddressAlreadyAllocated")


def ip_exhausted(net_id: str) -> Conflict:
    return Conflict(f"No more IP addresses available on network {net_id}.",
                    kind="IpAddressGenerationFailure")


def invalid_ip_for_subnet(ip: str) -> BadRequest:
    return BadRequest(f"IP address {ip} is not a valid IP for the specified subnet.",
                      kind="InvalidIpForSubnet")


def mac_in_use(net_id: str, mac: str) -> Conflict:
    return Conflict(f"Unable to complete operation for network {net_id}. The mac address "
                    f"{mac} is in use.", kind="MacAddressInUse")


def flat_in_use(physnet: str) -> Conflict:
    return Conflict(f"Unable to create the flat network. Physical network {physnet} is in use.",
                    kind="FlatNetworkInUse")


def vlan_in_use(vlan: int, physnet: str) -> Conflict:
    return Conflict(f"Unable to create the network. The VLAN {vlan} on physical network "
                    f"{physnet} is in use.", kind="VlanIdInUse")


def shared_in_use(net_id: str) -> Conflict:
    return Conflict(f"Unable to reconfigure sharing settings for network {net_id}. "
                    "Multiple tenants are using it.", kind="InvalidSharedSetting")


def tag_not_found(resource: str, ident: str, tag: str) -> NotFound:
    return NotFound(f"Tag {tag} could not be found for {resource} {ident}.", kind="TagNotFound")
