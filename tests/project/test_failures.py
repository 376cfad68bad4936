"""Failures that must end in a state people can see, with nothing lost (issue "Hardening",
"Keep it found"): the task queue's Redis stopped and started again, the database locked
while a reply is stored, a worker killed in the middle of an evaluation. (The vLLM server
killed mid-reply: tests/serving/test_vllm_failures.py.)

Every process started here is this test's own (a redis-server on a free loopback port, a
Python process on its own SQLite file, Celery workers) and is stopped by its fixture or its
`finally`; the shared Redis on 6379 is never touched.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from finetune.eval_runs import _running_mark, eval_run_create, eval_run_execute
from finetune.models import EvalRun, FinetuneJob
from finetune.tasks import _recover_runs, run_evaluation
from project.broker import redis_answers
from tests.finetune.test_evals import PERFECT, small_dataset
from tests.finetune.test_not_queued import celery_broker

REPO = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, with no persistence: what
    it holds is lost when it stops, as with a Redis restarted without a dump file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.folder / "redis.log", "a") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if not _wait(lambda: redis_answers(self.url), 10):
            self.stop()
            raise RuntimeError((self.folder / "redis.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # redis-server exits at once on SIGTERM (nothing to save)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def task_ids(self) -> list[str]:
        """The ids of the task messages waiting, oldest first: the training queue's, then the
        evaluation queue's, then the default queue's."""
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(self.url, socket_timeout=5)
        queues = (settings.WEFT_TRAIN_QUEUE, settings.WEFT_EVAL_QUEUE, "celery")
        try:
            raw = [m for q in queues for m in reversed(client.lrange(q, 0, -1))]  # pushed left
        finally:
            client.close()
        return [json.loads(message)["headers"]["id"] for message in raw]


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker_at(private_redis, settings):
    """This process publishes to the private Redis meanwhile."""
    with celery_broker(private_redis.url):
        settings.CELERY_BROKER_URL = private_redis.url
        yield private_redis


# ---------------------------------------------------------------- Redis stopped


@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)  # the message is sent as the row commits, as live
def test_with_redis_stopped_a_start_is_not_queued_at_once_and_retry_sends_it_when_back(
    demo_registry, broker_at, staff_api
):
    redis = broker_at
    dataset = small_dataset()

    def start_job(name: str) -> FinetuneJob:
        started = time.monotonic()
        response = staff_api.post(
            "/api/finetune/jobs/", {"dataset": dataset.pk, "name": name}, format="json"
        )
        assert time.monotonic() - started < 5, "the request waited on the broker"
        assert response.status_code == 201, response.content
        return FinetuneJob.objects.get(pk=response.json()["id"])

    def start_evaluation() -> EvalRun:
        started = time.monotonic()
        run = eval_run_create(
            dataset=dataset, split="eval", model_name="base", constrained=True,
            backend="scripted", enqueue=True,
        )  # fmt: skip
        assert time.monotonic() - started < 5, "the evaluation waited on the broker"
        return run

    first = start_job("first")
    assert first.status == "queued" and redis.task_ids() == [first.task_id]

    redis.stop()
    job, run = start_job("second"), start_evaluation()
    for row in (job, run):
        assert row.status == "not_queued", row.error
        assert row.error.startswith("Could not reach the task queue: "), row.error

    redis.start()  # empty: the first job's message went with it
    for path in (f"/api/finetune/jobs/{job.pk}/retry/", f"/api/finetune/evals/{run.pk}/retry/"):
        started = time.monotonic()
        response = staff_api.post(path)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "queued" and time.monotonic() - started < 5
    job.refresh_from_db()
    run.refresh_from_db()
    assert (job.status, job.error, run.status, run.error) == ("queued", "", "queued", "")
    assert job.task_id and run.task_id
    assert redis.task_ids() == [job.task_id, run.task_id]

    # The first job's message was lost with the broker; its row still says queued, so the
    # next worker to start sends it again (and the retried two, whose messages it then skips).
    _recover_runs()
    queued = {row.task_id for row in (*FinetuneJob.objects.all(), *EvalRun.objects.all())}
    assert FinetuneJob.objects.get(pk=first.pk).status == "queued"
    assert queued <= set(redis.task_ids()) and len(queued) == 3


# ---------------------------------------------------------------- the database locked

# Runs in its own process on a SQLite file (the test database of pytest-django is in memory,
# where a second connection cannot take a lock). argv: when to lock ("save": after the first
# delta, so the periodic save of the text meets the lock; "finish": when the model has said
# its last word, so storing the end meets it) and for how many seconds.
LOCKED_SCRIPT = r"""
import json, sqlite3, sys, threading, time
import django
django.setup()
from django.conf import settings
from django.core.management import call_command

