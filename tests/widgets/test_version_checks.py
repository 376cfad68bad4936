"""Every way a version's content is refused, and that each message names field and pointer."""

import copy

import pytest

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, NOTE_TEMPLATE
from widgets.version_checks import VersionContentError, check_version_content


def errors_of(**overrides):
    content = {
        "json_schema": NOTE_SCHEMA,
        "card_template": NOTE_TEMPLATE,
        "examples": NOTE_EXAMPLES,
    }
    with pytest.raises(VersionContentError) as caught:
        check_version_content(**{**content, **overrides})
    return caught.value.errors


def test_valid_content_passes():
    check_version_content(
        json_schema=NOTE_SCHEMA, card_template=NOTE_TEMPLATE, examples=NOTE_EXAMPLES
    )


def test_schema_that_breaks_the_meta_schema_names_the_pointer():
    schema = copy.deepcopy(NOTE_SCHEMA)
    schema["properties"]["text"]["type"] = "strnig"
    errors = errors_of(json_schema=schema)
    assert list(errors) == ["json_schema"]
    assert any(m.startswith("at /properties/text/type:") for m in errors["json_schema"])


def test_schema_must_describe_an_object():
    errors = errors_of(json_schema={"type": "array"}, examples=[[]])
    assert errors["json_schema"] == [
        'at /type: a widget payload is one JSON object; set "type": "object"'
    ]


def test_schema_that_is_not_a_json_object():
    assert "json_schema" in errors_of(json_schema=["not", "a", "schema"])


def test_example_that_fails_its_schema_names_example_and_pointer():
    errors = errors_of(examples=[NOTE_EXAMPLES[0], {"text": "x", "priority": "urgent"}])
    assert list(errors) == ["examples"]
    assert errors["examples"][0].startswith("example 2, at /priority:")


def test_example_format_is_checked():
    errors = errors_of(examples=[{"text": "x", "link": "not a uri"}])
    assert errors["examples"][0].startswith("example 1, at /link:")


def test_examples_are_required():
    assert "examples" in errors_of(examples=[])
    assert "examples" in errors_of(examples={"text": "x"})


def test_template_that_does_not_compile():
    errors = errors_of(card_template="{% if text %}unclosed")
    assert list(errors) == ["card_template"]
    assert errors["card_template"][0].startswith("does not compile:")


def test_template_that_reaches_outside_its_sandbox_does_not_compile():
    for source in [
        "{% load humanize %}",
        '{% include "admin/base.html" %}',
        "{% debug %}",
        '{% url "admin:index" %}',
    ]:
        assert "card_template" in errors_of(card_template=source), source


def test_template_that_fails_to_render_an_example():
    errors = errors_of(card_template="{{ text|divisibleby:0 }}")
    assert errors["card_template"][0].startswith("example 1 does not render:")


def test_broken_template_is_reported_with_a_broken_schema():
    errors = errors_of(json_schema={"type": 3}, card_template="{% for %}")
    assert set(errors) == {"json_schema", "card_template"}


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("<p>{{ text }}</p><script>alert(1)</script>", "<script>"),
        ("<SCRIPT src='https://evil.example.com/x.js'></SCRIPT>{{ text }}", "<script>"),
        ("<style>p { color: red }</style><p>{{ text }}</p>", "<style>"),
        ('<iframe src="https://evil.example.com"></iframe>{{ text }}', "<iframe>"),
        ('<p onclick="go()">{{ text }}</p>', "onclick"),
        ("<img src=x OnError=alert(1)>{{ text }}", "onerror"),
        ('{% if text %}<p data-x="a > b" onmouseover="x()">{% endif %}', "onmouseover"),
        ('<a href="javascript:alert(1)">{{ text }}</a>', "javascript:"),
        ('<a href=" java&#9;script:alert(1)">{{ text }}</a>', "javascript:"),
        ('<img src="DATA:image/png;base64,AAAA">{{ text }}', "data:"),
        ('{% with u="JavaScript:x()" %}<a href="{{ u }}">{{ u }}</a>{% endwith %}', "javascript"),
    ],
)  # fmt: skip
def test_template_markup_that_could_run_script_is_refused(source, says):
    errors = errors_of(card_template=source)
    assert list(errors) == ["card_template"]
    assert any(says in m for m in errors["card_template"]), errors


def test_template_that_turns_escaping_off_is_refused_by_name():
    for source, name in [
        ("<p>{{ text|safe }}</p>", "safe"),
        ("{% autoescape off %}<p>{{ text }}</p>{% endautoescape %}", "autoescape"),
    ]:
        (message,) = errors_of(card_template=source)["card_template"]
        assert message.startswith("does not compile:") and name in message, message
        assert "not available in card templates" in message


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("^(a)\\1$", "invalid escape sequence"), ("^(?=a)", "invalid perl operator")],
)
def test_pattern_re2_cannot_run_is_refused_with_its_pointer(pattern, reason):
    schema = copy.deepcopy(NOTE_SCHEMA)
    schema["properties"]["text"]["pattern"] = pattern
    errors = errors_of(json_schema=schema)
    assert list(errors) == ["json_schema"]
    (message,) = errors["json_schema"]
    assert message.startswith("at /properties/text/pattern:") and reason in message
    assert "linear time" in message


def test_pattern_property_re2_cannot_run_is_refused():
    schema = {**NOTE_SCHEMA, "patternProperties": {"^x_(?!y)": {"type": "string"}}}
    (message,) = errors_of(json_schema=schema)["json_schema"]
    assert message.startswith("at /patternProperties/^x_(?!y):")


def test_markup_that_only_reads_like_a_url_or_handler_passes():
    check_version_content(
        json_schema=NOTE_SCHEMA,
        card_template='<p title="data: one note" data-online="yes">{{ text }} (a > b)</p>',
        examples=NOTE_EXAMPLES,
    )
