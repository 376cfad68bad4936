"""One table of messages, each replayed whole, one character at a time, and in random pieces.

Every replay must give the same events (after merging prose and setting progress aside),
lose no text, and match the table's expectation.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.markup.replay import (
    REGISTRY,
    check_invariants,
    chunkings,
    replay,
    stable,
)
from widgets.markup import (
    MarkupParser,
    Outcome,
    ProseDelta,
    WidgetClosed,
    WidgetOpened,
    WidgetProgress,
)

CARD = {
    "mls_id": "TX-10492",
    "address": "12 Oak St",
    "city": "Austin",
    "price": 449000,
    "beds": 3,
    "baths": 2.5,
    "sqft": 1640,
    "status": "active",
    "photo_url": "https://photos.example.com/TX-10492.jpg",
}
ANY = object()


def tag(name: str) -> str:
    return f'<widget type="{name}">'


def card(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**CARD, **changes}.items() if v is not None}


def block(name: str, body: Any) -> str:
    return f"{tag(name)}{body if isinstance(body, str) else json.dumps(body)}</widget>"


@dataclass(frozen=True)
class Block:
    """What a case expects of one block; pointers are its errors' pointers, in order."""

    type: str
    outcome: Outcome
    payload: Any = ANY
    pointers: tuple[str, ...] | None = None


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LOOKALIKES = [
    "<widget>{}</widget>",
    "<widget type='listing_card'>{}</widget>",
    '<widget  type="listing_card">{}</widget>',
    '<widget type="Listing_card">{}</widget>',
    '<widget type="listing_card" >{}</widget>',
    '<Widget type="listing_card">{}</widget>',
    '<widget type="1abc">{}</widget>',
    f'<widget type="{"a" * 65}">{{}}</widget>',
    "<widgets>",
    "a < b and b <= c </widget>",
]

