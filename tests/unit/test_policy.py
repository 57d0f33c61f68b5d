"""The policy engine: defaults, credentials, targets, override files, denials, per-service defaults."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from kumo import config
from kumo.common.api.errors import Forbidden
from kumo.common.auth.context import RequestContext
from kumo.common.policy import Policy, RuleDefault
from kumo.compute import policies as compute_policies
from kumo.identity import policies as identity_policies
from kumo.image import policies as image_policies
from kumo.network import errors
from kumo.network import policies as network_policies

DEFAULTS = [
    RuleDefault("context_is_admin", "role:admin"),
    RuleDefault("owner", "project_id:%(project_id)s"),
    RuleDefault("thing:show", "rule:context_is_admin or (role:reader and rule:owner)"),
    RuleDefault("thing:change", "rule:context_is_admin or (role:member and rule:owner)"),
    RuleDefault("thing:self", "user_id:%(user_id)s"),
    RuleDefault("thing:system", "role:reader and system_scope:all"),
]


def ctx(project="p1", roles=("member", "reader"), user="u1", system=False, **kw) -> RequestContext:
    return RequestContext(user_id=user, project_id=None if system else project, roles=list(roles),
                          system=system, **kw)


@pytest.fixture
def policy(tmp_path) -> Policy:
    return Policy("thing", DEFAULTS, policy_file=str(tmp_path / "thing.yaml"), refresh_interval=0)


def test_defaults_decide_by_role_and_target(policy):
    member, reader, admin = ctx(), ctx(roles=["reader"]), ctx(project="other", roles=["admin"])
    mine, theirs = {"project_id": "p1"}, {"project_id": "p2"}
    assert policy.check(member, "thing:change", mine)
    assert not policy.check(member, "thing:change", theirs)
    assert policy.check(reader, "thing:show", mine) and not policy.check(reader, "thing:change", mine)
    assert policy.check(admin, "thing:change", theirs)  # a project-scoped admin is admin everywhere
    assert policy.is_admin(admin) and not policy.is_admin(member)


def test_none_target_is_the_callers_own_project_and_user(policy):
    assert policy.check(ctx(), "thing:change")
    assert policy.check(ctx(), "thing:self")


def test_missing_or_none_values_never_match(policy):
    unscoped = RequestContext(user_id="u1", roles=["member"])
    assert not policy.check(unscoped, "thing:change", {"project_id": None})
    assert not policy.check(ctx(), "thing:change", {})
    assert not policy.check(ctx(user=""), "thing:self", {"user_id": None})


def test_system_scope(policy):
    assert policy.check(ctx(roles=["reader"], system=True), "thing:system", {})
    assert not policy.check(ctx(roles=["reader"]), "thing:system", {})
    assert RequestContext(system=True).policy_values()["system_scope"] == "all"


def test_role_names_are_case_insensitive(policy):
    assert policy.check(ctx(roles=["Admin"]), "thing:change", {"project_id": "x"})


def test_unknown_action_is_refused_without_a_default(policy):
    assert not policy.check(ctx(roles=["admin"]), "thing:nothing", {})
    with pytest.raises(Forbidden) as e:
        policy.authorize(ctx(), "thing:nothing")
    assert e.value.message == "Policy doesn't allow thing:nothing to be performed."


def test_unknown_action_falls_back_to_default_rule():
    rules = Policy("x", DEFAULTS + [RuleDefault("default", "rule:context_is_admin")])
    assert rules.check(ctx(roles=["admin"]), "x:new") and not rules.check(ctx(), "x:new")


def test_denial_is_the_services():
    rules = Policy("network", DEFAULTS, denial=errors.policy)
    with pytest.raises(Forbidden) as e:
        rules.authorize(ctx(roles=["reader"]), "thing:change")
    assert (e.value.message, e.value.kind) == ("rule:thing:change is disallowed by policy", "PolicyNotAuthorized")


def test_duplicate_rule_names_are_rejected():
    with pytest.raises(ValueError):
        Policy("x", [RuleDefault("a", "@"), RuleDefault("a", "!")])


def _touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_override_file_is_read_when_it_changes(policy, tmp_path):
    path = tmp_path / "thing.yaml"
    member = ctx()
    assert not policy.check(member, "thing:change", {"project_id": "p2"})
    _touch(path, '"thing:change": "@"\n', 1)
    assert policy.check(member, "thing:change", {"project_id": "p2"})
    assert policy.overrides == {"thing:change": "@"}
    assert policy.rules()["thing:change"] == "@" and policy.rules()["thing:show"] == DEFAULTS[2].check_str
    _touch(path, '"thing:show": "!"\n', 2)
    assert not policy.check(member, "thing:change", {"project_id": "p2"})  # back to the default
    assert not policy.check(member, "thing:show", {"project_id": "p1"})
    path.unlink()
    assert policy.check(member, "thing:show", {"project_id": "p1"}) and policy.overrides == {}


def test_override_file_is_parsed_once_per_change(policy, tmp_path, monkeypatch):
    _touch(tmp_path / "thing.yaml", '"thing:show": "@"\n', 1)
    policy.check(ctx(), "thing:show", {})
    loads = []
    monkeypatch.setattr("kumo.common.policy.engine.yaml.safe_load", lambda text: loads.append(text) or {})
    for _ in range(50):
        assert policy.check(ctx(), "thing:show", {})
    assert loads == []


def test_the_file_is_looked_at_once_per_interval(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("kumo.common.policy.engine.time.monotonic", lambda: clock[0])
    rules = Policy("thing", DEFAULTS, policy_file=str(tmp_path / "thing.yaml"), refresh_interval=5)
    _touch(tmp_path / "thing.yaml", '"thing:change": "@"\n', 1)
    assert not rules.check(ctx(), "thing:change", {"project_id": "p2"})
    clock[0] += 5
    assert rules.check(ctx(), "thing:change", {"project_id": "p2"})


def test_a_rule_cycle_is_refused(policy, tmp_path):
    _touch(tmp_path / "thing.yaml", '"thing:show": "rule:loop"\n"loop": "rule:thing:show"\n', 1)
    assert not policy.check(ctx(roles=["admin"]), "thing:show", {})


def test_json_override_and_directory_setting(tmp_path):
    (tmp_path / "thing.json").write_text('{"thing:change": "role:auditor"}')
    settings = config.load(path="/nonexistent", environ={"KUMO_STATE_DIR": str(tmp_path / "s"),
                                                         "KUMO_COMMON__POLICY_DIR": str(tmp_path)})
    rules = Policy("thing", DEFAULTS, settings)
    assert rules.check(ctx(roles=["auditor"]), "thing:change", {})
    assert not rules.check(ctx(), "thing:change", {"project_id": "p1"})


@pytest.mark.parametrize("text", ["- just\n- a list\n", "thing:change: [1]\n", ": : :\n  - {\n"])
def test_a_bad_override_file_keeps_the_rules(policy, tmp_path, text):
    _touch(tmp_path / "thing.yaml", '"thing:change": "@"\n', 1)
    assert policy.check(ctx(), "thing:change", {"project_id": "p2"})
    _touch(tmp_path / "thing.yaml", text, 2)
    assert policy.check(ctx(), "thing:change", {"project_id": "p2"})


@pytest.mark.parametrize("module", [compute_policies, network_policies, identity_policies, image_policies])
def test_service_defaults_load_and_reference_only_known_rules(module, tmp_path):
    rules = module.policy(config.load(path="/nonexistent", environ={
        "KUMO_STATE_DIR": str(tmp_path), "KUMO_COMMON__POLICY_DIR": str(tmp_path)}))
    names = set(rules.defaults)
    assert "context_is_admin" in names and "default" in names
    for name, check in rules.rules().items():
        for ref in re.findall(r"rule:([\w:.-]+)", check):
            assert ref in names, f"{name} refers to unknown rule {ref}"


def _literal_actions(path: Path, func: str) -> set[str]:
    """String literals passed as the action of ``func(request, "<action>", ...)`` calls."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == func \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            found.add(node.args[1].value)
    return found


