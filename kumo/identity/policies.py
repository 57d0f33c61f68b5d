"""Default policy of the identity API (keystone's ``identity:*`` rule names; override in
``<policy_dir>/identity.yaml``).

keystone's persona defaults with flat targets and the legacy rule that a
project-scoped ``admin`` is an admin everywhere. Targets
(:func:`kumo.identity.api.common.enforce`) are the URL's path parameters
(``user_id``, ``project_id``, ``domain_id``, ``group_id``, ``role_id``...) plus
what the handler adds: a resource owner's ``user_id`` (credentials, application
credentials), a trust's ``trustor_user_id`` / ``trustee_user_id``, a token's
``token_user_id``, a limit's ``project_id`` / ``domain_id``.

Personas: ``admin_required`` (the admin role); ``system_reader`` (reader on a
system-scoped token); ``domain_reader`` / ``domain_manager`` (reader / manager
on a domain-scoped token for that domain); ``owner`` (the target's user).
"""
from __future__ import annotations

from kumo.common.api.errors import Forbidden
from kumo.common.policy import Policy, RuleDefault
from kumo.common.policy.base import ADMIN, ANYONE, OWNER, SYSTEM_ADMIN, SYSTEM_READER, table

ADMIN_REQ = "rule:admin_required"
#: admin or a system reader (read APIs of the catalog, roles, policies...).
READ = "rule:admin_required or rule:system_reader"
#: ... or a reader of the target's domain (users, groups, projects, assignments).
DOMAIN_READ = READ + " or rule:domain_reader"
#: admin or a manager of the target's domain (users, groups, projects in it).
DOMAIN_WRITE = "rule:admin_required or rule:domain_manager"
ADMIN_OR_OWNER = "rule:admin_required or rule:owner"
READ_OR_OWNER = READ + " or rule:owner"
PROJECT_READ = DOMAIN_READ + " or project_id:%(project_id)s"
TRUST_PARTY = READ + " or user_id:%(trustor_user_id)s or user_id:%(trustee_user_id)s"
TOKEN_RULE = "rule:service_or_admin or rule:token_subject"


def _crud(kind: str, read: str, write: str, plural: str | None = None,
          path: str | None = None) -> list[tuple[str, str, str]]:
    """list/get/create/update/delete rules of one keystone resource (``path``: its collection URL
    under /v3, default the plural)."""
    plural = plural or kind + "s"
    url = "/v3/" + (path or plural)
    return [(f"identity:list_{plural}", read, f"GET {url}"),
            (f"identity:get_{kind}", read, f"GET {url}/{{id}}"),
            (f"identity:create_{kind}", write, f"POST {url}"),
            (f"identity:update_{kind}", write, f"PATCH {url}/{{id}}"),
            (f"identity:delete_{kind}", write, f"DELETE {url}/{{id}}")]


def _grants() -> list[tuple[str, str, str]]:
    rows = [("identity:check_grant", DOMAIN_READ, "HEAD /v3/{projects,domains}/{id}/{users,groups}/{id}/roles/{id}"),
            ("identity:list_grants", DOMAIN_READ, "GET /v3/{projects,domains}/{id}/{users,groups}/{id}/roles"),
            ("identity:create_grant", DOMAIN_WRITE, "PUT /v3/{projects,domains}/{id}/{users,groups}/{id}/roles/{id}"),
            ("identity:revoke_grant", DOMAIN_WRITE,
             "DELETE /v3/{projects,domains}/{id}/{users,groups}/{id}/roles/{id}")]
    for actor in ("user", "group"):
        path = f"/v3/system/{actor}s/{{id}}/roles"
        rows += [(f"identity:list_system_grants_for_{actor}", READ, f"GET {path}"),
                 (f"identity:check_system_grant_for_{actor}", READ, f"HEAD {path}/{{role_id}}"),
                 (f"identity:create_system_grant_for_{actor}", ADMIN_REQ, f"PUT {path}/{{role_id}}"),
                 (f"identity:revoke_system_grant_for_{actor}", ADMIN_REQ, f"DELETE {path}/{{role_id}}")]
    return rows


def _endpoint_filter() -> list[tuple[str, str, str]]:
    reads = ["list_endpoints_associated_with_endpoint_group", "list_projects_associated_with_endpoint_group",
             "get_endpoint_group_in_project", "list_endpoint_groups_for_project",
             "list_endpoints_for_project", "check_endpoint_in_project", "list_projects_for_endpoint"]
    writes = ["add_endpoint_group_to_project", "remove_endpoint_group_from_project",
              "add_endpoint_to_project", "remove_endpoint_from_project"]
    return ([(f"identity:{n}", READ, "OS-EP-FILTER") for n in reads]
            + [(f"identity:{n}", ADMIN_REQ, "OS-EP-FILTER") for n in writes])


