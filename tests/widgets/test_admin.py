import json

import pytest
from django.urls import reverse

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, note_widget
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.selectors import active_versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_list_shows_enabled_version_and_last_change(admin_client, demo_registry):
    response = admin_client.get(reverse("admin:widgets_widgettype_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("listing_card", "showing_scheduler", "action_request"):
        assert name in html
    assert "v1" in html and "column-last_change" in html and "column-enabled" in html


def test_version_page_previews_every_demo_example(admin_client, demo_registry):
    for name, version in active_versions().items():
        response = admin_client.get(
            reverse("admin:widgets_widgetschemaversion_change", args=[version.pk])
        )
        assert response.status_code == 200
        html = response.content.decode()
        cards = html.count(f'data-widget-type="{name}" data-outcome="valid"')
        assert cards == len(version.examples), name
        assert "is the active version" in html


def test_live_preview_endpoint_renders_cards_errors_and_diff(admin_client):
    widget = note_widget()
    url = reverse("admin:widgets_widgetschemaversion_preview")
    response = admin_client.post(
        url,
        {
            "widget": widget.pk,
            "json_schema": json.dumps(NOTE_SCHEMA),
            "card_template": "<b>{{ text }}</b>",
            "examples": json.dumps([*NOTE_EXAMPLES, {"text": "<script>x</script>"}]),
        },
    )
    data = response.json()
    assert data["errors"] == {}
    assert len(data["cards"]) == 2 and "&lt;script&gt;" in data["cards"][1]
    assert data["diff_base"] == "v1"
    diffs = {d["field"]: d["lines"] for d in data["diff"]}
    assert set(diffs) == {"card_template", "examples"}  # the schema is unchanged
    assert ["add", "+<b>{{ text }}</b>"] in diffs["card_template"]
    bad = admin_client.post(url, {"json_schema": "{", "card_template": "", "examples": "[]"}).json()
    assert "json_schema" in bad["errors"]


def test_preview_endpoint_is_staff_only(client, plain_user):
    client.force_login(plain_user)
    response = client.post(reverse("admin:widgets_widgetschemaversion_preview"), {})
    assert response.status_code == 302  # to the admin login


def test_create_type_in_admin_with_errors_then_valid(admin_client):
    url = reverse("admin:widgets_widgettype_add")
    form = {
        "name": "note",
        "title": "Note",
        "description": "A note.",
        "enabled": "on",
        "json_schema": json.dumps(NOTE_SCHEMA),
        "card_template": "{% if %}",
        "examples": json.dumps(NOTE_EXAMPLES),
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "does not compile" in response.content.decode()
    assert not WidgetType.objects.exists()
    response = admin_client.post(url, {**form, "card_template": ""})
    assert response.status_code == 302
    version = WidgetSchemaVersion.objects.get()
    assert version.is_active and version.author.username == "staff"


def test_new_version_form_starts_from_active_and_activate_button_works(admin_client):
    widget = note_widget()
    add_url = reverse("admin:widgets_widgetschemaversion_add")
    page = admin_client.get(add_url, {"widget": widget.pk}).content.decode()
    assert "Call the seller" in page and 'id="weft-preview"' in page
    response = admin_client.post(
        add_url,
        {
            "widget": widget.pk,
            "json_schema": json.dumps({**NOTE_SCHEMA, "title": "N2"}),
            "card_template": "{{ text }}",
            "examples": json.dumps(NOTE_EXAMPLES),
        },
    )
    assert response.status_code == 302
    v2 = widget.versions.get(version=2)
    assert not v2.is_active
    page = admin_client.get(
        reverse("admin:widgets_widgetschemaversion_change", args=[v2.pk])
    ).content.decode()
    assert (
        "Activate v2" in page
        and "weft-diff--add" in page
        and "against the active version (v1)" in page
    )
    admin_client.post(reverse("admin:widgets_widgetschemaversion_activate", args=[v2.pk]))
    assert widget.versions.get(is_active=True).version == 2


def test_versions_cannot_be_edited_or_deleted(admin_client):
    version = note_widget().versions.get()
    url = reverse("admin:widgets_widgetschemaversion_change", args=[version.pk])
    admin_client.post(url, {"card_template": "hijacked"})
    version.refresh_from_db()
    assert version.card_template != "hijacked"
    delete = admin_client.post(
        reverse("admin:widgets_widgetschemaversion_delete", args=[version.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403 and WidgetSchemaVersion.objects.filter(pk=version.pk).exists()


def test_activate_needs_post(admin_client):
    version = note_widget().versions.get()
    response = admin_client.get(
        reverse("admin:widgets_widgetschemaversion_activate", args=[version.pk])
    )
    assert response.status_code == 405


def test_type_page_lists_versions_and_previews_the_active_one(admin_client, demo_registry):
    widget = WidgetType.objects.get(name="contact_card")
    html = admin_client.get(
        reverse("admin:widgets_widgettype_change", args=[widget.pk])
    ).content.decode()
    assert "New version" in html and ">v1</a>" in html
    assert html.count('data-widget-type="contact_card" data-outcome="valid"') == 2
    assert 'href="mailto:maria.gonzalez@example.com"' in html


def test_type_page_edits_grounded_fields_as_comma_separated_names(admin_client):
    widget = note_widget()
    url = reverse("admin:widgets_widgettype_change", args=[widget.pk])
    form = {"title": "Note", "description": "A note.", "enabled": "on"}
    response = admin_client.post(url, {**form, "grounded_fields": "text, prority"})
    assert response.status_code == 200
    assert "&quot;prority&quot; is not a property anywhere" in response.content.decode()
    widget.refresh_from_db()
    assert widget.grounded_fields == []
    response = admin_client.post(url, {**form, "grounded_fields": " text,link, "})
    assert response.status_code == 302
    widget.refresh_from_db()
    assert widget.grounded_fields == ["text", "link"]
    page = admin_client.get(url).content.decode()
    assert 'value="text, link"' in page
    listing = admin_client.get(reverse("admin:widgets_widgettype_changelist")).content.decode()
    assert '<td class="field-grounded">text, link</td>' in listing


def test_create_type_in_admin_with_grounded_fields(admin_client):
    form = {
        "name": "note",
        "title": "Note",
        "description": "A note.",
        "enabled": "on",
        "json_schema": json.dumps(NOTE_SCHEMA),
        "card_template": "",
        "examples": json.dumps(NOTE_EXAMPLES),
    }
    url = reverse("admin:widgets_widgettype_add")
    response = admin_client.post(url, {**form, "grounded_fields": "text, text"})
    assert response.status_code == 200 and "is listed twice" in response.content.decode()
    assert not WidgetType.objects.exists()
    assert admin_client.post(url, {**form, "grounded_fields": "text"}).status_code == 302
    assert WidgetType.objects.get().grounded_fields == ["text"]


def test_activating_a_version_without_a_grounded_field_is_refused(admin_client):
    widget = note_widget(grounded_fields=["link"])
    without_link = {**NOTE_SCHEMA, "properties": {"text": NOTE_SCHEMA["properties"]["text"]}}
    add_url = reverse("admin:widgets_widgetschemaversion_add")
    form = {
        "widget": widget.pk,
        "json_schema": json.dumps(without_link),
        "card_template": "{{ text }}",
        "examples": json.dumps([{"text": "x"}]),
    }
    response = admin_client.post(add_url, {**form, "activate": "on"})
    assert response.status_code == 200
    assert "cannot activate: the widget type" in response.content.decode()
    assert widget.versions.count() == 1
    assert admin_client.post(add_url, form).status_code == 302  # stored, not activated
    v2 = widget.versions.get(version=2)
    response = admin_client.post(
        reverse("admin:widgets_widgetschemaversion_activate", args=[v2.pk]), follow=True
    )
    assert "v2 cannot be active with the widget type" in response.content.decode()
    assert widget.versions.get(is_active=True).version == 1


def test_type_page_marks_an_action_only_when_its_schema_can_run(admin_client):
    widget = note_widget()
    url = reverse("admin:widgets_widgettype_change", args=[widget.pk])
    form = {"title": "Note", "description": "A note.", "enabled": "on", "grounded_fields": ""}
    response = admin_client.post(url, {**form, "is_action": "on"})
    assert response.status_code == 200
    assert "must require a top-level `action`" in response.content.decode()
    widget.refresh_from_db()
    assert not widget.is_action
    assert admin_client.post(url, form).status_code == 302


@pytest.mark.parametrize(
    ("field", "text", "says"),
    [
        ("examples", '[{"text": "x", "n": NaN}]', "NaN is not a finite number"),
        ("json_schema", json.dumps(NOTE_SCHEMA)[:-1] + ', "maximum": 1e400}', "1e400"),
        ("examples", "[" * 100_000 + "]" * 100_000, "nested deeper than"),
    ],
)
def test_admin_json_fields_refuse_what_would_break_the_api(admin_client, field, text, says):
    form = {
        "name": "note", "title": "Note", "description": "A note.", "enabled": "on",
        "json_schema": json.dumps(NOTE_SCHEMA), "card_template": "",
        "examples": json.dumps(NOTE_EXAMPLES), field: text,
    }  # fmt: skip
    response = admin_client.post(reverse("admin:widgets_widgettype_add"), form)
    assert response.status_code == 200 and says in response.content.decode()
    assert not WidgetType.objects.exists()


def test_every_form_of_a_stored_json_field_is_strict():
    from django.core.exceptions import ValidationError

    from widgets.fields import OrderedJSONField

    for clean in (OrderedJSONField().formfield().clean, OrderedJSONField().to_python):
        for text, code in [("[Infinity]", "json_not_finite"), ("[" * 5000, "json_too_deep")]:
            with pytest.raises(ValidationError) as caught:
                clean(text)
            assert caught.value.code == code