CASES: dict[str, tuple[str, list[Any]]] = {
    "empty message": ("", []),
    "prose only": ("Just **prose**, no cards.\n", ["Just **prose**, no cards.\n"]),
    "valid listing card": (
        f"Here:\n{block('listing_card', CARD)}\nWant a tour?",
        ["Here:\n", Block("listing_card", Outcome.VALID, CARD, ()), "\nWant a tour?"],
    ),
    "JSON whitespace around the body": (
        f"{tag('listing_card')}\n  {json.dumps(CARD, indent=2)}\r\n\t</widget>",
        [Block("listing_card", Outcome.VALID, CARD, ())],
    ),
    "invalid: wrong type": (
        block("listing_card", card(price="449k")),
        [Block("listing_card", Outcome.INVALID, card(price="449k"), ("/price",))],
    ),
    "invalid: enum miss": (
        block("listing_card", card(status="gone")),
        [Block("listing_card", Outcome.INVALID, ANY, ("/status",))],
    ),
    "invalid: extra property": (
        block("listing_card", card(pool=True)),
        [Block("listing_card", Outcome.INVALID, ANY, ("",))],
    ),
    "invalid: missing required": (
        block("listing_card", card(city=None)),
        [Block("listing_card", Outcome.INVALID, ANY, ("",))],
    ),
    "invalid: bad pattern": (
        block("listing_card", card(mls_id="tx-1")),
        [Block("listing_card", Outcome.INVALID, ANY, ("/mls_id",))],
    ),
    "invalid: bad uri format": (
        block("listing_card", card(photo_url="https://exa mple.com/a b")),
        [Block("listing_card", Outcome.INVALID, ANY, ("/photo_url",))],
    ),
    "invalid: bad date format": (
        block(
            "comparables_table",
            {
                "subject_address": "12 Oak St",
                "comps": [
                    {"address": "1 Elm", "sold_price": 1, "sold_date": "2024-02-30", "sqft": 900}
                ],
            },
        ),
        [Block("comparables_table", Outcome.INVALID, ANY, ("/comps/0/sold_date",))],
    ),
    "invalid: bad date-time and email formats": (
        block(
            "showing_scheduler",
            {
                "mls_id": "TX-1234",
                "address": "1 Elm St",
                "slots": [{"start": "tomorrow at 3", "minutes": 30}],
            },
        )
        + block("contact_card", {"name": "Ann", "role": "agent", "email": "ann.example.com"}),
        [
            Block("showing_scheduler", Outcome.INVALID, ANY, ("/slots/0/start",)),
            Block("contact_card", Outcome.INVALID, ANY, ("/email",)),
        ],
    ),
    "invalid: several errors, sorted by pointer": (
        block("listing_card", card(price=-1, beds="3", baths=0.7)),
        [Block("listing_card", Outcome.INVALID, ANY, ("/baths", "/beds", "/price"))],
    ),
    "invalid: a number too large for a float": (
        block("listing_card", '{"baths": 1e400}'),
        [Block("listing_card", Outcome.INVALID, ANY, ANY)],
    ),
    "malformed: array body": (
        block("listing_card", "[1, 2]"),
        [Block("listing_card", Outcome.MALFORMED, None, ("",))],
    ),
    "malformed: scalar body": (
        block("listing_card", '"card"') + block("listing_card", "42"),
        [
            Block("listing_card", Outcome.MALFORMED, None),
            Block("listing_card", Outcome.MALFORMED, None),
        ],
    ),
    "malformed: empty body": (
        block("listing_card", ""),
        [Block("listing_card", Outcome.MALFORMED, None)],
    ),
    "malformed: trailing garbage": (
        block("listing_card", json.dumps(CARD) + " ok"),
        [Block("listing_card", Outcome.MALFORMED, CARD, ("",))],
    ),
    "malformed: second object": (
        block("listing_card", "{} {}"),
        [Block("listing_card", Outcome.MALFORMED, {})],
    ),
    "malformed: bad escape": (
        block("listing_card", r'{"address": "12 \q St"}'),
        [Block("listing_card", Outcome.MALFORMED, {"address": "12 "}, ("/address",))],
    ),
    "malformed: truncated object then close tag": (
        f'{tag("listing_card")}{{"mls_id": "TX-10492", "price": </widget> after',
        [Block("listing_card", Outcome.MALFORMED, {"mls_id": "TX-10492"}, ("/price",)), " after"],
    ),
    "malformed: the first close tag after the break ends the block": (
        f'{tag("listing_card")}{{"a": x "</widget>"}}</widget>',
        [Block("listing_card", Outcome.MALFORMED, {}), '"}</widget>'],
    ),
    "malformed: not strict JSON": (
        "".join(
            block("action_request", body)
            for body in [
                '{"a": NaN}',
                '{"a": -Infinity}',
                '{"a": 012}',
                '{"a": 1.}',
                "{'a': 1}",
                '{"a": 1,}',
                '{"a": "tab\there"}',
                '{"a": "\\ud800"}',
                '{"a": "\\udc00\\ud800"}',
                '{"a": tru}',
                '{"a" 1}',
                "{,}",
                '{"a": [1 2]}',
                "\ufeff{}",
            ]
        ),
        [Block("action_request", Outcome.MALFORMED)] * 14,
    ),
    "surrogate pairs and escapes decode like json.loads": (
        block("action_request", r'{"a": "\ud83d\ude00 \u00e9 \"q\" \\ \/ \b\f\n\r\t"}'),
        [Block("action_request", Outcome.INVALID, {"a": '😀 é "q" \\ / \b\f\n\r\t'})],
    ),
    "duplicate keys: the last one wins": (
        block("action_request", '{"a": 1, "b": 2, "a": {"c": 3}}'),
        [Block("action_request", Outcome.INVALID, {"a": {"c": 3}, "b": 2})],
    ),
    "unknown type": (
        block("weather", {"temp": 21}),
        [Block("weather", Outcome.UNKNOWN_TYPE, {"temp": 21}, ("",))],
    ),
    "unknown type with a broken body": (
        block("weather", "{temp: 21}"),
        [Block("weather", Outcome.UNKNOWN_TYPE, {}, ("",))],
    ),
    "unterminated: ends inside a string": (
        f'Look: {tag("listing_card")}{{"mls_id": "TX-10492", "address": "12 Oa',
        [
            "Look: ",
            Block(
                "listing_card",
                Outcome.UNTERMINATED,
                {"mls_id": "TX-10492", "address": "12 Oa"},
                ("",),
            ),
        ],
    ),
    "a string that never closed: its '</widget>' ends the block, in hindsight": (
        f'{tag("listing_card")}{{"address": "12 Oak</widget> Anything else? {XSS}',
        [
            Block("listing_card", Outcome.MALFORMED, {"address": "12 Oak"}, ("/address",)),
            f" Anything else? {XSS}",
        ],
    ),
    "unterminated: ends inside the close tag": (
        f"{tag('listing_card')}{json.dumps(CARD)}</wid",
        [Block("listing_card", Outcome.UNTERMINATED, CARD)],
    ),
    "unterminated: ends right after the open tag": (
        tag("listing_card"),
        [Block("listing_card", Outcome.UNTERMINATED, None)],
    ),
    "unterminated wins over malformed": (
        block("listing_card", "[1]")[: -len("</widget>")] + " and more",
        [Block("listing_card", Outcome.UNTERMINATED, None)],
    ),
    "unterminated: ends inside a number": (
        f'{tag("listing_card")}{{"price": 44',
        [Block("listing_card", Outcome.UNTERMINATED, {})],
    ),
    "ends inside an open tag: that is prose": (
        'So <widget type="listi',
        ['So <widget type="listi'],
    ),
    "ends on '<wid': prose": ("Compare a <wid", ["Compare a <wid"]),
    "close tag inside a JSON string is content": (
        block("listing_card", card(address="12 </widget> St")),
        [Block("listing_card", Outcome.VALID, card(address="12 </widget> St"))],
    ),
    "open tag inside a JSON string is content": (
        block("listing_card", card(address='<widget type="x">')),
        [Block("listing_card", Outcome.VALID, card(address='<widget type="x">'))],
    ),
    "lookalike tags stay prose": ("".join(LOOKALIKES), ["".join(LOOKALIKES)]),
    "a lookalike right before a real tag": (
        f"<widget type='x'><{block('listing_card', CARD)}",
        ["<widget type='x'><", Block("listing_card", Outcome.VALID)],
    ),
    "XSS passes through untouched": (
        f"{XSS}{block('listing_card', card(address=XSS))}{XSS}",
        [XSS, Block("listing_card", Outcome.VALID, card(address=XSS)), XSS],
    ),
    "several blocks, prose between some": (
        f"A {block('listing_card', CARD)}{block('weather', {})} B "
        f"{block('listing_card', card(beds=None))}\n{block('listing_card', '[]')}",
        [
            "A ",
            Block("listing_card", Outcome.VALID),
            Block("weather", Outcome.UNKNOWN_TYPE),
            " B ",
            Block("listing_card", Outcome.INVALID),
            "\n",
            Block("listing_card", Outcome.MALFORMED),
        ],
    ),
    "a block equal to an earlier one is refused, the text kept": (
        f"{block('listing_card', CARD)} again: "
        f"{block('listing_card', dict(reversed(card(price=449000.0).items())))}"
        f"{block('listing_card', card(beds=4))}{block('listing_card', CARD)}",
        [
            Block("listing_card", Outcome.VALID, CARD, ()),
            " again: ",
            Block("listing_card", Outcome.INVALID, CARD, ("",)),  # key order, 449000.0: equal
            Block("listing_card", Outcome.VALID, card(beds=4), ()),
            Block("listing_card", Outcome.INVALID, CARD, ("",)),
        ],
    ),
    "twin invalid blocks keep their schema errors only": (
        block("listing_card", card(price="x")) * 2,
        [Block("listing_card", Outcome.INVALID, ANY, ("/price",))] * 2,
    ),
    "deep nesting inside a payload": (
        block(
            "action_request",
            '{"action": "create_task", "summary": "deep", "params": '
            + '{"a": [' * 150
            + "1"
            + "]}" * 150
            + "}",
        ),
        [Block("action_request", Outcome.VALID)],
    ),
}


