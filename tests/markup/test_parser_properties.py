"""Invariants on generated text: no raise, lossless, chunking does not matter, O(n)."""

import itertools
import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.markup.replay import check_invariants, replay, stable
from widgets.markup import MarkupParser, Outcome, WidgetClosed, WidgetProgress, parse_markup

from .replay import REGISTRY

FRAGMENTS = [
    '<widget type="listing_card">',
    '<widget type="action_request">',
    '<widget type="nope">',
    "</widget>",
    "</wid",
    "<wid",
    '<widget type="',
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    "\\u",
    "d83d",
    "\\ude00",
    ":",
    ",",
    " ",
    "\n",
    "0",
    "12",
    "-",
    ".5",
    "e3",
    "true",
    "nul",
    '"mls_id"',
    '"TX-1234"',
    "prose ",
    "é😀",
]
grammarish = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
texts = st.one_of(st.text(max_size=200), grammarish)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cut(text: str, points: list[int]) -> list[str]:
    bounds = sorted({p % (len(text) + 1) for p in points} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@FAST
@given(text=texts, points=st.lists(st.integers(min_value=0), max_size=12))
def test_any_text_is_lossless_and_chunking_does_not_matter(text, points):
    whole = replay([text])
    check_invariants(text, whole)
    pieces = replay(cut(text, points))
    check_invariants(text, pieces)
    assert stable(pieces) == stable(whole)
    assert stable(replay(list(text))) == stable(whole)


def is_prefix(partial, final) -> bool:
    """`partial` could grow into `final`: keys and items only added, strings only extended."""
    if isinstance(partial, dict):
        return isinstance(final, dict) and all(
            key in final and is_prefix(value, final[key]) for key, value in partial.items()
        )
    if isinstance(partial, list):
        return (
            isinstance(final, list)
            and len(partial) <= len(final)
            and all(is_prefix(a, b) for a, b in zip(partial, final, strict=False))
        )
    if isinstance(partial, str):
        return isinstance(final, str) and final.startswith(partial)
    return partial == final and type(partial) is type(final)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
LISTING_KEYS = ["mls_id", "address", "city", "price", "beds", "baths", "sqft", "status", "x"]
listing_like = st.dictionaries(
    st.sampled_from(LISTING_KEYS),
    st.one_of(
        st.sampled_from(["TX-1234", "tx-1", "active", "sold", "Austin", "12 Oak St", ""]),
        st.integers(-5, 500_000),
        st.sampled_from([0.5, 2.5, 0.3, 1e300]),
        json_values,
    ),
    max_size=9,
)


@FAST
@given(
    payload=st.one_of(listing_like, st.dictionaries(st.text(), json_values, max_size=5)),
    points=st.lists(st.integers(min_value=0), max_size=30),
    indent=st.sampled_from([None, 1]),
)
def test_progress_only_grows_and_provisional_errors_hold(payload, points, indent):
    text = f'<widget type="listing_card">{json.dumps(payload, indent=indent)}</widget>'
    events = replay(cut(text, points))
    closed = [e for e in events if isinstance(e, WidgetClosed)]
    assert len(closed) == 1 and closed[0].payload == payload
    final = closed[0]
    final_pointers = {e.pointer for e in final.errors}
    previous = None
    for event in events:
        if not isinstance(event, WidgetProgress):
            continue
        assert is_prefix(event.partial, payload)
        if previous is not None:
            assert is_prefix(previous, event.partial)
        previous = event.partial
        # What is provisional must still be wrong at the end.
        assert {e.pointer for e in event.provisional_errors} <= final_pointers
        if final.outcome is Outcome.VALID:
            assert event.provisional_errors == ()


def nested(depth: int) -> str:
    return '{"a": [' * depth + '"leaf"' + "]}" * depth


def test_300_levels_deep():
    body = '{"action": "create_task", "summary": "deep", "params": ' + nested(300) + "}"
    text = f'<widget type="action_request">{body}</widget>'
    for chunks in ([text], list(text)):
        events = replay(chunks)
        check_invariants(text, events)
        assert events[-1].outcome is Outcome.VALID
        assert events[-1].payload == json.loads(body)


def test_far_deeper_than_the_recursion_limit():
    depth = 5_000
    body = '{"action": "create_task", "summary": "deep", "params": ' + nested(depth) + "}"
    text = f'<widget type="action_request">{body}</widget>'
    events = replay([text[i : i + 7] for i in range(0, len(text), 7)])
    closed = events[-1]
    (segment,) = parse_markup(text, REGISTRY)  # json.loads gives up here: the slow path
    assert (segment.outcome, segment.text) == (closed.outcome, closed.raw)
    assert closed.outcome is Outcome.VALID
    node, levels = closed.payload["params"], 0
    while isinstance(node, dict):
        node, levels = node["a"][0], levels + 1
    assert (levels, node) == (depth, "leaf")


def timed_feed(text: str, chunk: int) -> tuple[float, list]:
    parser = MarkupParser(REGISTRY)
    started = time.perf_counter()
    events = []
    for pos in range(0, len(text), chunk):
        events.extend(parser.feed(text[pos : pos + chunk]))
    events.extend(parser.close())
    return time.perf_counter() - started, events


def test_a_1mb_message_in_small_chunks():
    def unit(price: int) -> str:
        card = json.dumps(
            {"mls_id": "TX-1234", "address": "1 Elm St", "city": "Austin", "price": price,
             "beds": 1, "baths": 1, "status": "active"}
        )  # fmt: skip
        prose = "Some prose about a home <b>nearby</b>.\n"
        return f'{prose}<widget type="listing_card">{card}</widget>\n'

    # Each card its own price: a card equal to an earlier one would be refused (repeats.py).
    text = "".join(unit(price) for price in range(2**20 // len(unit(0)) + 1))
    seconds, events = timed_feed(text, 16)
    check_invariants(text, events)
    closed = [e for e in events if isinstance(e, WidgetClosed)]
    assert len(closed) == text.count("<widget") and all(e.outcome == "valid" for e in closed)
    assert seconds < 20


def test_one_huge_block_costs_linear_time():
    """A quadratic parser (re-parse or copy the open block per chunk) fails this."""

    def message(size: int) -> str:
        items = ", ".join(['{"k": "' + "x" * 40 + '", "n": [1, 2.5, true]}'] * (size // 50))
        return (
            '<widget type="action_request">{"action": "send_email", "summary": "'
            + "s" * size
            + f'", "params": {{"items": [{items}]}}}}</widget>'
        )

    small_seconds, _ = timed_feed(message(64_000), 4)
    big_seconds, events = timed_feed(message(512_000), 4)
    assert events[-1].outcome is Outcome.INVALID  # summary is far too long
    assert big_seconds < 8 * small_seconds * 2.5, (small_seconds, big_seconds)
