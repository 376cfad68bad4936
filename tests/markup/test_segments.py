"""parse_markup (the whole-message fast path) gives exactly what the streaming parser gives."""

import itertools
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.markup.replay import REGISTRY, replay, segments_from
from tests.markup.test_parser_properties import grammarish
from widgets.markup import Outcome, Segment, parse_markup, widget_segments

BODIES = [
    '{"mls_id": "TX-1234", "address": "1 Elm St", "city": "Austin", "price": 1, "beds": 1, '
    '"baths": 1.5, "status": "active"}',
    '{"mls_id": "TX-1234", "address": "1 </widget> St", "city": "Austin", "price": 1, '
    '"beds": 1, "baths": 1.5, "status": "active"}',
    '{"price": "x"}',
    '{"a": NaN}',
    '{"a": "\\ud83d\\ude00"}',
    '{"a": "\\ud800"}',
    '{"a": 1e400}',
    "[1, 2]",
    "{} x",
    '{"a": "x',
    '{"a": ' + "[" * 300 + "]" * 300 + "}",
    '{"n": ' + "1" * 5000 + "}",
    "",
    "  {}\n",
]
PROSE = ["", "Hi. ", "a < b ", "<wid", "</widget> ", "<widget type='x'> ", "\n\n"]
TYPES = ["listing_card", "action_request", "unknown"]


def corpus(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(0, 5)):
            parts.append(rng.choice(PROSE))
            parts.append(f'<widget type="{rng.choice(TYPES)}">{rng.choice(BODIES)}')
            if rng.random() < 0.9:
                parts.append("</widget>")
        parts.append(rng.choice(PROSE))
        texts.append("".join(parts))
    return texts


def test_parse_markup_agrees_with_streaming_on_a_corpus():
    outcomes = set()
    for text in corpus(300):
        segments = parse_markup(text, REGISTRY)
        assert segments == segments_from(replay([text])), text
        assert segments == segments_from(replay([text[i : i + 3] for i in range(0, len(text), 3)]))
        assert "".join(s.text for s in segments) == text
        kinds = [s.kind for s in segments]
        assert all(a != "prose" or b != "prose" for a, b in itertools.pairwise(kinds))
        outcomes.update(s.outcome for s in segments)
    assert outcomes >= set(Outcome)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(grammarish, st.text(max_size=100)))
def test_parse_markup_agrees_with_streaming_on_generated_text(text):
    assert parse_markup(text, REGISTRY) == segments_from(replay([text]))


def test_segments():
    card = json.loads(BODIES[0])
    text = f'Hi <widget type="listing_card">{BODIES[0]}</widget>!'
    assert parse_markup(text, REGISTRY) == [
        Segment("prose", "Hi "),
        Segment(
            "widget",
            f'<widget type="listing_card">{BODIES[0]}</widget>',
            "listing_card",
            Outcome.VALID,
            card,
        ),
        Segment("prose", "!"),
    ]
    assert parse_markup("", REGISTRY) == []


def test_widget_segments_are_the_widget_blocks_of_parse_markup_in_order():
    for text in corpus(100):
        assert widget_segments(text, REGISTRY) == [
            s for s in parse_markup(text, REGISTRY) if s.kind == "widget"
        ]
    text = f'a <widget type="listing_card">{BODIES[0]}</widget> b <widget type="x">{{}}</widget>'
    assert [(s.type, s.outcome) for s in widget_segments(text, REGISTRY)] == [
        ("listing_card", Outcome.VALID),
        ("x", Outcome.UNKNOWN_TYPE),
    ]
    assert widget_segments("prose only", REGISTRY) == []
