"""The hand-written held-out set (demo/heldout/conversations.jsonl).

It is an evaluation set for the demo adapters, written by hand, apart from the generator in
demo/dataset: these checks keep it readable by the project's tools, its reference replies
right by the demo's rules (demo/spec/README.md, "What an answer shows"), every reference value
grounded, and its questions free of the generator's templates, so a score on it measures what
the model learnt rather than which sentences it saw.
"""

import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

import demo.dataset.phrasing as phrasing
from finetune.datasets import parse_jsonl
from finetune.evaluation.values import KnownValues
from finetune.rows import row_problems
from widgets.markup import Outcome, widget_segments
from widgets.selectors import registry_validators

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "demo" / "heldout" / "conversations.jsonl"
ACTION_V2 = ROOT / "demo" / "spec" / "versions" / "action_request.v2.schema.json"

MIN_ROWS = 80
# Each row of the README's table, and how many held-out rows exercise it at least.
MIN_PER_RULE = {
    "search": 10,
    "search_none": 6,
    "one_listing": 6,
    "showing": 6,
    "showing_none": 6,
    "contact": 6,
    "mortgage": 6,
    "comps": 6,
    "action": 14,
    "several": 8,
    "prose": 6,
}
ACTIONS = ("book_showing", "send_email", "create_task", "update_listing_status")
MIN_ACTION_REQUESTS = 14  # action rows answered with an action_request
MIN_REFUSALS = 3  # action rows asking for an action the row's `actions` does not offer
MIN_TWO_TURN = 10
# action_request leaves that are the assistant's own words, not facts to ground.
FREE_TEXT_KEYS = frozenset({"summary", "subject", "title", "body"})
MAX_SLOTS = 3
MAX_COMPS = 5
NGRAM = 4

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_WORD = re.compile(r"[a-z0-9]+(?:['\u2019][a-z0-9]+)*")


def _load() -> list:
    return [value for _, value in parse_jsonl(HELDOUT.read_text(encoding="utf-8"))]


ROWS = _load()
IDS = [row["meta"]["id"] if isinstance(row, dict) else f"line-{n}" for n, row in enumerate(ROWS, 1)]


def _rule(row: dict) -> str:
    return row["meta"]["rule"]


def _reply(row: dict) -> str:
    return row["messages"][-1]["content"]


def _blocks(row: dict, validators) -> list:
    return widget_segments(_reply(row), validators)


@pytest.fixture
def validators(demo_registry):
    return registry_validators()


# ------------------------------------------------------------------ the file


def test_the_file_parses_into_enough_rows_of_the_eval_split():
    assert all(isinstance(row, dict) for row in ROWS), [r for r in ROWS if not isinstance(r, dict)]
    assert len(ROWS) >= MIN_ROWS
    assert len(set(IDS)) == len(IDS)
    for row in ROWS:
        meta = row["meta"]
        assert re.fullmatch(r"heldout-\d{3}", meta["id"]), meta
        assert meta["split"] == "eval" and meta["source"] == "handwritten", meta
        assert meta["rule"] in MIN_PER_RULE, meta
        assert isinstance(row.get("context"), dict), meta["id"]
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2), meta["id"]


def test_every_rule_has_its_minimum_of_rows():
    counts = Counter(_rule(row) for row in ROWS)
    short = {rule: counts[rule] for rule, least in MIN_PER_RULE.items() if counts[rule] < least}
    assert not short, f"rules below their minimum: {short}"
    assert sum(len(row["messages"]) > 2 for row in ROWS) >= MIN_TWO_TURN


def test_searches_cover_one_to_six_hits():
    hits = {len(row["context"]["listings"]) for row in ROWS if _rule(row) == "search"}
    assert set(range(1, 7)) <= hits


@pytest.mark.django_db
def test_action_rows_cover_every_action_and_the_refusals(validators):
    asked: Counter = Counter()
    refusals = 0
    for row in ROWS:
        if _rule(row) != "action":
            continue
        requests = [b.payload["action"] for b in _blocks(row, validators)]
        asked.update(requests)
        if not requests:
            assert "actions" in row["context"], f"{row['meta']['id']}: a refusal names `actions`"
            refusals += 1
    assert set(asked) == set(ACTIONS)
    assert sum(asked.values()) >= MIN_ACTION_REQUESTS
    assert refusals >= MIN_REFUSALS


