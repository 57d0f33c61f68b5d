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


# Reference signatures computed with python-keystoneclient's Ec2Signer (secret "s3cr3t").
_V2 = {"host": "ec2.example:8773", "verb": "GET", "path": "/services/Cloud",
       "params": {"SignatureVersion": "2", "SignatureMethod": "HmacSHA256", "Action": "DescribeInstances",
                  "AWSAccessKeyId": "ak", "Timestamp": "2026-01-01T00:00:00Z"}}
_V4 = {"host": "ec2.example:8773", "verb": "GET", "path": "/", "params": {"Action": "DescribeInstances"},
       "headers": {"Host": "ec2.example:8773", "X-Amz-Date": "20260101T000000Z",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=ak/20260101/RegionOne/ec2/aws4_request, "
                                    "SignedHeaders=host;x-amz-date, Signature=x"},
       "body_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
_V4Q = {"host": "ec2.example", "verb": "GET", "path": "/", "headers": {"Host": "ec2.example"},
        "params": {"Action": "DescribeInstances", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                   "X-Amz-Credential": "ak/20260101/RegionOne/ec2/aws4_request", "X-Amz-Date": "20260101T000000Z",
                   "X-Amz-SignedHeaders": "host"},
        "body_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}


def test_ec2_signatures_match_the_reference():
    from kumo.identity import ec2tokens
    assert ec2tokens.compute("s3cr3t", _V2) == "vM5lPTUHnE8H4ZRDmSOfGzkfkGNH5Ic+hI4KK66Vo/M="
    v1 = {**_V2, "params": {**_V2["params"], "SignatureVersion": "1"}}
    assert ec2tokens.compute("s3cr3t", v1) == "icoL7nIEDAEsVV20fMTuJpfEIrg="
    assert ec2tokens.compute("s3cr3t", _V4) == "f3ac43454bf43d58c9514fc00ec7d166298cb7ebef2773b792202110725e8d88"
    assert ec2tokens.compute("s3cr3t", _V4Q) == "db27e9ee2b98516018a1ff05956abf97c361c5a0e0e8aea659aa7817beb83b13"
    good = {**_V2, "signature": "vM5lPTUHnE8H4ZRDmSOfGzkfkGNH5Ic+hI4KK66Vo/M="}
    assert ec2tokens.signature_matches("s3cr3t", good)
    assert not ec2tokens.signature_matches("other", good)
    assert not ec2tokens.signature_matches("s3cr3t", {**good, "verb": "POST"})
    assert not ec2tokens.signature_matches("s3cr3t", {**_V2, "params": {"SignatureVersion": "9"}, "signature": "x"})
    # A client that signed without the port is accepted too.
    bare = ec2tokens.compute("s3cr3t", {**_V2, "host": "ec2.example"})
    assert ec2tokens.signature_matches("s3cr3t", {**_V2, "signature": bare})


def test_ec2_signing_time_must_be_recent():
    from datetime import datetime, timedelta, timezone

    from kumo.identity import ec2tokens
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ec2tokens.fresh(_V2, now=when + timedelta(minutes=14))
    assert not ec2tokens.fresh(_V2, now=when + timedelta(minutes=16))
    assert not ec2tokens.fresh(_V4, now=when - timedelta(minutes=16))
    assert ec2tokens.fresh(_V4Q, now=when)
    assert not ec2tokens.fresh({"params": {"Timestamp": "garbage"}})
    assert ec2tokens.fresh({"params": {}})
