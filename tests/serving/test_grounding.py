"""Grounded constrained decoding: record fields take only the values of the turn's records.

The narrowing is checked on schemas, and the grammar it makes is checked with xgrammar's
matcher on text (a one-token vocabulary compiles the same grammar), the way
test_constraints.py checks the plain one. Where in a schema a grounded field may sit is
checked against the registry (widgets.grounding decides both), place by place and on random
schemas.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest
import xgrammar as xgr
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from serving.constraints import TRIGGER, widget_constraint
from serving.grounding import actions_schema, allowed_actions, context_values, grounded_schema
from serving.prompts import WidgetSpec, widget_block
from widgets.grounding import (
    grounded_field_problems,
    narrow_grounded,
    property_places,
    validate_grounded_fields,
)

LISTING = {"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
           "beds": 3, "baths": 2.5, "sqft": 1640, "status": "active"}  # fmt: skip
OTHER = {**LISTING, "mls_id": "TX-11873", "address": "4708 Ramsey Ave", "price": 489500}
LENDER = {"name": "Aisha Okafor", "role": "lender", "phone": "+1 (611) 555-0194"}
TASK = {"action": "create_task", "summary": "Create a task: Order the appraisal",
        "params": {"title": "Order the appraisal"}}  # fmt: skip
EMAIL = {"action": "send_email", "summary": "Email Aisha Okafor about the appraisal",
         "params": {"to": ["aisha@example.com"], "subject": "Appraisal"}}  # fmt: skip
IN, OUT = "12 Oak St", "5656 Ridge Way"  # a record's address, and one no record holds
TEXT = {"type": "string"}


def _record(**extra) -> dict:
    """An object whose one required property is the grounded `address`."""
    return {"type": "object", "properties": {"address": TEXT}, "required": ["address"],
            "additionalProperties": False, **extra}  # fmt: skip


def _holding(**properties) -> dict:
    """A closed object that requires each of `properties`."""
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}  # fmt: skip


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


def test_an_impossible_tuple_place_caps_the_array_before_it():
    pair = {"type": "array", "prefixItems": [{"type": "string"}, _needs_start()]}
    capped = grounded_schema(pair, {"start"}, {})
    assert capped == {"type": "array", "prefixItems": [{"type": "string"}], "maxItems": 1}
    assert grounded_schema({**pair, "minItems": 2}, {"start"}, {}) is None
    first = grounded_schema({**pair, "prefixItems": [_needs_start()]}, {"start"}, {})
    assert first == {"type": "array", "maxItems": 0}  # an empty prefixItems is no schema
    # After the tuple, `items` can only be cut to the tuple's length.
    tail = {"type": "array", "prefixItems": [{"type": "string"}], "items": _needs_start()}
    assert grounded_schema(tail, {"start"}, {})["maxItems"] == 1


def test_a_map_whose_values_cannot_be_written_takes_no_other_keys():
    slots = {"type": "object", "properties": {"note": TEXT}, "additionalProperties": _needs_start()}
    closed = grounded_schema(slots, {"start"}, {})
    assert closed["additionalProperties"] is False
    # A required key only a map value could hold, or too many keys asked for: impossible.
    assert grounded_schema({**slots, "required": ["TX-1"]}, {"start"}, {}) is None
    assert grounded_schema({**slots, "minProperties": 2}, {"start"}, {}) is None
    assert grounded_schema({**slots, "minProperties": 1}, {"start"}, {}) is not None


def test_an_optional_field_with_no_value_is_not_let_back_in_as_another_key():
    schema = _holding(name=TEXT, email=TEXT)
    del schema["additionalProperties"]
    schema["required"] = ["name"]
    values = {"name": ["Ann"]}
    assert grounded_schema(schema, {"name", "email"}, values)["properties"] == {
        "name": {"enum": ["Ann"]}
    }  # no additionalProperties: the grammar takes no other key (its strict mode)
    for open_keys in (
        {"additionalProperties": True},
        {"additionalProperties": {"type": "string"}},
        {"unevaluatedProperties": {"type": "string"}},
        {"patternProperties": {"^e": {"type": "string"}}},
    ):
        assert grounded_schema({**schema, **open_keys}, {"name", "email"}, values) is None
    # Dropping a property below minProperties would not compile: impossible instead.
    assert grounded_schema({**schema, "minProperties": 2}, {"name", "email"}, values) is None


def test_a_field_whose_schema_is_a_ref_is_narrowed_by_the_schema_it_names():
    schema = {
        "$id": "urn:widget:w:1",
        **_holding(role={"$ref": "#/$defs/role"}),
        "$defs": {"role": {"enum": ["buyer", "seller"]}},
    }
    assert validate_grounded_fields(["role"], json_schema=schema) == ["role"]
    narrowed = grounded_schema(schema, {"role"}, {"role": ["seller", "landlord"]})
    assert narrowed["properties"]["role"] == {"enum": ["seller"]}


def _needs_start() -> dict:
    return {"type": "object", "required": ["start"], "properties": {"start": {"type": "string"}}}


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
    # No records: only the action card is left (its action is no record field, and the
    # context does not limit the actions); with none on offer, nothing is.
    assert tag_names(widget_constraint(demo_specs, {})) == ["action_request"]
    assert tag_names(widget_constraint(demo_specs, {"actions": []})) == []


# ---------------------------------------------------------------- the actions a user may run


def action_branches(constraint) -> list[list[str]]:
    """The action names each variant of the action card's grounded schema allows."""
    tags = json.loads(constraint.structural_tag)["format"]["tags"]
    (schema,) = [t["content"]["json_schema"] for t in tags if "action_request" in t["begin"]]
    return [b["properties"]["action"].get("enum", [b["properties"]["action"].get("const")])
            for b in schema["anyOf"]]  # fmt: skip