# ------------------------------------------------------------------ each reference reply


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_widget_block_is_valid_against_the_demo_registry(row, validators):
    assert row_problems(row, validators) == []
    for message in row["messages"]:
        if message["role"] == "assistant":
            for block in widget_segments(message["content"], validators):
                assert block.outcome is Outcome.VALID, (block.type, block.errors)


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_action_requests_follow_the_typed_params_of_version_2(row, validators):
    schema = json.loads(ACTION_V2.read_text(encoding="utf-8"))
    v2 = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for message in row["messages"]:
        if message["role"] != "assistant":
            continue
        for block in widget_segments(message["content"], validators):
            if block.type == "action_request":
                errors = [e.message for e in v2.iter_errors(block.payload)]
                assert not errors, (block.payload, errors)


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_no_reference_value_is_invented(row, validators):
    known = KnownValues.of_row(row, validators)
    invented = [
        (block.type, pointer, value)
        for block in _blocks(row, validators)
        for pointer, value in known.invented(block.payload, free_text=FREE_TEXT_KEYS)
    ]
    assert invented == []


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_no_widget_block_repeats_in_a_reply(row, validators):
    raw = [block.text for block in _blocks(row, validators)]
    assert len(raw) == len(set(raw))


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_actions_in_a_reply_are_among_those_the_row_offers(row, validators):
    offered = row["context"].get("actions", ACTIONS)
    assert set(offered) <= set(ACTIONS)
    for block in _blocks(row, validators):
        if block.type == "action_request":
            assert block.payload["action"] in offered


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_the_reply_follows_its_rule(row, validators):
    """The table "What an answer shows", for the rules whose widgets are fixed by the context."""
    context = row["context"]
    blocks = _blocks(row, validators)
    types = [b.type for b in blocks]
    rule = _rule(row)
    if rule in ("search_none", "showing_none", "prose"):
        assert types == []
    elif rule == "search":
        assert [b.payload for b in blocks] == context["listings"]
        assert types == ["listing_card"] * len(context["listings"])
    elif rule == "one_listing":
        assert types == ["listing_card"] and blocks[0].payload in context["listings"]
    elif rule == "showing":
        assert types and set(types) == {"showing_scheduler"}
        for block in blocks:
            slots = context["open_slots"][block.payload["mls_id"]]
            assert block.payload["slots"] == slots[:MAX_SLOTS]
    elif rule == "contact":
        assert types and set(types) == {"contact_card"}
        assert all(b.payload in context["contacts"] for b in blocks)
    elif rule == "mortgage":
        assert types == ["mortgage_estimate"]
        assert blocks[0].payload == context["mortgage_quote"]
    elif rule == "comps":
        assert types == ["comparables_table"]
        assert blocks[0].payload == {
            "subject_address": context["subject"]["address"],
            "comps": context["recent_sales"][:MAX_COMPS],
        }
    elif rule == "action":
        assert types in ([], ["action_request"])
    elif rule == "several":
        assert len(blocks) >= 2


# ------------------------------------------------------------------ unlike the generator


def _strings(value) -> list[str]:
    """Every string in a value of lists, tuples and dicts (keys and values)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _ngrams(text: str) -> set[tuple[str, ...]]:
    """Word 4-grams of text, never across a template's {placeholder}."""
    grams = set()
    for piece in _PLACEHOLDER.split(text.lower()):
        words = _WORD.findall(piece)
        grams.update(zip(*(words[i:] for i in range(NGRAM)), strict=False))
    return grams


def _phrasing_ngrams() -> set[tuple[str, ...]]:
    """The 4-grams of every phrase list or dict in the generator's phrasing module, read off
    the module itself so that new or renamed pools are covered too."""
    grams = set()
    for name, value in vars(phrasing).items():
        if not name.startswith("_") and isinstance(value, list | tuple | dict):
            for text in _strings(value):
                grams |= _ngrams(text)
    return grams


def test_no_question_reuses_a_phrasing_template():
    templates = _phrasing_ngrams()
    assert len(templates) > 50, "the phrasing module no longer holds phrase pools"
    reused = [
        (row["meta"]["id"], " ".join(gram))
        for row in ROWS
        for message in row["messages"]
        if message["role"] == "user"
        for gram in sorted(_ngrams(message["content"]) & templates)
    ]
    assert reused == []
