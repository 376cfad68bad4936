"""One widget block, from just after its open tag to its close tag.

States (transitions in `OpenBlock.consume`):

    BODY        the JSON object is being read        -> AFTER_BODY when its '}' closes it
                                                     -> SEEK_CLOSE when it cannot be one object
    AFTER_BODY  JSON whitespace, then '</widget>'    -> closed (valid / invalid / unknown_type)
                                                     -> SEEK_CLOSE on anything else
    SEEK_CLOSE  skip to the next literal '</widget>' -> closed (malformed / unknown_type)

The stream may end in any state: that block is `unterminated` (it wins over malformed and
unknown_type: the text after it was never seen). A '</widget>' inside a JSON string is
string content; once the body is broken, the first '</widget>' after the break ends it.

One exception, decided at the end of the stream: if the unterminated block holds a literal
'</widget>', it can only be inside a string that never closed ({"a": "x</widget> more
prose). In hindsight that was the block's end: the block is `malformed` up to it, and the
text after it is read again as markup (prose, and maybe more blocks). This is what
JSONTestSuite's n_object_unterminated-value wants, and it gives a model that dropped a
quote its following prose back.

Outcome precedence: unterminated > unknown_type > malformed > invalid > valid.
Unknown types get no WidgetProgress: nothing can render them progressively.
"""

from typing import Any

from . import json_scanner
from .events import FieldError, Outcome, WidgetClosed, WidgetProgress
from .tags import CLOSE_TAG, close_tag_prefix_start
from .validation import PayloadValidator

BODY, AFTER_BODY, SEEK_CLOSE = range(3)

_WHITESPACE_RUN = json_scanner.WHITESPACE_RUN

# Snapshots copy the open path and provisional checks walk the whole partial: for bodies
# larger than these, do either only after the body has grown by 1/8 since the last time,
# which keeps their total cost linear in the body length.
_SNAPSHOT_FREELY_UP_TO = 8192
_CHECK_FREELY_UP_TO = 2048
_GROWTH_DIVISOR = 8