def test_the_actions_key_narrows_the_action_card_to_the_actions_listed(compiler, demo_specs):
    every = widget_constraint(demo_specs, {})
    assert action_branches(every) == [
        ["book_showing"], ["send_email"], ["create_task"], ["update_listing_status"]
    ]  # fmt: skip
    assert accepts(compiler, every, widget_block("action_request", EMAIL))
    task = widget_constraint(demo_specs, {"actions": ["create_task"]})
    assert tag_names(task) == ["action_request"] and action_branches(task) == [["create_task"]]
    assert accepts(compiler, task, widget_block("action_request", TASK))
    assert not accepts(compiler, task, widget_block("action_request", EMAIL))
    # Names the schema does not have are ignored; the variants keep their order.
    two = widget_constraint(demo_specs, {"actions": ["launch", "create_task", "send_email"]})
    assert action_branches(two) == [["send_email"], ["create_task"]]
    assert accepts(compiler, two, widget_block("action_request", EMAIL))
    # None listed, or not a list of names: no action card at all, and no `<widget` either.
    for nothing in ([], ["launch"], "create_task", {"create_task": True}):
        constraint = widget_constraint(demo_specs, {"actions": nothing})
        assert tag_names(constraint) == [], nothing
        assert not accepts(compiler, constraint, widget_block("action_request", TASK))
    # The key the context used to narrow by, `action`, narrows nothing now.
    assert widget_constraint(demo_specs, {"action": ["create_task"]}) == every


def test_only_action_widgets_are_narrowed_by_actions(demo_specs):
    plain = [WidgetSpec(**{**s.__dict__, "is_action": False}) for s in demo_specs]
    assert widget_constraint(plain, {"actions": []}) == widget_constraint(plain, {})


def test_narrowing_the_action_of_a_one_form_schema_leaves_params_alone():
    schema = {
        "type": "object",
        "required": ["action", "params"],
        "properties": {
            "action": {"enum": ["refund", "resend"]},
            "params": {"type": "object", "properties": {"action": {"type": "string"}}},
        },
    }
    narrowed = actions_schema(schema, ["resend", "launch"])
    assert narrowed["properties"]["action"] == {"enum": ["resend"]}
    assert narrowed["properties"]["params"] == schema["properties"]["params"]  # a parameter
    assert actions_schema(schema, ["launch"]) is None
    assert allowed_actions({"listings": []}) is None
    assert allowed_actions({"actions": ["a", 1, "a", "b"]}) == ["a", "b"]


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


# ---------------------------------------------------------------- where a grounded field may sit


