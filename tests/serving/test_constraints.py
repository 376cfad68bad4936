"""The structural tag, and what xgrammar 0.2.8 does and does not enforce of our schemas.

Grammar checks run a matcher over text (accept_string), so most tests need no real
tokenizer: a one-token vocabulary compiles the same grammar.
"""

import json

import pytest
import xgrammar as xgr
from jsonschema import Draft202012Validator

from serving.constraints import (
    CLOSE_TAG,
    GRAMMAR_GAPS,
    TRIGGER,
    grammar_schema,
    open_tag,
    structural_tag,
    widget_constraint,
)
from serving.prompts import WidgetSpec, widget_block

LISTING = {"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
           "beds": 3, "baths": 2, "sqft": 1640, "status": "active"}  # fmt: skip


@pytest.fixture(scope="module")
def compiler():
    return xgr.GrammarCompiler(xgr.TokenizerInfo(["a"], stop_token_ids=[0]))


def grammar_accepts(compiled, text: str) -> bool:
    matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)
    return matcher.accept_string(text)


@pytest.fixture(scope="module")
def demo_grammar(compiler, demo_specs):
    return compiler.compile_structural_tag(widget_constraint(demo_specs).structural_tag)


# ---------------------------------------------------------------- the tag itself


def test_one_tag_per_widget_with_its_begin_end_and_schema(demo_specs):
    tag = structural_tag(demo_specs)
    assert tag["type"] == "structural_tag"
    assert tag["format"]["type"] == "triggered_tags"
    assert tag["format"]["triggers"] == [TRIGGER] == ["<widget"]
    tags = tag["format"]["tags"]
    assert [t["begin"] for t in tags] == [f'<widget type="{s.name}">' for s in demo_specs]
    assert {t["end"] for t in tags} == {CLOSE_TAG} == {"</widget>"}
    for spec, t in zip(demo_specs, tags, strict=True):
        assert t["content"]["type"] == "json_schema"
        assert t["content"]["json_schema"] == grammar_schema(spec.json_schema)
    # contact_card's "phone or email" anyOf and action_request's open `params` object are
    # the only demo schemas that need rewriting for the grammar.
    rewritten = [s.name for s in demo_specs if grammar_schema(s.json_schema) != s.json_schema]
    assert rewritten == ["action_request", "contact_card"]
    xgr.StructuralTag.from_json(tag)  # xgrammar's own model of the format accepts it


def test_the_constraint_text_is_stable_and_keeps_declared_property_order(demo_specs):
    text = widget_constraint(demo_specs).structural_tag
    assert widget_constraint(list(reversed(demo_specs))).structural_tag == text
    listing = next(t for t in json.loads(text)["format"]["tags"] if "listing_card" in t["begin"])
    properties = listing["content"]["json_schema"]["properties"]
    assert list(properties) == [*LISTING, "photo_url"]  # the schema's order, not sorted


# ---------------------------------------------------------------- what the grammar lets through


def test_every_demo_example_passes_as_a_block_between_prose(demo_grammar, demo_specs):
    for spec in demo_specs:
        text = f"Sure.\n{widget_block(spec.name, spec.example)}\nAnything else?"
        assert grammar_accepts(demo_grammar, text), spec.name


@pytest.mark.parametrize(
    "text",
    [
        '<widget type="floor_plan">{}</widget>',  # no such widget
        '<widget type="listing_card" >{}</widget>',  # not the exact tag
        widget_block("listing_card", {**LISTING, "status": "gone"}),  # enum
        widget_block("listing_card", {k: v for k, v in LISTING.items() if k != "city"}),
        widget_block("listing_card", {**LISTING, "garage": True}),  # additionalProperties
        widget_block("listing_card", dict(reversed(LISTING.items()))),  # declared order only
        '<widget type="listing_card">[1]</widget>',  # not an object
        widget_block("listing_card", LISTING).replace("</widget>", "</widgets>"),
    ],
)
def test_the_grammar_refuses(demo_grammar, text):
    assert not grammar_accepts(demo_grammar, "Hi " + text)


def test_plain_prose_passes(demo_grammar):
    assert grammar_accepts(demo_grammar, "Prices < 500k: none. <b>bold</b> 3 < 4 > 2")