def summarise(events: list[Any]) -> list[Any]:
    """Events as the table writes them: prose text, and one Block per block."""
    out: list[Any] = []
    for event in stable(events):
        if isinstance(event, ProseDelta):
            out.append(event.text)
        elif isinstance(event, WidgetClosed):
            out.append(event)
        else:
            assert isinstance(event, WidgetOpened)
    return out


def matches(expected: Any, got: Any) -> bool:
    if isinstance(expected, str):
        return expected == got
    if not isinstance(got, WidgetClosed):
        return False
    return (
        got.type == expected.type
        and got.outcome is expected.outcome
        and (expected.payload is ANY or got.payload == expected.payload)
        and (
            expected.pointers is None
            or expected.pointers is ANY
            or tuple(e.pointer for e in got.errors) == expected.pointers
        )
    )


@pytest.mark.parametrize("name", list(CASES))
def test_case(name):
    text, expected = CASES[name]
    results = {}
    for way, chunks in chunkings(text).items():
        events = replay(chunks)
        check_invariants(text, events)
        results[way] = stable(events)
        got = summarise(events)
        assert len(got) == len(expected), (way, got)
        for want, have in zip(expected, got, strict=True):
            assert matches(want, have), (way, want, have)
    assert results["char"] == results["whole"]
    assert results["random"] == results["whole"]


