"""Fine-tuning jobs: start, run (from the Celery task), cancel, retry a job the task queue
refused, recover after a worker died.

The training itself is finetune.training.run (no Django); this module maps its progress onto the
job row. A job's work dir holds its checkpoints, so a job that runs again after its worker
died resumes where the last checkpoint left it.
"""

import fcntl
import logging
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from finetune.datasets import dataset_freeze, dataset_rows
from finetune.models import Adapter, Dataset, FinetuneJob
from finetune.rejected import RequestRejected
from serving.registry_specs import active_widget_specs

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0  # progress rows are written at most this often (plus the last step)


def jobs_dir() -> Path:
    return Path(settings.DATA_DIR) / "finetune"


def finetune_job_start(
    *, dataset: Dataset, name: str, config: dict | None = None, author=None, enqueue: bool = True
) -> FinetuneJob:
    from finetune.training.config import TrainConfig, TrainConfigError

    problems = []
    if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 60:
        problems.append("name: letters, digits, - and _ only, at most 60 characters")
    try:
        resolved = TrainConfig.from_dict(config or {})
        resolved.validate()
    except TrainConfigError as exc:
        problems += exc.problems
        resolved = None
    if not dataset.rows.filter(split="train").exists():
        problems.append(f"dataset: {dataset} has no training rows")
    if problems:
        raise RequestRejected(problems)
    with transaction.atomic():
        dataset_freeze(dataset=dataset)
        job = FinetuneJob.objects.create(
            name=name, dataset=dataset, config=resolved.as_dict(), created_by=author
        )
        # Unique per job: a folder left by another database's job 1 must never be resumed.
        job.work_dir = str(jobs_dir() / f"job-{job.pk}-{uuid.uuid4().hex[:12]}")
        if enqueue:
            # The queue's from now on: should this process die before it sends the message,
            # a worker's recovery sends it (one the caller runs itself has none).
            job.task_id = str(uuid.uuid4())
            transaction.on_commit(lambda: _enqueue(job.pk))
        job.save(update_fields=["work_dir", "task_id"])
    job.refresh_from_db()  # sent by now (outside a caller's transaction): queued or not_queued
    return job


def _enqueue(*job_ids: int) -> None:
    from finetune.tasks import enqueue, run_finetune_job

    enqueue(run_finetune_job, FinetuneJob, job_ids)


def finetune_job_retry(*, job: FinetuneJob) -> FinetuneJob:
    """Send a job the task queue refused again; it is not_queued again if the queue still
    cannot be reached."""
    if not FinetuneJob.objects.filter(pk=job.pk, status=FinetuneJob.Status.NOT_QUEUED).update(
        status=FinetuneJob.Status.QUEUED, error=""
    ):
        job.refresh_from_db()
        raise RequestRejected(
            [f"status: only a job that was not queued is retried; this one is {job.status}"]
        )
    transaction.on_commit(lambda: _enqueue(job.pk))
    job.refresh_from_db()
    return job


def finetune_job_cancel(*, job: FinetuneJob) -> FinetuneJob:
    """A queued (or not queued) job is cancelled at once; a running one stops at its next
    step."""
    FinetuneJob.objects.filter(
        pk=job.pk, status__in=(FinetuneJob.Status.QUEUED, FinetuneJob.Status.NOT_QUEUED)
    ).update(status=FinetuneJob.Status.CANCELLED, cancel_requested=True, finished=timezone.now())
    FinetuneJob.objects.filter(pk=job.pk, status=FinetuneJob.Status.RUNNING).update(
        cancel_requested=True
    )
    job.refresh_from_db()
    return job


