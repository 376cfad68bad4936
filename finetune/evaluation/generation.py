"""Generation: a model's replies to evaluation rows, prompted as the chat prompts, then scored.

No Django here. `evaluate_rows` asks any serving backend for the reply to everything before
each row's last message and scores it with finetune.evaluation.scoring. The Celery job and
`manage.py evaluate` (through finetune.eval_runs) and bench/eval_curve.py all call it.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial

from finetune.evaluation.scoring import CaseScore, score_case, summarise
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
from widgets.markup import PayloadValidator


@dataclass(frozen=True, kw_only=True)
class EvalSettings:
    model: str = "base"
    manual_prompt: bool = True
    constrained: bool = False
    max_tokens: int = 800  # the longest demo reference (six listing cards) is ~690 tokens
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
