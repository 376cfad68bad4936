"""The prompt builder: a pure function of (widgets, messages, context), snapshot-tested on the demo.

To regenerate the snapshots after an intended change to the prompt, run
    WEFT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/serving/test_prompts.py
then review `git diff tests/serving/snapshots/` before committing.
"""

import copy
import json
import os
from pathlib import Path

import pytest

from serving.backend import ChatMessage
from serving.prompts import (
    CONTEXT_LABEL,
    WidgetSpec,
    build_messages,
    system_prompt,
    widget_block,
)
from widgets.markup import Outcome, parse_markup

SNAPSHOTS = Path(__file__).parent / "snapshots"
CONTEXT = {
    "listings": [
        {"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
         "beds": 3, "baths": 2, "sqft": 1640, "status": "active"},
    ],
    "contacts": [{"name": "Zoë Ortiz", "role": "agent", "phone": "+1 512 555 0101"}],
}  # fmt: skip
TURNS = [
    ChatMessage(role="user", content="Anything 3 bed in Austin under 500k?"),
    ChatMessage(role="assistant", content="One fits. Want details?"),
    ChatMessage(role="user", content="Yes, and who is the agent?"),
]


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def rendered(messages: list[ChatMessage]) -> str:
    return "".join(f"<<{m.role}>>\n{m.content}\n" for m in messages)


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("WEFT_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
        pytest.skip(f"rewrote {path.name}; review the diff")
    assert path.is_file(), f"no snapshot {name}: run with WEFT_UPDATE_SNAPSHOTS=1 (see docstring)"
    assert text == path.read_text(encoding="utf-8"), f"the prompt differs from {name}"


# ---------------------------------------------------------------- snapshots on the demo registry


@pytest.mark.django_db
def test_demo_registry_prompt_matches_its_snapshot(demo_registry):
    from serving.registry_specs import active_widget_specs

    messages = build_messages(active_widget_specs(), TURNS, CONTEXT)
    check_snapshot("demo_manual.txt", rendered(messages))


@pytest.mark.django_db
def test_demo_registry_short_prompt_matches_its_snapshot(demo_registry):
    from serving.registry_specs import active_widget_specs

    messages = build_messages(active_widget_specs(), TURNS, CONTEXT, manual=False)
    check_snapshot("demo_short.txt", rendered(messages))


@pytest.mark.django_db
def test_specs_from_the_database_equal_specs_from_the_demo_files(demo_registry, demo_specs):
    from serving.registry_specs import active_widget_specs

    from_db = active_widget_specs()
    assert from_db == demo_specs
    # Key order is meaning for the grammar (declared property order): it must survive the DB.
    for db_spec, file_spec in zip(from_db, demo_specs, strict=True):
        assert json.dumps(db_spec.json_schema) == json.dumps(file_spec.json_schema)


# ---------------------------------------------------------------- purity


def test_same_input_same_output_and_inputs_untouched(demo_specs):
    specs, turns, context = copy.deepcopy(demo_specs), list(TURNS), copy.deepcopy(CONTEXT)
    first = build_messages(specs, turns, context)
    assert build_messages(specs, turns, context) == first
    assert (specs, turns, context) == (demo_specs, TURNS, CONTEXT)


def test_widget_order_of_the_registry_does_not_matter(demo_specs):
    assert system_prompt(list(reversed(demo_specs))) == system_prompt(demo_specs)


# ---------------------------------------------------------------- context placement


def test_context_goes_at_the_end_of_the_system_message_as_one_json_line(demo_specs):
    for manual in (True, False):
        messages = build_messages(demo_specs, TURNS, CONTEXT, manual=manual)
        system = messages[0]
        assert system.role == "system"
        assert system.content == (
            system_prompt(demo_specs, manual=manual)
            + f"\n\n{CONTEXT_LABEL}\n"
            + json.dumps(CONTEXT, ensure_ascii=False)
        )
        assert "Zoë" in system.content  # not \u-escaped: fewer tokens, same text as the record
        assert messages[1:] == TURNS  # the turns themselves are never rewritten


def test_no_context_adds_nothing_and_an_empty_one_says_so(demo_specs):
    messages = build_messages(demo_specs, [user("hi")], None)
    assert messages[0].content == system_prompt(demo_specs)
    assert CONTEXT_LABEL not in messages[0].content
    # Retrieval ran and found nothing: the model reads that there are no records to show.
    empty = build_messages(demo_specs, [user("hi")], {})
    assert empty[0].content == system_prompt(demo_specs) + f"\n\n{CONTEXT_LABEL}\n{{}}"


def test_a_leading_system_message_replaces_the_instructions_and_keeps_the_context(demo_specs):
    own = ChatMessage(role="system", content="You are terse.")
    messages = build_messages(demo_specs, [own, user("hi")], {"a": 1})
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == f'You are terse.\n\n{CONTEXT_LABEL}\n{{"a": 1}}'


def test_a_system_message_after_the_first_is_refused(demo_specs):
    with pytest.raises(ValueError, match="first message"):
        build_messages(demo_specs, [user("hi"), ChatMessage(role="system", content="x")])


# ---------------------------------------------------------------- manual and short forms


def field_names(schema: dict) -> set[str]:
    names = set(schema.get("properties", {}))
    for sub in schema.get("properties", {}).values():
        names |= field_names(sub)
        names |= field_names(sub.get("items", {}))
    return names


def test_the_manual_describes_every_demo_field_and_shows_one_valid_example(
    demo_specs, demo_validators
):
    prompt = system_prompt(demo_specs, manual=True)
    for spec in demo_specs:
        assert f"\n{spec.name}: " in prompt
        assert spec.description in prompt
        for name in field_names(spec.json_schema):
            assert f"- {name}" in prompt, f"{spec.name}.{name} is not described"
        assert prompt.count(widget_block(spec.name, spec.example)) == 1
    # The examples, read back by the real parser, are the widget blocks of the manual.
    blocks = [s for s in parse_markup(prompt, demo_validators) if s.kind == "widget"]
    assert sorted(b.type for b in blocks) == sorted(s.name for s in demo_specs)
    assert all(b.outcome is Outcome.VALID for b in blocks), [b.errors for b in blocks]


def test_the_short_form_names_every_widget_and_describes_none(demo_specs):
    short = system_prompt(demo_specs, manual=False)
    assert all(spec.name in short for spec in demo_specs)
    assert "mls_id" not in short and "Example" not in short
    assert len(short) * 10 < len(system_prompt(demo_specs, manual=True))


def test_the_manual_stays_compact(demo_specs):
    # SmolLM2's context is 8k tokens and every training row carries the manual; the demo
    # manual is ~1,600 tokens (~4,600 characters since action_request v2 spells out each
    # action's params). A jump here usually means something is repeated.
    assert len(system_prompt(demo_specs, manual=True)) < 5000


def test_the_manual_lists_fields_in_declared_order(demo_specs):
    # The grammar makes the model write properties in declared order; the manual must agree.
    prompt = system_prompt(demo_specs)
    section = prompt[prompt.index("\nlisting_card: ") :]
    listing = next(spec for spec in demo_specs if spec.name == "listing_card")
    positions = [section.index(f"- {name}") for name in listing.json_schema["properties"]]
    assert positions == sorted(positions)


# ---------------------------------------------------------------- schema keywords -> text


def spec_for(schema: dict, example=None) -> WidgetSpec:
    return WidgetSpec(name="w", title="W", description="Test widget.", json_schema=schema,
                      example=example)  # fmt: skip


def manual_lines(schema: dict) -> list[str]:
    return system_prompt([spec_for(schema)]).split("\nw: Test widget.\n", 1)[1].splitlines()


def test_field_descriptions_come_from_the_schema_keywords():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "n", "kind", "tags"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]+$", "minLength": 2, "maxLength": 5},
            "n": {"type": "number", "exclusiveMinimum": 0, "maximum": 25, "multipleOf": 0.5},
            "kind": {"const": "x"},
            "tags": {"type": "array", "minItems": 1, "items": {"enum": ["a", 2]}},
            "when": {"type": "string", "format": "date"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "odd": {"type": "array", "uniqueItems": True},
        },
    }
    assert manual_lines(schema) == [
        "- code*: string, matching ^[A-Z]+$, 2-5 chars",
        "- n*: number, > 0, <= 25, multiple of 0.5",
        '- kind*: exactly "x"',
        '- tags*: array (at least 1 item) of one of "a", 2',
        "- when: string, format date",
        "- either: any of: integer | null",
        # A keyword the describer does not know is passed on verbatim, never dropped.
        '- odd: array of any value, also {"uniqueItems": true}',
    ]


