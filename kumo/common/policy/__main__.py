"""``python -m kumo.common.policy SERVICE [--all]``: a service's policy as a YAML override file.

Like ``oslopolicy-sample-generator``: every default rule with its description as a comment,
commented out unless ``--all``, so the output is a starting point for
``<[common] policy_dir>/SERVICE.yaml``. SERVICE is compute, network, identity or image.
"""
from __future__ import annotations

import importlib
import json
import sys

SERVICES = ("compute", "network", "identity", "image")


def sample(service: str, active: bool = False) -> str:
    """The YAML text for ``service`` (ValueError for an unknown one)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    module = importlib.import_module(f"kumo.{service}.policies")
    lines = [f"# kumo {service} policy (defaults); copy to <policy_dir>/{service}.yaml and edit", ""]
    for rule in module.rules():
        if rule.description:
            lines.append(f"# {rule.description}")
        lines.append(("" if active else "#") + f"{json.dumps(rule.name)}: {json.dumps(rule.check_str)}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--all"]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        print(sample(args[0], active="--all" in argv))
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
