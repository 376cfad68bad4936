"""A record is never shown twice: a block equal to an earlier valid block of its message is
refused, by the streaming parser and by parse_markup alike (widgets/markup/repeats.py)."""

import json

import pytest

from tests.markup.replay import chunkings, reassembled, replay, segments_from
from widgets.markup import (
    FieldError,
    Outcome,
    WidgetClosed,
    parse_markup,
    repeated_block,
    validator_for,
    widget_segments,
)

ANYTHING = validator_for({"type": "object"})
REGISTRY = {"note": ANYTHING, "memo": ANYTHING}


def block(payload, widget_type="note") -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f'<widget type="{widget_type}">{body}</widget>'


def verdicts(text: str, registry=REGISTRY) -> list[tuple[str, tuple[str, ...]]]:
    """(outcome, error messages) per block, the same for every chunking and for parse_markup."""
    found = set()
    for chunks in chunkings(text).values():
        events = replay(chunks, registry)
        assert reassembled(events) == text  # the repeated block's text is kept
        assert segments_from(events) == parse_markup(text, registry)
        found.add(
            tuple(
                (str(e.outcome), tuple(x.message for x in e.errors))
                for e in events
                if isinstance(e, WidgetClosed)
            )
        )
    (only,) = found
    return list(only)


REPEAT_OF_1 = ("invalid", ("repeats block 1: a card is shown once per reply",))
REPEAT_OF_2 = ("invalid", ("repeats block 2: a card is shown once per reply",))
VALID = ("valid", ())
ANY_ERRORS = object()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (block({"a": 1}) + " and " + block({"a": 1}), [VALID, REPEAT_OF_1]),
        (block({"a": 1, "b": [2]}) + block({"b": [2.0], "a": 1.0}), [VALID, REPEAT_OF_1]),
        (block({"a": 1}) + block({"a": True}), [VALID, VALID]),  # true is not 1 in JSON
        (block({"a": 1}) + block({"a": 1, "b": None}), [VALID, VALID]),
        (block({"a": 1}) + block({"a": 1}, "memo"), [VALID, VALID]),  # another widget
        (block({"a": [1, 2]}) + block({"a": [2, 1]}), [VALID, VALID]),  # order of items counts
        (
            block({"n": 1}) + block({"n": 2}) + block({"n": 2}) + block({"n": 1}),
            [VALID, VALID, REPEAT_OF_2, REPEAT_OF_1],
        ),
        # Only finished, valid blocks count: a cut-off twin is unterminated, as any cut-off.
        (block({"a": 1}) + '<widget type="note">{"a": 1}', [VALID, ("unterminated", ANY_ERRORS)]),
    ],
)
def test_a_repeated_block_is_invalid_however_the_text_arrives(text, expected):
    got = verdicts(text)
    assert [outcome for outcome, _ in got] == [outcome for outcome, _ in expected]
    for (_, messages), (_, want) in zip(got, expected, strict=True):
        assert want is ANY_ERRORS or messages == want


def test_the_error_names_the_block_it_repeats():
    (first, second) = widget_segments(block({"a": 1}) * 2, REGISTRY)
    assert first.outcome is Outcome.VALID and second.outcome is Outcome.INVALID
    assert second.errors == (
        FieldError(pointer="", message="repeats block 1: a card is shown once per reply"),
    )
    assert second.payload == {"a": 1}  # the payload is still there for review and training
    assert repeated_block(second.errors) == 1
    assert repeated_block(first.errors) is None
    assert repeated_block((FieldError(pointer="/a", message="repeats block 1: x"),)) is None
