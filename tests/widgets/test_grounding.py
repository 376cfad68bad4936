import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from demo.widget_files import demo_widget_definitions
from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, note_widget
from widgets.grounding import validate_grounded_fields
from widgets.models import WidgetType
from widgets.services import widget_type_update, widget_version_activate, widget_version_create

NESTED = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "comps": {
            "type": "array",
            "items": {"type": "object", "properties": {"address": {"type": "string"}}},
        },
        "pair": {"type": "array", "prefixItems": [{"properties": {"first": {"type": "string"}}}]},
        "owner": {"$ref": "#/$defs/person"},
        "kind": {"$ref": "#/$defs/kind"},
        "mode": {"anyOf": [{"const": "a"}, {"const": "b"}]},
        "fixed": {"type": "string", "const": "x"},
    },
    "anyOf": [{"properties": {"phone": {"type": "string"}}}],
    "$defs": {
        "person": {"type": "object", "properties": {"email": {"type": "string"}}},
        "kind": {"enum": ["buyer", "seller"]},
    },
}


def messages(grounded_fields, json_schema=NESTED):
    with pytest.raises(ValidationError) as caught:
        validate_grounded_fields(grounded_fields, json_schema=json_schema)
    return caught.value.message_dict["grounded_fields"]


def test_names_at_any_depth_are_accepted():
    names = ["address", "first", "phone", "title"]
    assert validate_grounded_fields(names, json_schema=NESTED) == names
    assert validate_grounded_fields((), json_schema=NESTED) == []


def test_a_name_grounding_cannot_reach_is_refused_saying_where_and_why():
    """tests/serving/test_grounding.py checks every keyword; here, the message."""
    assert messages(["email"]) == [
        '"email" cannot be grounded at /$defs/person/properties/email: it is reached through '
        "the $ref at /properties/owner, and grounding does not follow $ref"
    ]
    # One such place refuses the name, even where another place of it is narrowed.
    guarded = {**NESTED, "not": {"properties": {"title": {"const": "draft"}}}}
    assert messages(["title", "address"], guarded) == [
        '"title" cannot be grounded at /not/properties/title: it sits under not, where '
        "narrowing would let more payloads through, not fewer"
    ]


def test_the_schema_walk_imports_no_django():
    """serving (and the evaluation, which runs without Django) imports it."""
    probe = (
        "import widgets.grounding, sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django'))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_unknown_name_is_refused_and_the_known_ones_listed():
    (message,) = messages(["address", "adress"])
    assert message.startswith('"adress" is not a property anywhere in the schema')
    assert "address, comps, email" in message


def test_enum_and_const_fields_may_be_grounded():
    """The schema lists the words a status can take; the record says which one it has."""
    assert validate_grounded_fields(["kind", "mode", "fixed"], json_schema=NESTED)
    assert validate_grounded_fields(["priority"], json_schema=NOTE_SCHEMA) == ["priority"]


def test_repeats_non_strings_and_non_lists_are_refused():
    assert messages(["phone", "phone"]) == ['"phone" is listed twice']
    assert messages(["phone", "", 3]) == [
        "entry 2 ('') is not a property name (a non-empty string)",
        "entry 3 (3) is not a property name (a non-empty string)",
    ]
    (message,) = messages("email")
    assert message.startswith("give a list of property names") and message.endswith("not str")
    (message,) = messages({"email": True})
    assert message.endswith("not dict")


def test_every_demo_widget_grounding_fits_its_schema():
    definitions = demo_widget_definitions()
    assert len(definitions) == 6
    for d in definitions:
        checked = validate_grounded_fields(d.grounded_fields, json_schema=d.json_schema)
        assert checked == d.grounded_fields
        # The action card's `action` is narrowed by the context's `actions`, not grounded.
        assert bool(d.grounded_fields) != d.is_action, d.name


@pytest.mark.django_db
def test_create_and_update_store_checked_grounded_fields():
    widget = note_widget(grounded_fields=["text"])
    widget.refresh_from_db()
    assert widget.grounded_fields == ["text"]
    widget_type_update(widget=widget, grounded_fields=["link", "text"])
    widget.refresh_from_db()
    assert widget.grounded_fields == ["link", "text"]
    with pytest.raises(ValidationError) as caught:
        widget_type_update(widget=widget, grounded_fields=["prority"])
    assert "prority" in caught.value.message_dict["grounded_fields"][0]
    widget.refresh_from_db()
    assert widget.grounded_fields == ["link", "text"]
    widget_type_update(widget=widget, title="Memo")  # None leaves them alone
    widget.refresh_from_db()
    assert widget.grounded_fields == ["link", "text"]


@pytest.mark.django_db
def test_create_with_a_bad_grounded_field_stores_nothing():
    with pytest.raises(ValidationError) as caught:
        note_widget(grounded_fields=["txt"])
    assert caught.value.message_dict["grounded_fields"][0].startswith('"txt" is not a property')
    assert not WidgetType.objects.exists()


@pytest.mark.django_db
def test_activation_keeps_grounded_fields_inside_the_schema():
    widget = note_widget(grounded_fields=["link"])
    renamed = {**NOTE_SCHEMA, "properties": {**NOTE_SCHEMA["properties"]}}
    renamed["properties"]["url"] = renamed["properties"].pop("link")
    v2 = widget_version_create(widget=widget, json_schema=renamed, examples=NOTE_EXAMPLES)
    with pytest.raises(ValidationError) as caught:
        widget_version_activate(version=v2)
    first, second = caught.value.message_dict["grounded_fields"]
    assert first.startswith("note v2 cannot be active with the widget type's grounded fields")
    assert second.startswith('"link" is not a property')
    assert widget.versions.get(is_active=True).version == 1
    widget_version_activate(version=v2, grounded_fields=["url"])  # both at once
    widget.refresh_from_db()
    assert (widget.versions.get(is_active=True).version, widget.grounded_fields) == (2, ["url"])
