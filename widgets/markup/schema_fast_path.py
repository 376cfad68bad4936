"""A compiled yes/no check for the common JSON Schema keywords: the fast path of validation.

jsonschema costs tens of microseconds per card, which dominates parsing; almost every
payload is valid, and then no error list is needed. `compile_check(schema)` turns a schema
that uses only the keywords below into nested closures answering "certainly valid?".

The one rule: True only when jsonschema finds no error (here: no error that the caller
keeps, see `open_path`). Any doubt (an unsupported keyword, an enum of containers, an
overflow in multipleOf) answers False, and the caller asks jsonschema, which is the
authority for every error list. tests/markup/test_validation.py checks this against
jsonschema on generated payloads.

`check(instance, open_path, depth)`: with open_path None the instance is complete. For a
partial payload, open_path is its last path (keys/indexes from the root to the last
container or scalar): containers on it may still grow and a scalar ending it may still be
written, so the check keeps only what validation.provisional_errors keeps there.
"""

from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from .patterns import MAX_PATTERN_SUBJECT, compile_pattern

Check = Callable[[Any, "tuple[Any, ...] | None", int], bool]

_SUPPORTED = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "allOf",
        "anyOf",
    }
)
# Keywords jsonschema acts on; any other key (title, description, $id...) it ignores.
_ACTED_ON = frozenset(Draft202012Validator.VALIDATORS)
_FORMATS = Draft202012Validator.FORMAT_CHECKER
_NO_KEY = object()
_SCALARS = (str, int, float, bool, type(None))


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """The fast check for `schema`, or None when it uses keywords this module leaves out."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _always(instance: Any, open_path: Any, depth: int) -> bool:
    return True


def _never(instance: Any, open_path: Any, depth: int) -> bool:
    return False


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": lambda x: type(x) is dict,
    "array": lambda x: type(x) is list,
    "string": lambda x: type(x) is str,
    "number": lambda x: type(x) is int or type(x) is float,
    "integer": lambda x: type(x) is int or (type(x) is float and x.is_integer()),
    "boolean": lambda x: type(x) is bool,
    "null": lambda x: x is None,
}


def _compile(schema: Any) -> Check:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if type(schema) is not dict or (schema.keys() & _ACTED_ON) - _SUPPORTED:
        raise _Unsupported

    type_test = _type_test(schema.get("type"))
    enum = _scalar_choices(schema)
    number_tests = _number_tests(schema)
    string_tests, max_length = _string_tests(schema)
    required = tuple(schema.get("required", ()))
    properties = {key: _compile(sub) for key, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra)
    items = _compile(schema["items"]) if "items" in schema else None
    min_items = schema.get("minItems")
    max_items = schema.get("maxItems")
    all_of = tuple(_compile(sub) for sub in schema.get("allOf", ()))
    any_of = tuple(_compile(sub) for sub in schema.get("anyOf", ()))

    def check(x: Any, open_path: tuple[Any, ...] | None, depth: int) -> bool:
        kind = type(x)
        if open_path is not None:
            if kind is int or kind is float:
                return True  # a number at the end of the path may still be growing
            if kind is bool or x is None:
                open_path = None  # literals arrive whole
        closed = open_path is None
        if type_test is not None and not type_test(x):
            return False
        if kind is dict:
            if closed:
                for key in required:
                    if key not in x:
                        return False
            next_key = open_path[depth] if not closed and depth < len(open_path) else _NO_KEY
            for key, value in x.items():
                sub = properties.get(key)
                if sub is None:
                    sub = extra_check
                    if sub is None:
                        continue
                if key == next_key:
                    if not sub(value, open_path, depth + 1):
                        return False
                elif not sub(value, None, 0):
                    return False
        elif kind is list:
            if max_items is not None and len(x) > max_items:
                return False
            if closed and min_items is not None and len(x) < min_items:
                return False
            if items is not None:
                last = len(x) - 1
                next_index = open_path[depth] if not closed and depth < len(open_path) else -1
                for index, value in enumerate(x):
                    if index == next_index and index == last:
                        if not items(value, open_path, depth + 1):
                            return False
                    elif not items(value, None, 0):
                        return False
        elif kind is str:
            if max_length is not None and len(x) > max_length:
                return False
            if closed:
                for test in string_tests:
                    if not test(x):
                        return False
        elif kind is int or kind is float:
            for test in number_tests:
                if not test(x):
                    return False
        if closed:
            if enum is not None and not enum(x):
                return False
            if any_of and not any(sub(x, None, 0) for sub in any_of):
                return False
        for sub in all_of:
            if not sub(x, open_path, depth):
                return False
        return True

    return check


def _type_test(declared: Any) -> Callable[[Any], bool] | None:
    if declared is None:
        return None
    names = [declared] if type(declared) is str else list(declared)
    tests = [_TYPE_TESTS[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(test(x) for test in tests)


def _scalar_choices(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """enum/const as a test; jsonschema's equality tells 1 from True, so types must match."""
    choices = list(schema.get("enum", ()))
    if "const" in schema:
        choices_const = [schema["const"]]
    else:
        choices_const = None

    def one_of(options: list[Any]) -> Callable[[Any], bool]:
        keyed = {(type(option), option) for option in options if type(option) in _SCALARS}
        # Containers (and 1 vs 1.0) compare in ways this does not mimic: answer "not sure".
        return lambda x: type(x) in _SCALARS and (type(x), x) in keyed

    tests = []
    if "enum" in schema:
        tests.append(one_of(choices))
    if choices_const is not None:
        tests.append(one_of(choices_const))
    if not tests:
        return None
    return lambda x: all(test(x) for test in tests)


def _number_tests(schema: dict[str, Any]) -> list[Callable[[Any], bool]]:
    tests: list[Callable[[Any], bool]] = []
    if "minimum" in schema:
        low = schema["minimum"]
        tests.append(lambda x: x >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        tests.append(lambda x: x <= high)
    if "exclusiveMinimum" in schema:
        above = schema["exclusiveMinimum"]
        tests.append(lambda x: x > above)
    if "exclusiveMaximum" in schema:
        below = schema["exclusiveMaximum"]
        tests.append(lambda x: x < below)
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        if type(step) is float:

            def multiple(x: Any) -> bool:
                quotient = x / step
                try:
                    return int(quotient) == quotient
                except (OverflowError, ValueError):  # inf or nan: let jsonschema decide
                    return False

            tests.append(multiple)
        else:
            tests.append(lambda x: not x % step)
    return tests


def _string_tests(schema: dict[str, Any]) -> tuple[list[Callable[[str], bool]], int | None]:
    tests: list[Callable[[str], bool]] = []
    if "minLength" in schema:
        shortest = schema["minLength"]
        tests.append(lambda x: len(x) >= shortest)
    if "pattern" in schema:
        # RE2, as the full validator: Python's re backtracks (^(a+)+$ froze the process).
        search = compile_pattern(schema["pattern"]).search
        tests.append(lambda x: len(x) <= MAX_PATTERN_SUBJECT and search(x) is not None)
    if "format" in schema:
        name = schema["format"]
        tests.append(lambda x: _FORMATS.conforms(x, name))
    return tests, schema.get("maxLength")
