"""Weft's widget markup (docs: shared/spec/markup.md): parse model output into events.

This package contains no Django and no I/O at all, only the standard library and
jsonschema: the caller feeds text and gets events back.

    parser = MarkupParser({"listing_card": validator_for(schema)})
    for delta in model_stream:
        for event in parser.feed(delta):
            ...
    for event in parser.close():
        ...

Besides markup.md's rules, a block equal to an earlier valid block of the same message (same
type, equal payload) ends `invalid` with "repeats block N" (repeats.py): a record is never
shown twice.
"""

from .events import (
    Event,
    FieldError,
    Outcome,
    ProseDelta,
    WidgetClosed,
    WidgetOpened,
    WidgetProgress,
)
from .parser import MarkupParser, parse_stream
from .repeats import repeated_block
from .segments import Segment, parse_markup, widget_segments
from .validation import PayloadValidator, validator_for

__all__ = [
    "Event",
    "FieldError",
    "MarkupParser",
    "Outcome",
    "PayloadValidator",
    "ProseDelta",
    "Segment",
    "WidgetClosed",
    "WidgetOpened",
    "WidgetProgress",
    "parse_markup",
    "parse_stream",
    "repeated_block",
    "validator_for",
    "widget_segments",
]
