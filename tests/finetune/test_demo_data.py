"""The demo training data (demo/dataset/): enough rows, every reply valid and following the
demo's rules (shared/demo/README.md, "What an answer shows"), every widget value taken from
the context, contexts holding more than the answer shows, varied phrasing, deterministic,
with a stable split.

These checks are written apart from the generator's own (it checks itself too), so a bug
shared by both would still have to get past two different readings of the rules.
"""

import hashlib
import json
import re
from collections import Counter
from datetime import date

import jsonschema
import pytest
import xgrammar as xgr
from django.core.management import call_command
from django.db import transaction

from demo.contexts import CONTEXT_KEYS, MAX_SEARCH_HITS
from demo.dataset.data import RULE_KINDS, DemoDataError, generate_demo_conversations
from demo.domain import DEMO_DIR
from demo.retrieval import retrieve_context
from demo.services import crm_fixture_load
from demo.widget_files import demo_widget_specs, demo_widgets_load
from finetune.management.commands.make_demo_dataset import Command as MakeDemoDataset
from serving.constraints import widget_constraint
from serving.registry_specs import active_widget_specs
from widgets.markup import Outcome, parse_markup
from widgets.selectors import registry_validators

TODAY = date(2026, 11, 21)
WIDGETS = {
    "listing_card",
    "showing_scheduler",
    "comparables_table",
    "mortgage_estimate",
    "contact_card",
    "action_request",
}
ACTIONS = {"book_showing", "send_email", "create_task", "update_listing_status"}
# Every test reads the database, most through the module-scoped `rows` fixture. pytest-django
# sets up the test database only for marked tests, so without the mark a test run alone
# (`-k`) found no tables.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def rows(django_db_setup, django_db_blocker):
    """The default dataset, generated once for the module and its database rolled back.

    Module scope, so the widgets are loaded with demo_widgets_load (what the function-scoped
    `demo_registry` fixture calls); tests that read the registry themselves use the fixture.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        crm_fixture_load(today=TODAY)
        demo_widgets_load()
        generated = generate_demo_conversations()
        transaction.set_rollback(True)
    return generated


@pytest.fixture
def crm(db, demo_registry):
    crm_fixture_load(today=TODAY)


def reply(row) -> str:
    return row["messages"][-1]["content"]


def blocks(text: str) -> list:
    return [s for s in parse_markup(text, {}) if s.kind == "widget"]


def types(row) -> list[str]:
    return [b.type for b in blocks(reply(row))]


def leaves(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, key)
    else:
        yield key, value


def question(row) -> str:
    return row["messages"][-2]["content"]


# ------------------------------------------------------------------ shape


def test_rows_have_the_conversation_file_form(rows):
    assert len(rows) >= 300
    ids = [row["meta"]["id"] for row in rows]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"demo-\d{4}", i) for i in ids)
    for row in rows:
        assert set(row) == {"messages", "context", "meta"}
        roles = [m["role"] for m in row["messages"]]
        # No system message: the prompt builder adds it. Turns alternate, user first.
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        assert all(m["content"].strip() for m in row["messages"])
        assert isinstance(row["context"], dict)
        assert row["meta"]["source"] == "synthetic"
        assert row["meta"]["split"] in ("train", "eval")
        assert row["meta"]["kind"] in RULE_KINDS


def test_every_reply_is_valid_for_the_active_registry(rows, demo_registry):
    validators = registry_validators()
    outcomes = Counter()
    for row in rows:
        for message in row["messages"]:
            if message["role"] == "assistant":
                outcomes.update(b.outcome for b in parse_markup(message["content"], validators)
                                if b.kind == "widget")  # fmt: skip
    assert set(outcomes) == {Outcome.VALID}, outcomes
    assert outcomes[Outcome.VALID] > len(rows)


def _out_of_order(payload, schema, path: str) -> list[str]:
    """Objects whose keys do not follow their schema's declared `properties` order."""
    found = []
    if isinstance(payload, dict) and isinstance(schema, dict):
        declared = list(schema.get("properties", {}))
        if declared and list(payload) != [k for k in declared if k in payload]:
            found.append(f"{path}: {list(payload)} against {declared}")
        for key, value in payload.items():
            found += _out_of_order(
                value, schema.get("properties", {}).get(key, {}), f"{path}/{key}"
            )
    elif isinstance(payload, list) and isinstance(schema, dict):
        for item in payload:
            found += _out_of_order(item, schema.get("items", {}), f"{path}/*")
    return found


def test_widget_keys_follow_the_schema_order(rows, demo_registry):
    """Constrained decoding writes properties in the order the schema declares them: data in
    another order teaches the adapter a block the grammar will not let it write."""
    schemas = {spec.name: spec.json_schema for spec in active_widget_specs()}  # the grammar's
    found = [
        problem
        for row in rows
        for block in blocks(reply(row))
        for problem in _out_of_order(block.payload, schemas[block.type], block.type)
    ]
    assert found == []