def _endpoint_policy() -> list[tuple[str, str, str]]:
    rows = [("identity:get_policy_for_endpoint", READ, "OS-ENDPOINT-POLICY"),
            ("identity:list_endpoints_for_policy", READ, "OS-ENDPOINT-POLICY")]
    for scope in ("endpoint", "service", "region_and_service"):
        rows += [(f"identity:check_policy_association_for_{scope}", READ, "OS-ENDPOINT-POLICY"),
                 (f"identity:create_policy_association_for_{scope}", ADMIN_REQ, "OS-ENDPOINT-POLICY"),
                 (f"identity:delete_policy_association_for_{scope}", ADMIN_REQ, "OS-ENDPOINT-POLICY")]
    return rows


def rules() -> list[RuleDefault]:
    """Every identity rule (Identity API v3 operations in the descriptions)."""
    return table([
        ("admin_required", ADMIN, "Who is an administrator"),
        ("context_is_admin", ADMIN_REQ, ""),
        ("service_role", "role:service", "Service users"),
        ("service_or_admin", "rule:admin_required or rule:service_role", ""),
        ("owner", OWNER, "The caller is the target's user"),
        ("admin_or_owner", ADMIN_OR_OWNER, ""),
        ("token_subject", "user_id:%(token_user_id)s", "The caller owns the subject token"),
        ("system_reader", SYSTEM_READER, ""),
        ("system_admin", SYSTEM_ADMIN, ""),
        ("domain_reader", "role:reader and domain_id:%(domain_id)s", ""),
        ("domain_manager", "role:manager and domain_id:%(domain_id)s", ""),
        ("default", ADMIN_REQ, "Any action without a rule of its own"),
        # Tokens and auth
        ("identity:check_token", TOKEN_RULE, "HEAD /v3/auth/tokens"),
        ("identity:validate_token", TOKEN_RULE, "GET /v3/auth/tokens"),
        ("identity:revoke_token", TOKEN_RULE, "DELETE /v3/auth/tokens"),
        ("identity:get_auth_catalog", ANYONE, "GET /v3/auth/catalog"),
        ("identity:get_auth_projects", ANYONE, "GET /v3/auth/projects"),
        ("identity:get_auth_domains", ANYONE, "GET /v3/auth/domains"),
        ("identity:get_auth_system", ANYONE, "GET /v3/auth/system"),
        ("identity:list_revoke_events", "rule:service_or_admin", "GET /v3/OS-REVOKE/events"),
        # Users
        ("identity:list_users", DOMAIN_READ, "GET /v3/users"),
        ("identity:get_user", DOMAIN_READ + " or rule:owner", "GET /v3/users/{user_id}"),
        ("identity:create_user", DOMAIN_WRITE, "POST /v3/users"),
        ("identity:update_user", DOMAIN_WRITE, "PATCH /v3/users/{user_id}"),
        ("identity:delete_user", DOMAIN_WRITE, "DELETE /v3/users/{user_id}"),
        ("identity:change_password", ADMIN_OR_OWNER, "POST /v3/users/{user_id}/password"),
        ("identity:list_user_projects", DOMAIN_READ + " or rule:owner", "GET /v3/users/{user_id}/projects"),
        ("identity:list_groups_for_user", DOMAIN_READ + " or rule:owner", "GET /v3/users/{user_id}/groups"),
        # Groups
        ("identity:list_groups", DOMAIN_READ, "GET /v3/groups"),
        ("identity:get_group", DOMAIN_READ, "GET /v3/groups/{group_id}"),
        ("identity:create_group", DOMAIN_WRITE, "POST /v3/groups"),
        ("identity:update_group", DOMAIN_WRITE, "PATCH /v3/groups/{group_id}"),
        ("identity:delete_group", DOMAIN_WRITE, "DELETE /v3/groups/{group_id}"),
        ("identity:list_users_in_group", DOMAIN_READ, "GET /v3/groups/{group_id}/users"),
        ("identity:check_user_in_group", DOMAIN_READ, "HEAD /v3/groups/{group_id}/users/{user_id}"),
        ("identity:add_user_to_group", DOMAIN_WRITE, "PUT /v3/groups/{group_id}/users/{user_id}"),
        ("identity:remove_user_from_group", DOMAIN_WRITE, "DELETE /v3/groups/{group_id}/users/{user_id}"),
        # Projects and domains
        ("identity:list_projects", DOMAIN_READ, "GET /v3/projects"),
        ("identity:get_project", PROJECT_READ, "GET /v3/projects/{project_id}"),
        ("identity:create_project", DOMAIN_WRITE, "POST /v3/projects"),
        ("identity:update_project", DOMAIN_WRITE, "PATCH /v3/projects/{project_id}"),
        ("identity:delete_project", DOMAIN_WRITE, "DELETE /v3/projects/{project_id}"),
        ("identity:list_project_tags", PROJECT_READ, "GET /v3/projects/{project_id}/tags"),
        ("identity:get_project_tag", PROJECT_READ, "GET /v3/projects/{project_id}/tags/{tag}"),
        ("identity:update_project_tags", DOMAIN_WRITE, "PUT /v3/projects/{project_id}/tags"),
        ("identity:create_project_tag", DOMAIN_WRITE, "PUT /v3/projects/{project_id}/tags/{tag}"),
        ("identity:delete_project_tags", DOMAIN_WRITE, "DELETE /v3/projects/{project_id}/tags"),
        ("identity:delete_project_tag", DOMAIN_WRITE, "DELETE /v3/projects/{project_id}/tags/{tag}"),
        ("identity:list_domains", READ, "GET /v3/domains"),
        ("identity:get_domain", READ + " or domain_id:%(domain_id)s or project_domain_id:%(domain_id)s",
         "GET /v3/domains/{domain_id}"),
        ("identity:create_domain", ADMIN_REQ, "POST /v3/domains"),
        ("identity:update_domain", ADMIN_REQ, "PATCH /v3/domains/{domain_id}"),
        ("identity:delete_domain", ADMIN_REQ, "DELETE /v3/domains/{domain_id}"),
        ("identity:create_domain_config", ADMIN_REQ, "PUT /v3/domains/{domain_id}/config"),
        ("identity:get_domain_config", READ, "GET /v3/domains/{domain_id}/config"),
        ("identity:update_domain_config", ADMIN_REQ, "PATCH /v3/domains/{domain_id}/config"),
        ("identity:delete_domain_config", ADMIN_REQ, "DELETE /v3/domains/{domain_id}/config"),
        ("identity:get_domain_config_default", READ, "GET /v3/domains/config/default"),
        ("identity:get_security_compliance_domain_config", ANYONE,
         "GET /v3/domains/{domain_id}/config/security_compliance"),
        # Roles, implied roles, grants, assignments
        *_crud("role", READ, ADMIN_REQ),
        *_crud("domain_role", READ, ADMIN_REQ, path="roles?domain_id"),
        ("identity:list_implied_roles", READ, "GET /v3/roles/{prior_role_id}/implies"),
        ("identity:get_implied_role", READ, "GET /v3/roles/{prior_role_id}/implies/{implied_role_id}"),
        ("identity:check_implied_role", READ, "HEAD /v3/roles/{prior_role_id}/implies/{implied_role_id}"),
        ("identity:create_implied_role", ADMIN_REQ, "PUT /v3/roles/{prior_role_id}/implies/{implied_role_id}"),
        ("identity:delete_implied_role", ADMIN_REQ,
         "DELETE /v3/roles/{prior_role_id}/implies/{implied_role_id}"),
        ("identity:list_role_inference_rules", READ, "GET /v3/role_inferences"),
        *_grants(),
        ("identity:list_role_assignments", DOMAIN_READ, "GET /v3/role_assignments"),
        ("identity:list_role_assignments_for_tree", READ, "GET /v3/role_assignments?include_subtree"),
        # Catalog
        ("identity:list_regions", ANYONE, "GET /v3/regions"),
        ("identity:get_region", ANYONE, "GET /v3/regions/{region_id}"),
        ("identity:create_region", ADMIN_REQ, "POST /v3/regions, PUT /v3/regions/{region_id}"),
        ("identity:update_region", ADMIN_REQ, "PATCH /v3/regions/{region_id}"),
        ("identity:delete_region", ADMIN_REQ, "DELETE /v3/regions/{region_id}"),
        *_crud("service", READ, ADMIN_REQ),
        *_crud("endpoint", READ, ADMIN_REQ),
        *_crud("endpoint_group", READ, ADMIN_REQ, path="OS-EP-FILTER/endpoint_groups"),
        *_endpoint_filter(),
        *_crud("policy", READ, ADMIN_REQ, "policies"),
        *_endpoint_policy(),
        # Credentials (owner: the credential's user_id)
        ("identity:list_credentials", READ_OR_OWNER, "GET /v3/credentials (filtered to the caller's)"),
        ("identity:get_credential", READ_OR_OWNER, "GET /v3/credentials/{credential_id}"),
        ("identity:create_credential", ADMIN_OR_OWNER, "POST /v3/credentials"),
        ("identity:update_credential", ADMIN_OR_OWNER, "PATCH /v3/credentials/{credential_id}"),
        ("identity:delete_credential", ADMIN_OR_OWNER, "DELETE /v3/credentials/{credential_id}"),
        ("identity:ec2_list_credentials", READ_OR_OWNER, "GET /v3/users/{user_id}/credentials/OS-EC2"),
        ("identity:ec2_get_credential", READ_OR_OWNER, "GET /v3/users/{user_id}/credentials/OS-EC2/{id}"),
        ("identity:ec2_create_credential", ADMIN_OR_OWNER, "POST /v3/users/{user_id}/credentials/OS-EC2"),
        ("identity:ec2_delete_credential", ADMIN_OR_OWNER,
         "DELETE /v3/users/{user_id}/credentials/OS-EC2/{id}"),
        # Application credentials and access rules (owner: the user of the URL)
        ("identity:list_application_credentials", READ_OR_OWNER, "GET /v3/users/{user_id}/application_credentials"),
        ("identity:get_application_credential", READ_OR_OWNER,
         "GET /v3/users/{user_id}/application_credentials/{id}"),
        ("identity:create_application_credential", "rule:owner", "POST /v3/users/{user_id}/application_credentials"),
        ("identity:delete_application_credential", ADMIN_OR_OWNER,
         "DELETE /v3/users/{user_id}/application_credentials/{id}"),
        ("identity:list_access_rules", READ_OR_OWNER, "GET /v3/users/{user_id}/access_rules"),
        ("identity:get_access_rule", READ_OR_OWNER, "GET /v3/users/{user_id}/access_rules/{id}"),
        ("identity:delete_access_rule", ADMIN_OR_OWNER, "DELETE /v3/users/{user_id}/access_rules/{id}"),
        # Trusts (trustor_user_id / trustee_user_id)
        ("identity:create_trust", "user_id:%(trustor_user_id)s", "POST /v3/OS-TRUST/trusts"),
        ("identity:list_trusts", READ, "GET /v3/OS-TRUST/trusts"),
        ("identity:list_trusts_for_trustor", READ + " or user_id:%(trustor_user_id)s",
         "GET /v3/OS-TRUST/trusts?trustor_user_id"),
        ("identity:list_trusts_for_trustee", READ + " or user_id:%(trustee_user_id)s",
         "GET /v3/OS-TRUST/trusts?trustee_user_id"),
        ("identity:get_trust", TRUST_PARTY, "GET /v3/OS-TRUST/trusts/{trust_id}"),
        ("identity:list_roles_for_trust", TRUST_PARTY, "GET /v3/OS-TRUST/trusts/{trust_id}/roles"),
        ("identity:get_role_for_trust", TRUST_PARTY, "GET /v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}"),
        ("identity:delete_trust", ADMIN_REQ + " or user_id:%(trustor_user_id)s",
         "DELETE /v3/OS-TRUST/trusts/{trust_id}"),
        # Unified limits
        ("identity:get_limit_model", ANYONE, "GET /v3/limits/model"),
        ("identity:list_registered_limits", ANYONE, "GET /v3/registered_limits"),
        ("identity:get_registered_limit", ANYONE, "GET /v3/registered_limits/{id}"),
        ("identity:create_registered_limits", ADMIN_REQ, "POST /v3/registered_limits"),
        ("identity:update_registered_limit", ADMIN_REQ, "PATCH /v3/registered_limits/{id}"),
        ("identity:delete_registered_limit", ADMIN_REQ, "DELETE /v3/registered_limits/{id}"),
        ("identity:list_limits", ANYONE, "GET /v3/limits (filtered to the caller's project)"),
        ("identity:get_limit", READ + " or project_id:%(project_id)s or domain_id:%(domain_id)s",
         "GET /v3/limits/{limit_id}"),
        ("identity:create_limits", ADMIN_REQ, "POST /v3/limits"),
        ("identity:update_limit", ADMIN_REQ, "PATCH /v3/limits/{limit_id}"),
        ("identity:delete_limit", ADMIN_REQ, "DELETE /v3/limits/{limit_id}"),
        # OAuth1 consumers and access tokens
        *_crud("consumer", READ, ADMIN_REQ, path="OS-OAUTH1/consumers"),
        ("identity:list_access_tokens", READ_OR_OWNER, "GET /v3/users/{user_id}/OS-OAUTH1/access_tokens"),
        ("identity:get_access_token", READ_OR_OWNER, "GET /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}"),
        ("identity:delete_access_token", ADMIN_OR_OWNER,
         "DELETE /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}"),
        ("identity:list_access_token_roles", READ_OR_OWNER,
         "GET /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}/roles"),
        ("identity:get_access_token_role", READ_OR_OWNER,
         "GET /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}/roles/{role_id}"),
    ])


def denial(action: str) -> Forbidden:
    """keystone's 403: "You are not authorized to perform the requested action: <action>."."""
    return Forbidden(f"You are not authorized to perform the requested action: {action}.")


def policy(settings) -> Policy:
    """The identity API's :class:`Policy`."""
    return Policy("identity", rules(), settings, denial=denial)
