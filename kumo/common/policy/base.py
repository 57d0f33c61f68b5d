"""Check strings the services' default policies share (oslo.policy rule language).

The persona model of OpenStack's "secure RBAC" defaults, with the legacy rule
that a project-scoped ``admin`` is an admin everywhere:

- ``ADMIN``: the admin role, in any scope;
- ``PROJECT_MEMBER`` / ``PROJECT_READER``: that role on the target's project
  (keystone's implied roles give a member the reader role too);
- ``SYSTEM_READER`` / ``SYSTEM_ADMIN``: that role on a system-scoped token;
- ``OWNER``: the caller is the target's user (key pairs, credentials, own user).
"""
from __future__ import annotations

from kumo.common.policy.engine import RuleDefault

ADMIN = "role:admin"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
SYSTEM_READER = "role:reader and system_scope:all"
SYSTEM_ADMIN = "role:admin and system_scope:all"
OWNER = "user_id:%(user_id)s"
ANYONE = "@"
NOBODY = "!"


def table(rows: list[tuple[str, str, str]]) -> list[RuleDefault]:
    """``RuleDefault``s from ``(name, check string, description)`` rows (the description
    names the API operation, e.g. ``"GET /servers/{server_id}"``)."""
    return [RuleDefault(name, check, description) for name, check, description in rows]
