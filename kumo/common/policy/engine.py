"""The RBAC engine: oslo.policy rules, defaults per service, one override file per service.

A :class:`Policy` is built once per API component::

    policy = Policy("compute", compute_policies.rules(), settings, denial=nova_denial)
    policy.authorize(ctx, "os_compute_api:servers:delete", {"project_id": inst.project_id})
    if policy.check(ctx, "os_compute_api:os-extended-server-attributes", target): ...

Rules use oslo.policy's language (``role:admin``, ``project_id:%(project_id)s``,
``rule:<name>``, ``and``/``or``/``not``, ``@``/``!``). The left side of a
``key:value`` check is read from the caller's credentials
(:meth:`RequestContext.policy_values`: user_id, project_id, domain_id,
user_domain_id, project_domain_id, roles, system_scope ``all`` for a system
token), the right side is interpolated from the target. Keys whose value is
None are left out of both, so a missing value never matches.

Overrides: ``<[common] policy_dir>/<service>.yaml`` (or ``.json``), a mapping
of rule name to check string, replaces the defaults of the names it lists.
A missing file means the defaults. The file is read again only when its
mtime (or presence) changes, looked at no more than once a second; a file that does not parse is logged and the
previous rules stay. Rules are parsed once per load, never per check.

An action that no default or override names falls back to the service's
``default`` rule when it has one, else it is refused.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import yaml
from oslo_config import cfg
from oslo_policy import _checks
from oslo_policy import policy as oslo_policy

from kumo.common.api.errors import ApiError, Forbidden
from kumo.common.auth.context import RequestContext

log = logging.getLogger(__name__)

RuleDefault = oslo_policy.RuleDefault

#: Policy files are looked for with these suffixes, in this order.
SUFFIXES = (".yaml", ".yml", ".json")
#: Deepest chain of ``rule:`` references followed (a cycle in an override file is refused).
MAX_DEPTH = 32
#: oslo.policy's leaf checks, called directly (their __call__ takes the four arguments).
_LEAVES = (_checks.RoleCheck, _checks.GenericCheck)


def default_denial(action: str) -> ApiError:
    """Nova's wording: 403 "Policy doesn't allow <action> to be performed."."""
    return Forbidden(f"Policy doesn't allow {action} to be performed.")


def _clean(values: Mapping | None) -> dict:
    return {k: v for k, v in (values or {}).items() if v is not None}


