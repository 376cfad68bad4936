"""Schema checks for widget payloads: the whole payload at the end, and a partial one on the way.

A PayloadValidator wraps one JSON Schema (draft 2020-12) compiled once, with format checks
on ("date", "date-time", "email", "uri" are enforced by the format libraries this project
installs: rfc3339-validator for date-time, rfc3986-validator for uri).

Provisional errors are those a partial payload already commits to, whatever text follows.
The partial comes from the parser: every container on its last path (last key or item at
each level, from the root down) may still be open, and a string at the end of that path
may still grow. So:
- errors at an open container keep only keywords that more content cannot undo (its type,
  keys that additionalProperties forbids, too many items or properties); never required,
  minItems, enum, anyOf and the like;
- errors at a string ending that path keep only its type and maxLength; a number there
  keeps none (it may still grow, and 1.5e1 is an integer); true/false/null keep all;
- everything else (finished values, finished sub-objects) keeps all its errors.
Duplicate keys in the payload (last wins) can make a provisional error disappear later.
"""

import functools
import json
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from .events import FieldError

# Keywords whose verdict on a container more items or properties cannot reverse.
_SETTLED_FOR_OPEN_CONTAINERS = frozenset(
    {"type", "additionalProperties", "propertyNames", "maxItems", "maxProperties", "items"}
)
_SETTLED_FOR_GROWING_STRINGS = frozenset({"type", "maxLength"})
_TOO_DEEP = "the payload is nested too deeply to validate"


def json_pointer(path: Iterable[Any]) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class PayloadValidator:
    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def __repr__(self) -> str:
        return f"PayloadValidator({self.schema.get('$id', self.schema.get('title', '?'))!r})"

    def errors(self, payload: Any) -> list[FieldError]:
        """Every schema error of a complete payload, sorted by pointer then message."""
        try:
            found = [_field_error(error) for error in self._validator.iter_errors(payload)]
        except RecursionError:
            found = [FieldError(pointer="", message=_TOO_DEEP)]
        return sorted(found)

    def provisional_errors(self, partial: Any) -> list[FieldError]:
        """The errors a partial payload already commits to (see the module rules)."""
        last_path = _last_path(partial)
        try:
            found = [
                _field_error(error)
                for error in self._validator.iter_errors(partial)
                if _settled(error, last_path)
            ]
        except RecursionError:
            return []
        return sorted(found)


def _field_error(error: ValidationError) -> FieldError:
    return FieldError(pointer=json_pointer(error.absolute_path), message=error.message)


def _last_path(partial: Any) -> tuple[set[tuple[Any, ...]], tuple[Any, ...] | None, Any]:
    """The containers on the last path, and the path and value of the scalar ending it."""
    containers: set[tuple[Any, ...]] = set()
    path: list[Any] = []
    node = partial
    while type(node) is dict or type(node) is list:
        containers.add(tuple(path))
        if not node:
            return containers, None, None
        key = next(reversed(node)) if type(node) is dict else len(node) - 1
        path.append(key)
        node = node[key]
    return containers, tuple(path), node


def _settled(error: ValidationError, last_path: tuple[Any, ...]) -> bool:
    containers, scalar_path, scalar = last_path
    where = tuple(error.absolute_path)
    if where in containers:
        return error.validator in _SETTLED_FOR_OPEN_CONTAINERS
    if where == scalar_path:
        if type(scalar) is str:
            return error.validator in _SETTLED_FOR_GROWING_STRINGS
        # A number may still be growing (1.5 -> 1.5e1, an integer); literals are whole.
        return type(scalar) not in (int, float)
    return True


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> PayloadValidator:
    return PayloadValidator(json.loads(canonical))


def validator_for(schema: dict[str, Any]) -> PayloadValidator:
    """The validator for `schema`, compiled once per process per distinct schema."""
    return _compiled(json.dumps(schema, sort_keys=True, separators=(",", ":")))
