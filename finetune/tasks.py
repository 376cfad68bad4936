import logging
import uuid
from collections.abc import Iterable

from celery import shared_task
from celery.signals import worker_ready
from django.db.models import Model
from kombu.exceptions import OperationalError

from finetune.eval_runs import eval_run_execute, eval_runs_recover
from finetune.jobs import finetune_job_run, finetune_jobs_recover
from finetune.models import RunStatus

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="weft.finetune", acks_late=True, reject_on_worker_lost=True)
def run_finetune_job(self, job_id: int) -> str:
    return finetune_job_run(job_id=job_id, task_id=self.request.id).status


@shared_task(bind=True, name="weft.evaluate", acks_late=True, reject_on_worker_lost=True)
def run_evaluation(self, run_id: int) -> str:
    # A run sent again after its worker died (eval_runs_recover) starts over from its first row.
    return eval_run_execute(run_id=run_id, task_id=self.request.id).status


@worker_ready.connect
def _recover_runs(**kwargs) -> None:
    # A job whose worker died mid-run resumes from its last checkpoint on the next worker, an
    # evaluation starts over; a job or evaluation whose message never reached a worker (the
    # web process died before it published, the broker lost it) is sent again.
    finetune_jobs_recover()
    eval_runs_recover()


def enqueue(task, model: type[Model], pks: Iterable[int]) -> None:
    """Send `task` for rows `pks` of `model` (FinetuneJob or EvalRun), in order; a row the
    broker cannot take says so (not_queued, with why) and waits for a person to retry it.
    After one refusal the rest are not tried: each try can take the broker's timeouts.

    Each message carries a fresh id that the row records: a worker that receives an older
    message for the row (one sent before a recovery sent it again) skips it, so a row that
    was sent twice still runs once.
    """
    waiting = (RunStatus.QUEUED, RunStatus.RUNNING)
    error = ""
    for pk in pks:
        task_id = str(uuid.uuid4())
        if not model.objects.filter(pk=pk, status__in=waiting).update(task_id=task_id):
            continue  # cancelled, or finished, before it was sent
        if not error:
            error = _send(task, pk, task_id)
            if not error:
                continue
        logger.warning("%s %s not queued: %s", model.__name__, pk, error)
        # Only while this message is the row's: a recovery may have sent a newer one meanwhile.
        model.objects.filter(pk=pk, status__in=waiting, task_id=task_id).update(
            status=RunStatus.NOT_QUEUED, error=error
        )


def _send(task, pk: int, task_id: str) -> str:
    """Why the broker did not take the message; "" when it did."""
    try:
        task.apply_async(args=[pk], task_id=task_id)
    except OperationalError as exc:
        return f"Could not reach the task queue: {exc}"
    except Exception as exc:  # the row must not stay queued for a message that was never sent
        logger.exception("sending %s for %s failed", task.name, pk)
        return f"Could not send the task to the queue: {type(exc).__name__}: {exc}"
    return ""