def test_an_open_tag_split_at_every_position():
    text = f"Before {block('listing_card', CARD)} after"
    whole = stable(replay([text]))
    for cut in range(len(text) + 1):
        assert stable(replay([text[:cut], text[cut:]])) == whole, cut
    for cut in range(1, len(text) - 1, 3):
        pieces = [text[:cut], text[cut : cut + 2], text[cut + 2 :]]
        assert stable(replay(pieces)) == whole, cut


def test_prose_is_released_as_soon_as_it_cannot_be_a_tag():
    parser = MarkupParser(REGISTRY)
    assert parser.feed("a <wid") == [ProseDelta(text="a ")]
    assert parser.feed("gex") == [ProseDelta(text="<widgex")]
    assert parser.feed('<widget type="listing_card"') == []
    events = parser.feed(">")
    assert events == [WidgetOpened(index=0, type="listing_card")]


def test_empty_feeds_yield_nothing():
    parser = MarkupParser(REGISTRY)
    assert parser.feed("") == []
    assert parser.feed("hi") == [ProseDelta(text="hi")]
    assert parser.feed("") == []
    assert parser.close() == []


def test_feeding_after_close_is_a_programmer_error():
    parser = MarkupParser(REGISTRY)
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed("more")
    assert parser.close() == []


def test_progress_shows_a_growing_card_at_most_once_per_feed():
    text = block("listing_card", card(price="449k"))
    parser = MarkupParser(REGISTRY)
    partials = []
    for pos in range(0, len(text), 6):
        events = parser.feed(text[pos : pos + 6])
        progress = [e for e in events if isinstance(e, WidgetProgress)]
        assert len(progress) <= 1
        partials.extend(progress)
    assert parser.close() == []
    assert partials[0].partial == {}
    addresses = [p.partial["address"] for p in partials if "address" in p.partial]
    assert any(0 < len(a) < len("12 Oak St") and "12 Oak St".startswith(a) for a in addresses)
    assert [e.pointer for e in partials[-1].provisional_errors] == ["/price"]
    assert not any(e.provisional_errors for e in partials if "price" not in e.partial)
