"""Schema patterns (`pattern`, `patternProperties`) matched by RE2, in time linear in the text.

jsonschema matches patterns with Python's re, which backtracks: "^(a+)+$" against thirty a's
and a "!" takes minutes, and payloads are model output that any user can steer. RE2 runs every
pattern it accepts in linear time; it has no backreferences or lookaround, and a version whose
schema uses them is refused when it is saved (`pattern_problems`). A text longer than
MAX_PATTERN_SUBJECT is refused before it is matched, which bounds the time of one match too.

`PATTERN_KEYWORDS` replaces the jsonschema keywords that match patterns: pattern (also under
propertyNames), patternProperties, and additionalProperties (which skips the keys that
patternProperties match). unevaluatedProperties matches them deep inside jsonschema, so in a
schema that also has patternProperties it fails closed (`UNEVALUATED_WITH_PATTERNS`).
"""

import functools
import json
import re
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError

MAX_PATTERN_SUBJECT = 10_000  # characters; a longer string or key is refused, not matched
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the refusal message says it; RE2 would also print to stderr
# ECMA-262 (the dialect of JSON Schema) writes a code point \u00e9; RE2 writes \x{00e9}.
_ECMA_CODE_POINT = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9A-Fa-f]{4})")
# Keywords whose value maps names to subschemas, and keywords whose value is data.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
_DATA = frozenset({"const", "enum", "default", "examples"})
_ORIGINAL = Draft202012Validator.VALIDATORS
UNEVALUATED_WITH_PATTERNS = (
    "unevaluatedProperties cannot be checked in a schema with patternProperties (jsonschema "
    "would match those with a backtracking engine); use additionalProperties instead"
)


class PatternError(ValueError):
    """A pattern RE2 cannot run."""


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> "re2._Regexp":
    try:
        return re2.compile(_ECMA_CODE_POINT.sub(r"\1\\x{\2}", pattern), _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "invalid"
        raise PatternError(
            f"{json.dumps(pattern)} is not a pattern RE2 can run ({reason}); patterns are "
            "matched in linear time, without backreferences or lookaround"
        ) from None


def _too_long(text: str) -> str:
    return (
        f"{json.dumps(text[:20])}... is longer than {MAX_PATTERN_SUBJECT:,} characters, the "
        "most a pattern is matched against"
    )


def _matches(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).search(text) is not None


def pattern(validator, patrn, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    if len(instance) > MAX_PATTERN_SUBJECT:
        yield ValidationError(_too_long(instance))
    elif not _matches(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for key, value in instance.items():
        if len(key) > MAX_PATTERN_SUBJECT:
            yield ValidationError(f"the key {_too_long(key)}")
            continue
        for patrn, subschema in patterns.items():
            if _matches(patrn, key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def additional_properties(validator, extra, instance, schema):
    patterns = schema.get("patternProperties")
    if not patterns or not validator.is_type(instance, "object"):
        yield from _ORIGINAL["additionalProperties"](validator, extra, instance, schema)
        return
    properties = schema.get("properties", {})
    extras = [
        key
        for key in instance
        # A key too long to match is reported by patternProperties; don't report it twice.
        if key not in properties
        and len(key) <= MAX_PATTERN_SUBJECT
        and not any(_matches(p, key) for p in patterns)
    ]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        verb = "does" if len(extras) == 1 else "do"
        joined = ", ".join(repr(key) for key in sorted(extras))
        names = ", ".join(repr(p) for p in sorted(patterns))
        yield ValidationError(f"{joined} {verb} not match any of the regexes: {names}")


def unevaluated_properties_refused(validator, unevaluated, instance, schema):
    if validator.is_type(instance, "object"):
        yield ValidationError(UNEVALUATED_WITH_PATTERNS)


PATTERN_KEYWORDS = {
    "pattern": pattern,
    "patternProperties": pattern_properties,
    "additionalProperties": additional_properties,
}


def _walk(schema: Any, path: tuple = ()):
    """(path, keyword, value) for every keyword of `schema` and its subschemas."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _walk(item, (*path, index))
        return
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        yield path, keyword, value
        if keyword in _DATA:
            continue
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            for name, subschema in value.items():
                yield from _walk(subschema, (*path, keyword, name))
        else:
            yield from _walk(value, (*path, keyword))


def uses_keyword(schema: Any, keyword: str) -> bool:
    return any(found == keyword for _, found, _ in _walk(schema))


def pattern_problems(schema: Any) -> list[tuple[tuple, str]]:
    """(path, message) for each pattern RE2 cannot run, and for unevaluatedProperties beside
    patternProperties; empty when every pattern of the schema runs in linear time."""
    problems = []
    for path, keyword, value in _walk(schema):
        candidates = []
        if keyword == "pattern" and isinstance(value, str):
            candidates = [((*path, keyword), value)]
        elif keyword == "patternProperties" and isinstance(value, dict):
            candidates = [((*path, keyword, name), name) for name in value]
        for where, patrn in candidates:
            try:
                compile_pattern(patrn)
            except PatternError as exc:
                problems.append((where, str(exc)))
    if uses_keyword(schema, "patternProperties"):
        problems += [
            ((*path, keyword), UNEVALUATED_WITH_PATTERNS)
            for path, keyword, _ in _walk(schema)
            if keyword == "unevaluatedProperties"
        ]
    return problems
