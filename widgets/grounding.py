"""Grounded fields: the payload fields whose values must come from the turn's CRM records.

Constrained decoding narrows every property of a grounded name to the values the turn's
`context` holds under that name (serving/grounding.py supplies the values and the narrowed
field; `narrow_grounded` below rewrites the schema around it). Where in a schema a property can
sit and still be narrowed is decided here, once, for the registry check and the narrowing:

| where the property sits (at any depth, through these keywords) | grounding     |
| ---------------------------------------------------------------- | ------------- |
| `properties`                                                     | narrowed      |
| `items` (one schema), `prefixItems`                              | narrowed      |
| `additionalProperties` (a schema)                                | narrowed      |
| `anyOf` / `oneOf` / `allOf` branches                             | narrowed      |
| `$defs`, or reached through a `$ref`                             | refused       |
| every other keyword that holds subschemas (`_REFUSED` says why)  | refused       |

A grounded name must sit somewhere (a typo would ground nothing), and every place it sits must
be narrowed: one refused place would let the model write there a value no record holds. A
property with an `enum` may be grounded too: the schema lists the words a listing's status can
take, the record says which one this listing has. So may one whose own schema is a `$ref` (to
an enum, say): it is replaced by its values, which are checked against the schema it names.

An action widget's `action` is narrowed as well, though it is no grounded field: to the action
names the context's `actions` key lists (the ones this user may run; absent means all, and
nothing is narrowed), at the places widgets.actions reads an action from (`narrow_action`).

This module imports no Django (serving imports it, and evaluation runs without Django); only
validate_grounded_fields, which every path that stores grounded fields calls (services, admin,
API, registry files), wraps its problems in Django's ValidationError.
"""

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from widgets.actions import variant_keyword
from widgets.markup.validation import json_pointer

# The keywords the narrowing descends through, with the shape it reads each in. The walk and
# `narrow_grounded` both ask `_narrowed`, so a place is narrowed exactly where it is accepted.
_NARROWED = {
    "properties": Mapping,
    "additionalProperties": Mapping,  # `false` and `true` hold no property
    "items": Mapping,
    "prefixItems": list,
    "anyOf": list,
    "oneOf": list,
    "allOf": list,
}

# Every other keyword that holds subschemas, and why a property under it cannot be grounded;
# each completes "it sits under KEYWORD, ...".
_DEFINITION = "which a payload reaches only through $ref, and grounding does not follow $ref"
_REFUSED = {
    "$defs": _DEFINITION,
    "definitions": _DEFINITION,
    "patternProperties": "whose keys are patterns, not field names, and the grammar cannot "
    "write them",
    "dependentSchemas": "which applies only when another key is present, and the grammar "
    "ignores it",
    "if": "a condition: narrowing it would change which branch applies",
    "then": "which the grammar ignores",
    "else": "which the grammar ignores",
    "not": "where narrowing would let more payloads through, not fewer",
    "contains": "which asks for some item, not every item (ground it under items)",
    "propertyNames": "which checks key names, not values",
    "unevaluatedProperties": "whose reach depends on every other keyword (use "
    "additionalProperties)",
    "unevaluatedItems": "whose reach depends on every other keyword (use items)",
    "additionalItems": "which draft 2020-12 ignores (use items)",
}
_ITEMS_LIST = "as a list, the form before draft 2020-12 (use prefixItems)"
_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
_REFS = ("$ref", "$dynamicRef", "$recursiveRef")


def _narrowed(keyword: str, value: Any) -> bool:
    shape = _NARROWED.get(keyword)
    return shape is not None and isinstance(value, shape)


@dataclass(frozen=True, kw_only=True)
class Place:
    """One property of a schema: its name, where it sits, and why it cannot be grounded."""

    name: str
    pointer: str  # JSON pointer of the property's subschema
    refusal: str | None  # None where the narrowing reaches it


def property_places(json_schema: Any) -> list[Place]:
    """Every property of `json_schema`, at any depth, in document order.

    A property reached through a `$ref` is listed again, refused, at the pointer of its
    definition; a `$ref` that is not a JSON pointer into this schema (an anchor, another
    document, `$dynamicRef`) might reach any property, so it refuses them all.
    """
    places: list[Place] = []
    expanded: set[tuple] = set()  # $ref targets walked already (a $ref may recurse)

    def walk(node: Any, path: tuple, refusal: str | None, resource: tuple) -> None:
        if not isinstance(node, Mapping):
            return
        if "$id" in node:
            resource = path  # `#/...` in a $ref resolves against the nearest $id
        for keyword, value in node.items():
            if keyword in _REFS:
                site = json_pointer(path) or "(root)"
                target = _ref_target(json_schema, value, resource) if keyword == "$ref" else None
                if target is None:
                    reason = f"the {keyword} at {site} ({value!r}) may reach it, and grounding "
                    target, reason = (), reason + "cannot resolve that reference"
                else:
                    reason = f"it is reached through the $ref at {site}, and grounding does not "
                    reason += "follow $ref"
                if target not in expanded:
                    expanded.add(target)
                    walk(_at(json_schema, target), target, reason, _resource(json_schema, target))
                continue
            if _narrowed(keyword, value):
                here = refusal
            elif keyword == "items" and isinstance(value, list):
                here = refusal or f"it sits under items {_ITEMS_LIST}"
            elif keyword in _REFUSED:
                here = refusal or f"it sits under {keyword}, {_REFUSED[keyword]}"
            else:
                continue  # holds no subschema (enum, default, examples...) or one no property is in
            for key, sub in _subschemas(keyword, value):
                sub_path = (*path, keyword) if key is None else (*path, keyword, key)
                if keyword == "properties":
                    places.append(Place(name=key, pointer=json_pointer(sub_path), refusal=here))
                walk(sub, sub_path, here, resource)

    walk(json_schema, (), None, ())
    return places


