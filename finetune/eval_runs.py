"""Evaluation runs: create one (its dataset is frozen), execute it, queue a comparison, retry
one the task queue refused.

The harness itself is finetune.evaluation (no Django); this module maps it onto EvalRun rows.
The Celery task `weft.evaluate` and `manage.py evaluate` both execute runs through
`eval_run_execute`, so a number on the comparison page and one printed by the command come
from the same code.
"""

import contextlib
import fcntl
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetune.datasets import dataset_freeze, dataset_rows
from finetune.evaluation.generation import EvalSettings, evaluate_rows
from finetune.evaluation.scoring import case_record
from finetune.models import Adapter, Dataset, EvalRun
from finetune.rejected import RequestRejected
from serving.backend import (
    BASE_MODEL,
    Backend,
    BackendError,
    get_backend,
    load_adapter_once,
    registered_backends,
)
from serving.registry_specs import active_widget_specs, grounded_fields
from widgets.selectors import registry_validators, version_numbers

logger = logging.getLogger(__name__)
SPLITS = ("train", "eval", "all")
VLLM_CONCURRENCY = 8  # vLLM batches concurrent requests: several times one stream's throughput
PROGRESS_EVERY_S = 0.5  # progress rows are written at most this often (plus the last case)


# ---------------------------------------------------------------- the four configurations


@dataclass(frozen=True, kw_only=True)
class Configuration:
    """One column of the comparison: which model, which prompt form, which decoding."""

    key: str
    adapter: bool  # False: the base model with the widget manual
    constrained: bool

    def model_name(self, adapter: Adapter) -> str:
        return adapter.name if self.adapter else BASE_MODEL

    def manual_prompt(self, adapter: Adapter) -> bool:
        return adapter.manual_prompt if self.adapter else True

    def label(self, adapter: Adapter) -> str:
        decoding = "constrained" if self.constrained else "free"
        if not self.adapter:
            return f"base, manual prompt, {decoding}"
        prompt = "manual" if adapter.manual_prompt else "short"
        return f"{adapter.name}, {prompt} prompt, {decoding}"


COMPARISON = (
    Configuration(key="base-free", adapter=False, constrained=False),
    Configuration(key="base-constrained", adapter=False, constrained=True),
    Configuration(key="adapter-free", adapter=True, constrained=False),
    Configuration(key="adapter-constrained", adapter=True, constrained=True),
)


# ---------------------------------------------------------------- creating


def eval_run_create(
    *,
    dataset: Dataset | None,
    split: str,
    model_name: str,
    constrained: bool,
    backend: str,
    user=None,
    manual_prompt: bool | None = None,
    max_tokens: int = EvalSettings.max_tokens,
    limit: int | None = None,
    source: str = "",
    adapter_path: str = "",
    enqueue: bool = False,
) -> EvalRun:
    """A queued evaluation. `manual_prompt=None`: the form the adapter was trained with
    (the base model: the manual). `dataset=None` is a plain file the caller reads (`source`
    names it) and passes to eval_run_execute."""
    problems = []
    adapter = None
    if model_name != BASE_MODEL:
        adapter = Adapter.objects.filter(name=model_name).first()
        if adapter is None and not adapter_path:
            problems.append(f"model: no adapter named {model_name!r}")
    if split not in SPLITS:
        problems.append(f"split: one of {', '.join(SPLITS)}")
    if backend not in registered_backends():
        problems.append(f"backend: one of {', '.join(registered_backends())}")
    if max_tokens < 1 or (limit is not None and limit < 1):
        problems.append("max_tokens and limit are at least 1")
    if dataset is None and not source:
        problems.append("dataset: give a dataset version or name the file")
    if dataset is not None and split in ("train", "eval"):
        if not dataset.rows.filter(split=split).exists():
            problems.append(f"dataset: {dataset} has no {split} rows")
    if problems:
        raise RequestRejected(problems)
    if manual_prompt is None:
        manual_prompt = adapter.manual_prompt if adapter is not None else True
    with transaction.atomic():
        if dataset is not None:
            # Its numbers must stay reproducible: the rows evaluated never change afterwards.
            dataset_freeze(dataset=dataset)
        run = EvalRun.objects.create(
            model_name=model_name,
            adapter=adapter,
            adapter_path=str(adapter_path or ""),
            backend=backend,
            manual_prompt=manual_prompt,
            constrained=constrained,
            max_tokens=max_tokens,
            dataset=dataset,
            source=f"{dataset} ({split})" if dataset is not None else source,
            split=split,
            limit=limit,
            created_by=user,
            # The queue's: should this process die before it sends the message, a worker's
            # recovery sends it (a run the caller executes itself, like the command's, has none).
            task_id=str(uuid.uuid4()) if enqueue else "",
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run.pk))
    run.refresh_from_db()  # sent by now (outside a caller's transaction): queued or not_queued
    return run


def _enqueue(*run_ids: int) -> None:
    from finetune.tasks import enqueue, run_evaluation

    enqueue(run_evaluation, EvalRun, run_ids)


