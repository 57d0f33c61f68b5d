"""Identity resources through the real `openstack` CLI: project trees and tags, regions,
credentials and EC2 credentials, unified limits, endpoint groups."""
from __future__ import annotations

import uuid


def _name(prefix: str) -> str:
    return f"e2e-{prefix}-{uuid.uuid4().hex[:8]}"


def test_project_tree_and_tags(admin):
    parent = admin.json("project", "create", "--tag", "blue", "--tag", "green", _name("parent"))
    child = admin.json("project", "create", "--parent", parent["id"], _name("child"))
    try:
        assert child["parent_id"] == parent["id"]
        shown = admin.json("project", "show", "--children", parent["id"])
        assert shown["subtree"] == {child["id"]: None}
        shown = admin.json("project", "show", "--parents", child["id"])
        assert shown["parents"] == {parent["id"]: None}
        assert sorted(admin.json("project", "show", parent["id"])["tags"]) == ["blue", "green"]
        names = {p["Name"] for p in admin.json("project", "list", "--tags-any", "blue")}
        assert parent["name"] in names and child["name"] not in names
        # A parent with children cannot be deleted.
        assert admin.run("project", "delete", parent["id"], check=False).returncode != 0
    finally:
        admin.run("project", "delete", child["id"], check=False)
        admin.run("project", "delete", parent["id"], check=False)


def test_region_credential_and_ec2(admin):
    region = _name("region")
    admin.run("region", "create", "--parent-region", "RegionOne", "--description", "sub", region)
    try:
        assert admin.json("region", "show", region)["parent_region"] == "RegionOne"
        admin.run("region", "set", "--description", "changed", region)
        assert admin.json("region", "show", region)["description"] == "changed"
    finally:
        admin.run("region", "delete", region)
    assert region not in {r["Region"] for r in admin.json("region", "list")}
    cred = admin.json("credential", "create", "--type", "totp", "admin", "seed-value")
    try:
        assert admin.json("credential", "show", cred["id"])["blob"] == "seed-value"
    finally:
        admin.run("credential", "delete", cred["id"])
    ec2 = admin.json("ec2", "credentials", "create")
    try:
        assert ec2["access"] in {c["Access"] for c in admin.json("ec2", "credentials", "list")}
    finally:
        admin.run("ec2", "credentials", "delete", ec2["access"])


def test_limits_and_endpoint_groups(admin, tmp_path):
    registered = admin.json("registered", "limit", "create", "--service", "nova", "--default-limit", "10",
                            "--region", "RegionOne", _name("res"))
    try:
        limit = admin.json("limit", "create", "--project", "admin", "--service", "nova", "--resource-limit", "20",
                           "--region", "RegionOne", registered["resource_name"])
        try:
            admin.run("limit", "set", "--resource-limit", "30", limit["id"])
            assert admin.json("limit", "show", limit["id"])["resource_limit"] == 30
        finally:
            admin.run("limit", "delete", limit["id"])
    finally:
        admin.run("registered", "limit", "delete", registered["id"])
    filters = tmp_path / "filters.json"
    filters.write_text('{"interface": "public"}')
    group = admin.json("endpoint", "group", "create", _name("group"), str(filters))
    try:
        admin.run("endpoint", "group", "add", "project", group["id"], "admin")
        projects = admin.json("endpoint", "group", "show", group["id"])
        assert projects["filters"] == {"interface": "public"}
        admin.run("endpoint", "group", "remove", "project", group["id"], "admin")
    finally:
        admin.run("endpoint", "group", "delete", group["id"])
