"""Grounding: a widget's record fields may only hold values the turn's records hold.

A widget type names its `grounded_fields` in the registry: payload fields whose values come
from the CRM records of the turn (its `context`), where they sit under the same name (the
demo README: "record fields use the same names as the widget fields"). Constrained decoding
narrows each such field to the values the context holds under that name (an `enum`; numbers
as one-point ranges), so the model can show a record but cannot make one up. The schema
validator is not narrowed: a grounded payload is always a valid one, and a free-decoding
reply is still judged by the schema alone (and by evaluation's `hallucinated_values`).

Where the context holds no value for a grounded field:
- an optional property is dropped (the model writes the payload without it), unless its
  object takes other keys (`additionalProperties`), which would let it back in: then it
  counts as required;
- a required property makes its object impossible: an `anyOf`/`oneOf` branch that needs it
  is dropped, an array whose `minItems` needs such items is impossible, and so up to the
  payload itself, whose widget then cannot be opened at all. A listing card, when the turn
  retrieved no listing, is not in the grammar.

An action widget's `action` is narrowed by another key of the context: `actions`, the names
of the actions this user may run (shared/demo/README.md; a domain returns it only when the
user may run some but not all). Absent, the action is not narrowed; present, it takes only
the names listed that its schema admits (a variant per action, as action_request v2 has one:
the variants of unlisted actions are dropped), and an action widget left with none is out of
the grammar. A value that is not a list of names lists none: a domain that answers
nonsense gets no action offered, rather than all of them.

Values are filtered through the field's own schema first (its `$ref`s resolved against the
whole schema), so a record the schema refuses (a phone in another format) cannot be written
either. Which places of a schema are narrowed, and how an impossible one propagates, is
widgets.grounding's (`narrow_grounded`): the registry refuses a grounded field at any other
place, so every field it accepts is narrowed here.
"""

import json
from collections.abc import Collection, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from widgets.grounding import narrow_action, narrow_grounded

ACTIONS_KEY = "actions"  # the context key listing the actions this user may run


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
    # Built on the whole schema, so a field's `$ref` resolves (evolve keeps the resolver).
    whole = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def narrow_field(name: str, field_schema: Any) -> dict | None:
        own = field_schema if isinstance(field_schema, Mapping | bool) else {}
        return _one_of_values(whole.evolve(schema=own), values.get(name, ()))

    return narrow_grounded(schema, fields, narrow_field)


def allowed_actions(context: Any) -> list[str] | None:
    """The action names the context allows; None when it does not say (every action)."""
    if not isinstance(context, Mapping) or ACTIONS_KEY not in context:
        return None
    listed = context[ACTIONS_KEY]
    if not isinstance(listed, list):
        return []
    return list(dict.fromkeys(a for a in listed if isinstance(a, str)))


def actions_schema(schema: Any, allowed: Collection[str]) -> dict | None:
    """An action widget's `schema` with its `action` narrowed to the `allowed` names.

    None when it admits none of them (the widget cannot be written)."""
    if not isinstance(schema, Mapping):
        return schema
    whole = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def narrow_field(name: str, field_schema: Any) -> dict | None:
        own = field_schema if isinstance(field_schema, Mapping | bool) else {}
        return _one_of_values(whole.evolve(schema=own), allowed)

    return narrow_action(schema, narrow_field)


def _one_of_values(check: Draft202012Validator, candidates: Collection[Any]) -> dict | None:
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
