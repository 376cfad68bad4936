import filecmp
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.template import Context

from demo.services import ACTIONS, crm_actions_held
from finetune.models import Dataset
from widgets.cards import card_context, compile_card_template, drop_unsafe_urls, render_card_body
from widgets.models import WidgetSchemaVersion
from widgets.selectors import active_versions
from widgets.version_checks import check_version_content

SHARED_DEMO = Path(settings.BASE_DIR).parent / "shared" / "demo"
DEMO_REGISTRY = Path(settings.BASE_DIR) / "demo" / "registry"


@pytest.mark.skipif(not SHARED_DEMO.is_dir(), reason="../shared/demo is not beside this checkout")
def test_demo_copy_equals_shared_demo():
    ours = Path(settings.BASE_DIR) / "demo" / "spec"
    shared_files = sorted(p.relative_to(SHARED_DEMO) for p in SHARED_DEMO.rglob("*") if p.is_file())
    assert shared_files, "shared demo is empty"
    for rel in shared_files:
        assert (ours / rel).is_file(), f"demo/spec/{rel} is missing from the project's copy"
        assert filecmp.cmp(ours / rel, SHARED_DEMO / rel, shallow=False), f"demo/spec/{rel} differs"
    ours_schemas = {p.name for p in (ours / "widgets").iterdir()}
    assert ours_schemas == {p.name for p in (SHARED_DEMO / "widgets").iterdir()}


def active_spec_schemas() -> dict[str, dict]:
    """Widget name -> the schema demo/spec says is active: its next version where
    demo/spec/versions has one (action_request v2), else the one in demo/spec/widgets."""
    spec = Path(settings.BASE_DIR) / "demo" / "spec"
    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in (spec / "widgets").glob("*.schema.json")
    }
    for path in sorted((spec / "versions").glob("*.v*.schema.json")):
        name = path.name.split(".")[0]
        assert name in schemas, path.name
        schemas[name] = json.loads(path.read_text())
    return schemas


