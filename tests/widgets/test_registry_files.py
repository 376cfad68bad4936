import json

import pytest
from django.core.management import CommandError, call_command

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, note_widget
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.services import widget_version_create

pytestmark = pytest.mark.django_db


def snapshot():
    return sorted(
        (
            v.widget.name,
            v.version,
            v.is_active,
            json.dumps(v.json_schema, sort_keys=True),
            v.card_template,
            json.dumps(v.examples, sort_keys=True),
        )
        for v in WidgetSchemaVersion.objects.select_related("widget")
    )


def test_export_then_import_into_an_empty_registry_is_lossless(tmp_path, demo_registry):
    widget = note_widget()
    widget_version_create(
        widget=widget, json_schema={**NOTE_SCHEMA, "title": "N2"}, examples=NOTE_EXAMPLES
    )
    before = snapshot()
    call_command("widgets", "export", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == [
        "action_request.json",
        "comparables_table.json",
    ]
    WidgetSchemaVersion.objects.all().delete()
    WidgetType.objects.all().delete()
    call_command("widgets", "import", str(tmp_path))
    assert snapshot() == before


def test_import_adds_new_versions_and_switches_the_active_one(tmp_path):
    note_widget()
    call_command("widgets", "export", str(tmp_path))
    doc = json.loads((tmp_path / "note.json").read_text())
    doc["versions"][0]["active"] = False
    doc["versions"].append(
        {
            "version": 2,
            "active": True,
            "json_schema": {**NOTE_SCHEMA, "title": "N2"},
            "card_template": "{{ text }}",
            "examples": NOTE_EXAMPLES,
        }
    )
    (tmp_path / "note.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    assert WidgetType.objects.get(name="note").versions.get(is_active=True).version == 2
    call_command("widgets", "import", str(tmp_path))  # again: nothing changes
    assert WidgetSchemaVersion.objects.count() == 2


def test_import_checks_everything_before_writing_anything(tmp_path):
    note_widget()
    call_command("widgets", "export", str(tmp_path))
    good = json.loads((tmp_path / "note.json").read_text())
    no_active = {**good, "name": "memo"}
    no_active["versions"] = [{**good["versions"][0], "version": 1, "active": False}]
    (tmp_path / "memo.json").write_text(json.dumps(no_active))
    changed = json.loads(json.dumps(good))
    changed["versions"][0].update(card_template="rewritten", active=False)  # rewriting history
    changed["versions"].append(
        {**good["versions"][0], "version": 2, "active": True, "examples": [{"text": 1}]}
    )
    (tmp_path / "note.json").write_text(json.dumps(changed))
    (tmp_path / "zzz.json").write_text("{not json")
    before = snapshot()
    with pytest.raises(CommandError) as caught:
        call_command("widgets", "import", str(tmp_path))
    message = str(caught.value)
    assert "nothing was imported" in message
    assert "note.json v1: differs from the stored version" in message
    assert "note.json v2 examples: example 1, at /text" in message
    assert "memo.json: exactly one version must be active, found 0" in message
    assert "zzz.json: not valid JSON" in message
    assert snapshot() == before and not WidgetType.objects.filter(name="memo").exists()


def test_import_of_an_empty_or_missing_directory(tmp_path):
    with pytest.raises(CommandError, match=r"no \*\.json widget files"):
        call_command("widgets", "import", str(tmp_path))
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("widgets", "import", str(tmp_path / "missing"))


def grounding():
    return dict(WidgetType.objects.values_list("name", "grounded_fields"))


def test_grounded_fields_survive_export_and_import(tmp_path, demo_registry):
    note_widget(grounded_fields=["text", "link"])
    before = grounding()
    assert before["listing_card"][:2] == ["mls_id", "address"]
    call_command("widgets", "export", str(tmp_path))
    doc = json.loads((tmp_path / "note.json").read_text())
    assert doc["grounded_fields"] == ["text", "link"]
    WidgetSchemaVersion.objects.all().delete()
    WidgetType.objects.all().delete()
    call_command("widgets", "import", str(tmp_path))
    assert grounding() == before


def test_import_sets_grounded_fields_with_the_new_active_schema(tmp_path):
    note_widget(grounded_fields=["link"])
    call_command("widgets", "export", str(tmp_path))
    doc = json.loads((tmp_path / "note.json").read_text())
    renamed = {**NOTE_SCHEMA, "properties": {**NOTE_SCHEMA["properties"]}}
    renamed["properties"]["url"] = renamed["properties"].pop("link")
    doc["versions"][0]["active"] = False
    doc["versions"].append(
        {**doc["versions"][0], "version": 2, "active": True, "json_schema": renamed}
    )
    doc["grounded_fields"] = ["url"]  # "link" is gone from the schema that becomes active
    (tmp_path / "note.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    assert grounding() == {"note": ["url"]}
    del doc["grounded_fields"]  # optional: a file without it grounds nothing
    (tmp_path / "note.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    assert grounding() == {"note": []}


def test_import_reports_bad_grounded_fields_and_writes_nothing(tmp_path):
    note_widget(grounded_fields=["text"])
    call_command("widgets", "export", str(tmp_path))
    doc = json.loads((tmp_path / "note.json").read_text())
    doc["grounded_fields"] = ["text", "prority", "text"]
    doc["title"] = "Changed"
    (tmp_path / "note.json").write_text(json.dumps(doc))
    with pytest.raises(CommandError) as caught:
        call_command("widgets", "import", str(tmp_path))
    message = str(caught.value)
    assert 'note.json: grounded_fields: "prority" is not a property anywhere' in message
    assert 'note.json: grounded_fields: "text" is listed twice' in message
    assert grounding() == {"note": ["text"]} and WidgetType.objects.get().title == "Note"


def test_a_file_with_an_empty_card_template_imports_again_unchanged(tmp_path):
    doc = {
        "format": "weft.widget/1", "name": "note", "title": "Note", "description": "A note.",
        "versions": [{"version": 1, "active": True, "json_schema": NOTE_SCHEMA,
                      "card_template": "", "examples": NOTE_EXAMPLES}],
    }  # fmt: skip
    (tmp_path / "note.json").write_text(json.dumps(doc))
    call_command("widgets", "import", str(tmp_path))
    before = snapshot()
    assert "weft-kv" in before[0][4]  # the generated card
    call_command("widgets", "import", str(tmp_path))
    assert snapshot() == before


@pytest.mark.parametrize("number", ["1e400", "NaN", "-Infinity"])
def test_import_refuses_a_file_with_a_non_finite_number(tmp_path, number):
    note_widget()
    call_command("widgets", "export", str(tmp_path))
    text = (tmp_path / "note.json").read_text()
    (tmp_path / "note.json").write_text(text.replace('"minLength": 1', f'"maximum": {number}'))
    with pytest.raises(CommandError) as caught:
        call_command("widgets", "import", str(tmp_path))
    assert "note.json: not valid JSON" in str(caught.value) and number in str(caught.value)