class OpenBlock:
    def __init__(
        self, *, index: int, type: str, validator: PayloadValidator | None, tag: str
    ) -> None:
        self.index = index
        self.type = type
        self.validator = validator
        self.state = BODY
        self._raw = [tag]
        self._scanner = json_scanner.JsonObjectScanner()
        self._body_length = 0
        self._shown_version = 0
        self._shown_at_length = 0
        self._checked_version = 0
        self._checked_at_length = 0
        self._provisional: tuple[FieldError, ...] = ()
        self._malformation: FieldError | None = None

    def consume(self, text: str, pos: int) -> tuple[int, WidgetClosed | None]:
        """Read text[pos:]. Returns (where it stopped, the closing event if the block ended).

        When it stops before the end of `text` without closing, text[stop:] may still become
        '</widget>': the caller hands it back, with more text, on the next call.
        """
        n = len(text)
        raw = self._raw
        while pos < n:
            state = self.state
            if state == BODY:
                status, end = self._scanner.feed(text, pos)
                raw.append(text[pos:end])
                self._body_length += end - pos
                pos = end
                if status == json_scanner.DONE:
                    self.state = AFTER_BODY
                elif status == json_scanner.ERROR:
                    self._malformation = self._scanner.error
                    self.state = SEEK_CLOSE
            elif state == AFTER_BODY:
                end = _WHITESPACE_RUN(text, pos).end()
                raw.append(text[pos:end])
                pos = end
                if pos == n:
                    break
                if text.startswith(CLOSE_TAG, pos):
                    raw.append(CLOSE_TAG)
                    return pos + len(CLOSE_TAG), self._close_parsed()
                if n - pos < len(CLOSE_TAG) and CLOSE_TAG.startswith(text[pos:]):
                    return pos, None
                self._malformation = FieldError(
                    pointer="", message="text after the JSON object, before '</widget>'"
                )
                self.state = SEEK_CLOSE
            else:
                found = text.find(CLOSE_TAG, pos)
                if found < 0:
                    keep = close_tag_prefix_start(text, pos)
                    raw.append(text[pos:keep])
                    return keep, None
                end = found + len(CLOSE_TAG)
                raw.append(text[pos:end])
                return end, self._close_broken()
        return pos, None

    def progress(self) -> WidgetProgress | None:
        """The partial payload, when it or its provisional errors changed since the last one."""
        if self.validator is None or self.state == SEEK_CLOSE:
            return None
        scanner = self._scanner
        grown = scanner.visible_version != self._shown_version
        reshaped = scanner.structure_version != self._checked_version
        length = self._body_length
        if not (grown or reshaped) or not _due(
            length, self._shown_at_length, _SNAPSHOT_FREELY_UP_TO
        ):
            return None
        partial = scanner.partial()
        if partial is None:
            return None
        provisional = self._provisional
        if reshaped and _due(length, self._checked_at_length, _CHECK_FREELY_UP_TO):
            self._checked_version = scanner.structure_version
            self._checked_at_length = length
            provisional = tuple(self.validator.provisional_errors(partial))
        if not grown and provisional == self._provisional:
            return None  # e.g. a string closed: the value on show is the same
        self._shown_version = scanner.visible_version
        self._shown_at_length = length
        self._provisional = provisional
        return WidgetProgress(
            index=self.index, type=self.type, partial=partial, provisional_errors=provisional
        )

    def close_at_end(self, rest: str) -> tuple[WidgetClosed, str]:
        """The stream ended inside this block; `rest` is text held back from the last call.

        Returns the closing event, and text to read again as markup (see the module rules).
        """
        self._raw.append(rest)
        raw = "".join(self._raw)
        body_start = len(self._raw[0])
        cut = raw.find(CLOSE_TAG, body_start)
        if cut < 0:
            scanner = self._scanner
            payload = scanner.value if self.state == AFTER_BODY else scanner.partial()
            error = FieldError(pointer="", message="the stream ended before '</widget>'")
            return self._closed(Outcome.UNTERMINATED, payload, (error,), raw), ""
        # Only a string can have swallowed this '</widget>': in hindsight it never closed.
        end = cut + len(CLOSE_TAG)
        scanner = json_scanner.JsonObjectScanner()
        scanner.feed(raw[body_start:cut], 0)
        payload = scanner.partial()
        if self.validator is None:
            return self._closed(Outcome.UNKNOWN_TYPE, payload, self._unknown_type(), raw[:end]), (
                raw[end:]
            )
        error = FieldError(
            pointer=scanner.open_pointer(),
            message=f"unterminated string: the stream ended, so the '</widget>' at body offset "
            f"{cut - body_start} ends the block",
        )
        return self._closed(Outcome.MALFORMED, payload, (error,), raw[:end]), raw[end:]

    def _close_parsed(self) -> WidgetClosed:
        payload = self._scanner.value
        if self.validator is None:
            return self._closed(Outcome.UNKNOWN_TYPE, payload, self._unknown_type())
        errors = tuple(self.validator.errors(payload))
        return self._closed(Outcome.INVALID if errors else Outcome.VALID, payload, errors)

    def _close_broken(self) -> WidgetClosed:
        payload = self._scanner.partial()
        if self.validator is None:
            return self._closed(Outcome.UNKNOWN_TYPE, payload, self._unknown_type())
        assert self._malformation is not None
        return self._closed(Outcome.MALFORMED, payload, (self._malformation,))

    def _unknown_type(self) -> tuple[FieldError, ...]:
        return (FieldError(pointer="", message=f"unknown widget type {self.type!r}"),)

    def _closed(
        self,
        outcome: Outcome,
        payload: Any,
        errors: tuple[FieldError, ...],
        raw: str | None = None,
    ) -> WidgetClosed:
        return WidgetClosed(
            index=self.index,
            type=self.type,
            outcome=outcome,
            payload=payload,
            errors=errors,
            raw="".join(self._raw) if raw is None else raw,
        )


def _due(length: int, last_length: int, freely_up_to: int) -> bool:
    return length <= freely_up_to or (length - last_length) * _GROWTH_DIVISOR >= length
