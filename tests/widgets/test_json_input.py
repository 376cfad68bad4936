"""Strict JSON at every entry: finite numbers only, nesting bounded, and a clear 400 for both."""

import json
import time

import pytest

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA
from widgets.json_input import MAX_JSON_DEPTH, JSONInputError, load_json_strict


def refusal(document):
    with pytest.raises(JSONInputError) as caught:
        load_json_strict(document)
    # Callers that caught json.loads' errors catch these unchanged.
    assert isinstance(caught.value, json.JSONDecodeError)
    return caught.value


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[NaN]", "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ("-Infinity", "-Infinity"),
        ('{"maximum": 1e400}', "1e400"),
        ("[1, -1E999]", "-1E999"),
    ],
)
def test_non_finite_numbers_are_refused(text, says):
    error = refusal(text)
    assert error.code == "json_not_finite" and says in error.msg and "finite" in error.msg
    assert text[error.pos :].startswith(says)


def test_the_error_points_at_the_number_not_at_a_string_that_spells_it():
    text = '{"s": "x 1e400", "n": [2e400]}'
    assert refusal(text).pos == text.index("2e400")


def test_finite_numbers_and_strings_that_name_constants_are_kept():
    text = '[1.5, 1e308, -0.0, 10, "NaN", "Infinity", 1e-400]'
    assert load_json_strict(text) == json.loads(text)


def test_nesting_deeper_than_the_limit_is_refused_before_parsing():
    deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json.dumps(load_json_strict(deep)) == deep
    start = time.perf_counter()
    error = refusal("[" * 100_000 + "]" * 100_000)
    assert time.perf_counter() - start < 1
    assert error.code == "json_too_deep" and f"deeper than {MAX_JSON_DEPTH}" in error.msg
    assert error.pos == MAX_JSON_DEPTH
    assert refusal('{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * 65).code == "json_too_deep"


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"s": "[" * 1000 + '\\"{' * 100, "t": ["]]]"]})
    assert load_json_strict(text) == json.loads(text)


def test_bytes_and_everything_else_json_refuses():
    assert load_json_strict(b'{"a": [1]}') == {"a": [1]}
    assert load_json_strict('{"a": "\u00e9"}'.encode("utf-16")) == {"a": "\u00e9"}
    assert refusal("{").code == "invalid_json"
    assert refusal(b'"\xff"').code == "invalid_json"
    assert refusal("1" * 5000).code == "invalid_json"  # past Python's int digit limit


@pytest.mark.django_db
def test_api_refuses_deep_json_with_a_400_that_says_so(user_api):
    body = "[" * 100_000 + "]" * 100_000
    response = user_api.post("/api/conversations/", body, content_type="application/json")
    assert response.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH}" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["1e400", "NaN", "-Infinity"])
def test_api_refuses_non_finite_numbers_before_any_view_sees_them(user_api, number):
    body = f'{{"title": {number}}}'  # a CharField would have stored "inf"
    response = user_api.post("/api/conversations/", body, content_type="application/json")
    assert response.status_code == 400
    assert f"{number} is not a finite number" in response.json()["detail"]


@pytest.mark.django_db
def test_api_refuses_non_finite_numbers_so_the_widget_list_keeps_answering(staff_api, user_api):
    schema = {**NOTE_SCHEMA, "properties": {**NOTE_SCHEMA["properties"], "n": {"maximum": 1}}}
    widget = {
        "name": "note", "title": "Note", "description": "A short note.",
        "json_schema": schema, "examples": NOTE_EXAMPLES,
    }  # fmt: skip
    body = json.dumps(widget).replace('"maximum": 1', '"maximum": 1e400')
    response = staff_api.post("/api/widgets/", body, content_type="application/json")
    assert response.status_code == 400 and "1e400" in response.json()["detail"]
    assert user_api.get("/api/widgets/").status_code == 200
    response = staff_api.post("/api/widgets/", json.dumps(widget), content_type="application/json")
    assert response.status_code == 201  # the same body with a finite number
