"""The request context: who is calling, in which scope, with which roles."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RequestContext:
    """Identity of an API caller, built from a validated Keystone v3 token.

    ``roles`` are role names. Exactly one of ``project_id``, ``domain_id`` or
    ``system`` is set for a scoped token; none for an unscoped one.
    """

    user_id: str = ""
    user_name: str = ""
    user_domain_id: str = ""
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    roles: list[str] = field(default_factory=list)
    token: str = ""
    expires_at: str = ""
    request_id: str = ""
    catalog: list[dict] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Members and admins change resources; a reader only reads."""
        return bool({"admin", "member", "_member_"} & set(self.roles))

    @property
    def system_scope(self) -> str | None:
        """``"all"`` for a system-scoped token (oslo.policy's ``system_scope``), else None."""
        return "all" if self.system else None

    def policy_values(self) -> dict:
        """Credentials for :class:`kumo.common.policy.Policy` checks (None values left out):
        user_id, user_domain_id, project_id, project_domain_id, domain_id, roles,
        system_scope.
        """
        values = {"user_id": self.user_id or None, "user_domain_id": self.user_domain_id or None,
                  "project_id": self.project_id, "project_domain_id": self.project_domain_id,
                  "domain_id": self.domain_id, "system_scope": self.system_scope,
                  "roles": [r.lower() for r in self.roles]}
        return {k: v for k, v in values.items() if v is not None}

    def owns(self, project_id: str | None) -> bool:
        """True if the caller may see a resource owned by ``project_id``."""
        return self.is_admin or (project_id is not None and project_id == self.project_id)

    @classmethod
    def from_token(cls, body: dict, token: str = "", request_id: str = "") -> "RequestContext":
        """Build a context from a ``{"token": {...}}`` v3 validation body."""
        t = body["token"]
        user = t.get("user", {})
        project = t.get("project") or {}
        domain = t.get("domain") or {}
        return cls(
            user_id=user.get("id", ""),
            user_name=user.get("name", ""),
            user_domain_id=(user.get("domain") or {}).get("id", ""),
            project_id=project.get("id"),
            project_name=project.get("name"),
            project_domain_id=(project.get("domain") or {}).get("id"),
            domain_id=domain.get("id"),
            system=bool(t.get("system")),
            roles=[r["name"] for r in t.get("roles", [])],
            token=token,
            expires_at=t.get("expires_at", ""),
            request_id=request_id,
            catalog=t.get("catalog", []),
        )