def test_phone_or_email_is_enforced_only_after_the_rewrite(compiler, demo_specs):
    contact = next(s for s in demo_specs if s.name == "contact_card")

    def compiled(schema):
        tag = structural_tag([WidgetSpec(name="c", title="", description="", json_schema=schema)])
        return compiler.compile_structural_tag(tag)

    neither = widget_block("c", {"name": "Ana", "role": "agent"})
    bad_email = widget_block("c", {"name": "Ana", "role": "agent", "email": "nope"})
    raw = compiler.compile_structural_tag(
        {"type": "structural_tag", "format": {"type": "triggered_tags", "triggers": [TRIGGER],
         "tags": [{"type": "tag", "begin": open_tag("c"), "end": CLOSE_TAG,
                   "content": {"type": "json_schema", "json_schema": contact.json_schema}}]}}
    )  # fmt: skip
    # xgrammar alone reads the required-only anyOf branches as "anything": if this starts
    # failing, xgrammar fixed it and grammar_schema's rewrite can go.
    assert grammar_accepts(raw, neither) and grammar_accepts(raw, bad_email)
    lowered = compiled(contact.json_schema)
    assert not grammar_accepts(lowered, neither)
    assert not grammar_accepts(lowered, bad_email)
    assert grammar_accepts(lowered, widget_block("c", {"name": "Ana", "role": "agent",
                                                       "phone": "+1 555 0100 22"}))  # fmt: skip
    assert grammar_accepts(lowered, widget_block("c", contact.example))


def test_the_rewrite_keeps_order_and_copies_object_rules_into_each_branch():
    schema = {
        "$id": "urn:x", "type": "object", "additionalProperties": False, "required": ["a"],
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "string"}},
        "oneOf": [{"required": ["b"]}, {"required": ["c", "a"]}],
    }  # fmt: skip
    lowered = grammar_schema(schema)
    assert list(lowered) == ["anyOf"]
    first, second = lowered["anyOf"]
    assert first["required"] == ["a", "b"] and second["required"] == ["a", "c"]
    assert "$id" not in first and first["additionalProperties"] is False
    assert list(first["properties"]) == ["a", "b", "c"]
    assert grammar_schema({"type": "array", "minItems": 1}) == {
        "type": "array",
        "minItems": 1,
        "items": {},
    }
    assert grammar_schema({"anyOf": [{"type": "integer"}, {"type": "string"}]}) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }  # real alternatives are left alone


# ---------------------------------------------------------------- the documented gaps, measured


def one_field(**field) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["x"],
            "properties": {"x": field}}  # fmt: skip


# keyword -> (schema, a payload the schema forbids)
GAP_CASES = {
    "multipleOf": (one_field(type="number", multipleOf=0.5), {"x": 2.3}),
    "minLength/maxLength with pattern": (
        one_field(type="string", pattern="^a+$", maxLength=3), {"x": "aaaaa"}),
    "format date/date-time": (one_field(type="string", format="date"), {"x": "2026-02-30"}),
    "uniqueItems": (one_field(type="array", items={"type": "integer"}, uniqueItems=True),
                    {"x": [1, 1]}),
    "not": (one_field(type="integer", **{"not": {"const": 3}}), {"x": 3}),
    "if/then/else": ({"type": "object", "properties": {"a": {"type": "integer"},
                      "b": {"type": "integer"}}, "if": {"required": ["a"]},
                      "then": {"required": ["b"]}}, {"a": 1}),
    "dependentRequired": ({"type": "object", "properties": {"a": {"type": "integer"},
                           "b": {"type": "integer"}}, "dependentRequired": {"a": ["b"]}},
                          {"a": 1}),
    "allOf with only required": ({"type": "object", "properties": {"a": {"type": "integer"}},
                                  "allOf": [{"required": ["a"]}]}, {}),
    "oneOf": (one_field(oneOf=[{"type": "integer"}, {"type": "number"}]), {"x": 3}),
}  # fmt: skip

