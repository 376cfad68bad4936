from celery import shared_task
from celery.signals import worker_ready

from finetune.eval_runs import eval_run_execute
from finetune.jobs import finetune_job_run, finetune_jobs_recover


@shared_task(name="weft.finetune", acks_late=True, reject_on_worker_lost=True)
def run_finetune_job(job_id: int) -> str:
    return finetune_job_run(job_id=job_id).status


@shared_task(name="weft.evaluate", acks_late=True, reject_on_worker_lost=True)
def run_evaluation(run_id: int) -> str:
    # A run redelivered after its worker died starts over: eval_run_execute claims it again.
    return eval_run_execute(run_id=run_id).status


@worker_ready.connect
def _recover_jobs(**kwargs) -> None:
    # A job whose worker died mid-run resumes from its last checkpoint on the next worker.
    finetune_jobs_recover()
