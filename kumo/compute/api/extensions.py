"""Extensions (Compute API reference "Extensions (extensions)", deprecated).

``GET /v2.1/extensions`` lists the v2.1 extension names of the APIs kumo
serves (nova froze this list when microversions replaced extensions);
``GET /v2.1/extensions/{alias}`` shows one, 404 for an unknown alias.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.errors import NotFound
from kumo.compute.api.common import authorize, ok

_NAMESPACE = "http://docs.openstack.org/compute/ext/fake_xml"
_UPDATED = "2014-12-03T00:00:00Z"

#: alias -> (name, what it covers)
EXTENSIONS = {
    "os-access-ips": ("AccessIPs", "accessIPv4 / accessIPv6 of servers"),
    "os-admin-actions": ("AdminActions", "administrator server actions (reset state)"),
    "os-admin-password": ("AdminPassword", "the changePassword server action"),
    "os-aggregates": ("Aggregates", "host aggregates"),
    "os-attach-interfaces": ("AttachInterfaces", "network interfaces of servers"),
    "os-availability-zone": ("AvailabilityZone", "availability zones"),
    "os-config-drive": ("ConfigDrive", "config drives of servers"),
    "os-console-auth-tokens": ("ConsoleAuthTokens", "connection details of console tokens"),
    "os-console-output": ("ConsoleOutput", "the serial console log of servers"),
    "os-consoles": ("Consoles", "server consoles"),
    "os-create-backup": ("CreateBackup", "the createBackup server action"),
    "os-deferred-delete": ("DeferredDelete", "restore and force delete of soft-deleted servers"),
    "OS-DCF": ("DiskConfig", "the disk configuration of servers"),
    "os-extended-server-attributes": ("ExtendedServerAttributes", "host and instance name of servers"),
    "OS-EXT-AZ": ("ExtendedAvailabilityZone", "the availability zone of servers"),
    "OS-EXT-IPS": ("ExtendedIps", "the type of server addresses"),
    "OS-EXT-IPS-MAC": ("ExtendedIpsMac", "the MAC address of server addresses"),
    "OS-EXT-STS": ("ExtendedStatus", "vm, task and power states of servers"),
    "os-extended-volumes": ("ExtendedVolumes", "volumes attached to servers"),
    "extensions": ("Extensions", "this list"),
    "os-flavor-access": ("FlavorAccess", "projects allowed to use private flavors"),
    "OS-FLV-DISABLED": ("FlavorDisabled", "the disabled flag of flavors"),
    "OS-FLV-EXT-DATA": ("FlavorExtraData", "ephemeral disk sizes of flavors"),
    "os-flavor-extra-specs": ("FlavorExtraSpecs", "extra specs of flavors"),
    "os-flavor-manage": ("FlavorManage", "flavor create and delete"),
    "flavors": ("Flavors", "flavors"),
    "os-floating-ip-pools": ("FloatingIpPools", "floating IP pools (network proxy)"),
    "os-floating-ips": ("FloatingIps", "floating IPs (network proxy)"),
    "os-hosts": ("Hosts", "compute hosts"),
    "os-hypervisors": ("Hypervisors", "hypervisors and their statistics"),
    "image-metadata": ("ImageMetadata", "image properties (image proxy)"),
    "images": ("Images", "images (image proxy)"),
    "os-instance-actions": ("InstanceActions", "actions and events of servers"),
    "ips": ("Ips", "addresses of servers"),
    "os-keypairs": ("Keypairs", "SSH key pairs"),
    "limits": ("Limits", "absolute limits"),
    "os-lock-server": ("LockServer", "lock and unlock of servers"),
    "os-multinic": ("Multinic", "addFixedIp and removeFixedIp server actions"),
    "os-multiple-create": ("MultipleCreate", "min_count / max_count on server create"),
    "os-networks": ("Networks", "networks (network proxy)"),
    "os-pause-server": ("PauseServer", "pause and unpause of servers"),
    "os-quota-sets": ("Quotas", "quota sets"),
    "os-remote-consoles": ("RemoteConsoles", "VNC console URLs of servers (noVNC)"),
    "os-rescue": ("Rescue", "rescue and unrescue of servers"),
    "os-scheduler-hints": ("SchedulerHints", "scheduler hints on server create"),
    "os-security-groups": ("SecurityGroups", "security groups (network proxy)"),
    "os-server-diagnostics": ("ServerDiagnostics", "diagnostics of servers"),
    "os-server-groups": ("ServerGroups", "server groups"),
    "server-metadata": ("ServerMetadata", "metadata of servers"),
    "os-server-password": ("ServerPassword", "the encrypted password a guest posted"),
    "OS-SRV-USG": ("ServerUsage", "launch and termination times of servers"),
    "servers": ("Servers", "servers"),
    "os-services": ("Services", "compute services"),
    "os-shelve": ("Shelve", "shelve, offload and unshelve of servers"),
    "os-simple-tenant-usage": ("SimpleTenantUsage", "usage reports"),
    "os-suspend-server": ("SuspendServer", "suspend and resume of servers"),
    "os-tenant-networks": ("TenantNetworks", "project networks (network proxy)"),
    "os-used-limits": ("UsedLimits", "used amounts in limits"),
    "os-user-data": ("UserData", "user data of servers"),
    "versions": ("Versions", "API versions"),
}


def _view(alias: str) -> dict:
    name, covers = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": f"Adds {covers}.", "namespace": _NAMESPACE,
            "updated": _UPDATED, "links": []}


async def list_extensions(request: Request):
    """GET /extensions -> 200 {"extensions": [{"alias", "name", "description", "namespace",
    "updated", "links"}]} sorted by alias."""
    authorize(request, "os_compute_api:extensions")
    return ok({"extensions": [_view(a) for a in sorted(EXTENSIONS, key=str.lower)]})


async def show_extension(request: Request):
    """GET /extensions/{alias} -> 200 {"extension": {...}}; 404 unknown alias."""
    authorize(request, "os_compute_api:extensions")
    alias = request.path_params["alias"]
    if alias not in EXTENSIONS:
        raise NotFound("The resource could not be found.")
    return ok({"extension": _view(alias)})


def routes() -> list[Route]:
    """The extension routes (under /v2.1)."""
    return [Route("/v2.1/extensions", list_extensions, methods=["GET"]),
            Route("/v2.1/extensions/{alias}", show_extension, methods=["GET"])]
