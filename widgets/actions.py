"""Action widgets: cards that propose something for the user to confirm.

An action widget's payload names the `action` to run and its `params`; on Confirm the chat
hands both to the domain's run_action. So every form its schema allows must require both:
`action` a string (usually an enum or const of the domain's actions) and `params` an object.

A schema gives its forms in one of two ways, and `action_variants` reads both:

| schema                                    | its forms (variants)                               |
| ----------------------------------------- | -------------------------------------------------- |
| `properties` / `required` at the top      | one: the schema itself                             |
| a top-level `anyOf` (or `oneOf`) list     | one per branch, with the top level's keywords too  |

The second is how an action gets its own typed params: one branch per action, its `action` a
`const` and its `params` that action's arguments (the demo's action_request v2).

This module imports no Django at module level (serving and evaluation read the variants);
only validate_action_mark, which every path that stores the mark calls, raises Django's
ValidationError.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Registry files written before the mark existed name their action widget this; it stays an
# action unless its file says otherwise ("action": false).
LEGACY_ACTION_WIDGET = "action_request"
# The keywords whose branches are an action schema's variants, in the order they are looked for.
VARIANT_KEYWORDS = ("anyOf", "oneOf")


def default_is_action(name: str) -> bool:
    return name == LEGACY_ACTION_WIDGET


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One form of an action payload: where it sits, and its properties and required keys
    (a branch's merged over the top level's, as a validator applies both)."""

    where: str  # "" for the schema itself, else e.g. "anyOf/2"
    properties: Mapping[str, Any]
    required: frozenset[str]


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


def variant_keyword(json_schema: Any) -> str | None:
    """The top-level keyword whose branches are the variants; None for a one-form schema."""
    for keyword in VARIANT_KEYWORDS:
        branches = _mapping(json_schema).get(keyword)
        if isinstance(branches, list) and branches:
            return keyword
    return None


def action_variants(json_schema: Any) -> list[Variant]:
    """The forms an action payload of `json_schema` can take (see the module's table)."""
    top = _mapping(json_schema)
    properties = _mapping(top.get("properties"))
    required = _names(top.get("required"))
    keyword = variant_keyword(top)
    if keyword is None:
        return [Variant(where="", properties=properties, required=required)]
    return [
        Variant(
            where=f"{keyword}/{index}",
            properties={**properties, **_mapping(_mapping(branch).get("properties"))},
            required=required | _names(_mapping(branch).get("required")),
        )
        for index, branch in enumerate(top[keyword])
    ]


def action_schema_problems(json_schema) -> list[str]:
    """Why a payload of `json_schema` could not be run as an action ([] when it can)."""
    if not isinstance(json_schema, dict):
        return ["the schema is not an object"]
    problems = []
    for variant in action_variants(json_schema):
        where = f" (in every {variant.where.split('/')[0]} branch; {variant.where} lacks it)"
        for name, kind in (("action", "string"), ("params", "object")):
            sub = variant.properties.get(name)
            if name not in variant.required or not isinstance(sub, Mapping):
                problems.append(
                    f"an action widget's schema must require a top-level `{name}`"
                    + (where if variant.where else "")
                )
            elif not _only(sub, kind):
                problems.append(
                    f"`{name}` must be of type {kind} (or an enum of such values)"
                    + (f" in {variant.where}" if variant.where else "")
                )
    return problems


_PYTHON_TYPES = {"string": str, "object": dict}


def _only(subschema: Mapping, kind: str) -> bool:
    """Whether every value `subschema` admits is of JSON type `kind`."""
    if "type" in subschema:
        return subschema["type"] == kind
    values = _listed(subschema)
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, _PYTHON_TYPES[kind]) for v in values)
    )


def _listed(subschema: Mapping) -> list | None:
    """The values an `enum` or `const` lists; None when it lists none."""
    return subschema.get("enum", [subschema["const"]] if "const" in subschema else None)


def action_params_schema(json_schema: Any, action: str) -> Any | None:
    """The schema of `action`'s params: those of the first variant whose `action` admits
    the name; None when no variant does. An `action` schema that lists no names (a plain
    string) admits every name."""
    for variant in action_variants(json_schema):
        names = _listed(_mapping(variant.properties.get("action")))
        if names is None or action in names:
            return variant.properties.get("params")
    return None


def validate_action_mark(is_action: bool, *, json_schema) -> None:
    """Raise ValidationError (field is_action) when an action widget's schema cannot run."""
    if is_action and (problems := action_schema_problems(json_schema)):
        from django.core.exceptions import ValidationError  # the rest needs no Django

        raise ValidationError(
            {"is_action": [ValidationError(p, code="not_an_action_schema") for p in problems]}
        )
