"""Grounding: a widget's record fields may only hold values the turn's records hold.

A widget type names its `grounded_fields` in the registry: payload fields whose values come
from the CRM records of the turn (its `context`), where they sit under the same name (the
demo README: "record fields use the same names as the widget fields"). Constrained decoding
narrows each such field to the values the context holds under that name (an `enum`; numbers
as one-point ranges), so the model can show a record but cannot make one up. The schema
validator is not narrowed: a grounded payload is always a valid one, and a free-decoding
reply is still judged by the schema alone (and by evaluation's `hallucinated_values`).

Where the context holds no value for a grounded field:
- an optional property is dropped (the model writes the payload without it);
- a required property makes its object impossible: an `anyOf`/`oneOf` branch that needs it
  is dropped, an array whose `minItems` needs such items is impossible, and so up to the
  payload itself, whose widget then cannot be opened at all. A listing card, when the turn
  retrieved no listing, is not in the grammar.

Values are filtered through the field's own schema first, so a record the schema refuses
(a phone in another format) cannot be written either. Properties reached only through `$ref`
are not narrowed.
"""

import json
from collections.abc import Collection, Mapping
from typing import Any

from jsonschema import Draft202012Validator


def context_values(context: Any) -> dict[str, list[Any]]:
    """Field name -> the distinct leaf values the context holds under that name, at any depth.

    A list's items count under the list's own name; a mapping's keys are names (open_slots'
    mls_id keys name their slot lists, whose items then give `start` and `minutes`).
    """
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any, name: str | None) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                walk(child, str(key))
        elif isinstance(node, list):
            for child in node:
                walk(child, name)
        elif name is not None and node is not None:
            # Keyed by JSON text: 3, 3.0 and True are three different values to a payload.
            found.setdefault(name, {}).setdefault(json.dumps(node, sort_keys=True), node)

    walk(context, None)
    return {name: list(values.values()) for name, values in found.items()}


def grounded_schema(
    schema: Any, fields: Collection[str], values: Mapping[str, list[Any]]
) -> dict | None:
    """`schema` with every property named in `fields` narrowed to `values` of its name.

    None when no payload can be written under it (a required grounded field has no value).
    """
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), Mapping):
        required = set(out.get("required") or ())
        properties = {}
        for name, sub in out["properties"].items():
            narrowed = (
                _one_of_values(sub, values.get(name, ()))
                if name in fields
                else grounded_schema(sub, fields, values)
            )
            if narrowed is not None:
                properties[name] = narrowed
            elif name in required:
                return None
        out["properties"] = properties
    if isinstance(out.get("items"), Mapping):
        items = grounded_schema(out["items"], fields, values)
        if items is None:
            if out.get("minItems", 0) > 0:
                return None
            items, out["maxItems"] = {}, 0
        out["items"] = items
    for keyword in ("anyOf", "oneOf"):
        if isinstance(out.get(keyword), list):
            branches = [grounded_schema(b, fields, values) for b in out[keyword]]
            branches = [b for b in branches if b is not None]
            if not branches:
                return None
            out[keyword] = branches
    if isinstance(out.get("allOf"), list):
        parts = [grounded_schema(p, fields, values) for p in out["allOf"]]
        if any(p is None for p in parts):
            return None
        out["allOf"] = parts
    return out


def _one_of_values(schema: Any, candidates: Collection[Any]) -> dict | None:
    check = Draft202012Validator(
        schema if isinstance(schema, Mapping | bool) else {},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    allowed = [value for value in candidates if check.is_valid(value)]
    numbers = [v for v in allowed if isinstance(v, int | float) and not isinstance(v, bool)]
    others = [v for v in allowed if not any(v is n for n in numbers)]
    # A number as a one-point range, not an enum: xgrammar writes an enum's 6.0 as `6` only,
    # while the records, the training data and the model write `6.0`.
    branches = [
        {"type": "integer" if isinstance(v, int) else "number", "minimum": v, "maximum": v}
        for v in numbers
    ]
    if others:
        branches.append({"enum": others})
    if not branches:
        return None
    return branches[0] if len(branches) == 1 else {"anyOf": branches}