# ------------------------------------------------------------------ coverage and variety


def test_every_widget_and_rule_is_well_represented(rows):
    rows_with = Counter(t for row in rows for t in set(types(row)))
    assert set(rows_with) == WIDGETS
    assert min(rows_with.values()) >= 30, rows_with
    kinds = Counter(row["meta"]["kind"] for row in rows)
    assert set(kinds) == set(RULE_KINDS)
    assert min(kinds.values()) >= 20, kinds  # every answer shape of the rules table
    assert sum(len(set(types(row))) >= 2 for row in rows) >= 0.08 * len(rows)  # several types
    assert sum(not types(row) for row in rows) >= 100  # prose only, for several reasons
    two_turn = [row for row in rows if len(row["messages"]) == 4]
    assert 0.05 * len(rows) <= len(two_turn) <= 0.25 * len(rows)
    assert {row["meta"]["kind"] for row in two_turn} >= {"showing", "mortgage", "action", "prose"}


def test_no_two_rows_ask_the_same_final_question(rows):
    questions = Counter(re.sub(r"\W+", " ", question(row).lower()).strip() for row in rows)
    assert questions.most_common(1)[0][1] == 1, questions.most_common(3)


def test_phrasing_varies(rows):
    searches = [question(row) for row in rows if row["meta"]["kind"] == "search"]
    openings = Counter(" ".join(q.lower().split()[:2]) for q in searches)
    assert len(openings) >= 25
    text = " ".join(searches).lower()
    assert re.search(r"\d ?br\b", text) and re.search(r"\b(two|three|four)[- ]bed", text)
    assert re.search(r"under|below", text) and re.search(r"\d+k\b", text)
    assert re.search(r"\$\d{3},\d{3}", text)
    asked = [question(row) for row in rows]
    words = [len(q.split()) for q in asked]
    assert sum(n <= 4 for n in words) >= 0.08 * len(rows)  # terse shorthand
    assert sum(n >= 14 for n in words) >= 0.05 * len(rows)  # long, several clauses
    assert sum(q == q.lower() and bool(re.search("[a-z]", q)) for q in asked) >= 0.25 * len(rows)
    typos = re.compile(r"\b(anythign|listigns|hoems|pls|showign|paymnet|morgage|mortage|abt)\b")
    assert sum(bool(typos.search(q.lower())) for q in asked) >= 20
    cities = {r["context"]["listings"][0]["city"] for r in rows
              if r["meta"]["kind"] == "search" and r["context"]["listings"]}  # fmt: skip
    assert len(cities) == 6


def test_prose_around_the_widgets_stays_short(rows):
    for row in rows:
        prose = [s.text.strip() for s in parse_markup(reply(row), {}) if s.kind == "prose"]
        assert sum(len(p) for p in prose) <= 160, reply(row)
        assert len([p for p in prose if p]) <= 2


# ------------------------------------------------------------------ grounding


def test_contexts_follow_the_contract_and_hold_more_than_the_answer_shows(rows):
    """Recall-minded contexts: the model decides what to show, so most contexts of a card
    answer hold records the answer leaves out (a listing's people, its slots, its record
    beside a payment)."""
    for row in rows:
        assert set(row["context"]) <= set(CONTEXT_KEYS), row["meta"]["id"]
        assert set(row["context"].get("actions", ACTIONS)) <= ACTIONS
    with_cards = [row for row in rows if types(row) and row["meta"]["kind"] != "search"]
    shown = [{json.dumps(b.payload, sort_keys=True) for b in blocks(reply(r))} for r in with_cards]
    more = [
        row
        for row, cards in zip(with_cards, shown, strict=True)
        if any(
            json.dumps(record, sort_keys=True) not in cards
            for key in ("listings", "contacts")
            for record in row["context"].get(key, [])
        )
    ]
    assert len(more) >= 0.6 * len(with_cards), (len(more), len(with_cards))
    for kind in ("mortgage", "comps", "showing", "contact"):
        kind_rows = [r for r in rows if r["meta"]["kind"] == kind]
        assert sum("listings" in r["context"] for r in kind_rows) >= 0.3 * len(kind_rows), kind


def test_the_chat_retrieves_the_listing_a_question_names(rows, crm):
    """The data's contexts come from the CRM, not from the chat's retrieval; where a question
    names a listing by its address, the chat's retrieval brings that listing too."""
    named = [
        row
        for row in rows
        if len(row["messages"]) == 2
        and len(row["context"].get("listings", [])) == 1
        and row["context"]["listings"][0]["address"] in question(row)
    ]
    assert len(named) >= 50
    found = [
        row
        for row in named
        if row["context"]["listings"][0]["mls_id"]
        in [x["mls_id"] for x in retrieve_context(question(row)).get("listings", [])]
    ]
    assert len(found) >= 0.9 * len(named), [question(r) for r in named if r not in found][:5]


