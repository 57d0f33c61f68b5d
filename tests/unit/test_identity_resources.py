"""Pure helpers of the identity resources: tag filters, domain config rules, ec2 ids, subtree ids."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from kumo.common.api.errors import BadRequest, Forbidden
from kumo.identity import domain_config
from kumo.identity.api.projects import _as_ids
from kumo.identity.credentials import _ec2_access, ec2_id
from kumo.identity.resource import tag_filter


def _p(name, *tags):
    return SimpleNamespace(name=name, tags=list(tags))


def test_tag_filter_combinations():
    ps = [_p("ab", "a", "b"), _p("bc", "b", "c"), _p("none")]

    def names(**kw):
        return [p.name for p in tag_filter(ps, **kw)]

    assert names(all_of=["a", "b"]) == ["ab"]
    assert names(any_of=["a", "c"]) == ["ab", "bc"]
    assert names(not_all=["b", "c"]) == ["ab", "none"]
    assert names(not_any=["a"]) == ["bc", "none"]
    assert names(all_of=["b"], not_any=["a"]) == ["bc"]
    assert names() == ["ab", "bc", "none"]


def test_subtree_as_ids_nests_children():
    edges = [("b", "a"), ("c", "b"), ("d", "a")]
    assert _as_ids("a", edges) == {"b": {"c": None}, "d": None}
    assert _as_ids("c", edges) is None


def test_ec2_id_is_the_sha256_of_the_access_key():
    assert ec2_id("AK") == hashlib.sha256(b"AK").hexdigest()
    assert _ec2_access('{"access": "AK", "secret": "s"}') == "AK"
    for blob in ("nope", "[]", '{"secret": "s"}', '{"access": ""}', '{"access": 1}'):
        with pytest.raises(BadRequest):
            _ec2_access(blob)


def test_domain_config_rules():
    ok = {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "p"}}
    assert domain_config.check_config(ok) is ok
    for bad in ({}, {"assignment": {"driver": "x"}}, {"ldap": {"colour": "red"}}):
        with pytest.raises(Forbidden):
            domain_config.check_config(bad)
    with pytest.raises(BadRequest):
        domain_config.check_config({"ldap": "url=x"})
    assert domain_config.defaults("identity", "driver") == {"driver": "sql"}
    assert "password" not in domain_config.defaults()["ldap"]
    with pytest.raises(Forbidden):
        domain_config.defaults("ldap", "password")
