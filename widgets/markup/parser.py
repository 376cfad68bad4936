"""The sans-IO markup parser: text in, events out. The caller owns the I/O.

States:

    PROSE  looking for an open tag            -> BLOCK on '<widget type="NAME">'
    BLOCK  an OpenBlock reads body and close  -> PROSE when it closes
    CLOSED after close()                      (feed() is a programmer error)

Between calls the parser keeps back only text that may still become a tag: in prose, from
a '<' that can still grow into '<widget type="NAME">'; in a broken or finished body, a
prefix of '</widget>'. Everything else is released in the call that brought it, which is
why events do not depend on how the text was chunked (once adjacent ProseDeltas are
merged and WidgetProgress, which reports what has arrived so far, is set aside).
"""

from collections.abc import Iterable, Mapping

from .block import OpenBlock
from .events import Event, ProseDelta, WidgetOpened
from .repeats import Repeats
from .tags import OPEN_TAG, could_open_tag
from .validation import PayloadValidator

PROSE, BLOCK, CLOSED = range(3)


class MarkupParser:
    def __init__(self, registry: Mapping[str, PayloadValidator]) -> None:
        self._registry = registry
        self._state = PROSE
        self._held = ""
        self._block: OpenBlock | None = None
        self._blocks_opened = 0
        self._repeats = Repeats()  # a block equal to an earlier one is refused (repeats.py)

    def feed(self, text: str) -> list[Event]:
        """Read the next piece of the message; returns the events it completes."""
        if self._state == CLOSED:
            raise RuntimeError("MarkupParser.feed() called after close()")
        if self._held:
            text = self._held + text
            self._held = ""
        events: list[Event] = []
        pos = 0
        n = len(text)
        while pos < n:
            if self._state == PROSE:
                pos = self._read_prose(text, pos, events)
            else:
                block = self._block
                assert block is not None
                stop, closed = block.consume(text, pos)
                if closed is None:
                    self._held = text[stop:]
                    progress = block.progress()
                    if progress is not None:
                        events.append(progress)
                    break
                events.append(self._repeats.closed(closed))
                self._block = None
                self._state = PROSE
                pos = stop
        return events

    def close(self) -> list[Event]:
        """End of stream: release held-back prose, or end the open block as unterminated."""
        if self._state == CLOSED:
            return []
        held = self._held
        self._held = ""
        events: list[Event] = []
        if self._state == PROSE:
            if held:
                events.append(ProseDelta(text=held))
        else:
            assert self._block is not None
            closed, again = self._block.close_at_end(held)
            events.append(self._repeats.closed(closed))
            self._block = None
            if again:
                # Rare (see block.py): the text after a block cut in hindsight.
                rest = MarkupParser(self._registry)
                rest._blocks_opened = self._blocks_opened
                rest._repeats = self._repeats
                events.extend(rest.feed(again))
                events.extend(rest.close())
        self._state = CLOSED
        return events

    def _read_prose(self, text: str, pos: int, events: list[Event]) -> int:
        """Release prose from text[pos:] up to the next open tag, and open its block."""
        n = len(text)
        search = pos
        while True:
            lt = text.find("<", search)
            if lt < 0:
                if pos < n:
                    events.append(ProseDelta(text=text[pos:]))
                return n
            match = OPEN_TAG.match(text, lt)
            if match is not None:
                if lt > pos:
                    events.append(ProseDelta(text=text[pos:lt]))
                self._open(match.group(1), match.group(0), events)
                return match.end()
            if could_open_tag(text, lt):
                if lt > pos:
                    events.append(ProseDelta(text=text[pos:lt]))
                self._held = text[lt:]
                return n
            search = lt + 1

    def _open(self, name: str, tag: str, events: list[Event]) -> None:
        index = self._blocks_opened
        self._blocks_opened += 1
        self._block = OpenBlock(index=index, type=name, validator=self._registry.get(name), tag=tag)
        self._state = BLOCK
        events.append(WidgetOpened(index=index, type=name))


def parse_stream(chunks: Iterable[str], registry: Mapping[str, PayloadValidator]) -> list[Event]:
    """Every event of a whole stream of chunks, for tests and batch jobs."""
    parser = MarkupParser(registry)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events