@dataclass(frozen=True)
class Narrowed:
    """The registry accepts the field, and grounding narrows it: `payload(IN)` is writable,
    `payload(OUT)` is valid under the schema but not under the grounded one."""

    payload: Any  # value -> payload


@dataclass(frozen=True)
class Refused:
    """The registry refuses the field with this message."""

    message: str


PLACES = {
    "properties": (_record(), Narrowed(lambda v: {"address": v})),
    "nested properties": (
        _holding(listing=_record()),
        Narrowed(lambda v: {"listing": {"address": v}}),
    ),
    "items": (
        _holding(comps={"type": "array", "items": _record()}),
        Narrowed(lambda v: {"comps": [{"address": v}]}),
    ),
    "prefixItems": (
        _holding(pair={"type": "array", "prefixItems": [_record(), TEXT]}),
        Narrowed(lambda v: {"pair": [{"address": v}, "x"]}),
    ),
    "additionalProperties": (
        {"type": "object", "additionalProperties": _record()},
        Narrowed(lambda v: {"TX-1": {"address": v}}),
    ),
    "anyOf": (
        {"anyOf": [_record(), _holding(mls_id=TEXT)]},
        Narrowed(lambda v: {"address": v}),
    ),
    "oneOf": (
        {"oneOf": [_record(), _holding(mls_id=TEXT)]},
        Narrowed(lambda v: {"address": v}),
    ),
    "allOf": (
        {"type": "object", "allOf": [_record()]},
        Narrowed(lambda v: {"address": v}),
    ),
    "$defs through $ref": (
        {**_holding(home={"$ref": "#/$defs/place"}), "$defs": {"place": _record()}},
        Refused(
            '"address" cannot be grounded at /$defs/place/properties/address: it is reached '
            "through the $ref at /properties/home, and grounding does not follow $ref"
        ),
    ),
    "$defs unused": (
        {**_holding(), "$defs": {"place": _record()}},
        Refused(
            '"address" cannot be grounded at /$defs/place/properties/address: it sits under '
            "$defs, which a payload reaches only through $ref, and grounding does not follow $ref"
        ),
    ),
    "$ref to an anchor": (
        {**_holding(home={"$ref": "#place"}), "$defs": {"p": {"$anchor": "place", **_record()}}},
        Refused(
            '"address" cannot be grounded at /$defs/p/properties/address: the $ref at '
            "/properties/home ('#place') may reach it, and grounding cannot resolve that reference"
        ),
    ),
    "if": (
        {"type": "object", "if": _record(), "then": {"required": ["x"]}},
        Refused(
            '"address" cannot be grounded at /if/properties/address: it sits under if, '
            "a condition: narrowing it would change which branch applies"
        ),
    ),
    "then": (
        {"type": "object", "if": {"required": ["x"]}, "then": _record()},
        Refused(
            '"address" cannot be grounded at /then/properties/address: it sits under then, '
            "which the grammar ignores"
        ),
    ),
    "else": (
        {"type": "object", "if": {"required": ["x"]}, "else": _record()},
        Refused(
            '"address" cannot be grounded at /else/properties/address: it sits under else, '
            "which the grammar ignores"
        ),
    ),
    "patternProperties": (
        {"type": "object", "patternProperties": {"^TX-": _record()}},
        Refused(
            '"address" cannot be grounded at /patternProperties/^TX-/properties/address: it sits '
            "under patternProperties, whose keys are patterns, not field names, and the grammar "
            "cannot write them"
        ),
    ),
    "dependentSchemas": (
        {"type": "object", "dependentSchemas": {"mls_id": _record()}},
        Refused(
            '"address" cannot be grounded at /dependentSchemas/mls_id/properties/address: it sits '
            "under dependentSchemas, which applies only when another key is present, and the "
            "grammar ignores it"
        ),
    ),
    "contains": (
        {"type": "array", "contains": _record()},
        Refused(
            '"address" cannot be grounded at /contains/properties/address: it sits under '
            "contains, which asks for some item, not every item (ground it under items)"
        ),
    ),
    "not": (
        {"type": "object", "not": _record()},
        Refused(
            '"address" cannot be grounded at /not/properties/address: it sits under not, where '
            "narrowing would let more payloads through, not fewer"
        ),
    ),
    "unevaluatedProperties": (
        {"type": "object", "unevaluatedProperties": _record()},
        Refused(
            '"address" cannot be grounded at /unevaluatedProperties/properties/address: it sits '
            "under unevaluatedProperties, whose reach depends on every other keyword (use "
            "additionalProperties)"
        ),
    ),
    "narrowed in one place, refused in another": (
        {**_record(), "if": {"required": ["x"]}, "then": _record()},
        Refused('"address" cannot be grounded at /then/properties/address: it sits under then'),
    ),
}


