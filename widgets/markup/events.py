"""What the markup parser tells its caller: frozen, keyword-only values.

Every event checks its own invariants on construction, so a parser bug surfaces where the
bad event is made rather than in a template three layers away. Payload values (`partial`,
`payload`) are plain JSON values that the parser shares between events: treat them as
read-only.
"""

import enum
from dataclasses import dataclass
from typing import Any


class Outcome(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    UNTERMINATED = "unterminated"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class FieldError:
    """One problem with a payload; `pointer` is an RFC 6901 JSON pointer ("" is the root)."""

    pointer: str
    message: str

    def __post_init__(self) -> None:
        if self.pointer and not self.pointer.startswith("/"):
            raise ValueError(f"not a JSON pointer: {self.pointer!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProseDelta:
    text: str

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("ProseDelta carries at least one character")


@dataclass(frozen=True, slots=True, kw_only=True)
class WidgetOpened:
    index: int
    type: str

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError("block index is 0-based")


@dataclass(frozen=True, slots=True, kw_only=True)
class WidgetProgress:
    """The best partial payload so far: every later partial, and the final payload, extends it."""

    index: int
    type: str
    partial: Any
    provisional_errors: tuple[FieldError, ...] = ()

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError("block index is 0-based")


@dataclass(frozen=True, slots=True, kw_only=True)
class WidgetClosed:
    index: int
    type: str
    outcome: Outcome
    payload: Any
    errors: tuple[FieldError, ...]
    raw: str

    def __post_init__(self) -> None:
        if self.index < 0:
            raise ValueError("block index is 0-based")
        if not isinstance(self.outcome, Outcome):
            raise TypeError(f"outcome must be an Outcome, not {self.outcome!r}")
        if not self.raw.startswith("<widget"):
            raise ValueError("raw holds the whole block, from '<widget'")
        if (self.outcome is Outcome.VALID) != (not self.errors):
            raise ValueError("a block is valid exactly when it has no errors")


Event = ProseDelta | WidgetOpened | WidgetProgress | WidgetClosed
