"""Fine-tuning jobs end to end: real training on the demo dataset, a few steps at a time."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from chat.models import Message
from chat.services import chat_message_create, conversation_create
from finetune.adapters import (
    PromotionRefused,
    adapter_promote,
    adapter_rollback,
    adapter_zip,
)
from finetune.datasets import dataset_import, dataset_rows
from finetune.eval_runs import eval_run_create, eval_run_execute
from finetune.jobs import finetune_job_cancel, finetune_job_run, finetune_job_start
from finetune.models import Adapter, Dataset, FinetuneJob
from finetune.rejected import RequestRejected
from serving.served import served_model

# Two rows per step, a handful of steps: seconds per job on the CPU.
# One torch thread: the worker shares the cores with this test process (and in a busy CI,
# more); the default, every core, spins OpenMP threads against them.
QUICK = {
    # The old default rate: three steps at it leave the adapter close to the base model, so
    # the chat turn below ends quickly. These tests are about the job, not what it learns.
    "learning_rate": 2e-4,
    "max_steps": 3,
    "batch_rows": 2,
    "checkpoint_every": 2,
    "eval_every": 0,
    "torch_threads": 1,
}


@pytest.fixture
def local_adapters_unloaded():
    """Promotion loads adapters into the process-wide local backend: take them out again."""
    yield
    from serving.backend import get_backend

    backend = get_backend("local")
    for model in backend.models():
        if model.kind == "adapter":
            backend.unload_adapter(model.name)


def _evaluated(dataset, model_name):
    """An executed evaluation whose scripted outputs are the references: what the promotion
    gate needs to let an adapter through (tests/finetune/test_gate.py tests the gate)."""
    from serving.backend import get_backend

    scripted = get_backend("scripted")
    scripted.reset()
    scripted.enqueue(*(r["messages"][-1]["content"] for r in dataset_rows(dataset, split="eval")))
    run = eval_run_create(
        dataset=dataset, split="eval", model_name=model_name,
        constrained=settings.WEFT_CHAT_CONSTRAINED, backend="scripted",
    )  # fmt: skip
    run = eval_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run


@pytest.fixture
def demo(db, capsys):
    call_command("load_demo")
    capsys.readouterr()
    return Dataset.objects.get(name="demo")


def test_bad_hyper_parameters_are_refused_with_every_reason(demo):
    with pytest.raises(RequestRejected) as caught:
        finetune_job_start(
            dataset=demo, name="demo", config={"rank": 64, "learning_rate": -1, "epochs": 0}
        )
    problems = " | ".join(caught.value.problems)
    assert "rank:" in problems and "learning_rate:" in problems and "epochs:" in problems
    with pytest.raises(RequestRejected, match="lr: unknown setting"):
        finetune_job_start(dataset=demo, name="demo", config={"lr": 1e-4})
    with pytest.raises(RequestRejected, match="name:"):
        finetune_job_start(dataset=demo, name="no spaces please", config={})
    assert not FinetuneJob.objects.exists()
    demo.refresh_from_db()
    assert not demo.frozen


def test_a_dataset_without_training_rows_is_refused(db, demo_registry):
    # Every id below hashes into the eval split, so the dataset has no training rows.
    from finetune.rows import stable_split

    ids = [f"e{i}" for i in range(200) if stable_split(f"e{i}") == "eval"][:2]
    text = "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a"},
                ],
                "meta": {"id": i},
            }
        )
        for i in ids
    )
    only_eval = dataset_import(name="only-eval", text=text)
    with pytest.raises(RequestRejected, match="has no training rows"):
        finetune_job_start(dataset=only_eval, name="x", config={})


def test_api_refuses_bad_jobs_and_needs_staff(demo, staff_user, plain_user):
    staff, agent = APIClient(), APIClient()
    staff.force_authenticate(staff_user)
    agent.force_authenticate(plain_user)
    body = {"dataset": demo.pk, "name": "demo", "config": {"rank": 999}}
    response = staff.post("/api/finetune/jobs/", body, format="json")
    assert response.status_code == 400 and "rank:" in response.json()["config"][0]
    assert agent.post("/api/finetune/jobs/", body, format="json").status_code == 403
    assert agent.get("/api/datasets/").status_code == 403


def test_cancelling_a_queued_job_stops_it_before_it_starts(demo):
    job = finetune_job_start(dataset=demo, name="demo", config=QUICK, enqueue=False)
    finetune_job_cancel(job=job)
    assert finetune_job_run(job_id=job.pk).status == "cancelled"
    assert not Adapter.objects.exists()


@pytest.mark.slow
def test_a_job_trains_a_versioned_adapter_and_promotion_serves_it(
    demo, plain_user, tmp_path, local_adapters_unloaded, settings
):
    settings.WEFT_CHAT_MAX_TOKENS = 24  # the reply only has to name the model that wrote it
    job = finetune_job_start(dataset=demo, name="demo", config=QUICK, enqueue=False)
    demo.refresh_from_db()
    assert demo.frozen  # the rows that train an adapter never change afterwards
    job = finetune_job_run(job_id=job.pk)
    assert job.status == "succeeded", job.error
    assert (job.step, job.total_steps) == (3, 3) and job.history[-1]["step"] == 3
    adapter = job.adapter
    assert adapter.name == "demo-v1" and not adapter.manual_prompt
    train_ids = set(demo.rows.filter(split="train").values_list("row_id", flat=True))
    assert adapter.row_ids and set(adapter.row_ids) <= train_ids
    assert len(adapter.row_ids) == QUICK["max_steps"] * QUICK["batch_rows"]

    # The zip loads in plain peft and changes nothing about the base model's files.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from serving.model_files import ensure_base_model

    zipfile.ZipFile(io.BytesIO(adapter_zip(adapter))).extractall(tmp_path)
    base = AutoModelForCausalLM.from_pretrained(ensure_base_model(settings.WEFT_MODEL_DIR))
    PeftModel.from_pretrained(base, tmp_path / "demo-v1")
    assert (tmp_path / "demo-v1" / "weft.json").is_file()

    # Promotion: the chat now answers with the adapter, with the prompt it was trained with.
    _evaluated(demo, "base")
    _evaluated(demo, adapter.name)
    assert adapter_promote(adapter=adapter).gate_passed
    assert (served_model().name, served_model().manual_prompt) == ("demo-v1", False)
    _, reply = chat_message_create(conversation=conversation_create(owner=plain_user), text="hi")
    assert (reply.model_name, reply.manual_prompt) == ("demo-v1", False)
    from serving.backend import get_backend

    assert "demo-v1" in [m.name for m in get_backend("local").models()]

    again = finetune_job_run(
        job_id=finetune_job_start(dataset=demo, name="demo", config=QUICK, enqueue=False).pk
    )
    assert again.adapter.name == "demo-v2"  # names are never reused
    _evaluated(demo, again.adapter.name)
    adapter_promote(adapter=again.adapter)
    assert adapter_rollback().adapter == adapter
    assert served_model().name == "demo-v1"
    Message.objects.all().delete()


@pytest.mark.slow
def test_a_cancel_request_stops_a_running_job_at_its_next_step(demo):
    job = finetune_job_start(
        dataset=demo, name="demo", config={**QUICK, "max_steps": 50}, enqueue=False
    )
    FinetuneJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    job = finetune_job_run(job_id=job.pk)
    assert job.status == "cancelled" and job.step < 50
    assert not Adapter.objects.exists()


def test_promoting_an_adapter_whose_files_are_gone_is_refused(demo, tmp_path):
    adapter = Adapter.objects.create(
        name="ghost-v1", dataset=demo, path=str(tmp_path / "nothing"), manual_prompt=False
    )
    with pytest.raises(PromotionRefused, match="files are missing"):
        adapter_promote(adapter=adapter)
    with pytest.raises(PromotionRefused, match="nothing to roll back"):
        adapter_rollback()


def _worker(env, name):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "worker", "--pool=solo",
         "--loglevel=warning", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{name}-{os.getpid()}@%h"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _helpers(job) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"finetune.training.worker .*/job-{job.pk}-"],
        capture_output=True,
        text=True,
    )
    return [int(pid) for pid in found.stdout.split()]


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_is_killed_resumes_from_its_checkpoint(capsys):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a database it can share (PostgreSQL)")
    call_command("load_demo")
    demo = Dataset.objects.get(name="demo")
    config = {**QUICK, "max_steps": 8, "workers": 2}  # rank 0 in the worker, and a helper
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    first = _worker(env, "doomed")
    try:
        job = finetune_job_start(dataset=demo, name="demo", config=config)  # queued via on_commit
        assert _wait(lambda: FinetuneJob.objects.get(pk=job.pk).step >= 3, 300), (
            "never reached step 3"
        )
        helpers = _helpers(job)
        assert helpers, "the run has no helper process"
        os.kill(first.pid, signal.SIGKILL)  # the worker dies mid-run, no goodbye
        first.wait(timeout=30)
        # Its helper goes with it (PR_SET_PDEATHSIG), not left computing for nobody.
        assert _wait(lambda: not set(helpers) & set(_helpers(job)), 30), "a helper outlived it"
        killed_at = FinetuneJob.objects.get(pk=job.pk)
        assert killed_at.status == "running" and killed_at.step < 8
        second = _worker(env, "heir")
        try:
            assert _wait(lambda: FinetuneJob.objects.get(pk=job.pk).done, 300), "did not finish"
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.attempts == 2 and job.step == 8
    # It went on from a checkpoint of the killed run (every 2 steps), not from scratch.
    resumed = job.adapter.metrics["resumed_from_step"]
    assert resumed in (2, 4, 6) and resumed <= killed_at.step, job.adapter.metrics
