"""Constrained decoding: a structural tag built from the active widget schemas.

Free text, until the model writes the trigger `<widget`; from there it must write one of
`<widget type="NAME">`, then a JSON object that follows NAME's schema, then `</widget>`, and
free text again. The tag is xgrammar's current JSON form, which vLLM also takes as
`response_format`, so both backends apply the same grammar.

Given the turn's `context`, each widget's grounded fields are narrowed to the values its
records hold, an action widget's `action` to the actions the context allows (its `actions`
key, when present), and a widget that could only be made up, or run by no one, is left out
(serving.grounding).

Before a schema goes into the tag, `grammar_schema` rewrites two constructs xgrammar 0.2.8
mishandles, into equivalent schemas it reads correctly:
- `anyOf`/`oneOf` branches that only list `required` keys (contact_card's "phone or email").
  xgrammar reads such a branch as "any JSON value", which drops every other rule of the
  object (types, enums, extra keys); we copy the object's own keywords into each branch.
- an array without `items`, or an object without `properties` or `additionalProperties`:
  with `minItems` / `minProperties` xgrammar refuses to compile it ("additional items are not
  allowed"); we spell out the `{}` (anything) that the schema means.

What the grammar still does not enforce (measured on xgrammar 0.2.8 by
tests/serving/test_constraints.py, which fails if this list goes stale). The markup
validator checks all of them after generation, so such a payload ends `invalid`, never
silently accepted:

- `multipleOf` on a non-integer number (baths: 2.3 passes); on integers it is enforced.
- `minLength` / `maxLength` on a string that also has a `pattern` (photo_url's maxLength).
- `format: date` / `date-time`: the shape is enforced, the calendar is not (2026-02-30 passes).
- `uniqueItems`, `not`, `if`/`then`/`else`, `dependentRequired`, and `allOf` branches that
  only add `required`.
- `oneOf`: treated as `anyOf` (a payload matching two branches passes).

Where the grammar is stricter than the schema (a valid payload the model cannot write):
properties come in the schema's declared order; an integer is never written as `2.0`; no
whitespace between the open tag and `{`, and at most one whitespace character in a row inside
the body (no pretty-printing); an object with `properties` and no `additionalProperties`
takes no other keys (xgrammar's strict mode); and prose can hold the text `<widget` only as the
start of a real tag. The prompt builder lists fields in declared order and its examples
follow it, so the model is not asked for anything the grammar forbids.

A schema the grammar compiler still rejects makes the whole constraint fail to compile; the
backend then raises InvalidRequest (test new schemas with tests/serving/test_constraints.py).
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from serving.backend import Constraint
from serving.grounding import actions_schema, allowed_actions, context_values, grounded_schema
from serving.prompts import WidgetSpec

TRIGGER = "<widget"
CLOSE_TAG = "</widget>"
MAX_WHITESPACE = 1  # consecutive whitespace characters allowed between JSON tokens

# keyword -> how the grammar treats it (the docstring explains; tests check each one).
GRAMMAR_GAPS = {
    "multipleOf": "ignored on non-integer numbers",
    "minLength/maxLength with pattern": "ignored when the string also has a pattern",
    "format date/date-time": "shape only, not calendar validity",
    "uniqueItems": "ignored",
    "not": "ignored",
    "if/then/else": "ignored",
    "dependentRequired": "ignored",
    "allOf with only required": "ignored",
    "oneOf": "treated as anyOf",
}

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "if", "then", "else")


def open_tag(name: str) -> str:
    return f'<widget type="{name}">'


def structural_tag(
    widgets: Sequence[WidgetSpec], context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The structural tag for these widgets: one tag per widget, in name order.

    With the turn's `context`, each widget's grounded fields take only the values its records
    hold, an action widget's `action` only the actions the context's `actions` allows, and a
    widget none of whose payloads could be written is left out (serving.grounding).
    Where no widget is left, prose may not hold `<widget` at all.
    """
    values = None if context is None else context_values(context)
    allowed = allowed_actions(context)
    tags = []
    for widget in sorted(widgets, key=lambda w: w.name):
        schema = grammar_schema(widget.json_schema)
        if values is not None and widget.grounded_fields:
            schema = grounded_schema(schema, widget.grounded_fields, values)
        if schema is not None and allowed is not None and widget.is_action:
            schema = actions_schema(schema, allowed)
        if schema is None:
            continue
        tags.append(
            {
                "type": "tag",
                "begin": open_tag(widget.name),
                "content": {
                    "type": "json_schema",
                    "json_schema": schema,
                    # Payloads are one line, as in the prompt and training data; without a
                    # limit a small model pretty-prints, or loops on whitespace, until it
                    # runs out of tokens inside the block.
                    "max_whitespace_cnt": MAX_WHITESPACE,
                },
                "end": CLOSE_TAG,
            }
        )
    if not tags:
        return {"type": "structural_tag", "format": {"type": "any_text", "excludes": [TRIGGER]}}
    return {
        "type": "structural_tag",
        "format": {"type": "triggered_tags", "triggers": [TRIGGER], "tags": tags},
    }


def widget_constraint(
    widgets: Sequence[WidgetSpec], context: Mapping[str, Any] | None = None
) -> Constraint:
    """The constraint for a reply; pass the turn's `context` to ground record fields in it."""
    # Not sort_keys: the grammar keeps properties in declared order, so key order is meaning.
    # The same registry and records still give the same text, so a compiled grammar is reused.
    text = json.dumps(structural_tag(widgets, context), ensure_ascii=False)
    return Constraint(structural_tag=text)


def grammar_schema(schema: Any) -> Any:
    """A copy of `schema` the grammar compiler reads as the validator does, where it can."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), Mapping):
            out[key] = {name: grammar_schema(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [grammar_schema(sub) for sub in out[key]]
    for key in _SCHEMA_VALUES:
        if isinstance(out.get(key), Mapping):
            out[key] = grammar_schema(out[key])
    # xgrammar reads a missing `items` / `additionalProperties` as "none allowed" once a
    # minItems / minProperties asks for some (and then fails to compile); `{}` means the same
    # as absent to a validator and "anything" to xgrammar.
    if out.get("type") == "array" and "items" not in out and "prefixItems" not in out:
        out["items"] = {}
    if out.get("type") == "object" and not {
        "properties",
        "patternProperties",
        "additionalProperties",
    } & set(out):
        out["additionalProperties"] = {}
    for keyword in ("anyOf", "oneOf"):
        branches = out.get(keyword)
        if _presence_only(branches):
            # An $id may not repeat inside one schema, so the branches do not copy it.
            base = {k: v for k, v in out.items() if k not in (keyword, "$id", "$schema")}
            # oneOf becomes anyOf: exclusivity is left to the validator (see GRAMMAR_GAPS).
            return {
                "anyOf": [
                    grammar_schema(
                        {**base, "required": _merged(base.get("required", []), b["required"])}
                    )
                    for b in branches
                ]
            }
    return out


def _presence_only(branches: Any) -> bool:
    return (
        isinstance(branches, list)
        and bool(branches)
        and all(isinstance(b, Mapping) and set(b) == {"required"} for b in branches)
    )


def _merged(required: list[str], more: list[str]) -> list[str]:
    return [*required, *(key for key in more if key not in required)]
