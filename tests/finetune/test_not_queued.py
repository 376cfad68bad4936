"""A task queue that cannot be reached: starting a job or an evaluation answers at once and
the row says "not queued" with why; a person retries it; a worker at start sends queued rows
again, and a stale message for a row that was sent again does nothing."""

import time
from contextlib import contextmanager

import pytest

from finetune.eval_runs import eval_run_create, eval_run_execute
from finetune.jobs import finetune_job_cancel, finetune_job_run, finetune_job_start
from finetune.models import EvalRun, FinetuneJob
from finetune.tasks import _recover_runs, run_evaluation, run_finetune_job
from tests.finetune.test_evals import PERFECT, adapter, small_dataset  # noqa: F401 (fixture)

REFUSING = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused


@contextmanager
def celery_broker(url: str):
    """Publish to `url` meanwhile. Celery reads its settings once and keeps the connection
    and producer pools it made for the first URL, so the app lets go of them on the way in
    and out (kombu keeps one pool per URL; app.close() would also take the app out of the
    registry that shared tasks use)."""
    from project.celery import app

    def drop_pools() -> None:
        app._pool = app.amqp._producer_pool = None

    before = app.conf.broker_url
    app.conf.broker_url = url
    drop_pools()
    try:
        yield
    finally:
        app.conf.broker_url = before
        drop_pools()


@pytest.fixture
def refusing_broker(settings):
    """The broker is down: the web process's connections to it are refused."""
    with celery_broker(REFUSING):  # first: Celery reads the setting through until it is set
        settings.CELERY_BROKER_URL = REFUSING
        yield


@pytest.fixture
def sent(monkeypatch):
    """The broker is up: what is sent is recorded (task name, row id, message id)."""
    messages = []

    def recorder(task):
        def apply_async(args, task_id, **options):
            messages.append((task.name, args[0], task_id))

        return apply_async

    for task in (run_finetune_job, run_evaluation):
        monkeypatch.setattr(task, "apply_async", recorder(task))
    return messages


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


# ---------------------------------------------------------------- starting with the queue down


@pytest.mark.django_db(transaction=True)  # on_commit sends as the request commits, as live
def test_a_job_started_with_the_broker_down_answers_at_once_and_is_not_queued(
    demo_registry, refusing_broker, staff_api
):
    dataset = small_dataset()
    started = time.monotonic()
    response = staff_api.post(
        "/api/finetune/jobs/", {"dataset": dataset.pk, "name": "small"}, format="json"
    )
    assert time.monotonic() - started < 5
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "not_queued"
    assert body["error"].startswith("Could not reach the task queue: ")
    job = FinetuneJob.objects.get(pk=body["id"])
    assert (job.status, job.error) == ("not_queued", body["error"])


@pytest.mark.django_db(transaction=True)
def test_evaluations_queued_with_the_broker_down_are_not_queued_and_shown(
    demo_registry,
    refusing_broker,
    staff_client,
    adapter,  # noqa: F811
):
    dataset = small_dataset()
    started = time.monotonic()
    response = staff_client.post(
        "/finetune/evals/queue/", {"dataset": dataset.pk, "adapter": adapter.name}
    )
    assert time.monotonic() - started < 5
    assert response.status_code == 302
    runs = list(EvalRun.objects.order_by("id"))
    assert len(runs) == 4 and {r.status for r in runs} == {"not_queued"}
    assert all(r.error.startswith("Could not reach the task queue: ") for r in runs)
    page = staff_client.get(f"/finetune/evals/runs/{runs[0].pk}/").content.decode()
    assert "not_queued" in page and "Could not reach the task queue" in page

    # Queued again while the queue is still down: the same four runs, not four more.
    staff_client.post("/finetune/evals/queue/", {"dataset": dataset.pk, "adapter": adapter.name})
    assert EvalRun.objects.count() == 4
    assert set(EvalRun.objects.values_list("status", flat=True)) == {"not_queued"}


@pytest.mark.timeout(60)
def test_publishing_to_a_broker_that_never_answers_gives_up_within_seconds():
    """A hung Redis (accepts connections, never replies) must not hold a request for long."""
    import socket
    import threading

    from project.celery import app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])  # and never a byte back
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with celery_broker(f"redis://127.0.0.1:{listener.getsockname()[1]}/0"):
            started = time.monotonic()
            with pytest.raises(Exception, match=r"[Tt]imeout"):
                app.send_task("weft.ping")  # the path every publish takes
            assert time.monotonic() - started < 10
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


# ---------------------------------------------------------------- retrying


def _not_queued_job(dataset, error="Could not reach the task queue: refused") -> FinetuneJob:
    job = finetune_job_start(dataset=dataset, name="small", enqueue=False)
    FinetuneJob.objects.filter(pk=job.pk).update(status="not_queued", error=error)
    return FinetuneJob.objects.get(pk=job.pk)


def _not_queued_run(dataset) -> EvalRun:
    run = eval_run_create(
        dataset=dataset, split="eval", model_name="base", constrained=True, backend="scripted"
    )
    EvalRun.objects.filter(pk=run.pk).update(status="not_queued", error="Could not reach it")
    return EvalRun.objects.get(pk=run.pk)