@pytest.mark.django_db
def test_load_demo_gives_six_active_types_equal_to_the_demo_schemas(capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "password 'demo'" in out
    versions = active_versions()
    expected = active_spec_schemas()
    assert len(expected) == 6
    assert {name: v.json_schema for name, v in versions.items()} == expected
    for name, version in versions.items():
        assert version.widget.description == expected[name]["description"]
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and user.check_password("demo")


@pytest.mark.django_db
def test_load_demo_grants_the_demo_user_every_crm_action(monkeypatch):
    # The dataset is another test's subject (and the slowest part of load_demo).
    monkeypatch.setattr(
        "demo.management.commands.load_demo.demo_dataset_load",
        lambda author: Dataset.objects.get_or_create(name="demo", defaults={"source": "demo"}),
    )
    call_command("load_demo")
    user = get_user_model().objects.get(username="demo")
    # Granted, not only held as a superuser: the demo user keeps them if that is undone.
    granted = set(user.user_permissions.values_list("content_type__app_label", "codename"))
    assert granted == {("crm", a) for a in ACTIONS} and len(ACTIONS) == 4
    user.is_superuser = False
    user.save()
    user = get_user_model().objects.get(username="demo")
    assert crm_actions_held(user=user) == list(ACTIONS)
    call_command("load_demo")  # again: nothing to add, nothing fails
    assert user.user_permissions.count() == 4


@pytest.mark.django_db
def test_load_demo_is_idempotent(capsys):
    call_command("load_demo")
    user = get_user_model().objects.get(username="demo")
    user.set_password("changed-by-the-owner")
    user.save()
    capsys.readouterr()
    call_command("load_demo")
    out = capsys.readouterr().out
    assert out.count(": unchanged") == 6
    assert "password 'demo'" not in out
    assert WidgetSchemaVersion.objects.count() == 7  # action_request v1 and v2
    user.refresh_from_db()
    assert user.check_password("changed-by-the-owner")


@pytest.mark.django_db
def test_demo_cards_render_real_looking_cards(demo_registry):
    from widgets.cards import render_card

    versions = active_versions()
    listing = versions["listing_card"]
    with_photo, without_photo = listing.examples
    html = render_card(
        widget_type="listing_card",
        template_source=listing.card_template,
        payload=with_photo,
        schema=listing.json_schema,
    )
    assert (
        "$449,000" in html
        and "weft-badge--active" in html
        and 'src="https://photos.example.com' in html
    )
    assert "1,640 sqft" in html
    html = render_card(
        widget_type="listing_card",
        template_source=listing.card_template,
        payload=without_photo,
        schema=listing.json_schema,
    )
    assert "<img" not in html and "weft-badge--pending" in html and "2.5 ba" in html
    hostile = {
        **with_photo,
        "photo_url": "javascript:alert(1)",
        "address": "<script>alert(1)</script>",
    }
    html = render_card(
        widget_type="listing_card",
        template_source=listing.card_template,
        payload=hostile,
        schema=listing.json_schema,
    )
    assert "<img" not in html and "<script>" not in html and "javascript:" not in html
    mortgage = versions["mortgage_estimate"]
    html = render_card(
        widget_type="mortgage_estimate",
        template_source=mortgage.card_template,
        payload=mortgage.examples[0],
        schema=mortgage.json_schema,
    )
    assert "$2,488" in html and "6.25%" in html and "30 years" in html


@pytest.mark.django_db
def test_load_demo_makes_the_demo_dataset_with_a_held_out_eval_split(capsys):
    from finetune.models import Dataset

    call_command("load_demo")
    dataset = Dataset.objects.get(name="demo")
    assert dataset.rows.count() >= 300 and dataset.source == "demo"
    eval_rows = dataset.rows.filter(split="eval")
    assert 0.1 < eval_rows.count() / dataset.rows.count() < 0.2
    assert "eval held out" in capsys.readouterr().out
    call_command("load_demo")
    assert Dataset.objects.filter(name="demo").count() == 1


@pytest.mark.django_db
def test_load_demo_sets_and_updates_the_demo_grounding():
    from demo.widget_files import demo_widget_definitions, demo_widgets_load
    from widgets.models import WidgetType
    from widgets.services import widget_type_update

    grounding = {d.name: d.grounded_fields for d in demo_widget_definitions()}
    # The action card's action is narrowed by the context's `actions`, not by a record.
    assert grounding["listing_card"] and grounding["action_request"] == []
    outcome = demo_widgets_load()
    assert set(outcome.values()) == {"created"}
    stored = dict(WidgetType.objects.values_list("name", "grounded_fields"))
    assert stored == grounding
    contact = WidgetType.objects.get(name="contact_card")
    widget_type_update(widget=contact, grounded_fields=["name"])
    outcome = demo_widgets_load()
    assert outcome["contact_card"] == "updated"
    assert list(outcome.values()).count("unchanged") == 5
    contact.refresh_from_db()
    assert contact.grounded_fields == grounding["contact_card"]


def test_demo_widget_files_hold_the_shared_schemas():
    """The registry files (what load_domain imports) carry the demo spec's schemas unchanged:
    the active one as active_spec_schemas says, and every version 1 as demo/spec/widgets."""
    from demo.widget_files import demo_widget_definitions

    spec = Path(settings.BASE_DIR) / "demo" / "spec" / "widgets"
    definitions = demo_widget_definitions()
    active = active_spec_schemas()
    assert [d.name for d in definitions] == sorted(active)
    for d in definitions:
        schema = active[d.name]
        assert d.json_schema == schema, d.name
        assert list(d.json_schema) == list(schema), d.name  # key order too: prompts show it
        assert (d.title, d.description) == (schema["title"], schema["description"])
        doc = json.loads((DEMO_REGISTRY / f"{d.name}.json").read_text())
        first = json.loads((spec / f"{d.name}.schema.json").read_text())
        assert doc["versions"][0]["version"] == 1 and doc["versions"][0]["json_schema"] == first


def test_action_request_v2_is_active_and_v1_stays_in_the_file():
    doc = json.loads((DEMO_REGISTRY / "action_request.json").read_text())
    assert [(v["version"], v["active"]) for v in doc["versions"]] == [(1, False), (2, True)]
    assert doc["action"] is True and doc["grounded_fields"] == []
    # Every action shows its params in an example; the first is what the prompt shows.
    assert [e["action"] for e in doc["versions"][1]["examples"]] == list(ACTIONS)


class _Markup(HTMLParser):
    """Tags, attributes and text of a fragment: what a reader sees, whatever its spelling."""

    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_starttag(self, tag, attrs):
        # rel is what the cleaner adds to links: invisible, and no change to what they do.
        self.parts.append(("<", tag, sorted((k, v) for k, v in attrs if k != "rel")))

    def handle_endtag(self, tag):
        self.parts.append(("/", tag))

    def handle_data(self, data):
        if words := " ".join(data.split()):
            self.parts.append(("text", words))


def _markup(html):
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.parts


@pytest.mark.parametrize(
    "path", sorted((Path(settings.BASE_DIR) / "demo" / "registry").glob("*.json")),
    ids=lambda p: p.stem,
)  # fmt: skip
def test_demo_templates_pass_the_checks_and_cleaning_keeps_what_they_show(path):
    doc = json.loads(path.read_text())
    for v in doc["versions"]:
        schema, template = v["json_schema"], v["card_template"]
        check_version_content(json_schema=schema, card_template=template, examples=v["examples"])
        for example in v["examples"]:
            uncleaned = compile_card_template(template).render(
                Context(card_context(drop_unsafe_urls(example, schema)))
            )
            cleaned = render_card_body(template_source=template, payload=example, schema=schema)
            assert _markup(cleaned) == _markup(uncleaned), path.name
            assert len(_markup(cleaned)) > 5
