"""Application credential access rules, checked by every API (as keystonemiddleware does).

A token issued with an application credential that has access rules (Identity
API v3, "Application credentials": ``access_rules``) carries them in its body
under ``application_credential.access_rules``: ``[{"service": "compute",
"method": "GET", "path": "/v2.1/servers/*/ips"}, ...]``. Such a token may only
make the calls a rule names: same service type, same method, and a path
matching the rule's glob, where ``*`` matches within one path segment and
``**`` across segments. A token without access rules is not limited.
"""
from __future__ import annotations

import re
from functools import lru_cache

#: Error style of an API (kumo.common.api.errors) -> the service type its rules name.
SERVICE_TYPES = {"keystone": "identity", "nova": "compute", "neutron": "network", "glance": "image"}


@lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern:
    parts = re.split(r"(\*\*|\*)", glob.rstrip("/") or "/")
    regex = "".join(".*" if p == "**" else "[^/]*" if p == "*" else re.escape(p) for p in parts)
    return re.compile(regex + "/?")


def allowed(token_body: dict, style: str, method: str, path: str) -> bool:
    """True unless the token has access rules and none of them allows ``method path`` on this API."""
    cred = token_body.get("token", {}).get("application_credential") or {}
    rules = cred.get("access_rules")
    if not rules:
        return True
    service = SERVICE_TYPES.get(style, style)
    for rule in rules:
        if rule.get("service") == service and rule.get("method", "").upper() == method.upper() and \
                _pattern(rule.get("path", "")).fullmatch(path):
            return True
    return False
