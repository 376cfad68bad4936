"""A whole message at once: the stored form of a finished message, and its fast path.

parse_markup gives exactly what the streaming parser gives for the same text. It only
takes a shortcut (json.loads on the text between the tag and the first '</widget>') when
the body is a plain JSON object that both readers agree on; any other block (a string
holding '</widget>', NaN, surrogate escapes, deep nesting, broken JSON, a missing close
tag) goes through the same OpenBlock the streaming parser uses.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .block import OpenBlock
from .events import FieldError, Outcome, WidgetClosed
from .repeats import Repeats
from .tags import CLOSE_TAG, OPEN_TAG
from .validation import PayloadValidator


@dataclass(frozen=True, slots=True)
class Segment:
    """Prose (its text) or a widget block (its raw text, from '<widget' on, and verdict)."""

    kind: Literal["prose", "widget"]
    text: str
    type: str | None = None
    outcome: Outcome | None = None
    payload: Any = None
    errors: tuple[FieldError, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "prose":
            if self.type is not None or self.outcome is not None:
                raise ValueError("a prose segment has no type or outcome")
        elif self.kind == "widget":
            if self.type is None or not isinstance(self.outcome, Outcome):
                raise ValueError("a widget segment has a type and an Outcome")
        else:
            raise ValueError(f"kind is 'prose' or 'widget', not {self.kind!r}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
# json.loads accepts escapes of lone surrogates; the scanner does not. Pairs match too:
# they are rare, and the slow path decodes them the same way.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _plain_object(body: str) -> dict[str, Any] | None:
    if _SURROGATE_ESCAPE.search(body) is not None:
        return None
    try:
        value = _decode(body)
    except (ValueError, RecursionError):
        return None
    return value if type(value) is dict else None


def parse_markup(text: str, registry: Mapping[str, PayloadValidator]) -> list[Segment]:
    """Split a whole message into prose and widget segments; adjacent prose is merged."""
    segments: list[Segment] = []
    pos = 0
    index = 0
    repeats = Repeats()  # a block equal to an earlier one is refused, as the parser refuses it
    while (match := OPEN_TAG.search(text, pos)) is not None:
        if match.start() > pos:
            segments.append(Segment("prose", text[pos : match.start()]))
        name = match.group(1)
        validator = registry.get(name)
        body_start = match.end()
        close = text.find(CLOSE_TAG, body_start)
        payload = _plain_object(text[body_start:close]) if close >= 0 else None
        if payload is not None:
            pos = close + len(CLOSE_TAG)
            if validator is None:
                outcome = Outcome.UNKNOWN_TYPE
                errors: tuple[FieldError, ...] = (
                    FieldError(pointer="", message=f"unknown widget type {name!r}"),
                )
            else:
                errors = tuple(validator.errors(payload))
                outcome = Outcome.INVALID if errors else Outcome.VALID
                outcome, errors = repeats.judge(
                    index=index, type=name, outcome=outcome, payload=payload, errors=errors
                )
            segments.append(
                Segment("widget", text[match.start() : pos], name, outcome, payload, errors)
            )
        else:
            block = OpenBlock(index=index, type=name, validator=validator, tag=match.group(0))
            stop, closed = block.consume(text, body_start)
            if closed is None:
                closed, again = block.close_at_end(text[stop:])
                stop = len(text) - len(again)
            pos = stop
            segments.append(segment_for(repeats.closed(closed)))
        index += 1
    if pos < len(text):
        segments.append(Segment("prose", text[pos:]))
    return segments


def widget_segments(text: str, registry: Mapping[str, PayloadValidator]) -> list[Segment]:
    """The widget blocks of a whole message, in order: parse_markup without its prose."""
    return [s for s in parse_markup(text, registry) if s.kind == "widget"]


def segment_for(closed: WidgetClosed) -> Segment:
    return Segment("widget", closed.raw, closed.type, closed.outcome, closed.payload, closed.errors)