@pytest.mark.django_db
def test_the_job_retry_page_shows_why_and_retry_sends_it_again(
    demo_registry, staff_client, sent, django_capture_on_commit_callbacks
):
    job = _not_queued_job(small_dataset())
    page = staff_client.get(f"/finetune/jobs/{job.pk}/retry/").content.decode()
    assert "Could not reach the task queue: refused" in page and ">Retry</button>" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/finetune/jobs/{job.pk}/retry/")
    assert response.status_code == 302 and response["Location"] == f"/finetune/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", "")
    assert sent == [("weft.finetune", job.pk, job.task_id)]


@pytest.mark.django_db
def test_retrying_while_the_broker_is_still_down_leaves_it_not_queued(
    demo_registry, refusing_broker, staff_api, django_capture_on_commit_callbacks
):
    job = _not_queued_job(small_dataset(), error="old")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(f"/api/finetune/jobs/{job.pk}/retry/")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == "not_queued" and job.error.startswith("Could not reach the task queue")


@pytest.mark.django_db
def test_the_retry_api_is_for_staff_and_only_for_rows_that_were_not_queued(
    demo_registry, staff_api, user_api, sent, django_capture_on_commit_callbacks
):
    dataset = small_dataset()
    job, run = _not_queued_job(dataset), _not_queued_run(dataset)
    assert user_api.post(f"/api/finetune/jobs/{job.pk}/retry/").status_code == 403
    assert user_api.post(f"/api/finetune/evals/{run.pk}/retry/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(f"/api/finetune/evals/{run.pk}/retry/")
    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert sent == [("weft.evaluate", run.pk, EvalRun.objects.get(pk=run.pk).task_id)]
    again = staff_api.post(f"/api/finetune/evals/{run.pk}/retry/")
    assert again.status_code == 400 and "not queued" in again.json()["status"][0]


@pytest.mark.django_db
def test_the_evaluation_retry_page_sends_it_again(
    demo_registry, staff_client, sent, django_capture_on_commit_callbacks
):
    run = _not_queued_run(small_dataset())
    page = staff_client.get(f"/finetune/evals/runs/{run.pk}/retry/").content.decode()
    assert "Could not reach it" in page and ">Retry</button>" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/finetune/evals/runs/{run.pk}/retry/")
    assert response["Location"] == f"/finetune/evals/runs/{run.pk}/"
    assert EvalRun.objects.get(pk=run.pk).status == "queued" and len(sent) == 1


@pytest.mark.django_db
def test_retry_pages_are_for_staff_only(demo_registry, client, plain_user):
    job = _not_queued_job(small_dataset())
    client.force_login(plain_user)
    assert client.post(f"/finetune/jobs/{job.pk}/retry/").status_code == 302  # to the login
    assert FinetuneJob.objects.get(pk=job.pk).status == "not_queued"


@pytest.mark.django_db
def test_a_job_that_was_not_queued_can_be_cancelled(demo_registry):
    job = finetune_job_cancel(job=_not_queued_job(small_dataset()))
    assert job.status == "cancelled"


# ---------------------------------------------------------------- the worker at start


@pytest.mark.django_db
def test_a_worker_at_start_sends_queued_rows_again_and_leaves_not_queued_ones(demo_registry, sent):
    """Queued rows whose message may be lost (here the web process never sent it: its
    on_commit never ran); rows that were not queued wait for a person; rows a command runs
    in its own process are not the queue's."""
    dataset = small_dataset()
    queued_job = finetune_job_start(dataset=dataset, name="small")
    waiting_job = _not_queued_job(dataset)
    own_job = finetune_job_start(dataset=dataset, name="own", enqueue=False)
    queued_run = eval_run_create(
        dataset=dataset, split="eval", model_name="base", constrained=True, backend="scripted",
        enqueue=True,
    )  # fmt: skip
    waiting_run = _not_queued_run(dataset)
    own_run = eval_run_create(
        dataset=dataset, split="eval", model_name="base", constrained=True, backend="scripted"
    )
    _recover_runs()
    queued_job.refresh_from_db()
    queued_run.refresh_from_db()
    assert sorted(sent) == sorted(
        [
            ("weft.finetune", queued_job.pk, queued_job.task_id),
            ("weft.evaluate", queued_run.pk, queued_run.task_id),
        ]
    )
    assert FinetuneJob.objects.get(pk=waiting_job.pk).status == "not_queued"
    assert EvalRun.objects.get(pk=waiting_run.pk).status == "not_queued"
    assert FinetuneJob.objects.get(pk=own_job.pk).status == "queued"
    assert EvalRun.objects.get(pk=own_run.pk).status == "queued"


@pytest.mark.django_db
def test_a_message_the_row_no_longer_expects_does_nothing(demo_registry, scripted, sent):
    """Sent, then sent again at a worker's start: the first message, when it comes, is stale."""
    dataset = small_dataset()
    job = finetune_job_start(dataset=dataset, name="small")
    run = eval_run_create(
        dataset=dataset, split="eval", model_name="base", constrained=True, backend="scripted",
        enqueue=True,
    )  # fmt: skip
    _recover_runs()
    first = {row_id: task_id for _, row_id, task_id in sent}
    sent.clear()
    _recover_runs()
    job.refresh_from_db()
    run.refresh_from_db()
    assert job.task_id != first[job.pk] and run.task_id != first[run.pk]

    assert finetune_job_run(job_id=job.pk, task_id=first[job.pk]).status == "queued"
    assert eval_run_execute(run_id=run.pk, task_id=first[run.pk]).status == "queued"
    assert FinetuneJob.objects.get(pk=job.pk).attempts == 0
    scripted.enqueue(*PERFECT)
    assert eval_run_execute(run_id=run.pk, task_id=run.task_id).status == "succeeded"
