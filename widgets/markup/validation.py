"""Schema checks for widget payloads: the whole payload at the end, and a partial one on the way.

A PayloadValidator wraps one JSON Schema (draft 2020-12) compiled once, with format checks
on ("date", "date-time", "email", "uri" are enforced by the format libraries this project
installs: rfc3339-validator for date-time, rfc3986-validator for uri), and patterns matched
by RE2 in linear time (patterns.py).

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
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from .events import FieldError
from .patterns import PATTERN_KEYWORDS, unevaluated_properties_refused, uses_keyword
from .schema_fast_path import compile_check

# Keywords whose verdict on a container more items or properties cannot reverse.
_SETTLED_FOR_OPEN_CONTAINERS = frozenset(
    {"type", "additionalProperties", "propertyNames", "maxItems", "maxProperties", "items"}
)
_SETTLED_FOR_GROWING_STRINGS = frozenset({"type", "maxLength"})
_TOO_DEEP = "the payload is nested too deeply to validate"
_LinearTimeValidator = validators.extend(Draft202012Validator, PATTERN_KEYWORDS)
_NoUnevaluatedValidator = validators.extend(
    _LinearTimeValidator, {"unevaluatedProperties": unevaluated_properties_refused}
)


def json_pointer(path: Iterable[Any]) -> str:
    """RFC 6901 pointer for a sequence of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class PayloadValidator:
    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        with_patterns = uses_keyword(schema, "patternProperties")
        # jsonschema's unevaluatedProperties matches patternProperties with Python's re.
        cls = _NoUnevaluatedValidator if with_patterns else _LinearTimeValidator
        self._validator = cls(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self._certainly_valid = compile_check(schema)

    def __repr__(self) -> str:
        return f"PayloadValidator({self.schema.get('$id', self.schema.get('title', '?'))!r})"

    def errors(self, payload: Any) -> list[FieldError]:
        """Every schema error of a complete payload, sorted by pointer then message."""
        if self._fast(payload, None):
            return []
        return sorted(self._jsonschema_errors(payload, lambda error: True))

    def provisional_errors(self, partial: Any) -> list[FieldError]:
        """The errors a partial payload already commits to (see the module rules)."""
        path, scalar = _last_path(partial)
        if self._fast(partial, path):
            return []
        # Containers on the path are its prefixes; all of it too, unless a scalar ends it.
        deepest_container = len(path) - (scalar is not _NONE)
        scalar_path = path if scalar is not _NONE else None

        def settled(error: ValidationError) -> bool:
            where = tuple(error.absolute_path)
            if len(where) <= deepest_container and path[: len(where)] == where:
                return error.validator in _SETTLED_FOR_OPEN_CONTAINERS
            if where == scalar_path:
                if type(scalar) is str:
                    return error.validator in _SETTLED_FOR_GROWING_STRINGS
                # A number may still be growing (1.5 -> 1.5e1, an integer); literals are whole.
                return type(scalar) not in (int, float)
            return True

        return sorted(self._jsonschema_errors(partial, settled))

    def _fast(self, payload: Any, open_path: tuple[Any, ...] | None) -> bool:
        if self._certainly_valid is None:
            return False
        try:
            return self._certainly_valid(payload, open_path, 0)
        except Exception:  # any doubt goes to jsonschema
            return False

    def _jsonschema_errors(
        self, payload: Any, keep: Callable[[ValidationError], bool]
    ) -> list[FieldError]:
        # Model output is untrusted and jsonschema is not hardened against it: nesting
        # beyond the recursion limit, or multipleOf on 1e400, raise instead of failing.
        try:
            return [
                FieldError(pointer=json_pointer(error.absolute_path), message=error.message)
                for error in self._validator.iter_errors(payload)
                if keep(error)
            ]
        except RecursionError:
            return [FieldError(pointer="", message=_TOO_DEEP)]
        except Exception as error:  # never raise on model output
            return [FieldError(pointer="", message=f"could not validate: {error!r}")]


_NONE = object()


def _last_path(partial: Any) -> tuple[tuple[Any, ...], Any]:
    """Keys from the root to the last container or scalar; and that scalar, or _NONE."""
    path: list[Any] = []
    node = partial
    while type(node) is dict or type(node) is list:
        if not node:
            return tuple(path), _NONE
        key = next(reversed(node)) if type(node) is dict else len(node) - 1
        path.append(key)
        node = node[key]
    return tuple(path), node


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> PayloadValidator:
    return PayloadValidator(json.loads(canonical))


def validator_for(schema: dict[str, Any]) -> PayloadValidator:
    """The validator for `schema`, compiled once per process per distinct schema."""
    return _compiled(json.dumps(schema, sort_keys=True, separators=(",", ":")))
