"""The `demo` dataset: synthetic conversations of the real-estate demo, built from the CRM.

    rows = generate_demo_conversations(count=DEMO_ROWS, seed=11)  # the CRM must be loaded

Each row is a line of shared/spec/datasets.md: the user's turn(s), the reference reply as
the last message, the turn's `context`, and meta {id, split, source, kind}. The data teaches
the demo's rules (shared/demo/README.md, "What an answer shows") to a small model:
- contexts hold what a recall-minded retrieval brings, usually more than the answer shows
  (a listing with its people and slots), so the model learns what to show from the ask;
- the actions a user may run come in the context's `actions` key, now and then a subset,
  and an ask for one outside it is refused in prose;
- every widget value is copied from the context (or the user's words), never invented, and
  no block appears twice in one reply;
- each widget has one fixed rule for what goes in it (replies.py);
- every reply is checked against the active registry here, and a bad one raises: a bad
  row is a bug in this generator, not noise to filter out.
The same seed over the same CRM gives the same rows; the split comes from the row id.
"""

import functools
import random
import re
from collections.abc import Callable, Mapping

from demo.dataset import asks
from demo.dataset.asks import Draft
from demo.dataset.crm import DemoCrm, demo_crm_read
from finetune.evaluation.values import KnownValues
from finetune.rows import eval_split_gaps, row_problems, stable_split
from widgets.markup import PayloadValidator, widget_segments
from widgets.selectors import registry_validators

DEMO_WIDGETS = frozenset(
    {
        "listing_card",
        "showing_scheduler",
        "comparables_table",
        "mortgage_estimate",
        "contact_card",
        "action_request",
    }
)
# Share of rows (percent) each maker draws, one maker per row of the demo's rules table.
# Follow-ups are two-turn rows, whose kind is the rule their second turn exercises.
KIND_PERCENT = {
    "search": 12,
    "search_none": 4,
    "one_listing": 7,
    "showing": 8,
    "showing_none": 4,
    "contact": 10,
    "mortgage": 7,
    "comps": 7,
    "action": 16,
    "several": 9,
    "prose": 8,
    "follow_up": 8,
}
MAKERS: dict[str, Callable[[random.Random, DemoCrm], Draft | None]] = {
    "search": asks.make_search,
    "search_none": asks.make_no_match,
    "one_listing": asks.make_about,
    "showing": asks.make_showing,
    "showing_none": functools.partial(asks.make_showing, closed=True),
    "contact": asks.make_contact,
    "mortgage": asks.make_mortgage,
    "comps": asks.make_comps,
    "action": asks.make_action,
    "several": asks.make_several,
    "prose": asks.make_prose,
    "follow_up": asks.make_follow_up,
}
# The rules table's answer shapes (meta.kind) and the fewest rows of each in the demo data.
RULE_KINDS = (
    "search", "search_none", "one_listing", "showing", "showing_none", "contact", "mortgage",
    "comps", "action", "several", "prose",
)  # fmt: skip
DEMO_ROWS = 720
MAX_DRAWS = 500  # per row; a maker that never fits in this many draws has a bug
SPLIT_CHECK_MIN_ROWS = 200  # below this, a widget may miss the eval split by chance
# action_request leaves that are the assistant's own words; every other widget value must
# come from the context, the user's words or the schemas' own values (`action` is an enum).
FREE_TEXT_KEYS = frozenset({"summary", "subject", "title", "body"})
_NOISE = re.compile(r"[\W_]+")


class DemoDataError(Exception):
    """The generator cannot make valid rows: no CRM, no demo widgets, or a bug in it."""


def generate_demo_conversations(*, count: int = DEMO_ROWS, seed: int = 11) -> list[dict]:
    """`count` demo rows from the CRM in the database (load it first: load_demo)."""
    crm = demo_crm_read()
    if not crm.active():
        raise DemoDataError("the CRM has no active listings: run `manage.py load_demo` first")
    validators = registry_validators()
    if missing := sorted(DEMO_WIDGETS - set(validators)):
        raise DemoDataError(f"the active registry lacks {', '.join(missing)}: run load_demo")
    rng = random.Random(seed)  # noqa: S311 - training data, not secrets
    seen: set[str] = set()
    rows = [
        _row(_draw(rng, crm, kind, seen), number, validators)
        for number, kind in enumerate(_schedule(rng, count), start=1)
    ]
    if count >= SPLIT_CHECK_MIN_ROWS and (gaps := eval_split_gaps(rows)):
        raise DemoDataError(f"no eval row shows {', '.join(gaps)}; try another seed")
    return rows


def _schedule(rng: random.Random, count: int) -> list[str]:
    """Which maker draws each row: the shares of KIND_PERCENT, in a shuffled order."""
    kinds = [k for k, percent in KIND_PERCENT.items() for _ in range(count * percent // 100)]
    kinds += ["search"] * (count - len(kinds))
    rng.shuffle(kinds)
    return kinds


def question_key(text: str) -> str:
    """Questions equal but for case, spacing and punctuation are the same question."""
    return _NOISE.sub(" ", text.lower()).strip()


def _draw(rng: random.Random, crm: DemoCrm, kind: str, seen: set[str]) -> Draft:
    for _ in range(MAX_DRAWS):
        draft = MAKERS[kind](rng, crm)
        if draft is not None and question_key(draft.question) not in seen:
            seen.add(question_key(draft.question))
            return draft
    raise DemoDataError(f"{kind}: no new question in {MAX_DRAWS} draws")


def _row(draft: Draft, number: int, validators: Mapping[str, PayloadValidator]) -> dict:
    row_id = f"demo-{number:04d}"
    turns = [*draft.history, draft.question, draft.reply]
    row = {
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": text}
            for i, text in enumerate(turns)
        ],
        "context": draft.context,
        "meta": {
            "id": row_id,
            "split": stable_split(row_id),
            "source": "synthetic",
            "kind": draft.kind,
        },
    }
    problems = row_problems(row, validators)
    problems += [f"value not in context: {v!r}" for v in ungrounded_values(row, validators)]
    blocks = [(b.type, b.text) for b in widget_segments(turns[-1], validators)]
    if len(set(blocks)) != len(blocks):
        problems.append("a block shown twice")
    if problems:
        raise DemoDataError(f"{row_id} ({draft.kind}): {'; '.join(problems)}")
    return row


# ------------------------------------------------------------------ reading rows back


def ungrounded_values(row: dict, validators: Mapping[str, PayloadValidator]) -> list:
    """Widget values the reference reply invents: the evaluation's definition, so the data
    never teaches what the metric counts against a model."""
    known = KnownValues.of_row(row, validators)
    return [
        value
        for block in widget_segments(row["messages"][-1]["content"], validators)
        for _, value in known.invented(block.payload, free_text=FREE_TEXT_KEYS)
    ]