call_command("migrate", verbosity=0)

from django.contrib.auth import get_user_model
import chat.replies
from chat.models import Message
from chat.replies import reply_events
from chat.services import chat_message_create, conversation_create
from demo.services import crm_fixture_load
from demo.widget_files import demo_widgets_load
from serving.backend import Completion, get_backend
from serving.scripted import ScriptedBackend

where, hold_s = sys.argv[1], float(sys.argv[2])
demo_widgets_load()
crm_fixture_load()
conversation = conversation_create(owner=get_user_model().objects.create_user("agent"))
_, reply = chat_message_create(conversation=conversation, text="anything 3 bed in Austin?")
TEXT = "Two listings fit the brief, both close to good schools."
get_backend().enqueue(TEXT, chunk_size=5)
if where == "save":
    chat.replies.SAVE_EVERY_S = -1.0  # the text is saved after every delta

locker = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None,
                         check_same_thread=False)
timeline = {}

def lock():
    locker.execute("BEGIN EXCLUSIVE")  # no other connection reads or writes meanwhile
    timeline["locked"] = time.monotonic()

    def release():
        locker.execute("ROLLBACK")
        timeline["released"] = time.monotonic()

    threading.Timer(hold_s, release).start()

play = ScriptedBackend._play

def locks_before_it_ends(*args):
    for item in play(*args):
        if isinstance(item, Completion) and where == "finish":
            lock()
        yield item

ScriptedBackend._play = staticmethod(locks_before_it_ends)
events = []
for event in reply_events(reply.pk, cancel=threading.Event()):
    events.append(event)
    if where == "save" and len(events) == 1:
        lock()
timeline["ended"] = time.monotonic()
while "released" not in timeline:
    time.sleep(0.1)