def eval_run_retry(*, run: EvalRun) -> EvalRun:
    """Send a run the task queue refused again; it is not_queued again if the queue still
    cannot be reached."""
    if not EvalRun.objects.filter(pk=run.pk, status=EvalRun.Status.NOT_QUEUED).update(
        status=EvalRun.Status.QUEUED, error=""
    ):
        run.refresh_from_db()
        raise RequestRejected(
            [f"status: only a run that was not queued is retried; this one is {run.status}"]
        )
    transaction.on_commit(lambda: _enqueue(run.pk))
    run.refresh_from_db()
    return run


def eval_runs_recover() -> list[int]:
    """What a worker does at start: queued runs whose message may never have reached the
    broker, and runs left running by a worker that died (their mark is free), are sent again
    (a message that did arrive is then skipped as stale; a run sent again starts over). Runs
    that were not queued wait for a person (eval_run_retry); runs a command executes itself
    are not the queue's."""
    queue_runs = EvalRun.objects.exclude(task_id="")  # not the command's (manage.py evaluate)
    recovered = list(
        queue_runs.filter(status=EvalRun.Status.QUEUED)
        .order_by("created", "id")
        .values_list("pk", flat=True)
    )
    for pk, task_id in queue_runs.filter(status=EvalRun.Status.RUNNING).values_list(
        "pk", "task_id"
    ):
        if not _is_running(task_id):
            recovered.append(pk)
    _enqueue(*recovered)
    return recovered


# A worker executing a run holds an exclusive lock on a file named after the run's message
# (task ids are unique, across databases too); the OS lets go of it when the worker dies,
# which is how a worker at start tells a dead run from one still under way. Workers on one
# machine share the data dir, as with jobs' locks (finetune/jobs.py).


def _mark_path(task_id: str) -> Path:
    return Path(django_settings.DATA_DIR) / "evals" / f"{task_id}.lock"


