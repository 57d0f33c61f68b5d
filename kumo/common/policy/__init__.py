"""One RBAC engine for every kumo service (oslo.policy's rule language).

:class:`Policy` (see :mod:`kumo.common.policy.engine`) holds a service's
defaults (``kumo/<service>/policies.py``) and the operator's overrides
(``<[common] policy_dir>/<service>.yaml``). :mod:`kumo.common.policy.base`
has the check strings the services' defaults share.
"""
from kumo.common.policy.engine import Policy, RuleDefault, default_denial

__all__ = ["Policy", "RuleDefault", "default_denial"]
