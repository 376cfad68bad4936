import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, note_widget
from widgets.cards import default_card_template
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.services import (
    RegistryError,
    VersionContentError,
    widget_type_update,
    widget_version_activate,
    widget_version_create,
)

pytestmark = pytest.mark.django_db


def test_new_type_gets_an_active_first_version():
    widget = note_widget()
    (version,) = widget.versions.all()
    assert (version.version, version.is_active) == (1, True)


def test_versions_are_numbered_and_activation_leaves_old_content_alone():
    widget = note_widget()
    v1 = widget.versions.get()
    schema2 = {**NOTE_SCHEMA, "title": "Note v2"}
    v2 = widget_version_create(widget=widget, json_schema=schema2, examples=NOTE_EXAMPLES)
    assert v2.version == 2 and not v2.is_active  # a new version waits for activation
    widget_version_activate(version=v2)
    v1.refresh_from_db()
    assert v1.json_schema == NOTE_SCHEMA and not v1.is_active
    assert list(widget.versions.filter(is_active=True)) == [v2]
    widget_version_activate(version=v1)  # roll back
    assert widget.versions.get(is_active=True).version == 1


def test_database_refuses_a_second_active_version():
    widget = note_widget()
    with pytest.raises(IntegrityError), transaction.atomic():
        WidgetSchemaVersion.objects.create(
            widget=widget,
            version=2,
            json_schema=NOTE_SCHEMA,
            card_template="x",
            examples=NOTE_EXAMPLES,
            is_active=True,
        )


def test_explicit_version_number_that_exists_is_refused():
    widget = note_widget()
    with pytest.raises(RegistryError) as caught:
        widget_version_create(
            widget=widget, json_schema=NOTE_SCHEMA, examples=NOTE_EXAMPLES, number=1
        )
    assert caught.value.code == "version_exists"


def test_invalid_version_stores_nothing():
    widget = note_widget()
    with pytest.raises(VersionContentError):
        widget_version_create(widget=widget, json_schema=NOTE_SCHEMA, examples=[{"text": ""}])
    assert widget.versions.count() == 1


def test_invalid_first_version_stores_no_type():
    with pytest.raises(VersionContentError):
        note_widget(examples=[{"priority": "low"}])
    assert not WidgetType.objects.exists()


def test_bad_widget_name_is_refused():
    with pytest.raises(ValidationError) as caught:
        note_widget(name="Listing-Card")
    assert "name" in caught.value.message_dict


def test_empty_template_stores_the_generated_default():
    widget = note_widget(card_template="  ")
    assert widget.versions.get().card_template == default_card_template(NOTE_SCHEMA)


def test_update_changes_metadata_only():
    widget = note_widget()
    widget_type_update(widget=widget, title="Agent note", enabled=False)
    widget.refresh_from_db()
    assert (widget.name, widget.title, widget.enabled) == ("note", "Agent note", False)


def test_key_order_of_schema_and_examples_survives_the_database():
    # Prompts and training rows show fields in the author's order; jsonb would sort them.
    schema = {**NOTE_SCHEMA, "properties": dict(reversed(list(NOTE_SCHEMA["properties"].items())))}
    examples = [{"priority": "low", "text": "zz"}]
    widget = note_widget(json_schema=schema, examples=examples)
    stored = WidgetSchemaVersion.objects.get(widget=widget)
    assert list(stored.json_schema["properties"]) == ["link", "priority", "text"]
    assert list(stored.examples[0]) == ["priority", "text"]