def test_every_identity_action_the_handlers_name_has_a_default():
    known = set(identity_policies.policy(None).defaults)
    used = set()
    for path in Path(identity_policies.__file__).parent.joinpath("api").glob("*.py"):
        used |= {a if a.startswith("identity:") else f"identity:{a}" for a in _literal_actions(path, "enforce")}
    assert used and sorted(used - known) == []


def test_every_compute_action_the_handlers_name_has_a_default():
    known = set(compute_policies.policy(None).defaults)
    used = set()
    for path in Path(compute_policies.__file__).parent.joinpath("api").glob("*.py"):
        used |= _literal_actions(path, "authorize") | _literal_actions(path, "_server")
    assert used and sorted(used - known) == []


def test_reader_and_member_personas_in_the_service_defaults():
    compute = compute_policies.policy(None)
    network = network_policies.policy(None)
    member, reader = ctx(), ctx(roles=["reader"])
    server = {"project_id": "p1", "user_id": "u9"}
    assert compute.check(reader, "os_compute_api:servers:show", server)
    assert not compute.check(reader, "os_compute_api:servers:delete", server)
    assert compute.check(member, "os_compute_api:servers:delete", server)
    assert not compute.check(member, "os_compute_api:os-hypervisors:list", {})
    net = {"project_id": "p2", "shared": True, "router:external": False}
    assert network.check(member, "get_network", net) and not network.check(member, "update_network", net)
    assert not network.check(member, "create_network:shared", {"project_id": "p1"})
    port = {"project_id": "p1", "network:project_id": "p1"}
    assert not network.check(member, "get_port:binding:vif_details", port)
    assert network.check(ctx(roles=["admin"]), "get_port:binding:vif_details", port)
    image = image_policies.policy(None)
    private = {"project_id": "p2", "visibility": "private", "member_id": "p1"}
    assert not image.check(member, "get_image", {**private, "member_id": None})
    assert image.check(reader, "get_image", {**private, "visibility": "public"})
    assert not image.check(member, "publicize_image") and not image.check(reader, "add_image")


@pytest.mark.parametrize("service", ["compute", "network", "identity", "image"])
def test_sample_file_round_trips(service, tmp_path):
    from kumo.common.policy.__main__ import sample
    (tmp_path / f"{service}.yaml").write_text(sample(service, active=True))
    module = {"compute": compute_policies, "network": network_policies, "identity": identity_policies,
              "image": image_policies}[service]
    defaults = {r.name: r.check_str for r in module.rules()}
    rules = Policy(service, module.rules(), policy_file=str(tmp_path / f"{service}.yaml"))
    assert rules.overrides == defaults
    commented = tmp_path / "commented.yaml"
    commented.write_text(sample(service))
    assert Policy(service, module.rules(), policy_file=str(commented)).overrides == {}
