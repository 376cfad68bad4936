"""Scoring: the metrics of shared/spec/datasets.md on replies already generated.

No Django here. `score_case` compares one model output with its row's reference answer;
`summarise` turns scored cases into the metrics, overall and per widget type. The replies
come from finetune.evaluation.generation (or any caller that has them).
"""

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from finetune.evaluation.values import KnownValues, leaves, same_value
from widgets.markup import Outcome, PayloadValidator, widget_segments

# ---------------------------------------------------------------- comparing one case


@dataclass(frozen=True, kw_only=True)
class Block:
    type: str
    outcome: Outcome
    payload: Any


@dataclass(frozen=True, kw_only=True)
class CaseScore:
    row_id: str
    reference: str
    output: str
    emitted: list[Block]
    expected: list[Block]
    hallucinated: list[tuple[str, Any]]  # (widget type, value) of invented leaf values
    seconds: float = 0.0
    completion_tokens: int = 0
    timed_out: bool = False  # the backend stopped answering: scored on what it had sent
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def _blocks(text: str, validators: Mapping[str, PayloadValidator]) -> list[Block]:
    return [
        Block(type=s.type, outcome=s.outcome, payload=s.payload)
        for s in widget_segments(text, validators)
    ]


def _of(blocks: list[Block], widget: str | None) -> list[Block]:
    return [b for b in blocks if widget is None or b.type == widget]


def field_counts(
    emitted: list[Block], expected: list[Block], widget: str | None = None
) -> tuple[int, int, int, list[str]]:
    """(hits, leaves of matched reference widgets, leaves of all reference widgets, misses).

    Reference widgets are matched to emitted ones of the same type, in order (datasets.md).
    """
    pool: dict[str, list[Block]] = {}
    for block in _of(emitted, widget):
        pool.setdefault(block.type, []).append(block)
    hits = total = total_all = 0
    misses = []
    for ref in _of(expected, widget):
        ref_leaves = leaves(ref.payload)
        total_all += len(ref_leaves)
        if not pool.get(ref.type):
            misses.append(f"missing {ref.type}")
            continue
        got = pool[ref.type].pop(0)
        got_leaves = dict(leaves(got.payload)) if isinstance(got.payload, dict) else {}
        total += len(ref_leaves)
        for pointer, value in ref_leaves:
            if pointer in got_leaves and same_value(got_leaves[pointer], value):
                hits += 1
            else:
                misses.append(
                    f"{ref.type}{pointer}: expected {value!r}, got {got_leaves.get(pointer)!r}"
                )
    return hits, total, total_all, misses


def _emitted_leaves(blocks: list[Block]) -> list[tuple[str, Any]]:
    return [
        (b.type, v) for b in blocks if isinstance(b.payload, dict) for _, v in leaves(b.payload)
    ]


def score_case(
    row: dict,
    output: str,
    validators: Mapping[str, PayloadValidator],
    *,
    seconds: float = 0.0,
    completion_tokens: int = 0,
    timeout: str = "",
) -> CaseScore:
    reference = row["messages"][-1]["content"]
    emitted, expected = _blocks(output, validators), _blocks(reference, validators)
    known = KnownValues.of_row(row, validators, also=[b.payload for b in expected])
    hallucinated = [
        (b.type, v)
        for b in emitted
        if isinstance(b.payload, dict)
        for _, v in known.invented(b.payload)
    ]
    problems = [f"timed out: {timeout}"] if timeout else []
    if Counter(b.type for b in emitted) != Counter(b.type for b in expected):
        problems.append(
            f"widgets {[b.type for b in emitted]} instead of {[b.type for b in expected]}"
        )
    problems += [f"{b.type} is {b.outcome}" for b in emitted if b.outcome is not Outcome.VALID]
    problems += field_counts(emitted, expected)[3]
    problems += [f"invented {t} value {v!r}" for t, v in hallucinated]
    return CaseScore(
        row_id=str((row.get("meta") or {}).get("id", "")),
        reference=reference,
        output=output,
        emitted=emitted,
        expected=expected,
        hallucinated=hallucinated,
        seconds=seconds,
        completion_tokens=completion_tokens,
        timed_out=bool(timeout),
        problems=problems,
    )


# ---------------------------------------------------------------- metrics


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(scores: Sequence[CaseScore], *, widget: str | None = None) -> dict:
    """datasets.md's metrics over `scores`, or over one widget type's widgets and lines."""
    lines = [s for s in scores if widget is None or _of(s.expected + s.emitted, widget)]
    blocks = [b for s in lines for b in _of(s.emitted, widget)]
    outcomes = Counter(b.outcome for b in blocks)
    hits = total = total_all = 0
    for s in lines:
        h, t, a, _ = field_counts(s.emitted, s.expected, widget)
        hits, total, total_all = hits + h, total + t, total_all + a
    type_ok = sum(
        1
        for s in lines
        if Counter(b.type for b in _of(s.emitted, widget))
        == Counter(b.type for b in _of(s.expected, widget))
    )
    # Valid widgets per widget the line asked for or had, whichever is more: unlike validity,
    # a model cannot raise it by emitting fewer widgets (an empty answer scores 0, not None).
    valid_out_of = sum(
        max(len(_of(s.emitted, widget)), len(_of(s.expected, widget))) for s in lines
    )
    emitted_leaves = sum(len(_emitted_leaves(_of(s.emitted, widget))) for s in lines)
    invented = sum(1 for s in lines for t, _ in s.hallucinated if widget is None or t == widget)
    return {
        "n": len(lines),
        "blocks": len(blocks),
        "validity": _share(outcomes[Outcome.VALID], len(blocks)),
        "valid_coverage": _share(outcomes[Outcome.VALID], valid_out_of),
        "type_accuracy": _share(type_ok, len(lines)),
        "field_accuracy": _share(hits, total),
        "field_recall": _share(hits, total_all),  # misses of unmatched widgets count too
        "hallucinated_values": _share(invented, emitted_leaves),
        "outcomes": {o.value: outcomes[o] for o in Outcome},
    }


def summarise(scores: Sequence[CaseScore]) -> dict:
    """The metrics of datasets.md, overall and per widget type, and timing."""
    seconds = [s.seconds for s in scores if s.seconds]
    tokens = sum(s.completion_tokens for s in scores)
    types = sorted({b.type for s in scores for b in s.expected + s.emitted})
    return {
        **metrics(scores),
        "timed_out": sum(s.timed_out for s in scores),
        "latency_p50_s": round(statistics.median(seconds), 3) if seconds else None,
        "tokens_per_s": round(tokens / sum(seconds), 2) if seconds and sum(seconds) else None,
        "per_widget": {t: metrics(scores, widget=t) for t in types},
    }


def case_record(score: CaseScore) -> dict:
    """A scored case as JSON, for storing failing cases and showing them beside the reference."""
    record = asdict(score)
    record["failed"] = score.failed
    return record
