"""Default policy of the compute API (nova's rule names; override in ``<policy_dir>/compute.yaml``).

Targets: a server's ``{"project_id", "user_id"}``; a key pair's ``{"user_id"}``;
a quota set's ``{"project_id"}``; creates and lists use the caller's own
project and user. ``context_is_admin`` decides who sees every project's
servers and the admin-only fields (host, hypervisor, fault details...).
Deviation from nova, kept from kumo's first release: creating or deleting a
key pair needs the member role (a reader only reads).
"""
from __future__ import annotations

from kumo.common.policy import Policy, RuleDefault
from kumo.common.policy.base import ADMIN, ANYONE, OWNER, PROJECT_MEMBER, PROJECT_READER, table

ADMIN_API = "rule:admin_api"
MEMBER = "rule:project_member_or_admin"
READER = "rule:project_reader_or_admin"
SERVERS = "os_compute_api:servers:"
META = "os_compute_api:server-metadata:"
KEYPAIRS = "os_compute_api:os-keypairs:"
FLAVOR = "os_compute_api:os-flavor-"
HYPERVISORS = "os_compute_api:os-hypervisors:"
SG = "os_compute_api:os-security-groups:"
FIP = "os_compute_api:os-floating-ips:"
IFACES = "os_compute_api:os-attach-interfaces:"
ACTIONS = "os_compute_api:os-instance-actions:"
TAGS = "os_compute_api:os-server-tags:"
LOCK = "os_compute_api:os-lock-server:"


