"""Training jobs and evaluations go to their own task queues (WEFT_TRAIN_QUEUE, WEFT_EVAL_QUEUE),
so each kind of host runs the worker it can; a job or an evaluation that no worker has taken
says which queue it waits in."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune.eval_runs import eval_run_create
from finetune.jobs import finetune_job_start
from finetune.models import FinetuneJob
from finetune.tasks import run_evaluation, run_finetune_job
from project.celery import app
from tests.finetune.test_evals import small_dataset


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def sent(monkeypatch):
    """The broker took the message (its task's name is recorded) and no worker has it yet."""
    names = []

    def recorder(name: str):
        return lambda *args, **options: names.append(name)

    for task in (run_finetune_job, run_evaluation):
        monkeypatch.setattr(task, "apply_async", recorder(task.name))
    return names


# ---------------------------------------------------------------- routing


def test_jobs_go_to_the_train_queue_and_evaluations_to_the_eval_queue():
    routes = {task.name: app.amqp.router.route({}, task.name)["queue"] for task in
              (run_finetune_job, run_evaluation)}  # fmt: skip
    assert {name: queue.name for name, queue in routes.items()} == {
        "weft.finetune": "train",
        "weft.evaluate": "eval",
    }
    # Delivered to that queue alone: its own exchange, its own routing key.
    for queue in routes.values():
        assert queue.exchange.name == queue.routing_key == queue.name
    assert app.amqp.router.route({}, "weft.ping")["queue"].name == "celery"


def test_a_worker_started_without_q_consumes_every_queue():
    # What the demo's single worker (scripts/demo.sh) relies on; -Q picks a subset.
    assert set(app.amqp.queues.consume_from) == {"celery", "train", "eval"}


def _routes_in_a_fresh_process(env_overrides: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WEFT_TRAIN_QUEUE", "WEFT_EVAL_QUEUE")}
    result = subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); from project.celery import app; "
         "print(*(app.amqp.router.route({}, t)['queue'].name "
         "for t in ('weft.finetune', 'weft.evaluate')), *sorted(app.amqp.queues))"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, **env_overrides, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_queue_names_are_settings_read_from_the_environment():
    assert _routes_in_a_fresh_process({}) == ["train", "eval", "celery", "eval", "train"]
    renamed = {"WEFT_TRAIN_QUEUE": "gpu-train", "WEFT_EVAL_QUEUE": "gpu-eval"}
    assert _routes_in_a_fresh_process(renamed) == [
        "gpu-train", "gpu-eval", "celery", "gpu-eval", "gpu-train",
    ]  # fmt: skip
    # One queue for both is one queue, consumed once.
    same = {"WEFT_TRAIN_QUEUE": "gpu", "WEFT_EVAL_QUEUE": "gpu"}
    assert _routes_in_a_fresh_process(same) == ["gpu", "gpu", "celery", "gpu"]


# ---------------------------------------------------------------- the pages

WAITING_JOB = "Waiting for a training worker (queue <code>{}</code>)"
WAITING_RUN = "Waiting for an evaluation worker (queue <code>{}</code>)"


def _waiting_line(page: str) -> str:
    start = page.index('<p id="waiting"')
    return page[start : page.index("</p>", start)]


@pytest.mark.django_db
def test_a_job_no_worker_has_taken_says_which_queue_it_waits_in(
    demo_registry, staff_client, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = finetune_job_start(dataset=small_dataset(), name="small")
    assert job.status == "queued" and sent == ["weft.finetune"]

    page = staff_client.get(f"/finetune/jobs/{job.pk}/").content.decode()
    line = _waiting_line(page)
    assert WAITING_JOB.format("train") in line and " hidden" not in line
    assert "celery -A project worker -Q train" in line

    # Taken by a worker: the line stays on the page for job.js, hidden.
    FinetuneJob.objects.filter(pk=job.pk).update(status="running")
    page = staff_client.get(f"/finetune/jobs/{job.pk}/").content.decode()
    assert " hidden" in _waiting_line(page)


@pytest.mark.django_db
def test_the_job_page_names_the_configured_queue(demo_registry, staff_client, settings):
    settings.WEFT_TRAIN_QUEUE = "gpu-train"
    job = finetune_job_start(dataset=small_dataset(), name="small")  # not sent: no commit here
    page = staff_client.get(f"/finetune/jobs/{job.pk}/").content.decode()
    assert WAITING_JOB.format("gpu-train") in page


@pytest.mark.django_db
def test_a_job_a_command_runs_itself_never_waits_for_a_worker(demo_registry, staff_client):
    job = finetune_job_start(dataset=small_dataset(), name="small", enqueue=False)
    page = staff_client.get(f"/finetune/jobs/{job.pk}/").content.decode()
    assert job.status == "queued" and "Waiting for" not in page


@pytest.mark.django_db
def test_an_evaluation_no_worker_has_taken_says_which_queue_it_waits_in(
    demo_registry, staff_client, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = eval_run_create(
            dataset=small_dataset(), split="eval", model_name="base", constrained=True,
            backend="scripted", enqueue=True,
        )  # fmt: skip
    assert run.status == "queued" and sent == ["weft.evaluate"]

    page = staff_client.get(f"/finetune/evals/runs/{run.pk}/").content.decode()
    line = _waiting_line(page)
    assert WAITING_RUN.format("eval") in line and " hidden" not in line
    assert "celery -A project worker -Q eval" in line

    # One the evaluate command runs itself is not the queue's.
    mine = eval_run_create(
        dataset=small_dataset(name="other"), split="eval", model_name="base", constrained=True,
        backend="scripted",
    )  # fmt: skip
    page = staff_client.get(f"/finetune/evals/runs/{mine.pk}/").content.decode()
    assert mine.status == "queued" and "Waiting for" not in page
