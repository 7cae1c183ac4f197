from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_replay.drift.jsondiff import MAX_DEPTH, JsonChange, format_path, json_diff, type_name

EXPECTED = {
    "query": "cats",
    "limit": 10,
    "filters": [{"op": "eq", "v": 1}, {"op": "lt", "v": 2}, {"op": "gt", "v": 3}],
    "a.b": "dotted",
    "meta": {"id": "x1", "timestamp": 1, "tags": ["a", "b"]},
}


def actual(**changes):
    doc = copy.deepcopy(EXPECTED)
    doc.update(changes)
    return doc


def test_identical_values_have_no_changes():
    assert json_diff(EXPECTED, copy.deepcopy(EXPECTED)) == []
    assert json_diff(EXPECTED, EXPECTED) == []


def test_paths_of_changes():
    act = actual(query="dogs")
    act["filters"][2]["op"] = "ge"
    act["a.b"] = "changed"
    assert json_diff(EXPECTED, act) == [
        JsonChange("$.query", "changed", "cats", "dogs"),
        JsonChange("$.filters[2].op", "changed", "gt", "ge"),
        JsonChange("$['a.b']", "changed", "dotted", "changed"),
    ]


def test_added_removed_and_type_changed():
    act = actual(limit="10", extra=True)
    del act["query"]
    act["meta"]["tags"].append("c")
    assert json_diff(EXPECTED, act) == [
        JsonChange("$.query", "removed", "cats", None),
        JsonChange("$.limit", "type_changed", 10, "10"),
        JsonChange("$.meta.tags[2]", "added", None, "c"),
        JsonChange("$.extra", "added", None, True),
    ]
    assert json_diff([1, 2, 3], [1]) == [
        JsonChange("$[1]", "removed", 2, None),
        JsonChange("$[2]", "removed", 3, None),
    ]
    assert json_diff({"a": [1]}, {"a": {"0": 1}}) == [
        JsonChange("$.a", "type_changed", [1], {"0": 1})
    ]


def test_number_semantics():
    assert json_diff(1, 1.0) == []
    assert json_diff({"x": [1, 2.5]}, {"x": [1.0, 2.5]}) == []
    assert json_diff(float("nan"), float("nan")) == []
    assert json_diff({"x": math.nan}, {"x": math.nan}) == []
    assert json_diff(True, 1) == [JsonChange("$", "type_changed", True, 1)]
    assert json_diff({"f": 0}, {"f": False}) == [JsonChange("$.f", "type_changed", 0, False)]
    assert json_diff(1, 2) == [JsonChange("$", "changed", 1, 2)]
    assert json_diff(None, 0) == [JsonChange("$", "type_changed", None, 0)]


def test_json_strings_are_decoded_and_tuples_are_lists():
    assert json_diff(json.dumps(EXPECTED), EXPECTED) == []
    changes = json_diff('{"q": "a", "n": [1, 2]}', '{"q": "b", "n": [1, 2]}')
    assert changes == [JsonChange("$.q", "changed", "a", "b")]
    assert json_diff((1, 2), [1, 2]) == []
    assert json_diff({"t": (1, 2)}, {"t": [1, 3]}) == [JsonChange("$.t[1]", "changed", 2, 3)]
    assert json_diff("plain text", "plain text") == []
    assert json_diff("plain text", "other text") == [
        JsonChange("$", "changed", "plain text", "other text")
    ]
    assert json_diff("{not json", "{not json") == []


def test_ignore_exact_wildcard_and_descendant_paths():
    act = actual(query="dogs")
    act["filters"][0]["op"] = "ne"
    act["filters"][1]["v"] = 20
    act["meta"]["id"] = "x2"
    act["meta"]["timestamp"] = 2
    act["a.b"] = "other"
    assert json_diff(
        EXPECTED, act, ignore=["$.query", "$.filters[*].op", "$..id", "$..timestamp"]
    ) == [
        JsonChange("$.filters[1].v", "changed", 2, 20),
        JsonChange("$['a.b']", "changed", "dotted", "other"),
    ]
    assert json_diff(EXPECTED, act, ignore=["$.*", "$['a.b']"]) == []
    assert [ch.path for ch in json_diff(EXPECTED, act, ignore=["$.filters[1]", "$.meta"])] == [
        "$.query",
        "$.filters[0].op",
        "$['a.b']",
    ]
    assert json_diff(EXPECTED, act, ignore=["$"]) == []
    # ignored keys are also ignored when added or removed
    assert json_diff({"id": 1, "x": 1}, {"x": 1, "nested": {"id": 2}}, ignore=["$..id"]) == [
        JsonChange("$.nested", "added", None, {"id": 2})
    ]
    # "$..id" matches at any depth, including inside arrays
    deep_a = {"items": [{"id": 1, "n": 1}, {"sub": [{"id": 3}]}]}
    deep_b = {"items": [{"id": 9, "n": 1}, {"sub": [{"id": 4}]}]}
    assert json_diff(deep_a, deep_b, ignore=["$..id"]) == []
    assert json_diff(deep_a, deep_b, ignore=["$.items[*].id"]) == [
        JsonChange("$.items[1].sub[0].id", "changed", 3, 4)
    ]
    assert json_diff(deep_a, deep_b, ignore=["$.items..id"]) == []


