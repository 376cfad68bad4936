"""Action widgets: the registry marks which widget types are actions, on every write path."""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, note_widget
from widgets.actions import action_params_schema, action_schema_problems
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.selectors import active_registry
from widgets.services import widget_type_create, widget_type_update, widget_version_create

pytestmark = pytest.mark.django_db

ACTION_SCHEMA = {
    "type": "object",
    "required": ["action", "params"],
    "properties": {"action": {"enum": ["refund"]}, "params": {"type": "object"}},
}
ACTION = {
    "name": "refund_offer",
    "title": "Refund",
    "description": "Offers a refund.",
    "json_schema": ACTION_SCHEMA,
    "card_template": "<p>{{ action }}</p>",
    "examples": [{"action": "refund", "params": {}}],
}


def with_properties(action, params):
    return {**ACTION_SCHEMA, "properties": {"action": action, "params": params}}


OBJECT = {"type": "object"}
V2_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "demo/spec/versions/action_request.v2.schema.json").read_text()
)


def variants(*branches, **top):
    """A schema whose actions are anyOf branches, each a closed object of its own."""
    return {"type": "object", **top, "anyOf": list(branches)}


def form(action, params=OBJECT, required=("action", "params")):
    return {"type": "object", "required": list(required),
            "properties": {"action": action, "params": params}}  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "problems"),
    [
        (ACTION_SCHEMA, []),
        (with_properties({"type": "string"}, OBJECT), []),
        (with_properties({"const": "x"}, OBJECT), []),
        (NOTE_SCHEMA, ["must require a top-level `action`", "must require a top-level `params`"]),
        ({**ACTION_SCHEMA, "required": ["action"]}, ["must require a top-level `params`"]),
        (with_properties({"enum": [1]}, OBJECT), ["`action` must be of type string"]),
        (
            with_properties({"type": "string"}, {"type": "array"}),
            ["`params` must be of type object"],
        ),
        # One variant per action (action_request v2): each must require both.
        (V2_SCHEMA, []),
        (variants(form({"const": "a"}), form({"enum": ["b", "c"]})), []),
        (
            variants(form({"const": "a"}), form({"const": "b"}, required=["action"])),
            ["must require a top-level `params` (in every anyOf branch; anyOf/1 lacks it)"],
        ),
        (
            variants(form({"const": 1}), form({"const": "b"}, {"type": "string"})),
            [
                "`action` must be of type string",
                "`params` must be of type object (or an enum of such values) in anyOf/1",
            ],
        ),
        # Branches that only name required keys take the properties from the top level.
        (
            variants({"required": ["action"]}, {"required": ["params"]}, **ACTION_SCHEMA),
            [],
        ),
        (
            variants({"required": ["x"]}, properties=ACTION_SCHEMA["properties"]),
            ["must require a top-level `action` (in every anyOf", "top-level `params` (in"],
        ),
    ],
)
def test_what_an_action_schema_needs(schema, problems):
    found = action_schema_problems(schema)
    assert len(found) == len(problems)
    assert all(p in f for p, f in zip(problems, found, strict=True))


def test_the_params_schema_of_an_action_is_its_variants():
    book = action_params_schema(V2_SCHEMA, "book_showing")
    assert book["required"] == ["mls_id", "start", "minutes"]
    assert action_params_schema(V2_SCHEMA, "update_listing_status")["required"] == [
        "mls_id", "status"
    ]  # fmt: skip
    assert action_params_schema(V2_SCHEMA, "launch_rocket") is None
    assert action_params_schema(ACTION_SCHEMA, "refund") == {"type": "object"}
    assert action_params_schema(ACTION_SCHEMA, "launch_rocket") is None
    any_name = with_properties({"type": "string"}, {"type": "object", "minProperties": 1})
    assert action_params_schema(any_name, "whatever") == {"type": "object", "minProperties": 1}


def test_an_action_widget_can_activate_typed_variants_and_keeps_its_old_version(demo_registry):
    """action_request v2 is active; v1 stays, for the messages parsed with it."""
    from widgets.selectors import active_versions

    widget = WidgetType.objects.get(name="action_request")
    assert widget.is_action
    assert active_versions()["action_request"].version == 2
    assert set(widget.versions.values_list("version", "is_active")) == {(1, False), (2, True)}
    assert widget.versions.get(version=1).json_schema["properties"]["params"] == OBJECT