class Policy:
    """The rules of one service (``compute``, ``network``, ``identity``, ``image``...).

    ``defaults``: the service's :class:`RuleDefault` list (names unique).
    ``settings``: kumo Settings; the override file is
    ``settings.common.policy_dir/<service>.yaml`` (``policy_file`` overrides the
    path, e.g. in tests). ``denial(action)`` builds the 403 the service answers
    (default: nova's message). The file's mtime is looked at no more than once per
    ``refresh_interval`` seconds.
    """

    def __init__(self, service: str, defaults: Iterable[RuleDefault], settings=None, *,
                 policy_file: str | None = None,
                 denial: Callable[[str], ApiError] = default_denial, refresh_interval: float = 1.0):
        self.service = service
        self.denial = denial
        self.defaults: dict[str, RuleDefault] = {}
        for rule in defaults:
            if rule.name in self.defaults:
                raise ValueError(f"policy rule {rule.name} defined twice for {service}")
            self.defaults[rule.name] = rule
        policy_dir = getattr(getattr(settings, "common", None), "policy_dir", "") if settings else ""
        self.path = policy_file or (os.path.join(policy_dir, service) if policy_dir else None)
        conf = cfg.ConfigOpts()
        self._enforcer = oslo_policy.Enforcer(conf, use_conf=False, overwrite=True,
                                              default_rule="default")
        self._enforcer.register_defaults(self.defaults.values())
        self._lock = threading.Lock()
        self._rules: dict = {}
        self.refresh_interval = refresh_interval
        self._next_look = 0.0
        self._stamp: tuple | None = ("unloaded",)
        self.overrides: dict[str, str] = {}
        self._refresh()

    # -- loading -------------------------------------------------------------------

    def _file(self) -> tuple[str | None, tuple | None]:
        """The override file that exists and its (path, mtime_ns, size) stamp."""
        if not self.path:
            return None, None
        candidates = [self.path] if self.path.endswith(SUFFIXES) else [self.path + s for s in SUFFIXES]
        for path in candidates:
            try:
                st = os.stat(path)
            except OSError:
                continue
            return path, (path, st.st_mtime_ns, st.st_size)
        return None, None

    def _refresh(self) -> None:
        """Reload the rules when the override file appeared, changed or went away (looked at
        no more than once per ``refresh_interval`` seconds)."""
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + self.refresh_interval
        path, stamp = self._file()
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            overrides: dict[str, str] = {}
            if path is not None:
                try:
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                    data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
                    if data is None:
                        data = {}
                    if not isinstance(data, dict) or not all(
                            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
                        raise ValueError("expected a mapping of rule name to check string")
                    overrides = data
                except (OSError, ValueError, yaml.YAMLError) as e:
                    log.error("policy file %s ignored: %s", path, e)
                    self._stamp = stamp
                    return
            rules = {name: rule.check for name, rule in self.defaults.items()}
            rules.update(oslo_policy.Rules.from_dict(overrides))
            self._enforcer.set_rules(rules, overwrite=True, use_conf=False)
            self._rules = rules
            self.overrides = overrides
            self._stamp = stamp
            if path is not None:
                log.info("policy for %s: %d overrides from %s", self.service, len(overrides), path)

    # -- checking ------------------------------------------------------------------

    def known(self, action: str) -> bool:
        """True if a default or the override file defines ``action``."""
        return action in self.defaults or action in self.overrides

    def check(self, ctx: RequestContext, action: str, target: Mapping | None = None) -> bool:
        """True if ``ctx`` may do ``action`` on ``target``.

        ``target`` None means the caller's own project and user (creates,
        lists); None values in a target are ignored (they never match).
        """
        self._refresh()
        if target is None:
            target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
        rule = self._rules.get(action, self._rules.get("default"))
        if rule is None:
            return False
        return self._evaluate(rule, _clean(target), ctx.policy_values(), action, 0)

    def _evaluate(self, check, target: dict, creds: dict, current: str, depth: int) -> bool:
        """Evaluate an oslo.policy check tree. The combinators and ``rule:`` references are
        walked here (oslo's own walk inspects every node's signature: ~30x slower); leaves
        are oslo's checks, so the rule language means exactly what oslo.policy says."""
        if depth > MAX_DEPTH:
            log.error("policy %s: rule references nest deeper than %d (a cycle?)", current, MAX_DEPTH)
            return False
        kind = type(check)
        if kind in _LEAVES:
            return bool(check(target, creds, self._enforcer, current))
        if kind is _checks.OrCheck:
            return any(self._evaluate(c, target, creds, current, depth + 1) for c in check.rules)
        if kind is _checks.AndCheck:
            return all(self._evaluate(c, target, creds, current, depth + 1) for c in check.rules)
        if kind is _checks.RuleCheck:
            inner = self._rules.get(check.match)
            return inner is not None and self._evaluate(inner, target, creds, check.match, depth + 1)
        if kind is _checks.NotCheck:
            return not self._evaluate(check.rule, target, creds, current, depth + 1)
        if kind is _checks.TrueCheck or kind is _checks.FalseCheck:
            return kind is _checks.TrueCheck
        return bool(_checks._check(check, target, creds, self._enforcer, current))

    def authorize(self, ctx: RequestContext, action: str, target: Mapping | None = None) -> None:
        """Nothing if :meth:`check` allows it; the service's 403 (``denial(action)``) otherwise."""
        if not self.check(ctx, action, target):
            raise self.denial(action)

    def is_admin(self, ctx: RequestContext) -> bool:
        """The ``context_is_admin`` rule (admins see every project's resources)."""
        return self.check(ctx, "context_is_admin", {})

    def rules(self) -> dict[str, str]:
        """Every rule in force, name -> check string (defaults with overrides applied)."""
        self._refresh()
        out = {name: rule.check_str for name, rule in self.defaults.items()}
        out.update(self.overrides)
        return out