# keyword -> (schema, a payload the schema forbids): the grammar refuses these.
ENFORCED_CASES = {
    "pattern": (one_field(type="string", pattern="^[A-Z]{2}$"), {"x": "tx"}),
    "minLength": (one_field(type="string", minLength=3), {"x": "ab"}),
    "maxLength": (one_field(type="string", maxLength=3), {"x": "abcd"}),
    "minimum": (one_field(type="integer", minimum=0), {"x": -1}),
    "maximum": (one_field(type="integer", maximum=20), {"x": 21}),
    "exclusiveMinimum": (one_field(type="number", exclusiveMinimum=0), {"x": 0}),
    "exclusiveMaximum": (one_field(type="number", exclusiveMaximum=5), {"x": 5}),
    "multipleOf on integers": (one_field(type="integer", multipleOf=5), {"x": 7}),
    "enum": (one_field(enum=[15, 30]), {"x": 20}),
    "const": (one_field(const="a"), {"x": "b"}),
    "type": (one_field(type="integer"), {"x": "1"}),
    "required": (one_field(type="integer"), {}),
    "additionalProperties": (one_field(type="integer"), {"x": 1, "y": 2}),
    "minItems": (one_field(type="array", items={"type": "integer"}, minItems=1), {"x": []}),
    "maxItems": (one_field(type="array", items={"type": "integer"}, maxItems=1), {"x": [1, 2]}),
    # Without `items` / `properties` these would not even compile, but for grammar_schema.
    "minItems, no items": (one_field(type="array", minItems=1), {"x": []}),
    "minProperties, no properties": (one_field(type="object", minProperties=1), {"x": {}}),
    "format email": (one_field(type="string", format="email"), {"x": "nope"}),
    "format uri": (one_field(type="string", format="uri"), {"x": "not a uri"}),
    "format date-time": (one_field(type="string", format="date-time"), {"x": "2026-03-14 10:00"}),
    "anyOf of types": (one_field(anyOf=[{"type": "integer"}, {"type": "string"}]), {"x": None}),
}  # fmt: skip


def schema_allows(schema: dict, payload) -> bool:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return validator.is_valid(payload)


def single_widget_grammar(compiler, schema):
    spec = WidgetSpec(name="w", title="", description="", json_schema=schema)
    return compiler.compile_structural_tag(structural_tag([spec]))


def test_the_documented_gaps_are_exactly_the_measured_ones():
    assert set(GAP_CASES) == set(GRAMMAR_GAPS)


@pytest.mark.parametrize("keyword", sorted(GAP_CASES))
def test_a_documented_gap_is_still_a_gap(compiler, keyword):
    schema, payload = GAP_CASES[keyword]
    assert not schema_allows(schema, payload)  # the validator catches it afterwards...
    grammar = single_widget_grammar(compiler, schema)
    # ...and the grammar lets it through. If this fails, xgrammar learnt the keyword: remove
    # it from GRAMMAR_GAPS and the constraints docstring, and move the case to ENFORCED_CASES.
    assert grammar_accepts(grammar, widget_block("w", payload))


@pytest.mark.parametrize("keyword", sorted(ENFORCED_CASES))
def test_an_enforced_keyword_is_refused_by_the_grammar(compiler, keyword):
    schema, payload = ENFORCED_CASES[keyword]
    assert not schema_allows(schema, payload)
    assert not grammar_accepts(single_widget_grammar(compiler, schema), widget_block("w", payload))


def test_open_containers_still_take_anything(compiler):
    schema = one_field(type="object", minProperties=1)
    schema["properties"]["y"] = {"type": "array", "minItems": 1}
    payload = {"x": {"a": [1, {"b": None}]}, "y": ["s", 2]}
    assert schema_allows(schema, payload)
    assert grammar_accepts(single_widget_grammar(compiler, schema), widget_block("w", payload))


# ---------------------------------------------------------------- with the real tokenizer


@pytest.mark.slow
def test_the_demo_constraint_compiles_with_the_smollm2_tokenizer(base_model_folder, demo_specs):
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model_folder)
    vocab_size = AutoConfig.from_pretrained(base_model_folder).vocab_size
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    assert info.stop_token_ids == [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    compiled = xgr.GrammarCompiler(info).compile_structural_tag(
        widget_constraint(demo_specs).structural_tag
    )
    # Token by token, as generation feeds it: an example block, then the end-of-turn token.
    matcher = xgr.GrammarMatcher(compiled)
    listing = next(s for s in demo_specs if s.name == "listing_card")
    text = "Here:\n" + widget_block("listing_card", listing.example)
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        assert matcher.accept_token(token), tokenizer.decode([token])
    assert matcher.accept_token(info.stop_token_ids[0])
    assert matcher.is_terminated()
