"""Grounded constrained decoding: record fields take only the values of the turn's records.

The narrowing is checked on schemas, and the grammar it makes is checked with xgrammar's
matcher on text (a one-token vocabulary compiles the same grammar), the way
test_constraints.py checks the plain one.
"""

import json

import pytest
import xgrammar as xgr

from serving.constraints import TRIGGER, widget_constraint
from serving.grounding import context_values, grounded_schema
from serving.prompts import WidgetSpec, widget_block

LISTING = {"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
           "beds": 3, "baths": 2.5, "sqft": 1640, "status": "active"}  # fmt: skip
OTHER = {**LISTING, "mls_id": "TX-11873", "address": "4708 Ramsey Ave", "price": 489500}
LENDER = {"name": "Aisha Okafor", "role": "lender", "phone": "+1 (611) 555-0194"}
TASK = {"action": "create_task", "summary": "Create a task: Order the appraisal",
        "params": {"title": "Order the appraisal"}}  # fmt: skip
EMAIL = {"action": "send_email", "summary": "Email Aisha Okafor about the appraisal",
         "params": {"to": ["aisha@example.com"], "subject": "Appraisal"}}  # fmt: skip


@pytest.fixture(scope="module")
def compiler():
    return xgr.GrammarCompiler(xgr.TokenizerInfo(["a"], stop_token_ids=[0]))


def accepts(compiler, constraint, text: str) -> bool:
    compiled = compiler.compile_structural_tag(constraint.structural_tag)
    return xgr.GrammarMatcher(compiled, terminate_without_stop_token=True).accept_string(text)


def tag_names(constraint) -> list[str]:
    tags = json.loads(constraint.structural_tag)["format"].get("tags", [])
    return [t["begin"].split('"')[1] for t in tags]


# ---------------------------------------------------------------- the values of a context


def test_context_values_are_gathered_by_name_at_any_depth():
    context = {
        "listings": [LISTING, OTHER],
        "open_slots": {"TX-10492": [{"start": "2026-12-05T10:00:00-06:00", "minutes": 30}]},
        "subject": {"address": "88 Elm St", "city": "Austin"},
    }
    found = context_values(context)
    assert found["mls_id"] == ["TX-10492", "TX-11873"]
    assert found["address"] == ["12 Oak St", "4708 Ramsey Ave", "88 Elm St"]
    assert found["city"] == ["Austin"]  # distinct values only
    assert found["start"] == ["2026-12-05T10:00:00-06:00"] and found["minutes"] == [30]
    assert context_values({}) == {}


def test_numbers_of_another_json_type_stay_distinct():
    assert context_values({"a": [{"x": 3}, {"x": 3.0}, {"x": True}]})["x"] == [3, 3.0, True]


# ---------------------------------------------------------------- narrowing a schema


def test_grounded_properties_become_enums_of_the_values_their_schema_allows(demo_specs):
    listing = next(s for s in demo_specs if s.name == "listing_card")
    values = context_values({"listings": [LISTING], "contacts": [{"price": "ask"}]})
    schema = grounded_schema(listing.json_schema, {"mls_id", "price", "sqft"}, values)
    assert schema["properties"]["mls_id"] == {"enum": ["TX-10492"]}
    # "ask" is no integer; numbers are one-point ranges (below: why not an enum).
    assert schema["properties"]["price"] == {
        "type": "integer",
        "minimum": 449000,
        "maximum": 449000,
    }
    assert schema["properties"]["address"] == listing.json_schema["properties"]["address"]
    assert schema["required"] == listing.json_schema["required"]


def test_a_grounded_field_with_no_value_drops_if_optional_and_blocks_if_required():
    schema = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    }
    narrowed = grounded_schema(schema, {"name", "email"}, {"name": ["Ann"]})
    assert narrowed["properties"] == {"name": {"enum": ["Ann"]}}
    assert grounded_schema(schema, {"name", "email"}, {"email": ["a@b.co"]}) is None