@contextlib.contextmanager
def _running_mark(task_id: str) -> Iterator[None]:
    if not task_id:  # a run the caller executes itself: not the queue's to recover
        yield
        return
    path = _mark_path(task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held: no check sees it free and there


def _is_running(task_id: str) -> bool:
    try:
        handle = open(_mark_path(task_id))
    except FileNotFoundError:
        return False  # never started, or its worker finished with it
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        # Left by a worker that died; kept (a few bytes): removed, it could be the one a
        # message redelivered for the run has just opened, and that lock would go unseen.
        return False


def eval_runs_queue_comparison(
    *, dataset: Dataset, adapter: Adapter, backend: str, user=None
) -> list[EvalRun]:
    """Queue the four runs of the comparison on `dataset`'s eval split; one that is already
    queued or running with the same settings is not queued twice, and one the task queue
    refused before is sent again rather than doubled."""
    runs, to_send = [], []
    with transaction.atomic():  # sent together once committed: a refusal stops the others
        for config in COMPARISON:
            model_name = config.model_name(adapter)
            pending = EvalRun.objects.filter(
                status__in=(EvalRun.Status.QUEUED, EvalRun.Status.RUNNING,
                            EvalRun.Status.NOT_QUEUED),
                dataset=dataset, split="eval", model_name=model_name, backend=backend,
                manual_prompt=config.manual_prompt(adapter), constrained=config.constrained,
                limit__isnull=True,
            ).first()  # fmt: skip
            if pending is not None and pending.status == EvalRun.Status.NOT_QUEUED:
                EvalRun.objects.filter(pk=pending.pk).update(status=EvalRun.Status.QUEUED, error="")
                to_send.append(pending.pk)
            elif pending is None:
                pending = eval_run_create(
                    dataset=dataset,
                    split="eval",
                    model_name=model_name,
                    manual_prompt=config.manual_prompt(adapter),
                    constrained=config.constrained,
                    backend=backend,
                    user=user,
                )
                to_send.append(pending.pk)
            runs.append(pending)
        # The queue's from now on, as eval_run_create(enqueue=True) marks a run.
        EvalRun.objects.filter(pk__in=to_send).update(task_id=str(uuid.uuid4()))
        transaction.on_commit(lambda: _enqueue(*to_send))
    for run in runs:
        run.refresh_from_db()
    return runs


def eval_run_cancel(*, run: EvalRun) -> EvalRun:
    """A queued (or not queued) run is cancelled; a running one finishes (evaluations take
    minutes, not hours)."""
    EvalRun.objects.filter(
        pk=run.pk, status__in=(EvalRun.Status.QUEUED, EvalRun.Status.NOT_QUEUED)
    ).update(status=EvalRun.Status.CANCELLED, finished=timezone.now())
    run.refresh_from_db()
    return run


# ---------------------------------------------------------------- executing


def _backend_for(run: EvalRun, notify):
    if run.backend == "vllm":
        from serving.vllm_run import vllm_backend_for_run

        return vllm_backend_for_run(notify=notify)
    return contextlib.nullcontext(get_backend(run.backend))


def _rows(run: EvalRun, rows: list[dict] | None) -> list[dict]:
    if run.dataset is not None:
        rows = dataset_rows(run.dataset, split=None if run.split == "all" else run.split)
    elif rows is None:
        raise BackendError(f"{run.source}: the rows of a file are not stored; evaluate it again")
    return rows[: run.limit] if run.limit else rows


def _fail(run_id: int, message: str) -> EvalRun:
    EvalRun.objects.filter(pk=run_id).update(
        status=EvalRun.Status.FAILED, error=message, finished=timezone.now()
    )
    return EvalRun.objects.get(pk=run_id)


def eval_run_fail(*, run: EvalRun, error: str) -> EvalRun:
    """A run that could not execute at all (e.g. the caller's backend never started)."""
    return _fail(run.pk, error)


def eval_run_execute(
    *,
    run_id: int,
    rows: list[dict] | None = None,
    backend: Backend | None = None,
    concurrency: int | None = None,
    notify: Callable[[str], None] | None = None,
    on_case: Callable[[int, int], None] | None = None,
    task_id: str | None = None,
) -> EvalRun:
    """Generate and score every row of run `run_id`; what the task and the command call.

    `rows`: only for a run of a plain file (no dataset). `backend`: one the caller already
    opened (the command's --compare keeps one vLLM server for its four runs). `concurrency`:
    rows in flight at once (default: 8 on vLLM, which batches; 1 elsewhere, as the local
    backend serialises generations behind a lock whose wait limit queued rows would hit).
    `on_case(done, total)` reports progress to a terminal. `task_id`: the Celery message's
    id; a message the run no longer expects (it was sent again since) does nothing.
    """
    run = EvalRun.objects.select_related("dataset", "adapter").get(pk=run_id)
    if run.finished_running:
        return run
    # Held from before the claim: a worker starting meanwhile never sees this run as dead.
    with _running_mark(run.task_id if task_id is None else task_id):
        return _claim_and_execute(
            run, rows=rows, backend=backend, concurrency=concurrency, notify=notify,
            on_case=on_case, task_id=task_id,
        )  # fmt: skip


def _claim_and_execute(
    run: EvalRun,
    *,
    rows: list[dict] | None,
    backend: Backend | None,
    concurrency: int | None,
    notify: Callable[[str], None] | None,
    on_case: Callable[[int, int], None] | None,
    task_id: str | None,
) -> EvalRun:
    run_id = run.pk
    # A run sent again after its worker died starts again from the first row.
    claimable = EvalRun.objects.filter(
        Q(status=EvalRun.Status.QUEUED) | Q(status=EvalRun.Status.RUNNING), pk=run_id
    )
    if task_id is not None:
        claimable = claimable.filter(Q(task_id="") | Q(task_id=task_id))
    claimed = claimable.update(
        status=EvalRun.Status.RUNNING, started=timezone.now(), done=0, error=""
    )
    if not claimed:
        return EvalRun.objects.get(pk=run_id)
    try:
        chosen = _rows(run, rows)
    except BackendError as exc:
        return _fail(run_id, exc.message)
    if not chosen:
        return _fail(run_id, "no rows to evaluate")
    specs = active_widget_specs()
    EvalRun.objects.filter(pk=run_id).update(
        total=len(chosen),
        registry_versions=version_numbers(),
        grounded_fields=grounded_fields(specs) if run.constrained else {},
    )
    settings = EvalSettings(
        model=run.model_name,
        manual_prompt=run.manual_prompt,
        constrained=run.constrained,
        max_tokens=run.max_tokens,
        temperature=run.temperature,
    )
    progress = {"done": 0, "saved": 0.0}

    def case_done(index, score) -> None:
        progress["done"] += 1
        now = time.monotonic()
        if now - progress["saved"] >= PROGRESS_EVERY_S or progress["done"] == len(chosen):
            progress["saved"] = now
            EvalRun.objects.filter(pk=run_id).update(done=progress["done"])
        if on_case:
            on_case(progress["done"], len(chosen))

    try:
        opened = contextlib.nullcontext(backend) if backend else _backend_for(run, notify)
        with opened as backend:
            if run.model_name != BASE_MODEL and not any(
                m.name == run.model_name for m in backend.models()
            ):
                if run.adapter is None and not run.adapter_path:
                    return _fail(run_id, f"the adapter {run.model_name} no longer exists")
                load_adapter_once(backend, run.model_name, run.adapter_path or run.adapter.path)
            summary, scores = evaluate_rows(
                chosen,
                backend=backend,
                widgets=specs,
                validators=registry_validators(),
                settings=settings,
                on_case=case_done,
                concurrency=concurrency or (VLLM_CONCURRENCY if run.backend == "vllm" else 1),
            )
    except BackendError as exc:
        return _fail(run_id, f"{run.backend} backend: {exc.message}")
    except Exception as exc:
        logger.exception("evaluation %s failed", run_id)
        return _fail(run_id, f"{type(exc).__name__}: {exc}")
    EvalRun.objects.filter(pk=run_id).update(
        status=EvalRun.Status.SUCCEEDED,
        summary=summary,
        cases=[case_record(s) for s in scores],
        done=len(scores),
        finished=timezone.now(),
    )
    return EvalRun.objects.get(pk=run_id)
