"""A record is never shown twice: a block equal to an earlier valid block of the same message
(the same widget type, an equal payload) is refused, `invalid` with the error "repeats
block N" (N counts the message's blocks from 1).

Both readers of a message, the streaming MarkupParser and parse_markup, pass every block
they close through one Repeats per message, so they agree on it, and so do the chat (its
streaming cards and its stored messages), corrections, datasets and evaluation. The raw
text is kept as it is: the refusal is a verdict on the block, not an edit of the message.

Equal means equal as JSON values: key order does not count, and neither does how a number
is spelt (2 and 2.0 are one number), while true and 1 differ. Only a block that would be
valid is compared: an earlier invalid one would make its twin invalid anyway.
"""

import dataclasses
import re
from typing import Any

from .events import FieldError, Outcome, WidgetClosed

_MESSAGE = "repeats block {number}: a card is shown once per reply"
_REPEAT = re.compile(r"repeats block ([0-9]+):")


class Repeats:
    """The valid blocks a message has closed so far, by type and payload."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, Any], int] = {}  # -> index of the first such block

    def judge(
        self, *, index: int, type: str, outcome: Outcome, payload: Any, errors: tuple
    ) -> tuple[Outcome, tuple[FieldError, ...]]:
        """The block's outcome and errors, once its twins earlier in the message count."""
        if outcome is not Outcome.VALID:
            return outcome, errors
        try:
            key = (type, _canonical(payload))
        except RecursionError:  # nested past Python's limit: it cannot be compared, so it is not
            return outcome, errors
        first = self._first.setdefault(key, index)
        if first == index:
            return outcome, errors
        return Outcome.INVALID, (FieldError(pointer="", message=_MESSAGE.format(number=first + 1)),)

    def closed(self, event: WidgetClosed) -> WidgetClosed:
        outcome, errors = self.judge(
            index=event.index,
            type=event.type,
            outcome=event.outcome,
            payload=event.payload,
            errors=event.errors,
        )
        if outcome is event.outcome:
            return event
        return dataclasses.replace(event, outcome=outcome, errors=errors)


def repeated_block(errors: tuple[FieldError, ...] | list[FieldError]) -> int | None:
    """The number (from 1) of the block that a refused block repeats; None if it is not one."""
    if len(errors) != 1 or errors[0].pointer:
        return None
    match = _REPEAT.match(errors[0].message)
    return int(match.group(1)) if match else None


def _canonical(value: Any) -> Any:
    """A hashable stand-in for a JSON value: equal exactly when the values are equal as JSON."""
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    if isinstance(value, bool):  # before numbers: True == 1 in Python, not in JSON
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)  # 2 == 2.0 and hash(2) == hash(2.0)
    return (type(value).__name__, value)