def test_widget_values_come_from_the_context_or_the_user(rows):
    hallucinated = []
    for row in rows:
        known = {v.strip() if isinstance(v, str) else v for _, v in leaves(row["context"])}
        said = " ".join(m["content"] for m in row["messages"] if m["role"] == "user")
        for block in blocks(reply(row)):
            for key, value in leaves(block.payload):
                # Exempt: the words an action_request is written in (its summary, an email's
                # subject and body, a task's title) are the assistant's own free text.
                if key in ("summary", "subject", "title", "body") and isinstance(value, str):
                    continue
                # The action's name is not a record value: it must be one the schema names.
                if block.type == "action_request" and key == "action":
                    assert value in ACTIONS
                    continue
                if isinstance(value, str):
                    grounded = value.strip() in known or value.strip() in said
                else:  # numbers compare exactly
                    grounded = not isinstance(value, bool) and value in known
                if not grounded:
                    hallucinated.append((row["meta"]["id"], block.type, key, value))
    assert hallucinated == []


def test_search_cards_are_the_listings_of_the_context(rows):
    """Every hit of a search is shown, in order: one fixed rule a small model can learn."""
    searches = [row for row in rows if row["meta"]["kind"] in ("search", "search_none")]
    sizes = Counter(len(row["context"]["listings"]) for row in searches)
    assert set(sizes) == set(range(MAX_SEARCH_HITS + 1)), sizes
    for row in searches:
        cards = [b.payload for b in blocks(reply(row))]
        assert cards == row["context"]["listings"]


def _payloads(row, widget: str) -> list:
    return [b.payload for b in blocks(reply(row)) if b.type == widget]


def test_each_answer_shows_what_the_rules_say(rows):
    """The rules table, read apart from the generator: which widgets each kind of ask gets,
    from a context that usually holds more."""
    for row in rows:
        kind, context, shown, rid = (
            row["meta"]["kind"],
            row["context"],
            types(row),
            row["meta"]["id"],
        )
        if kind != "action":
            assert "action_request" not in shown, rid  # nothing asked to be done
        if kind == "one_listing":
            assert _payloads(row, "listing_card") == context["listings"][:1] and len(shown) == 1
        elif kind == "showing":
            assert set(shown) == {"showing_scheduler"}, rid
            for payload in _payloads(row, "showing_scheduler"):
                assert payload["slots"] == context["open_slots"][payload["mls_id"]][:3]
        elif kind == "showing_none":
            assert shown == [] and not any(context["open_slots"].values()), rid
        elif kind == "contact":
            cards = _payloads(row, "contact_card")
            assert set(shown) <= {"contact_card"} and all(c in context["contacts"] for c in cards)
            assert len({c["role"] for c in cards}) <= 1, rid  # one person, or one role
        elif kind == "mortgage":
            assert shown == ["mortgage_estimate"], rid
            assert _payloads(row, "mortgage_estimate") == [context["mortgage_quote"]]
        elif kind == "comps":
            assert shown == (["comparables_table"] if context["recent_sales"] else []), rid
        elif kind == "action":
            requests = _payloads(row, "action_request")
            if requests:
                assert shown == ["action_request"], rid
                assert requests[0]["action"] in context.get("actions", ACTIONS), rid
            else:
                assert shown == [], rid  # refused: the user may not run it
        elif kind == "several":
            assert len(shown) == 2 and len(set(shown)) == 2, rid
        elif kind == "prose":
            assert shown == [], rid
    contacts = [r for r in rows if r["meta"]["kind"] == "contact" and types(r)]
    fewer = [r for r in contacts if len(types(r)) < len(r["context"]["contacts"])]
    assert len(fewer) >= 0.6 * len(contacts)  # the person asked for, out of everyone brought
    refused = [r for r in rows if r["meta"]["kind"] == "action" and not types(r)]
    assert len(refused) >= 5


def test_no_block_is_shown_twice_in_one_reply(rows):
    for row in rows:
        texts = [b.text for b in blocks(reply(row))]
        assert len(texts) == len(set(texts)), row["meta"]["id"]


