"""A payload's leaf values, and which of them a reply invented.

The one definition of an invented value (shared/spec/datasets.md, `hallucinated_values`):
a leaf of a widget payload that appears neither among the values the reply may use (the
row's context, the schemas' own vocabulary and, when scoring, the reference answer) nor in
the user's words. The evaluation scores model replies with it; the demo dataset checks its
own reference replies with it, so a generated row never teaches the model to invent.

No Django here.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from widgets.markup import PayloadValidator


def leaves(value: Any, pointer: str = "") -> list[tuple[str, Any]]:
    """(JSON pointer, leaf value) of every string, number and boolean in `value`.

    Nulls are left out: a null states no fact, so it can be neither matched nor invented.
    """
    if isinstance(value, dict):
        return [
            leaf
            for key, child in value.items()
            for leaf in leaves(child, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
        ]
    if isinstance(value, list):
        return [leaf for i, child in enumerate(value) for leaf in leaves(child, f"{pointer}/{i}")]
    if value is None:
        return []
    return [(pointer, value)]


def property_name(pointer: str) -> str | None:
    """The property that holds the leaf at `pointer`: a list's items count under the list's
    name. None for a leaf outside any object. (A property named by digits alone reads as a
    list index here; no widget schema has one.)"""
    for part in reversed(pointer.split("/")[1:]):
        if not part.isdigit():
            return part.replace("~1", "/").replace("~0", "~")
    return None


def same_value(a: Any, b: Any) -> bool:
    """datasets.md: strings compared exactly after trimming, numbers exactly."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return False


def schema_constants(validators: Mapping[str, PayloadValidator]) -> list[Any]:
    """Every enum/const value of the registry's schemas: vocabulary of the format, not facts."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(node.get("enum") or [])
            if "const" in node:
                found.append(node["const"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for validator in validators.values():
        walk(validator.schema)
    return found


@dataclass(frozen=True)
class KnownValues:
    """What a reply to one row may state without inventing it."""

    values: tuple[Any, ...]
    user_text: str  # the user's messages, lower-cased

    @classmethod
    def of_row(
        cls,
        row: dict,
        validators: Mapping[str, PayloadValidator],
        *,
        also: Iterable[Any] = (),
    ) -> "KnownValues":
        """The row's context, the schemas' enum and const values (an action name like
        "create_task" is the format's vocabulary, not an invented fact), the leaves of each
        payload in `also` (the reference's, when scoring a model's reply), and the words of
        the user's messages before the reply."""
        values = [v for _, v in leaves(row.get("context") or {})]
        values += [v for payload in also for _, v in leaves(payload)]
        values += schema_constants(validators)
        said = " ".join(m["content"] for m in row["messages"][:-1] if m["role"] == "user")
        return cls(values=tuple(values), user_text=said.lower())

    def knows(self, value: Any) -> bool:
        if any(same_value(value, known) for known in self.values):
            return True
        if isinstance(value, str):
            return bool(value.strip()) and value.strip().lower() in self.user_text
        if isinstance(value, bool):
            return False  # "true" in the user's words does not ground a flag
        return isinstance(value, int | float) and f"{value}" in self.user_text

    def invented(
        self, payload: Any, *, free_text: Collection[str] = frozenset()
    ) -> list[tuple[str, Any]]:
        """(pointer, value) of each leaf of `payload` this row does not ground.

        `free_text`: properties whose strings are the writer's own words (an action's
        summary, an email body), not facts to check; the demo generator passes its own.
        """
        return [
            (pointer, value)
            for pointer, value in leaves(payload)
            if not (isinstance(value, str) and property_name(pointer) in free_text)
            and not self.knows(value)
        ]