def test_impossible_branches_and_items_propagate_up():
    item = {"type": "object", "required": ["start"], "properties": {"start": {"type": "string"}}}
    slots = {"type": "array", "minItems": 1, "items": item}
    assert grounded_schema(slots, {"start"}, {}) is None
    assert grounded_schema({**slots, "minItems": 0}, {"start"}, {})["maxItems"] == 0
    either = {"anyOf": [{"required": ["phone"], **_person()}, {"required": ["email"], **_person()}]}
    only_email = grounded_schema(either, {"phone", "email"}, {"email": ["a@b.co"]})
    assert len(only_email["anyOf"]) == 1
    assert only_email["anyOf"][0]["required"] == ["email"]
    assert grounded_schema(either, {"phone", "email"}, {}) is None
    assert grounded_schema({"allOf": [slots, {"type": "array"}]}, {"start"}, {}) is None


def _person() -> dict:
    return {
        "type": "object",
        "properties": {"phone": {"type": "string"}, "email": {"type": "string"}},
    }


# ---------------------------------------------------------------- the grammar it makes


def test_a_card_of_the_turns_records_passes_and_a_made_up_one_does_not(compiler, demo_specs):
    constraint = widget_constraint(demo_specs, {"listings": [LISTING, OTHER]})
    assert accepts(compiler, constraint, f"Two fit: {widget_block('listing_card', LISTING)} and")
    assert accepts(compiler, constraint, widget_block("listing_card", OTHER))
    for invented in ({**LISTING, "price": 449001}, {**LISTING, "address": "5656 Ridge Way"}):
        assert not accepts(compiler, constraint, widget_block("listing_card", invented))
    # Grounding is per field: a value of another record of the turn is still a record's value.
    assert accepts(compiler, constraint, widget_block("listing_card", {**LISTING, "price": 489500}))


def test_a_float_record_value_is_written_as_the_records_write_it(compiler, demo_specs):
    """xgrammar writes an enum's 6.0 as `6`; records and training data write `6.0`."""
    quote = {"price": 200000, "down_payment": 25000, "rate_percent": 6.0, "term_years": 30,
             "monthly_payment": 1164}  # fmt: skip
    constraint = widget_constraint(demo_specs, {"mortgage_quote": quote})
    assert accepts(compiler, constraint, widget_block("mortgage_estimate", quote))
    for other in (6.5, 30.0):
        wrong = {**quote, "rate_percent": other}
        assert not accepts(compiler, constraint, widget_block("mortgage_estimate", wrong))


def test_widgets_whose_records_are_missing_cannot_be_opened(compiler, demo_specs):
    lenders = widget_constraint(demo_specs, {"contacts": [LENDER]})
    assert "listing_card" not in tag_names(lenders) and "contact_card" in tag_names(lenders)
    assert accepts(compiler, lenders, f"Try {widget_block('contact_card', LENDER)}")
    assert not accepts(compiler, lenders, widget_block("listing_card", LISTING))
    assert not accepts(compiler, lenders, widget_block("contact_card", {**LENDER, "name": "Bo"}))
    # A task on offer and no records: only the action is left; nothing on offer, nothing.
    task = widget_constraint(demo_specs, {"action": ["create_task"]})
    assert tag_names(task) == ["action_request"]
    assert accepts(compiler, task, widget_block("action_request", TASK))
    assert not accepts(compiler, task, widget_block("action_request", EMAIL))
    assert tag_names(widget_constraint(demo_specs, {})) == []


def test_a_turn_where_no_widget_can_be_written_keeps_prose_free_of_the_trigger(
    compiler, listing_only
):
    constraint = widget_constraint(listing_only, {})
    assert json.loads(constraint.structural_tag)["format"] == {
        "type": "any_text",
        "excludes": [TRIGGER],
    }
    assert accepts(compiler, constraint, "I can search listings; a < b and <b>bold</b>.")
    assert not accepts(compiler, constraint, 'Here: <widget type="listing_card">{"mls_id": "X"}')


def test_without_a_context_or_grounded_fields_the_grammar_is_the_schemas_alone(demo_specs):
    plain = [WidgetSpec(**{**s.__dict__, "grounded_fields": ()}) for s in demo_specs]
    assert widget_constraint(demo_specs) == widget_constraint(plain)
    assert widget_constraint(plain, {}) == widget_constraint(plain)