def rules() -> list[RuleDefault]:
    """Every compute rule (Compute API reference sections in the descriptions)."""
    return table([
        ("context_is_admin", ADMIN, "Who is an administrator"),
        ("admin_api", "rule:context_is_admin", "Administrative APIs"),
        ("project_member_api", PROJECT_MEMBER, "A member of the target's project"),
        ("project_reader_api", PROJECT_READER, "A reader of the target's project"),
        ("project_member_or_admin", "rule:project_member_api or rule:context_is_admin", ""),
        ("project_reader_or_admin", "rule:project_reader_api or rule:context_is_admin", ""),
        ("default", ADMIN_API, "Any action without a rule of its own"),
        ("os_compute_api:os-server-external-events:create", "rule:admin_api or role:service",
         "POST /os-server-external-events (other services' notices)"),
        # Servers
        (SERVERS + "index", READER, "GET /servers"),
        (SERVERS + "detail", READER, "GET /servers/detail"),
        (SERVERS + "index:get_all_tenants", ADMIN_API, "GET /servers?all_tenants"),
        (SERVERS + "detail:get_all_tenants", ADMIN_API, "GET /servers/detail?all_tenants"),
        (SERVERS + "allow_all_filters", ADMIN_API, "GET /servers with host, node, key_name filters"),
        (SERVERS + "show", READER, "GET /servers/{server_id}"),
        (SERVERS + "show:host_status", ADMIN_API, "host_status in server bodies (2.16)"),
        ("os_compute_api:os-extended-server-attributes", ADMIN_API,
         "OS-EXT-SRV-ATTR:* fields in server bodies"),
        (SERVERS + "create", MEMBER, "POST /servers"),
        (SERVERS + "create:forced_host", ADMIN_API, "POST /servers with availability_zone zone:host"),
        ("compute:servers:create:requested_destination", ADMIN_API,
         "POST /servers with host or hypervisor_hostname (2.74)"),
        (SERVERS + "update", MEMBER, "PUT /servers/{server_id}"),
        (SERVERS + "delete", MEMBER, "DELETE /servers/{server_id}"),
        (SERVERS + "start", MEMBER, "POST /servers/{server_id}/action (os-start)"),
        (SERVERS + "stop", MEMBER, "POST /servers/{server_id}/action (os-stop)"),
        (SERVERS + "reboot", MEMBER, "POST /servers/{server_id}/action (reboot)"),
        ("os_compute_api:os-console-output", MEMBER,
         "POST /servers/{server_id}/action (os-getConsoleOutput)"),
        ("os_compute_api:os-remote-consoles", MEMBER,
         "POST /servers/{server_id}/remote-consoles, os-getVNCConsole and the other console actions"),
        ("os_compute_api:os-console-auth-tokens", ADMIN_API, "GET /os-console-auth-tokens/{token}"),
        ("os_compute_api:ips:index", READER, "GET /servers/{server_id}/ips"),
        ("os_compute_api:ips:show", READER, "GET /servers/{server_id}/ips/{network_label}"),
        ("os_compute_api:os-volumes-attachments:index", READER,
         "GET /servers/{server_id}/os-volume_attachments"),
        (META + "index", READER, "GET /servers/{server_id}/metadata"),
        (META + "show", READER, "GET /servers/{server_id}/metadata/{key}"),
        (META + "create", MEMBER, "POST /servers/{server_id}/metadata"),
        (META + "update_all", MEMBER, "PUT /servers/{server_id}/metadata"),
        (META + "update", MEMBER, "PUT /servers/{server_id}/metadata/{key}"),
        (META + "delete", MEMBER, "DELETE /servers/{server_id}/metadata/{key}"),
        # Instance actions, tags, lock, password, diagnostics, admin actions (api/server_extras.py...)
        (ACTIONS + "list", READER, "GET /servers/{server_id}/os-instance-actions"),
        (ACTIONS + "show", READER, "GET /servers/{server_id}/os-instance-actions/{request_id}"),
        (ACTIONS + "events", ADMIN_API, "events before 2.51, their traceback and host (2.62)"),
        (ACTIONS + "events:details", READER, "details of the events (2.84)"),
        (TAGS + "index", READER, "GET /servers/{server_id}/tags"),
        (TAGS + "show", READER, "GET /servers/{server_id}/tags/{tag}"),
        (TAGS + "update", MEMBER, "PUT /servers/{server_id}/tags/{tag}"),
        (TAGS + "update_all", MEMBER, "PUT /servers/{server_id}/tags"),
        (TAGS + "delete", MEMBER, "DELETE /servers/{server_id}/tags/{tag}"),
        (TAGS + "delete_all", MEMBER, "DELETE /servers/{server_id}/tags"),
        (LOCK + "lock", MEMBER, "POST /servers/{server_id}/action (lock)"),
        (LOCK + "unlock", MEMBER, "POST /servers/{server_id}/action (unlock)"),
        (LOCK + "unlock:unlock_override", ADMIN_API, "unlock a server someone else locked"),
        ("os_compute_api:os-admin-actions:reset_state", ADMIN_API,
         "POST /servers/{server_id}/action (os-resetState)"),
        ("os_compute_api:os-admin-actions:inject_network_info", ADMIN_API,
         "POST /servers/{server_id}/action (injectNetworkInfo)"),
        ("os_compute_api:os-admin-password", MEMBER, "POST /servers/{server_id}/action (changePassword)"),
        ("os_compute_api:os-server-password:show", READER, "GET /servers/{server_id}/os-server-password"),
        ("os_compute_api:os-server-password:clear", MEMBER, "DELETE /servers/{server_id}/os-server-password"),
        ("os_compute_api:os-server-diagnostics", ADMIN_API, "GET /servers/{server_id}/diagnostics"),
        ("os_compute_api:extensions", ANYONE, "GET /extensions, GET /extensions/{alias}"),
        # Server lifecycle actions (api/lifecycle.py)
        ("os_compute_api:os-pause-server:pause", MEMBER, "POST /servers/{server_id}/action (pause)"),
        ("os_compute_api:os-pause-server:unpause", MEMBER, "POST /servers/{server_id}/action (unpause)"),
        ("os_compute_api:os-suspend-server:suspend", MEMBER, "POST /servers/{server_id}/action (suspend)"),
        ("os_compute_api:os-suspend-server:resume", MEMBER, "POST /servers/{server_id}/action (resume)"),
        ("os_compute_api:os-rescue", MEMBER, "POST /servers/{server_id}/action (rescue)"),
        ("os_compute_api:os-unrescue", MEMBER, "POST /servers/{server_id}/action (unrescue)"),
        (SERVERS + "rebuild", MEMBER, "POST /servers/{server_id}/action (rebuild)"),
        (SERVERS + "rebuild:trusted_certs", MEMBER, "rebuild with trusted_image_certificates"),
        (SERVERS + "resize", MEMBER, "POST /servers/{server_id}/action (resize)"),
        (SERVERS + "confirm_resize", MEMBER, "POST /servers/{server_id}/action (confirmResize)"),
        (SERVERS + "revert_resize", MEMBER, "POST /servers/{server_id}/action (revertResize)"),
        (SERVERS + "create_image", MEMBER, "POST /servers/{server_id}/action (createImage)"),
        ("os_compute_api:os-create-backup", MEMBER, "POST /servers/{server_id}/action (createBackup)"),
        ("os_compute_api:os-shelve:shelve", MEMBER, "POST /servers/{server_id}/action (shelve)"),
        ("os_compute_api:os-shelve:shelve_offload", ADMIN_API,
         "POST /servers/{server_id}/action (shelveOffload)"),
        ("os_compute_api:os-shelve:unshelve", MEMBER, "POST /servers/{server_id}/action (unshelve)"),
        ("os_compute_api:os-deferred-delete:restore", MEMBER, "POST /servers/{server_id}/action (restore)"),
        ("os_compute_api:os-deferred-delete:force", MEMBER,
         "POST /servers/{server_id}/action (forceDelete)"),
        ("os_compute_api:os-migrations:index", ADMIN_API, "GET /os-migrations"),
        # Network proxies (security groups, floating IPs, networks; up to 2.35) and interfaces
        (SG + "get", READER, "GET /os-security-groups"),
        (SG + "show", READER, "GET /os-security-groups/{security_group_id}"),
        (SG + "create", MEMBER, "POST /os-security-groups"),
        (SG + "update", MEMBER, "PUT /os-security-groups/{security_group_id}"),
        (SG + "delete", MEMBER, "DELETE /os-security-groups/{security_group_id}"),
        (SG + "rule:create", MEMBER, "POST /os-security-group-rules"),
        (SG + "rule:delete", MEMBER, "DELETE /os-security-group-rules/{security_group_rule_id}"),
        (SG + "list", READER, "GET /servers/{server_id}/os-security-groups"),
        (SG + "add", MEMBER, "POST /servers/{server_id}/action (addSecurityGroup)"),
        (SG + "remove", MEMBER, "POST /servers/{server_id}/action (removeSecurityGroup)"),
        (FIP + "list", READER, "GET /os-floating-ips"),
        (FIP + "show", READER, "GET /os-floating-ips/{floating_ip_id}"),
        (FIP + "create", MEMBER, "POST /os-floating-ips"),
        (FIP + "delete", MEMBER, "DELETE /os-floating-ips/{floating_ip_id}"),
        (FIP + "add", MEMBER, "POST /servers/{server_id}/action (addFloatingIp)"),
        (FIP + "remove", MEMBER, "POST /servers/{server_id}/action (removeFloatingIp)"),
        ("os_compute_api:os-floating-ip-pools:list", ANYONE, "GET /os-floating-ip-pools"),
        ("os_compute_api:os-networks:list", READER, "GET /os-networks"),
        ("os_compute_api:os-networks:view", READER, "GET /os-networks/{network_id}"),
        ("os_compute_api:os-tenant-networks:list", READER, "GET /os-tenant-networks"),
        ("os_compute_api:os-tenant-networks:show", READER, "GET /os-tenant-networks/{network_id}"),
        (IFACES + "list", READER, "GET /servers/{server_id}/os-interface"),
        (IFACES + "show", READER, "GET /servers/{server_id}/os-interface/{port_id}"),
        (IFACES + "create", MEMBER, "POST /servers/{server_id}/os-interface"),
        (IFACES + "delete", MEMBER, "DELETE /servers/{server_id}/os-interface/{port_id}"),
        ("os_compute_api:os-multinic", MEMBER, "POST /servers/{server_id}/action (addFixedIp, removeFixedIp)"),
        # Key pairs (per user)
        (KEYPAIRS + "index", f"{ADMIN_API} or {OWNER}", "GET /os-keypairs"),
        (KEYPAIRS + "show", f"{ADMIN_API} or {OWNER}", "GET /os-keypairs/{keypair_name}"),
        (KEYPAIRS + "create", f"{ADMIN_API} or (role:member and {OWNER})", "POST /os-keypairs"),
        (KEYPAIRS + "delete", f"{ADMIN_API} or (role:member and {OWNER})",
         "DELETE /os-keypairs/{keypair_name}"),
        # Flavors
        (FLAVOR + "manage:create", ADMIN_API, "POST /flavors"),
        (FLAVOR + "manage:update", ADMIN_API, "PUT /flavors/{flavor_id}"),
        (FLAVOR + "manage:delete", ADMIN_API, "DELETE /flavors/{flavor_id}"),
        (FLAVOR + "extra-specs:index", READER, "GET /flavors/{flavor_id}/os-extra_specs"),
        (FLAVOR + "extra-specs:show", READER, "GET /flavors/{flavor_id}/os-extra_specs/{key}"),
        (FLAVOR + "extra-specs:create", ADMIN_API, "POST /flavors/{flavor_id}/os-extra_specs"),
        (FLAVOR + "extra-specs:update", ADMIN_API, "PUT /flavors/{flavor_id}/os-extra_specs/{key}"),
        (FLAVOR + "extra-specs:delete", ADMIN_API, "DELETE /flavors/{flavor_id}/os-extra_specs/{key}"),
        (FLAVOR + "access", ADMIN_API, "GET /flavors/{flavor_id}/os-flavor-access"),
        (FLAVOR + "access:add_tenant_access", ADMIN_API, "POST /flavors/{flavor_id}/action (addTenantAccess)"),
        (FLAVOR + "access:remove_tenant_access", ADMIN_API,
         "POST /flavors/{flavor_id}/action (removeTenantAccess)"),
        # Services, hypervisors, aggregates, availability zones
        ("os_compute_api:os-services:list", ADMIN_API, "GET /os-services"),
        ("os_compute_api:os-services:update", ADMIN_API, "PUT /os-services/{service_id}"),
        ("os_compute_api:os-services:delete", ADMIN_API, "DELETE /os-services/{service_id}"),
        (HYPERVISORS + "list", ADMIN_API, "GET /os-hypervisors"),
        (HYPERVISORS + "list-detail", ADMIN_API, "GET /os-hypervisors/detail"),
        (HYPERVISORS + "show", ADMIN_API, "GET /os-hypervisors/{hypervisor_id}"),
        (HYPERVISORS + "statistics", ADMIN_API, "GET /os-hypervisors/statistics"),
        (HYPERVISORS + "uptime", ADMIN_API, "GET /os-hypervisors/{hypervisor_id}/uptime"),
        (HYPERVISORS + "search", ADMIN_API, "GET /os-hypervisors/{pattern}/search"),
        (HYPERVISORS + "servers", ADMIN_API, "GET /os-hypervisors/{pattern}/servers"),
        ("os_compute_api:os-aggregates:index", ADMIN_API, "GET /os-aggregates"),
        ("os_compute_api:os-aggregates:show", ADMIN_API, "GET /os-aggregates/{aggregate_id}"),
        ("os_compute_api:os-aggregates:create", ADMIN_API, "POST /os-aggregates"),
        ("os_compute_api:os-aggregates:update", ADMIN_API, "PUT /os-aggregates/{aggregate_id}"),
        ("os_compute_api:os-aggregates:delete", ADMIN_API, "DELETE /os-aggregates/{aggregate_id}"),
        ("os_compute_api:os-aggregates:add_host", ADMIN_API, "POST /os-aggregates/{id}/action (add_host)"),
        ("os_compute_api:os-aggregates:remove_host", ADMIN_API,
         "POST /os-aggregates/{id}/action (remove_host)"),
        ("os_compute_api:os-aggregates:set_metadata", ADMIN_API,
         "POST /os-aggregates/{id}/action (set_metadata)"),
        ("os_compute_api:os-hosts:list", ADMIN_API, "GET /os-hosts"),
        ("os_compute_api:os-hosts:show", ADMIN_API, "GET /os-hosts/{host_name}"),
        ("os_compute_api:os-hosts:update", ADMIN_API, "PUT /os-hosts/{host_name}"),
        ("os_compute_api:os-hosts:reboot", ADMIN_API, "GET /os-hosts/{host_name}/reboot"),
        ("os_compute_api:os-hosts:shutdown", ADMIN_API, "GET /os-hosts/{host_name}/shutdown"),
        ("os_compute_api:os-hosts:start", ADMIN_API, "GET /os-hosts/{host_name}/startup"),
        ("os_compute_api:os-availability-zone:list", ANYONE, "GET /os-availability-zone"),
        ("os_compute_api:os-availability-zone:detail", ADMIN_API, "GET /os-availability-zone/detail"),
        # Limits and quotas
        ("os_compute_api:limits", ANYONE, "GET /limits"),
        ("os_compute_api:limits:other_project", ADMIN_API, "GET /limits?tenant_id"),
        ("os_compute_api:os-quota-sets:show", READER, "GET /os-quota-sets/{tenant_id}"),
        ("os_compute_api:os-quota-sets:defaults", ANYONE, "GET /os-quota-sets/{tenant_id}/defaults"),
        ("os_compute_api:os-quota-sets:detail", READER, "GET /os-quota-sets/{tenant_id}/detail"),
        ("os_compute_api:os-quota-sets:update", ADMIN_API, "PUT /os-quota-sets/{tenant_id}"),
        ("os_compute_api:os-quota-sets:delete", ADMIN_API, "DELETE /os-quota-sets/{tenant_id}"),
        ("os_compute_api:os-quota-class-sets:show", f"{ADMIN_API} or quota_class:%(quota_class)s",
         "GET /os-quota-class-sets/{quota_class}"),
        ("os_compute_api:os-quota-class-sets:update", ADMIN_API, "PUT /os-quota-class-sets/{quota_class}"),
        # Usage
        ("os_compute_api:os-simple-tenant-usage:list", ADMIN_API, "GET /os-simple-tenant-usage"),
        ("os_compute_api:os-simple-tenant-usage:show", READER, "GET /os-simple-tenant-usage/{tenant_id}"),
        ("os_compute_api:os-instance-usage-audit-log:list", ADMIN_API, "GET /os-instance_usage_audit_log"),
        ("os_compute_api:os-instance-usage-audit-log:show", ADMIN_API,
         "GET /os-instance_usage_audit_log/{before_timestamp}"),
        # Server groups
        ("os_compute_api:os-server-groups:index", READER, "GET /os-server-groups"),
        ("os_compute_api:os-server-groups:index:all_projects", ADMIN_API,
         "GET /os-server-groups?all_projects"),
        ("os_compute_api:os-server-groups:show", READER, "GET /os-server-groups/{server_group_id}"),
        ("os_compute_api:os-server-groups:create", MEMBER, "POST /os-server-groups"),
        ("os_compute_api:os-server-groups:delete", MEMBER, "DELETE /os-server-groups/{server_group_id}"),
    ])


def policy(settings) -> Policy:
    """The compute API's :class:`Policy` (nova's 403 wording)."""
    return Policy("compute", rules(), settings)
