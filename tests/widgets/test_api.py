import copy

import pytest
from rest_framework.test import APIClient

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA, NOTE_TEMPLATE, note_widget
from widgets.models import WidgetSchemaVersion, WidgetType

pytestmark = pytest.mark.django_db

NEW_WIDGET = {
    "name": "note",
    "title": "Note",
    "description": "A short note.",
    "json_schema": NOTE_SCHEMA,
    "card_template": NOTE_TEMPLATE,
    "examples": NOTE_EXAMPLES,
}


def test_anonymous_cannot_read():
    assert APIClient().get("/api/widgets/").status_code in (401, 403)


def test_list_has_the_active_schema_of_each_type(user_api, demo_registry):
    response = user_api.get("/api/widgets/")
    assert response.status_code == 200
    by_name = {w["name"]: w for w in response.json()}
    assert len(by_name) == 6
    listing = by_name["listing_card"]
    assert listing["active_version"]["version"] == 1
    assert listing["active_version"]["json_schema"]["$id"] == "urn:widget:listing_card:1"


def test_staff_creates_a_type(staff_api):
    response = staff_api.post("/api/widgets/", NEW_WIDGET, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["active_version"]["author"] == "staff"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/widgets/", NEW_WIDGET),
        ("patch", "/api/widgets/note/", {"enabled": False}),
        (
            "post",
            "/api/widgets/note/versions/",
            {"json_schema": NOTE_SCHEMA, "examples": NOTE_EXAMPLES},
        ),
        ("post", "/api/widgets/note/versions/1/activate/", {}),
    ],
)
def test_non_staff_cannot_write(user_api, method, url, body):
    note_widget(name="note")
    before = (WidgetType.objects.count(), WidgetSchemaVersion.objects.count())
    response = getattr(user_api, method)(url, body, format="json")
    assert response.status_code == 403
    assert (WidgetType.objects.count(), WidgetSchemaVersion.objects.count()) == before
    assert WidgetType.objects.get(name="note").enabled


def test_bad_schema_is_a_400_naming_field_and_pointer(staff_api):
    schema = copy.deepcopy(NOTE_SCHEMA)
    schema["properties"]["priority"] = {"enum": "low"}
    response = staff_api.post("/api/widgets/", {**NEW_WIDGET, "json_schema": schema}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["json_schema"]
    assert message.startswith("at /properties/priority/enum:")
    assert not WidgetType.objects.exists()


def test_bad_example_and_template_are_400s(staff_api):
    note_widget(name="note")
    bad_example = staff_api.post(
        "/api/widgets/note/versions/",
        {"json_schema": NOTE_SCHEMA, "examples": [{"text": 5}]},
        format="json",
    )
    assert bad_example.status_code == 400
    assert bad_example.json()["examples"] == ["example 1, at /text: 5 is not of type 'string'"]
    bad_template = staff_api.post(
        "/api/widgets/note/versions/",
        {"json_schema": NOTE_SCHEMA, "examples": NOTE_EXAMPLES, "card_template": "{% for x %}"},
        format="json",
    )
    assert bad_template.status_code == 400 and "card_template" in bad_template.json()
    assert WidgetSchemaVersion.objects.count() == 1


def test_bad_name_and_duplicate_name(staff_api):
    assert (
        staff_api.post(
            "/api/widgets/", {**NEW_WIDGET, "name": "Bad Name"}, format="json"
        ).status_code
        == 400
    )
    note_widget(name="note")
    duplicate = staff_api.post("/api/widgets/", NEW_WIDGET, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()


def test_staff_adds_and_activates_a_version(staff_api):
    note_widget(name="note")
    created = staff_api.post(
        "/api/widgets/note/versions/",
        {"json_schema": {**NOTE_SCHEMA, "title": "Note 2"}, "examples": NOTE_EXAMPLES},
        format="json",
    )
    assert created.status_code == 201 and created.json()["version"] == 2
    assert not created.json()["is_active"]
    activated = staff_api.post("/api/widgets/note/versions/2/activate/")
    assert activated.status_code == 200 and activated.json()["is_active"]
    detail = staff_api.get("/api/widgets/note/").json()
    assert detail["active_version"]["json_schema"]["title"] == "Note 2"
    versions = staff_api.get("/api/widgets/note/versions/").json()
    assert [(v["version"], v["is_active"]) for v in versions] == [(2, True), (1, False)]


def test_unknown_widget_and_version_are_404(staff_api):
    assert staff_api.get("/api/widgets/nope/").status_code == 404
    note_widget(name="note")
    assert staff_api.post("/api/widgets/note/versions/9/activate/").status_code == 404


def test_session_auth_write_needs_csrf(staff_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post("/api/widgets/", NEW_WIDGET, format="json").status_code == 403


def test_token_auth(staff_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/widgets/").status_code == 200


def test_openapi_schema_and_docs(user_api, client, plain_user):
    schema = user_api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/widgets/", "/api/widgets/{name}/versions/{version}/activate/"} <= set(paths)
    client.force_login(plain_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # served locally: no network at run time


def test_grounded_fields_are_read_created_and_updated(staff_api, demo_registry):
    listing = staff_api.get("/api/widgets/listing_card/").json()
    assert listing["grounded_fields"][:3] == ["mls_id", "address", "city"]
    created = staff_api.post(
        "/api/widgets/", {**NEW_WIDGET, "grounded_fields": ["text"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["grounded_fields"] == ["text"]
    updated = staff_api.patch("/api/widgets/note/", {"grounded_fields": ["link"]}, format="json")
    assert updated.status_code == 200 and updated.json()["grounded_fields"] == ["link"]
    untouched = staff_api.patch("/api/widgets/note/", {"enabled": False}, format="json")
    assert untouched.json()["grounded_fields"] == ["link"]


@pytest.mark.parametrize(
    ("grounded_fields", "message"),
    [
        (["text", "text"], '"text" is listed twice'),
        (["txt"], '"txt" is not a property anywhere in the schema'),
        ("text", "give a list of property names"),
    ],
)
def test_bad_grounded_fields_are_400s(staff_api, grounded_fields, message):
    body = {**NEW_WIDGET, "grounded_fields": grounded_fields}
    created = staff_api.post("/api/widgets/", body, format="json")
    assert created.status_code == 400
    assert created.json()["grounded_fields"][0].startswith(message)
    assert not WidgetType.objects.exists()
    note_widget(name="note", grounded_fields=["text"])
    updated = staff_api.patch(
        "/api/widgets/note/", {"grounded_fields": grounded_fields}, format="json"
    )
    assert updated.status_code == 400
    assert updated.json()["grounded_fields"][0].startswith(message)
    assert WidgetType.objects.get(name="note").grounded_fields == ["text"]


def test_openapi_schema_types_grounded_fields(user_api):
    schemas = user_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["components"]
    for name in ("WidgetType", "WidgetTypeCreate", "PatchedWidgetTypeUpdate"):
        field = schemas["schemas"][name]["properties"]["grounded_fields"]
        assert (field["type"], field["items"]) == ("array", {"type": "string"}), name
