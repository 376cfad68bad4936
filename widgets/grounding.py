"""Grounded fields: the payload fields whose values must come from the turn's CRM records.

Constrained decoding (serving/grounding.py) narrows every property of a grounded name, at any
depth of the active schema, to the values the turn's `context` holds under that name. So a
grounded name must be a property somewhere in the schema (a typo would ground nothing,
silently). A property with an `enum` may be grounded too: the schema lists the words a
listing's status can take, the record says which one this listing has.

Every path that stores grounded fields (services, admin, API, registry files) checks them here.
"""

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError

from widgets.markup.validation import json_pointer

# Keywords whose value is a map of subschemas; only `properties` names payload fields.
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
_SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")
# `not` and `propertyNames` are left out: a property under them is never written by a payload.
_SCHEMA_ONE = (
    "items",
    "additionalItems",
    "contains",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "if",
    "then",
    "else",
)


def schema_properties(json_schema: Any) -> Iterator[tuple[str, str, Any]]:
    """(name, JSON pointer, subschema) of every property of `json_schema`, at any depth."""

    def walk(node: Any, path: tuple) -> Iterator[tuple[str, str, Any]]:
        if not isinstance(node, dict):
            return
        for keyword in _SCHEMA_MAPS:
            if isinstance(node.get(keyword), dict):
                for key, sub in node[keyword].items():
                    if keyword == "properties":
                        yield key, json_pointer((*path, keyword, key)), sub
                    yield from walk(sub, (*path, keyword, key))
        for keyword in _SCHEMA_LISTS:
            if isinstance(node.get(keyword), list):
                for index, sub in enumerate(node[keyword]):
                    yield from walk(sub, (*path, keyword, index))
        for keyword in _SCHEMA_ONE:
            sub = node.get(keyword)
            if isinstance(sub, list):  # `items` as a list: drafts before 2020-12
                for index, part in enumerate(sub):
                    yield from walk(part, (*path, keyword, index))
            else:
                yield from walk(sub, (*path, keyword))

    yield from walk(json_schema, ())


def validate_grounded_fields(grounded_fields: Any, *, json_schema: Any) -> list[str]:
    """The grounded field names as a list, or ValidationError naming every bad entry.

    The error is keyed by "grounded_fields", as a model's full_clean() would key it, so forms
    and the API show it on that field.
    """

    def refuse(errors: list[ValidationError]):
        raise ValidationError({"grounded_fields": errors})

    if not isinstance(grounded_fields, list | tuple):
        refuse(
            [
                ValidationError(
                    "give a list of property names, like "
                    f'["address", "price"], not {type(grounded_fields).__name__}',
                    code="grounded_fields_not_a_list",
                )
            ]
        )
    properties: dict[str, list[tuple[str, Any]]] = {}
    for name, pointer, sub in schema_properties(json_schema):
        properties.setdefault(name, []).append((pointer, sub))
    errors, seen = [], set()
    for index, name in enumerate(grounded_fields):
        if not isinstance(name, str) or not name:
            errors.append(
                ValidationError(
                    f"entry {index + 1} ({name!r}) is not a property name (a non-empty string)",
                    code="grounded_field_not_a_name",
                )
            )
        elif name in seen:
            errors.append(
                ValidationError(f'"{name}" is listed twice', code="grounded_field_repeated")
            )
        elif name not in properties:
            known = ", ".join(sorted(properties)) or "none"
            errors.append(
                ValidationError(
                    f'"{name}" is not a property anywhere in the schema (its properties: {known})',
                    code="grounded_field_unknown",
                )
            )
        if isinstance(name, str):
            seen.add(name)
    if errors:
        refuse(errors)
    return list(grounded_fields)