@pytest.mark.parametrize("place", PLACES)
def test_every_place_is_narrowed_or_refused_by_the_registry(place, compiler):
    schema, expected = PLACES[place]
    if isinstance(expected, Refused):
        with pytest.raises(ValidationError) as caught:
            validate_grounded_fields(["address"], json_schema=schema)
        (message,) = caught.value.message_dict["grounded_fields"]
        assert message.startswith(expected.message)
        return
    assert validate_grounded_fields(["address"], json_schema=schema) == ["address"]
    inside, outside = expected.payload(IN), expected.payload(OUT)
    assert Draft202012Validator(schema).is_valid(outside)  # the schema alone lets it through
    grounded = Draft202012Validator(grounded_schema(schema, {"address"}, {"address": [IN]}))
    assert grounded.is_valid(inside) and not grounded.is_valid(outside)
    # ...and so does the grammar the chat decodes with.
    spec = WidgetSpec(name="w", title="", description="", json_schema=schema,
                      grounded_fields=("address",))  # fmt: skip
    constraint = widget_constraint([spec], {"address": [IN]})
    assert accepts(compiler, constraint, widget_block("w", inside))
    assert not accepts(compiler, constraint, widget_block("w", outside))


# Random small schemas: every keyword that holds subschemas, a few names, and $refs that
# resolve (into $defs, to the root, to a property) or do not. Only some names are grounded:
# the narrowing replaces a grounded field's whole schema, so what lies below it is not tested.
_NAMES = ("a", "b", "c", "m", "n")
_GROUNDED = ("a", "b", "c")
_LEAVES = st.sampled_from([{"type": "string"}, {"enum": ["x", "y"]}, True])
_REFS = st.sampled_from(["#/$defs/d", "#", "#/properties/a", "#/properties/a/items", "#nope"])


def _schemas(children):
    """A node: a few properties, and up to two other keywords."""
    keywords = {
        "additionalProperties": children | st.booleans(),
        "items": children | st.lists(children, min_size=1, max_size=2),
        "prefixItems": st.lists(children, min_size=1, max_size=2),
        "anyOf": st.lists(children, min_size=1, max_size=2),
        "oneOf": st.lists(children, min_size=1, max_size=2),
        "allOf": st.lists(children, min_size=1, max_size=2),
        "patternProperties": st.dictionaries(st.just("^p"), children, max_size=1),
        "dependentSchemas": st.dictionaries(st.sampled_from(_NAMES), children, max_size=1),
        "if": children,
        "then": children,
        "else": children,
        "not": children,
        "contains": children,
        "propertyNames": children,
        "unevaluatedProperties": children,
        "$ref": _REFS,
        "required": st.lists(st.sampled_from(_NAMES), max_size=2, unique=True),
        "minItems": st.integers(0, 2),
    }
    picks = st.lists(st.one_of([st.tuples(st.just(k), v) for k, v in keywords.items()]), max_size=2)
    properties = st.dictionaries(st.sampled_from(_NAMES), children, max_size=2)
    return st.builds(lambda props, more: {"properties": props, **dict(more)}, properties, picks)


_TREE = st.recursive(_LEAVES, _schemas, max_leaves=6)
_SCHEMA = st.builds(
    lambda root, definition: {**root, "$defs": {"d": definition}}, _schemas(_TREE), _TREE
)


def _where(node: Any, found: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """(key, pointer, value) of every `found(key, value)` pair at any depth, keyword or not."""
    if not isinstance(node, dict | list):
        return []
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        here = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if found(key, value):
            out.append((key, here, value))
        if isinstance(value, dict | list):
            out += _where(value, found, here)
    return out


def _names_reached_by_refs(schema: dict) -> set[str]:
    """Every property name in a subschema some $ref names (all of them, for one that names
    no subschema: it may reach anything)."""
    names = set()
    for _, _, ref in _where(schema, lambda key, value: key == "$ref"):
        target = schema if ref in ("#", "#nope") else None
        if ref.startswith("#/"):
            target = schema
            for part in ref.split("/")[1:]:
                target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict | bool):
            target = schema
        names |= {name for name, _ in _properties_anywhere(target)}
    return names