@contextmanager
def _job_lock(work_dir: Path):
    """One run of a job at a time on this machine; the OS frees it when a worker dies."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _adapter_name(job: FinetuneJob) -> str:
    """Immutable versioned names: vLLM serves stale cache blocks for a reused name."""
    taken = Adapter.objects.filter(name__startswith=f"{job.name}-v").count()
    number = taken + 1
    while Adapter.objects.filter(name=f"{job.name}-v{number}").exists():
        number += 1
    return f"{job.name}-v{number}"


def finetune_job_run(*, job_id: int, task_id: str | None = None) -> FinetuneJob:
    """Train (or resume) job `job_id`; what the Celery task calls, with its message's id
    (`task_id`): a message the job no longer expects (it was sent again since) does nothing."""
    from finetune.training.config import TrainConfig
    from finetune.training.run import TrainCancelled, run_training

    job = FinetuneJob.objects.select_related("dataset").get(pk=job_id)
    if job.done:
        return job
    with _job_lock(Path(job.work_dir)) as locked:
        if not locked:
            logger.info("job %s is running elsewhere on this machine", job_id)
            return job
        claimable = FinetuneJob.objects.filter(
            Q(status=FinetuneJob.Status.QUEUED) | Q(status=FinetuneJob.Status.RUNNING), pk=job_id
        )
        if task_id is not None:
            claimable = claimable.filter(Q(task_id="") | Q(task_id=task_id))
        claimed = claimable.update(
            status=FinetuneJob.Status.RUNNING,
            attempts=F("attempts") + 1,
            started=timezone.now(),
            error="",
        )
        if not claimed:
            return FinetuneJob.objects.get(pk=job_id)
        last = {"saved": 0.0, "cancel_checked": 0.0, "cancel": False}

        def on_progress(progress) -> None:
            now = time.monotonic()
            final = progress.step >= progress.total_steps
            if now - last["saved"] < PROGRESS_EVERY_S and not final and progress.eval_loss is None:
                return
            last["saved"] = now
            point = {"step": progress.step, "loss": progress.loss, "eval_loss": progress.eval_loss}
            fresh = FinetuneJob.objects.get(pk=job_id)
            FinetuneJob.objects.filter(pk=job_id).update(
                step=progress.step,
                total_steps=progress.total_steps,
                loss=progress.loss,
                eval_loss=progress.eval_loss if progress.eval_loss is not None else fresh.eval_loss,
                tokens_per_s=progress.tokens_per_s,
                eta_s=progress.eta_s,
                history=[*(p for p in fresh.history if p["step"] < progress.step), point],
            )

        def should_stop() -> bool:
            now = time.monotonic()
            if now - last["cancel_checked"] > 1.0:
                last["cancel_checked"] = now
                last["cancel"] = FinetuneJob.objects.filter(
                    pk=job_id, cancel_requested=True
                ).exists()
            return last["cancel"]

        try:
            result = run_training(
                TrainConfig.from_dict(job.config),
                dataset_rows(job.dataset, split="train"),
                dataset_rows(job.dataset, split="eval"),
                widgets=active_widget_specs(),
                model_dir=Path(settings.WEFT_MODEL_DIR),
                out_dir=Path(job.work_dir),
                on_progress=on_progress,
                should_stop=should_stop,
            )
        except TrainCancelled:
            FinetuneJob.objects.filter(pk=job_id).update(
                status=FinetuneJob.Status.CANCELLED, finished=timezone.now()
            )
            return FinetuneJob.objects.get(pk=job_id)
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            FinetuneJob.objects.filter(pk=job_id).update(
                status=FinetuneJob.Status.FAILED,
                error=f"{type(exc).__name__}: {exc}",
                finished=timezone.now(),
            )
            return FinetuneJob.objects.get(pk=job_id)
        with transaction.atomic():
            job.refresh_from_db()
            Adapter.objects.create(
                name=_adapter_name(job),
                job=job,
                dataset=job.dataset,
                row_ids=result.row_ids,
                path=str(result.adapter_dir),
                manual_prompt=result.config.manual_prompt,
                metrics={**result.metrics, "resumed_from_step": result.resumed_from_step},
                config=result.config.as_dict(),
            )
            FinetuneJob.objects.filter(pk=job_id).update(
                status=FinetuneJob.Status.SUCCEEDED, finished=timezone.now()
            )
    return FinetuneJob.objects.get(pk=job_id)


def finetune_jobs_recover() -> list[int]:
    """What a worker does at start: jobs left running by a worker that died (their lock is
    free) and queued jobs whose message may never have reached the broker are sent again.
    Jobs that were not queued wait for a person (finetune_job_retry)."""
    recovered = list(
        FinetuneJob.objects.filter(status=FinetuneJob.Status.QUEUED)
        .exclude(task_id="")  # started for a caller that runs it itself (manage.py finetune)
        .order_by("created", "id")
        .values_list("pk", flat=True)
    )
    for job in FinetuneJob.objects.filter(status=FinetuneJob.Status.RUNNING):
        with _job_lock(Path(job.work_dir)) as free:
            if free:
                recovered.append(job.pk)
    _enqueue(*recovered)
    return recovered