stored = Message.objects.get(pk=reply.pk)
print(json.dumps({
    "text": TEXT,
    "last": events[-1],
    "stored": {"status": stored.status, "raw": stored.raw, "error": stored.error},
    "waited_s": timeline["ended"] - timeline["locked"],
    "again": list(reply_events(reply.pk, cancel=threading.Event())),
}))
"""


def _run_locked(tmp_path, where: str, hold_s: float) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WEFT_"))},
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "1",
        "WEFT_BACKEND": "scripted",
        "WEFT_BROKER": "embedded",  # no task is sent; nothing probes the shared Redis
        "WEFT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'weft.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", LOCKED_SCRIPT, where, str(hold_s)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(180)
def test_a_periodic_save_that_meets_a_locked_database_ends_the_reply_partial_with_its_text(
    tmp_path,
):
    # Locked longer than SQLite waits for a lock (5 s): the save gives up, the stream stops,
    # and its end is stored once the lock is gone.
    result = _run_locked(tmp_path, "save", hold_s=8)
    stored, last = result["stored"], result["last"]
    assert stored["status"] == "partial", result
    assert stored["raw"] and result["text"].startswith(stored["raw"]) and stored["raw"] != ""
    assert "OperationalError" in stored["error"]
    assert (last["event"], last["status"], last["message"]) == ("done", "partial", stored["error"])
    assert result["again"] == [last]  # a reload shows the same end, not "being written"


@pytest.mark.timeout(180)
def test_storing_the_end_while_the_database_is_locked_waits_for_it_and_keeps_every_word(
    tmp_path,
):
    # Locked for longer than two of SQLite's lock waits (5 s each): the end is stored once
    # the lock is gone, with the whole text, not left "streaming" (a reload would answer
    # "being written in another window" until the reply went stale ten minutes later).
    result = _run_locked(tmp_path, "finish", hold_s=12)
    stored, last = result["stored"], result["last"]
    assert (stored["status"], stored["raw"], stored["error"]) == ("done", result["text"], "")
    assert (last["event"], last["status"]) == ("done", "done")
    assert result["waited_s"] >= 12
    assert result["again"] == [last]


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)  # the lock is taken from another connection
def test_on_postgresql_a_save_that_meets_a_row_lock_waits_for_it_and_keeps_every_word(
    demo_registry, plain_user, scripted, monkeypatch
):
    """PostgreSQL waits for a row lock (no lock_timeout is set): the reply goes on once the
    other transaction ends, and is stored whole."""
    if connection.vendor != "postgresql":
        pytest.skip("a row lock from another connection (SQLite: the tests above)")
    import threading

    import psycopg

    import chat.replies
    from chat.models import Message
    from chat.replies import reply_events
    from chat.services import chat_message_create, conversation_create
    from demo.services import crm_fixture_load

    crm_fixture_load()
    conversation = conversation_create(owner=plain_user)
    _, reply = chat_message_create(conversation=conversation, text="anything 3 bed in Austin?")
    text = "Two listings fit the brief, both close to good schools."
    scripted.enqueue(text, chunk_size=5)
    monkeypatch.setattr(chat.replies, "SAVE_EVERY_S", -1.0)  # saved after every delta
    db = settings.DATABASES["default"]
    locker = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"],
        password=db.get("PASSWORD") or None,
    )  # fmt: skip
    try:
        stream = reply_events(reply.pk, cancel=threading.Event())
        events = [next(stream)]
        table = Message._meta.db_table
        locker.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [reply.pk])  # noqa: S608
        locked = time.monotonic()
        threading.Timer(3, locker.rollback).start()
        events += list(stream)
        waited = time.monotonic() - locked
    finally:
        locker.close()
    reply.refresh_from_db()
    assert (reply.status, reply.raw, reply.error) == ("done", text, "")
    assert (events[-1]["event"], events[-1]["status"]) == ("done", "done") and waited >= 3


# ---------------------------------------------------------------- a worker killed mid-run

# A Celery worker whose scripted backend answers slowly: argv are the replies (JSON), the
# pause before each 4-character chunk, and the worker's name.
WORKER_SCRIPT = r"""
import json, sys
import django
django.setup()
from serving.backend import get_backend
replies, delay_s, name = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
get_backend("scripted").enqueue(*replies, chunk_size=4, delay_s=delay_s)
from project.celery import app
app.worker_main(["worker", "--pool=solo", "--loglevel=warning", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-n", name])
"""


def _worker(env: dict, name: str, log: Path) -> subprocess.Popen:
    replies = json.dumps([*PERFECT, PERFECT[0]] * 3)  # more than a run of the 3 rows asks
    with open(log, "a") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, replies, "0.04", f"{name}-{os.getpid()}@%h"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_an_evaluation_whose_worker_is_killed_is_run_again_by_the_next_worker(
    demo_registry, broker_at, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a database it can share (PostgreSQL)")
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": broker_at.url,  # the private Redis: no other worker takes the message
        "WEFT_BROKER": "redis",
    }
    log = tmp_path / "workers.log"
    run = eval_run_create(
        dataset=small_dataset(), split="all", model_name="base", constrained=True,
        backend="scripted", enqueue=True,
    )  # fmt: skip
    assert run.status == "queued", run.error

    def state() -> EvalRun:
        return EvalRun.objects.get(pk=run.pk)

    first = _worker(env, "doomed", log)
    try:
        # Each row takes about 2 s to write: the worker dies with the run under way.
        assert _wait(lambda: state().done >= 1, 90), log.read_text()[-3000:]
        _stop(first, signal.SIGKILL)  # no goodbye: the message is neither acked nor returned
    finally:
        _stop(first, signal.SIGKILL)
    killed_at = state()
    assert killed_at.status == "running" and 1 <= killed_at.done < killed_at.total == 3

    heir = _worker(env, "heir", log)
    try:
        assert _wait(lambda: state().finished_running, 120), (
            f"still {state().status} after its worker died\n" + log.read_text()[-3000:]
        )
    finally:
        _stop(heir)
    run = state()
    assert run.status == "succeeded", run.error
    assert run.done == run.total == 3 and len(run.cases) == 3 and run.summary


@pytest.mark.django_db
def test_a_worker_at_start_sends_a_running_evaluation_again_only_once_its_worker_is_gone(
    demo_registry, scripted, monkeypatch
):
    """The mark a worker holds while it executes a run tells a live run from a dead one."""
    run = eval_run_create(
        dataset=small_dataset(), split="eval", model_name="base", constrained=True,
        backend="scripted", enqueue=True,
    )  # fmt: skip
    EvalRun.objects.filter(pk=run.pk).update(status="running", done=1, total=2)
    run.refresh_from_db()
    sent = []
    monkeypatch.setattr(
        run_evaluation, "apply_async", lambda args, task_id, **_: sent.append((args[0], task_id))
    )
    with _running_mark(run.task_id):  # a worker is executing it
        _recover_runs()
        assert sent == []
    _recover_runs()  # that worker died: the OS let go of its mark
    fresh = EvalRun.objects.get(pk=run.pk)
    assert sent == [(run.pk, fresh.task_id)] and fresh.task_id != run.task_id
    scripted.enqueue(*PERFECT)
    assert eval_run_execute(run_id=run.pk, task_id=run.task_id).status == "running"  # stale
    assert eval_run_execute(run_id=run.pk, task_id=fresh.task_id).status == "succeeded"