def test_malformed_ignore_pattern_raises_value_error():
    for bad in ("query", "$.", "$..", "$[x]", "$['a'", "$.a[", "$.a..", "$...a"):
        with pytest.raises(ValueError):
            json_diff({}, {}, ignore=[bad])


def test_format_path_quotes_non_identifier_keys():
    assert format_path([]) == "$"
    assert format_path(["filters", 2, "op"]) == "$.filters[2].op"
    assert format_path(["a.b", "it's", "x y", "_ok1", "1st"]) == (
        "$['a.b']['it\\'s']['x y']._ok1['1st']"
    )


def test_depth_is_capped():
    def nest(depth, leaf):
        v = leaf
        for _ in range(depth):
            v = [v]
        return v

    a, b = nest(5000, 1), nest(5000, 2)
    changes = json_diff(a, b)
    assert len(changes) == 1
    assert changes[0].path == "$" + "[0]" * MAX_DEPTH
    assert changes[0].op == "changed"
    assert json_diff(a, a) == []
    assert json_diff(nest(10, 1), nest(10, 2), max_depth=3) == [
        JsonChange("$[0][0][0]", "changed", nest(7, 1), nest(7, 2))
    ]
    deep_json = "[" * 100_000 + "]" * 100_000
    assert json_diff(deep_json, deep_json) == []


def test_cycles_do_not_recurse_forever():
    a: list = [1]
    a.append(a)
    b: list = [1]
    b.append(b)
    assert json_diff(a, a) == []
    changes = json_diff(a, b)
    assert [(ch.path, ch.op) for ch in changes] == [("$[1]", "changed")]
    d: dict = {"k": 1}
    d["self"] = d
    # the revisited container is compared as a whole and reported once
    assert json_diff(d, {"k": 1, "self": {"k": 2}}) == [
        JsonChange("$.self", "changed", d, {"k": 2})
    ]


class Weird:
    def __eq__(self, other):
        raise RuntimeError("no comparisons")

    __hash__ = object.__hash__

    def __repr__(self):
        raise RuntimeError("no repr")


def test_exotic_values_never_raise():
    w = Weird()
    assert json_diff(w, w) == []
    assert json_diff({"w": w}, {"w": Weird()})[0].path == "$.w"
    assert json_diff({1: "a", (2, 3): "b"}, {1: "a", (2, 3): "c"}) == [
        JsonChange("$['(2, 3)']", "changed", "b", "c")
    ]
    assert json_diff({1: "a"}, {1: "b"}) == [JsonChange("$['1']", "changed", "a", "b")]
    assert json_diff({1, 2}, {2, 1}) == []
    assert json_diff(b"ab", b"ab") == []
    assert [ch.op for ch in json_diff(b"ab", "ab")] == ["type_changed"]
    assert type_name(b"x") == "other"
    assert type_name(True) == "boolean"
    assert type_name(1.5) == "number"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(json_values, json_values)
def test_json_diff_never_raises(x, y):
    changes = json_diff(x, y, ignore=["$..id", "$.a[*].b"])
    assert all(isinstance(ch, JsonChange) for ch in changes)
    assert all(ch.path.startswith("$") for ch in changes)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_diff_of_a_value_with_itself_is_empty(x):
    assert json_diff(x, x) == []
    assert json_diff(x, copy.deepcopy(x)) == []


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
containers = st.recursive(
    scalars,
    lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=4), ch, max_size=3),
    max_leaves=15,
).filter(lambda v: isinstance(v, (list, dict)))


@settings(max_examples=200, deadline=None)
@given(containers | st.text(max_size=5))
def test_json_text_equals_its_value(x):
    assert json_diff(x, json.dumps(x)) == []
    assert json_diff(json.dumps(x), x) == []
