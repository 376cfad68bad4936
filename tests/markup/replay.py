"""Shared by the markup tests (a plain module, not a conftest, so they run without Django)."""

import json
import random
from collections.abc import Iterable
from pathlib import Path

from widgets.markup import (
    Event,
    MarkupParser,
    ProseDelta,
    Segment,
    WidgetClosed,
    WidgetOpened,
    WidgetProgress,
    validator_for,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = {
    path.name.removesuffix(".schema.json"): json.loads(path.read_text())
    for path in sorted((REPO / "demo" / "spec" / "widgets").glob("*.schema.json"))
}
REGISTRY = {name: validator_for(schema) for name, schema in SCHEMAS.items()}
assert "listing_card" in REGISTRY, "demo/widgets/*.schema.json not found"


def replay(chunks: Iterable[str], registry=REGISTRY) -> list[Event]:
    parser = MarkupParser(registry)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def chunkings(text: str, seed: int = 0) -> dict[str, list[str]]:
    """The three replays of every case: whole, one character at a time, random pieces."""
    rng = random.Random(f"{seed}:{text}")
    pieces, pos = [], 0
    while pos < len(text):
        size = rng.choice([1, 2, 3, 5, 8, 13, 40])
        pieces.append(text[pos : pos + size])
        pos += size
    # Empty feeds are legal and must change nothing.
    pieces.insert(rng.randrange(len(pieces) + 1), "")
    return {"whole": [text], "char": list(text), "random": pieces}


def stable(events: list[Event]) -> list[Event]:
    """What must not depend on chunking: adjacent prose merged, progress set aside."""
    merged: list[Event] = []
    for event in events:
        if isinstance(event, WidgetProgress):
            continue
        if isinstance(event, ProseDelta) and merged and isinstance(merged[-1], ProseDelta):
            merged[-1] = ProseDelta(text=merged[-1].text + event.text)
        else:
            merged.append(event)
    return merged


def reassembled(events: list[Event]) -> str:
    return "".join(
        e.text if isinstance(e, ProseDelta) else e.raw
        for e in events
        if isinstance(e, ProseDelta | WidgetClosed)
    )


def segments_from(events: list[Event]) -> list[Segment]:
    segments: list[Segment] = []
    for event in stable(events):
        if isinstance(event, ProseDelta):
            segments.append(Segment("prose", event.text))
        elif isinstance(event, WidgetClosed):
            segments.append(
                Segment("widget", event.raw, event.type, event.outcome, event.payload, event.errors)
            )
    return segments


def check_invariants(text: str, events: list[Event]) -> None:
    """Lossless, well-ordered: every block opens, maybe progresses, then closes once."""
    assert reassembled(events) == text
    open_index = None
    expected_index = 0
    for event in events:
        if isinstance(event, WidgetOpened):
            assert open_index is None and event.index == expected_index
            open_index = event.index
            expected_index += 1
        elif isinstance(event, WidgetProgress | WidgetClosed):
            assert event.index == open_index
            if isinstance(event, WidgetClosed):
                open_index = None
        else:
            assert open_index is None, "prose inside a block"
    assert open_index is None, "a block was never closed"