def test_action_params_are_typed_by_the_next_action_request_version(rows):
    """Every action's params validate against its own variant (action_request v2)."""
    schema = json.loads(
        (DEMO_DIR / "spec" / "versions" / "action_request.v2.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    requests = [p for row in rows for p in _payloads(row, "action_request")]
    assert {p["action"] for p in requests} == ACTIONS
    for payload in requests:
        assert list(validator.iter_errors(payload)) == [], payload


def test_two_turn_rows_resolve_the_listing_from_the_history(rows):
    for row in rows:
        if len(row["messages"]) != 4:
            continue
        first_cards = [b.payload for b in blocks(row["messages"][1]["content"])]
        for payload in (b.payload for b in blocks(reply(row))):
            mls_id = payload.get("mls_id") or payload.get("params", {}).get("mls_id")
            if mls_id:  # the listing referred to is one the first answer showed
                assert mls_id in [c["mls_id"] for c in first_cards]
            if "subject_address" in payload:
                assert payload["subject_address"] in [c["address"] for c in first_cards]
        if len(row["context"].get("listings", [])) == 1 and len(first_cards) > 1:
            assert row["context"]["listings"][0] in first_cards  # "the second one" resolved
        assert not re.search(r"\d+ [A-Z][a-z]+ [A-Z][a-z]", question(row))  # no address


# ------------------------------------------------------------------ determinism and split


def test_same_seed_same_rows_and_another_seed_other_rows(rows, crm):
    # The module's rows came from another load of the same CRM: equal means deterministic.
    assert generate_demo_conversations() == rows
    other = generate_demo_conversations(count=60, seed=12)
    assert [question(r) for r in other] != [question(r) for r in rows[:60]]


def test_split_is_stable_by_id_and_eval_shows_every_widget(rows):
    for row in rows:
        bucket = int(hashlib.sha256(row["meta"]["id"].encode()).hexdigest(), 16) % 100
        assert row["meta"]["split"] == ("eval" if bucket < 15 else "train")
    held_out = [row for row in rows if row["meta"]["split"] == "eval"]
    assert 0.08 * len(rows) <= len(held_out) <= 0.22 * len(rows)
    assert {t for row in held_out for t in types(row)} == WIDGETS


def answer_shape(row) -> tuple:
    """The widget types a reply shows, and which record groups of its context are empty."""
    empty = sorted(k for k, v in row["context"].items() if v in ({}, []) and k != "actions")
    return tuple(sorted(set(types(row)))), tuple(empty)


def test_every_answer_shape_held_out_is_trained_on(rows):
    # The 2026-11-22a run's data had one training row of a closed listing's showing answer
    # (the card, "no open slots") and two eval rows: the adapter made up slots for both. The
    # 2026-11-22c run's had 10 such rows and 13 comps follow-ups, and the adapter still
    # failed 3 eval rows of them.
    train = [r for r in rows if r["meta"]["split"] == "train"]
    trained = Counter(answer_shape(r) for r in train)
    held_out = {answer_shape(r) for r in rows if r["meta"]["split"] == "eval"}
    # Two widgets in one answer are two rules at once: their pairs may be rarer.
    least = {shape: 3 if len(shape[0]) > 1 else 5 for shape in held_out}
    assert {shape: trained[shape] for shape in held_out if trained[shape] < least[shape]} == {}
    assert trained[((), ("listings",))] >= 15  # searches nothing fits
    assert trained[((), ("open_slots",))] >= 15  # a closed listing's showing ask
    follow_ups = [r for r in train if len(r["messages"]) > 2]
    assert len({tuple(types(r)) for r in follow_ups}) >= 5


# ------------------------------------------------------------------ command and errors


def test_command_writes_a_readable_jsonl_file(crm, tmp_path, capsys):
    out = tmp_path / "demo.jsonl"
    call_command(MakeDemoDataset(), "--out", str(out), "--count", "40", "--seed", "3")
    text = out.read_text(encoding="utf-8")
    assert "\\u00" not in text  # ensure_ascii=False: "Müller" stays readable
    lines = text.splitlines()
    assert len(lines) == 40
    parsed = [json.loads(line) for line in lines]
    assert parsed == generate_demo_conversations(count=40, seed=3)
    printed = capsys.readouterr().out
    assert "Wrote 40 rows" in printed and "split: " in printed and "listing_card" in printed


def test_generator_refuses_an_empty_crm(db, demo_registry):
    with pytest.raises(DemoDataError, match="load_demo"):
        generate_demo_conversations(count=10)


def test_every_reference_answer_fits_its_own_grounded_grammar(rows):
    """Grounded decoding never forbids a right answer: each reference fits its row's grammar."""
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo(["a"], stop_token_ids=[0]))
    specs = demo_widget_specs()  # action widgets marked: `actions` narrows them
    assert any(s.grounded_fields for s in specs) and any(s.is_action for s in specs)
    assert sum("actions" in row["context"] for row in rows) >= 100
    refused = []
    for row in rows:
        compiled = compiler.compile_structural_tag(
            widget_constraint(specs, row["context"]).structural_tag
        )
        matcher = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)
        if not matcher.accept_string(row["messages"][-1]["content"]):
            refused.append(row["meta"]["id"])
    assert refused == []