def test_action_request_is_an_action_by_default_and_others_are_not(demo_registry):
    assert WidgetType.objects.get(name="action_request").is_action
    assert not WidgetType.objects.get(name="listing_card").is_action
    registry = active_registry()
    assert registry.is_action("action_request") and not registry.is_action("listing_card")
    assert not registry.is_action("no_such_widget")


def test_a_widget_that_cannot_run_is_refused_the_mark():
    with pytest.raises(ValidationError) as caught:
        note_widget(is_action=True)
    assert "is_action" in caught.value.error_dict
    assert not WidgetType.objects.exists()
    note = note_widget()
    with pytest.raises(ValidationError):
        widget_type_update(widget=note, is_action=True)
    note.refresh_from_db()
    assert not note.is_action


def test_an_action_widget_cannot_activate_a_schema_without_action_and_params():
    widget = widget_type_create(**ACTION, is_action=True)
    version = widget_version_create(widget=widget, json_schema=NOTE_SCHEMA, examples=NOTE_EXAMPLES)
    from widgets.services import widget_version_activate

    with pytest.raises(ValidationError) as caught:
        widget_version_activate(version=version)
    assert "cannot run as one" in str(caught.value)
    widget_type_update(widget=widget, is_action=False)
    widget_version_activate(version=version)


def test_the_mark_travels_through_registry_files(tmp_path):
    widget_type_create(**ACTION, is_action=True)
    call_command("widgets", "export", str(tmp_path))
    doc = json.loads((tmp_path / "refund_offer.json").read_text())
    assert doc["action"] is True
    WidgetSchemaVersion.objects.all().delete()
    WidgetType.objects.all().delete()
    call_command("widgets", "import", str(tmp_path))
    assert WidgetType.objects.get(name="refund_offer").is_action


def test_a_file_marking_a_widget_that_cannot_run_writes_nothing(tmp_path):
    note = {
        "format": "weft.widget/1", "name": "note", "title": "Note", "description": "A note.",
        "action": True,
        "versions": [{"version": 1, "active": True, "json_schema": NOTE_SCHEMA,
                      "card_template": "", "examples": NOTE_EXAMPLES}],
    }  # fmt: skip
    (tmp_path / "note.json").write_text(json.dumps(note))
    with pytest.raises(CommandError, match=r"note\.json: action: an action widget's schema"):
        call_command("widgets", "import", str(tmp_path))
    assert not WidgetType.objects.exists()
    note["action"] = "yes"
    (tmp_path / "note.json").write_text(json.dumps(note))
    with pytest.raises(CommandError, match="action must be true or false"):
        call_command("widgets", "import", str(tmp_path))


def test_a_file_can_unmark_action_request(tmp_path):
    schema = {**ACTION_SCHEMA}
    doc = {
        "format": "weft.widget/1", "name": "action_request", "title": "A", "description": "B",
        "versions": [{"version": 1, "active": True, "json_schema": schema,
                      "card_template": "<p>{{ action }}</p>",
                      "examples": [{"action": "refund", "params": {}}]}],
    }  # fmt: skip
    (tmp_path / "action_request.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    assert WidgetType.objects.get().is_action  # no mark: named action_request, an action
    doc["action"] = False
    (tmp_path / "action_request.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    assert not WidgetType.objects.get().is_action


def test_the_api_takes_and_shows_the_mark(staff_api):
    response = staff_api.post("/api/widgets/", {**ACTION, "is_action": True}, format="json")
    assert response.status_code == 201, response.json()
    assert staff_api.get("/api/widgets/refund_offer/").json()["is_action"] is True
    bad = staff_api.patch("/api/widgets/refund_offer/", {"is_action": "maybe"}, format="json")
    assert bad.status_code == 400
    note = {**ACTION, "name": "note", "json_schema": NOTE_SCHEMA, "examples": NOTE_EXAMPLES}
    refused = staff_api.post("/api/widgets/", {**note, "is_action": True}, format="json")
    assert refused.status_code == 400 and "is_action" in refused.json()


def test_only_action_cards_carry_the_confirm_hook(demo_registry):
    from widgets.render import render_message
    from widgets.selectors import active_versions

    action = {"action": "create_task", "summary": "Call Ann", "params": {"title": "Call Ann"}}
    html = render_message(
        f'<widget type="action_request">{json.dumps(action)}</widget>', active_registry()
    )
    assert 'data-outcome="valid"' in html and "data-action-card" in html
    listing = active_versions()["listing_card"].examples[0]
    html = render_message(
        f'<widget type="listing_card">{json.dumps(listing)}</widget>', active_registry()
    )
    assert 'data-outcome="valid"' in html and "data-action-card" not in html