def _subschemas(keyword: str, value: Any) -> Iterator[tuple[Any, Any]]:
    if keyword in _MAPS and isinstance(value, Mapping):
        yield from value.items()
    elif isinstance(value, list):  # anyOf & co., prefixItems, items in the old list form
        yield from enumerate(value)
    else:
        yield None, value


def _ref_target(document: Any, ref: Any, resource: tuple) -> tuple | None:
    """The path of the subschema a `$ref` names; None unless it is `#` or `#/pointer` to one."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None  # a plain-name anchor
    path = list(resource)
    for part in fragment.split("/")[1:] if fragment else ():
        part = part.replace("~1", "/").replace("~0", "~")
        node = _at(document, tuple(path))
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            path.append(int(part))
        elif isinstance(node, Mapping) and part in node:
            path.append(part)
        else:
            return None
    return tuple(path) if isinstance(_at(document, tuple(path)), Mapping | bool) else None


def _resource(document: Any, path: tuple) -> tuple:
    """The path of the nearest subschema with an `$id` at or above `path` (the root if none)."""
    found = ()
    for depth in range(1, len(path) + 1):
        node = _at(document, path[:depth])
        if isinstance(node, Mapping) and "$id" in node:
            found = path[:depth]
    return found


def _at(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


def narrow_grounded(
    schema: Any, fields: Collection[str], narrow_field: Callable[[str, Any], Any | None]
) -> Any | None:
    """`schema` with each property named in `fields` replaced by `narrow_field(name, subschema)`
    wherever the narrowing reaches it; None when no payload can be written under it.

    `narrow_field` returns None for a property that can hold no value. Such a property is
    dropped if optional; if required, its object is impossible: an `anyOf`/`oneOf` branch
    that needs it is dropped, an array can hold no item at its place or after, and so up to
    the payload. The result keeps to what the grammar compiler reads: never a `false`
    subschema, never `maxItems` below the number of `prefixItems`; and, as its strict mode
    does, an object without `additionalProperties` takes no keys it does not name.
    """

    def narrow(node: Any) -> Any | None:
        if not isinstance(node, Mapping):
            return node
        out = dict(node)
        # Before properties: whether a dropped property could come back as another key.
        closed = False  # whether the narrowing took away keys an object could hold
        if _narrowed("additionalProperties", out.get("additionalProperties")):
            extra = narrow(out["additionalProperties"])
            out["additionalProperties"] = False if extra is None else extra
            closed = extra is None
            if closed and any(not _named(out, key) for key in out.get("required") or ()):
                return None
        if _narrowed("properties", out.get("properties")):
            required = set(out.get("required") or ())
            properties = {}
            for name, sub in out["properties"].items():
                narrowed = narrow_field(name, sub) if name in fields else narrow(sub)
                if narrowed is not None:
                    properties[name] = narrowed
                elif name in required or _takes_other_keys(out) or _by_pattern(out, name):
                    return None
            closed = closed or len(properties) < len(out["properties"])
            out["properties"] = properties
        if closed and _too_few_keys(out):
            return None
        most = None  # the most items an array can now hold
        if _narrowed("prefixItems", out.get("prefixItems")):
            prefix = []
            for sub in out["prefixItems"]:
                narrowed = narrow(sub)
                if narrowed is None:
                    most = len(prefix)  # no item can sit here, so none after it either
                    break
                prefix.append(narrowed)
            out["prefixItems"] = prefix
            if not prefix:
                del out["prefixItems"]  # an empty prefixItems is not a valid schema
        if _narrowed("items", out.get("items")):
            items = narrow(out["items"])
            if items is None:
                most = len(out.get("prefixItems", ())) if most is None else most
                items = {}
            out["items"] = items
        if most is not None:
            if out.get("minItems", 0) > most:
                return None
            out["maxItems"] = min(out.get("maxItems", most), most)
        for keyword in ("anyOf", "oneOf"):
            if _narrowed(keyword, out.get(keyword)):
                branches = [b for b in map(narrow, out[keyword]) if b is not None]
                if not branches:
                    return None
                out[keyword] = branches
        if _narrowed("allOf", out.get("allOf")):
            parts = [narrow(part) for part in out["allOf"]]
            if any(part is None for part in parts):
                return None
            out["allOf"] = parts
        return out

    return narrow(schema)


def _takes_other_keys(schema: Mapping) -> bool:
    """Whether an object takes keys that no property or pattern names (absent: no)."""
    extra = schema.get("additionalProperties")
    if extra is not None:
        return extra is not False
    return schema.get("unevaluatedProperties", False) is not False


def _by_pattern(schema: Mapping, key: str) -> bool:
    return any(_matches(pattern, key) for pattern in schema.get("patternProperties") or ())


def _named(schema: Mapping, key: str) -> bool:
    return key in (schema.get("properties") or {}) or _by_pattern(schema, key)


def _too_few_keys(schema: Mapping) -> bool:
    """Whether `minProperties` asks for more keys than a closed object names (the grammar
    compiler refuses such a schema)."""
    if _takes_other_keys(schema) or schema.get("patternProperties"):
        return False
    return schema.get("minProperties", 0) > len(schema.get("properties") or {})


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except (re.error, TypeError):
        return True  # a pattern Python cannot read might match: assume it does


# ---------------------------------------------------------------- the action's name


def narrow_action(schema: Any, narrow_field: Callable[[str, Any], Any | None]) -> Any | None:
    """An action widget's `schema` with its `action` replaced by `narrow_field("action",
    subschema)` at every place widgets.actions reads the action from: the top level's
    `properties`, and those of each branch of its variants keyword (`anyOf`/`oneOf`).

    A branch whose action is left with no value is dropped (the action widget check makes
    `action` required everywhere); None when no payload can be written: the top level's
    action has no value, or no branch is left. Only these places: a property that happens
    to be called `action` inside `params` is a parameter, not the action.
    """
    if not isinstance(schema, Mapping):
        return schema

    def at(node: Any) -> Any | None:
        if not isinstance(node, Mapping) or not isinstance(node.get("properties"), Mapping):
            return node
        if "action" not in node["properties"]:
            return node
        narrowed = narrow_field("action", node["properties"]["action"])
        if narrowed is None:
            return None
        return {**node, "properties": {**node["properties"], "action": narrowed}}

    out = at(schema)
    if out is None:
        return None
    keyword = variant_keyword(out)
    if keyword is not None:
        branches = [b for b in map(at, out[keyword]) if b is not None]
        if not branches:
            return None
        out = {**out, keyword: branches}
    return out


# ---------------------------------------------------------------- the registry check


def grounded_field_problems(grounded_fields: Any, *, json_schema: Any) -> list[tuple[str, str]]:
    """(code, message) for every bad entry of `grounded_fields`; empty when they are good."""
    if not isinstance(grounded_fields, list | tuple):
        return [
            (
                "grounded_fields_not_a_list",
                "give a list of property names, like "
                f'["address", "price"], not {type(grounded_fields).__name__}',
            )
        ]
    places: dict[str, list[Place]] = {}
    for place in property_places(json_schema):
        places.setdefault(place.name, []).append(place)
    problems, seen = [], set()
    for index, name in enumerate(grounded_fields):
        if not isinstance(name, str) or not name:
            problems.append(
                (
                    "grounded_field_not_a_name",
                    f"entry {index + 1} ({name!r}) is not a property name (a non-empty string)",
                )
            )
        elif name in seen:
            problems.append(("grounded_field_repeated", f'"{name}" is listed twice'))
        elif name not in places:
            known = ", ".join(sorted(places)) or "none"
            problems.append(
                (
                    "grounded_field_unknown",
                    f'"{name}" is not a property anywhere in the schema (its properties: {known})',
                )
            )
        else:
            refused = next((p for p in places[name] if p.refusal is not None), None)
            if refused is not None:
                problems.append(
                    (
                        "grounded_field_out_of_reach",
                        f'"{name}" cannot be grounded at {refused.pointer}: {refused.refusal}',
                    )
                )
        if isinstance(name, str):
            seen.add(name)
    return problems


def validate_grounded_fields(grounded_fields: Any, *, json_schema: Any) -> list[str]:
    """The grounded field names as a list, or ValidationError naming every bad entry.

    The error is keyed by "grounded_fields", as a model's full_clean() would key it, so forms
    and the API show it on that field.
    """
    # Imported here: the rest of this module is Django-free (serving and evaluation use it).
    from django.core.exceptions import ValidationError

    problems = grounded_field_problems(grounded_fields, json_schema=json_schema)
    if problems:
        raise ValidationError(
            {"grounded_fields": [ValidationError(text, code=code) for code, text in problems]}
        )
    return list(grounded_fields)