def _properties_anywhere(schema: Any) -> list[tuple[str, str]]:
    """(name, pointer) of every key of every `properties` map, whatever keyword it is under."""
    maps = _where(schema, lambda key, value: key == "properties" and isinstance(value, dict))
    return [(name, f"{pointer}/{name}") for _, pointer, props in maps for name in props]


def _under(pointer: str, places: set[str]) -> bool:
    return any(pointer.startswith(place + "/") for place in places)


def _assert_registry_and_narrowing_agree(schema: dict, fields: set[str]) -> None:
    # The narrowing, with a field that marks where it was called (and never makes anything
    # impossible, so the result keeps the schema's shape and pointers).
    marked = narrow_grounded(schema, fields, lambda name, _: {"x-grounded": name})
    found = _where(marked, lambda key, value: isinstance(value, dict) and "x-grounded" in value)
    touched = {(value["x-grounded"], pointer) for _, pointer, value in found}
    touched_at = {pointer for _, pointer in touched}

    # Place by place: what the registry accepts, less the places inside a grounded field
    # (the narrowing replaces a grounded field's whole schema with its values).
    places = property_places(schema)
    accepted = {(p.name, p.pointer) for p in places if p.refusal is None and p.name in fields}
    at = {pointer for _, pointer in accepted}
    assert {(name, pointer) for name, pointer in accepted if not _under(pointer, at)} == touched

    # Name by name, against a walk that knows no keyword: every `properties` key anywhere.
    anywhere = _properties_anywhere(schema)
    assert set(anywhere) <= {(p.name, p.pointer) for p in places}  # the walk misses none
    refused = {
        text.split('"')[1]
        for code, text in grounded_field_problems(sorted(fields), json_schema=schema)
        if code == "grounded_field_out_of_reach"
    }
    by_ref = _names_reached_by_refs(schema)
    for name in fields:
        where = {pointer for n, pointer in anywhere if n == name}
        if name not in refused:  # narrowed wherever it sits, and no $ref reaches it
            assert all(p in touched_at or _under(p, touched_at) for p in where), name
            assert name not in by_ref, name
        elif where:  # a place the narrowing does not reach, or a $ref that reaches it
            assert not where <= touched_at or name in by_ref, name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_SCHEMA, fields=st.sets(st.sampled_from(_GROUNDED), min_size=1))
def test_the_places_the_registry_accepts_are_the_places_the_narrowing_touches(schema, fields):
    _assert_registry_and_narrowing_agree(schema, fields)


def _inside(keyword: str, child: dict) -> dict:
    """`child` under `keyword`, in the shape the keyword takes."""
    if keyword == "$ref":
        return {"$ref": "#/$defs/d", "$defs": {"d": child}}
    if keyword in ("properties", "$defs", "dependentSchemas", "patternProperties"):
        return {keyword: {"m": child}}
    if keyword in ("prefixItems", "anyOf", "oneOf", "allOf", "items as a list"):
        return {keyword.removesuffix(" as a list"): [child]}
    return {keyword: child}


_KEYWORDS = ["properties", "items", "items as a list", "prefixItems", "additionalProperties",
             "anyOf", "oneOf", "allOf", "$defs", "$ref", "if", "then", "else",
             "patternProperties", "dependentSchemas", "contains", "not", "propertyNames",
             "unevaluatedProperties", "unevaluatedItems", "additionalItems"]  # fmt: skip


@pytest.mark.parametrize("outer", _KEYWORDS)
def test_registry_and_narrowing_agree_on_every_pair_of_keywords(outer):
    """The same agreement, for a grounded field two keywords down, every pair of them."""
    for inner in _KEYWORDS:
        schema = _inside(outer, _inside(inner, {"properties": {"a": {"type": "string"}}}))
        _assert_registry_and_narrowing_agree(schema, {"a"})
