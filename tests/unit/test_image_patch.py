"""Parsing image JSON patches in both media types (kumo.image.patch.parse)."""
from __future__ import annotations

import pytest

from kumo.common.api.errors import BadRequest
from kumo.image import patch
from kumo.image.patch import Change


def test_v21_and_v20_parse_to_the_same_changes():
    v21 = [{"op": "replace", "path": "/name", "value": "x"},
           {"op": "add", "path": "/a~1b", "value": "1"},
           {"op": "remove", "path": "/p"}]
    v20 = [{"replace": "/name", "value": "x"}, {"add": "/a~1b", "value": "1"}, {"remove": "/p"}]
    expected = [Change("replace", "name", "x"), Change("add", "a/b", "1"), Change("remove", "p")]
    assert patch.parse(v21, patch.V2_1) == expected
    assert patch.parse(v20, patch.V2_0) == expected
    assert patch.parse(v21) == expected  # v2.1 is the default


@pytest.mark.parametrize("body,message", [
    ([{"value": "x"}], "exactly one member"),
    ([{"add": "/a", "remove": "/a", "value": "x"}], "only one member"),
    ([{"op": "add", "path": "/a", "value": "x"}], "exactly one member"),
    ([{"add": "/a"}], 'requires a member named "value"'),
    ([{"add": "a", "value": "x"}], "Invalid JSON pointer"),
])
def test_v20_errors(body, message):
    with pytest.raises(BadRequest, match=message):
        patch.parse(body, patch.V2_0)


def test_unknown_media_type_is_a_programming_error():
    with pytest.raises(ValueError):
        patch.parse([], "application/json")
