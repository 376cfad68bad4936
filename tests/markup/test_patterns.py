"""Schema patterns run on RE2: linear time whatever the pattern, and long texts refused first."""

import time

from widgets.markup import validator_for
from widgets.markup.patterns import MAX_PATTERN_SUBJECT, pattern_problems

BACKTRACKS = "^(a+)+$"  # Python's re takes minutes on "a" * 30 + "!"
HOSTILE = "a" * 30 + "!"


def string_schema(pattern):
    return {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}


def test_a_pattern_that_backtracks_runs_in_linear_time_and_answers_right():
    validator = validator_for(string_schema(BACKTRACKS))
    start = time.perf_counter()
    errors = validator.errors({"s": HOSTILE})
    provisional = validator.provisional_errors({"s": HOSTILE, "t": ""})
    assert time.perf_counter() - start < 1
    assert [e.pointer for e in errors] == ["/s"] and "does not match" in errors[0].message
    assert [e.pointer for e in provisional] == ["/s"]
    assert validator.errors({"s": "a" * 30}) == []


def test_pattern_properties_and_property_names_run_in_linear_time():
    validator = validator_for(
        {
            "type": "object",
            "patternProperties": {BACKTRACKS: {"type": "integer"}},
            "additionalProperties": False,
            "properties": {"nested": {"type": "object", "propertyNames": {"pattern": BACKTRACKS}}},
        }
    )
    start = time.perf_counter()
    errors = validator.errors({HOSTILE: 1, "aaa": "x", "nested": {HOSTILE: 1, "aa": 2}})
    assert time.perf_counter() - start < 1
    assert sorted(e.pointer for e in errors) == ["", "/aaa", "/nested"]
    assert validator.errors({"aaa": 1, "nested": {"aa": 2}}) == []


def test_texts_longer_than_the_cap_are_refused_before_matching():
    validator = validator_for(string_schema("^a*$"))
    assert validator.errors({"s": "a" * MAX_PATTERN_SUBJECT}) == []
    (error,) = validator.errors({"s": "a" * (MAX_PATTERN_SUBJECT + 1)})
    assert error.pointer == "/s" and f"longer than {MAX_PATTERN_SUBJECT:,}" in error.message
    keys = validator_for({"type": "object", "patternProperties": {"^a": {}}})
    (error,) = keys.errors({"a" * (MAX_PATTERN_SUBJECT + 1): 1})
    assert "the key" in error.message and "longer than" in error.message


def test_patterns_follow_json_schema_not_python():
    validator = validator_for(string_schema("^[A-Z]{2}-[0-9]{4}$"))
    assert validator.errors({"s": "TX-1234"}) == []
    assert validator.errors({"s": "TX-1234\n"}) != []  # ECMA's $ is the end, not before \n
    assert validator_for(string_schema("^\\u00e9$")).errors({"s": "é"}) == []


def test_patterns_re2_cannot_run_are_named_with_their_place():
    schema = {
        "type": "object",
        "properties": {"pattern": {"type": "string", "pattern": "^(a)\\1$"}},
        "patternProperties": {"(?=x)": {}, "^ok$": {}},
        "$defs": {"d": {"not": {"pattern": "(?<!a)b"}}},
        "unevaluatedProperties": False,
        "examples": [{"pattern": "(?=data, not a schema)"}],
    }
    problems = dict(pattern_problems(schema))
    assert set(problems) == {
        ("properties", "pattern", "pattern"),
        ("patternProperties", "(?=x)"),
        ("$defs", "d", "not", "pattern"),
        ("unevaluatedProperties",),
    }
    assert "backreferences or lookaround" in problems[("patternProperties", "(?=x)")]
    assert pattern_problems({"type": "object", "properties": {"s": {"pattern": "^a+$"}}}) == []


def test_unevaluated_properties_beside_pattern_properties_fail_closed():
    validator = validator_for(
        {"type": "object", "patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    )
    (error,) = validator.errors({"a": 1})
    assert "unevaluatedProperties cannot be checked" in error.message
