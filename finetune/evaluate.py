"""The evaluation harness: the metrics of shared/spec/datasets.md on any set of rows.

No Django here. `score_case` compares one model output with its reference answer;
`summarise` turns scored cases into the metrics, overall and per widget type;
`evaluate_rows` generates the outputs with a backend first. The Django command and the
Celery job call these same functions.
"""

import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from serving.backend import (
    Backend,
    BackendTimeout,
    ChatMessage,
    Completion,
    Sampling,
    TextDelta,
)
from serving.constraints import widget_constraint
from serving.prompts import WidgetSpec, build_messages
from widgets.markup import Outcome, PayloadValidator, parse_markup

OUTCOMES = tuple(o.value for o in Outcome)


# ---------------------------------------------------------------- comparing one case


def leaves(value: Any, pointer: str = "") -> list[tuple[str, Any]]:
    """(JSON pointer, leaf value) of every string, number and boolean in `value`."""
    if isinstance(value, dict):
        return [
            leaf
            for key, child in value.items()
            for leaf in leaves(child, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
        ]
    if isinstance(value, list):
        return [leaf for i, child in enumerate(value) for leaf in leaves(child, f"{pointer}/{i}")]
    if value is None:
        return []
    return [(pointer, value)]


def same_value(a: Any, b: Any) -> bool:
    """datasets.md: strings compared exactly after trimming, numbers exactly."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return False


def schema_constants(validators: Mapping[str, PayloadValidator]) -> list[Any]:
    """Every enum/const value of the registry's schemas: vocabulary of the format, not facts."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(node.get("enum") or [])
            if "const" in node:
                found.append(node["const"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for validator in validators.values():
        walk(validator.schema)
    return found


def _known(value: Any, context_values: list[Any], user_text: str) -> bool:
    if any(same_value(value, known) for known in context_values):
        return True
    if isinstance(value, str):
        return bool(value.strip()) and value.strip().lower() in user_text
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) and f"{value}" in user_text


@dataclass(frozen=True, kw_only=True)
class Block:
    type: str
    outcome: str
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
        Block(type=s.type, outcome=str(s.outcome), payload=s.payload)
        for s in parse_markup(text, validators)
        if s.kind == "widget"
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
    # Known values: the context, the reference, and the schemas' own enum values (an action
    # name like "create_task" is the format's vocabulary, not an invented fact).
    known = [v for _, v in leaves(row.get("context") or {})]
    known += [v for b in expected for _, v in leaves(b.payload)]
    known += schema_constants(validators)
    user_text = " ".join(m["content"] for m in row["messages"][:-1] if m["role"] == "user").lower()
    hallucinated = [(t, v) for t, v in _emitted_leaves(emitted) if not _known(v, known, user_text)]
    problems = [f"timed out: {timeout}"] if timeout else []
    if Counter(b.type for b in emitted) != Counter(b.type for b in expected):
        problems.append(
            f"widgets {[b.type for b in emitted]} instead of {[b.type for b in expected]}"
        )
    problems += [f"{b.type} is {b.outcome}" for b in emitted if b.outcome != "valid"]
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
        "validity": _share(outcomes["valid"], len(blocks)),
        "valid_coverage": _share(outcomes["valid"], valid_out_of),
        "type_accuracy": _share(type_ok, len(lines)),
        "field_accuracy": _share(hits, total),
        "field_recall": _share(hits, total_all),  # misses of unmatched widgets count too
        "hallucinated_values": _share(invented, emitted_leaves),
        "outcomes": {o: outcomes[o] for o in OUTCOMES},
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


# ---------------------------------------------------------------- generating outputs


@dataclass(frozen=True, kw_only=True)
class EvalSettings:
    model: str = "base"
    manual_prompt: bool = True
    constrained: bool = False
    max_tokens: int = 384  # the longest demo reference is ~300 tokens
    temperature: float = 0.0  # greedy: the same run gives the same numbers


def _generate(row: dict, *, backend, widgets, validators, settings) -> CaseScore:
    """One row: the reply to everything before its last message, scored against that message.

    A row the backend stops answering (BackendTimeout) is scored on what it had sent and
    marked timed out: one stalled row must not throw away a run's other rows. Any other
    backend error (server down, unknown model) would hit every row, so it ends the run.
    """
    history = [ChatMessage.from_dict(m) for m in row["messages"][:-1]]
    prompt = build_messages(widgets, history, row.get("context"), manual=settings.manual_prompt)
    sampling = Sampling(temperature=settings.temperature, max_tokens=settings.max_tokens)
    # As in the chat: the grammar grounds record fields in this row's own records.
    constraint = (
        widget_constraint(widgets, row.get("context") or {}) if settings.constrained else None
    )
    started, parts, usage, timeout = time.perf_counter(), [], None, ""
    try:
        for item in backend.stream(
            prompt, model=settings.model, sampling=sampling, constraint=constraint
        ):
            if isinstance(item, TextDelta):
                parts.append(item.text)
            elif isinstance(item, Completion):
                usage = item
    except BackendTimeout as error:
        timeout = error.message
    return score_case(
        row,
        "".join(parts),
        validators,
        seconds=usage.seconds if usage else time.perf_counter() - started,
        completion_tokens=usage.completion_tokens if usage else 0,
        timeout=timeout,
    )


def evaluate_rows(
    rows: Sequence[dict],
    *,
    backend: Backend,
    widgets: Sequence[WidgetSpec],
    validators: Mapping[str, PayloadValidator],
    settings: EvalSettings,
    on_case: Callable[[int, CaseScore], None] | None = None,
    concurrency: int = 1,
) -> tuple[dict, list[CaseScore]]:
    """Generate the reply to everything before each row's last message, then score it.

    `concurrency` > 1 sends that many rows at once: a vLLM server batches them (several
    times the throughput of one stream); the local backend takes them one at a time anyway.
    Greedy decoding makes the outputs the same either way, and scores keep the rows' order.
    `on_case` is called in completion order with the row's index.
    """
    generate = partial(
        _generate,
        backend=backend,
        widgets=widgets,
        validators=validators,
        settings=settings,
    )
    scores: list[CaseScore | None] = [None] * len(rows)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending = {pool.submit(generate, row): index for index, row in enumerate(rows)}
        for future in as_completed(pending):
            index = pending[future]
            scores[index] = future.result()
            if on_case:
                on_case(index, scores[index])
    done = [s for s in scores if s is not None]
    return summarise(done), done


def case_record(score: CaseScore) -> dict:
    """A scored case as JSON, for storing failing cases and showing them beside the reference."""
    record = asdict(score)
    record["failed"] = score.failed
    return record