def test_nested_objects_are_indented_and_object_rules_are_listed():
    schema = {
        "type": "object",
        "properties": {
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["a"],
                    "additionalProperties": False,
                    "properties": {"a": {"type": "integer", "minimum": 1}},
                },
            },
            "phone": {"type": "string"},
            "email": {"type": "string"},
            "meta": {"type": "object"},
        },
        "oneOf": [{"required": ["phone"]}, {"required": ["email"]}],
    }
    assert manual_lines(schema) == [
        "- rows: array of object:",
        "  - a*: integer, >= 1",
        "- phone: string",
        "- email: string",
        "- meta: object with any fields",
        "- exactly one of: phone | email",
        "- other fields allowed",
    ]


def test_a_title_that_respells_the_name_is_left_out():
    spec = WidgetSpec(name="price_tag", title="Price tag", description="A price.", json_schema={})
    other = WidgetSpec(name="price_tag", title="Sticker", description="A price.", json_schema={})
    assert "\nprice_tag: A price." in system_prompt([spec])
    assert "\nprice_tag: Sticker. A price." in system_prompt([other])


def test_widget_block_is_the_markup_form():
    assert (
        widget_block("w", {"a": "é", "b": [1, 2]})
        == '<widget type="w">{"a": "é", "b": [1, 2]}</widget>'
    )
