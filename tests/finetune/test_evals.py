"""Evaluation runs: executing one, the Celery task, the comparison and failing-case pages,
the production outcome table, and who may see them."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message
from chat.selectors import widget_outcome_shares_by_day
from finetune.datasets import dataset_import
from finetune.eval_runs import eval_run_create, eval_run_execute
from finetune.management.commands.evaluate import markdown_table
from finetune.models import Adapter, EvalRun
from finetune.rejected import RequestRejected
from finetune.rows import stable_split
from serving.backend import BackendTimeout, BackendUnavailable
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db

# Two eval rows and one train row; ids chosen so the stable split puts them there.
EVAL_IDS = [f"ev{i}" for i in range(200) if stable_split(f"ev{i}") == "eval"][:2]
TRAIN_ID = next(f"tr{i}" for i in range(200) if stable_split(f"tr{i}") == "train")
SECOND = {**LISTING, "mls_id": "TX-20001", "address": "9 Elm Rd", "price": 389000}


def reply(listing: dict) -> str:
    return f"This one fits: {block(listing)}"


def rows_text() -> str:
    lines = [
        (EVAL_IDS[0], "anything 3 bed in Austin?", LISTING),
        (EVAL_IDS[1], "something on Elm Rd under 400k?", SECOND),
        (TRAIN_ID, "what about Oak St?", LISTING),
    ]
    return "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": reply(listing)},
                ],
                "context": {"listings": [listing]},
                "meta": {"id": row_id},
            }
        )
        for row_id, question, listing in lines
    )


def small_dataset(name="small"):
    return dataset_import(name=name, text=rows_text())


# Scripted outputs for the two eval rows, in row order.
PERFECT = (reply(LISTING), reply(SECOND))
WRONG_PRICE = (reply(LISTING), reply({**SECOND, "price": 1}))  # valid, one field wrong
INVALID = (reply(LISTING), reply({**SECOND, "beds": "three"}))  # one block fails its schema


def evaluate(scripted, dataset, outputs, *, model_name="base", constrained=True, **options):
    """An executed evaluation of scripted outputs (a real run of the harness, not a summary)."""
    run = eval_run_create(
        dataset=dataset, split="eval", model_name=model_name, constrained=constrained,
        backend="scripted", **options,
    )  # fmt: skip
    scripted.enqueue(*outputs)
    return eval_run_execute(run_id=run.pk)


@pytest.fixture
def adapter(db, tmp_path):
    """A registered adapter with files on disk (trained with the short prompt)."""
    folder = tmp_path / "small-v1"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    return Adapter.objects.create(
        name="small-v1", dataset=small_dataset("train-set"), path=str(folder), manual_prompt=False
    )


# ---------------------------------------------------------------- executing a run


def test_a_run_stores_summary_cases_and_registry_versions_and_freezes_the_dataset(
    demo_registry, scripted
):
    dataset = small_dataset()
    run = evaluate(scripted, dataset, WRONG_PRICE)
    assert run.status == "succeeded", run.error
    dataset.refresh_from_db()
    assert dataset.frozen  # its numbers stay reproducible
    assert (run.done, run.total, run.source) == (2, 2, "small v1 (eval)")
    assert run.summary["n"] == 2 and run.summary["validity"] == 1.0
    assert run.summary["field_accuracy"] == round(15 / 16, 4)
    assert set(run.summary["per_widget"]) == {"listing_card"}
    assert run.registry_versions["listing_card"] == 1 and "contact_card" in run.registry_versions
    assert [c["row_id"] for c in run.cases] == EVAL_IDS
    assert [c["failed"] for c in run.cases] == [False, True]
    assert "listing_card/price: expected 389000, got 1" in run.cases[1]["problems"]
    # The base model is prompted with the manual; the scripted backend saw the constraint.
    assert run.manual_prompt and all(call.constraint for call in scripted.history)
    assert run.started and run.finished


def test_an_adapter_is_loaded_and_evaluated_with_the_prompt_form_it_was_trained_with(
    demo_registry, scripted, adapter
):
    run = evaluate(scripted, small_dataset(), PERFECT, model_name=adapter.name)
    assert run.status == "succeeded" and run.adapter == adapter and not run.manual_prompt
    assert scripted.history[0].model == adapter.name
    assert adapter.name in [m.name for m in scripted.models()]


def test_an_evaluation_that_cannot_start_is_refused_with_every_reason(demo_registry):
    # The same error class as a refused job (finetune.rejected): one translation at the edge.
    with pytest.raises(RequestRejected) as caught:
        eval_run_create(
            dataset=small_dataset(), split="both", model_name="nobody-v1", constrained=False,
            backend="nowhere", max_tokens=0,
        )  # fmt: skip
    named = {problem.split(":")[0] for problem in caught.value.problems}
    assert named == {"model", "split", "backend", "max_tokens and limit are at least 1"}
    assert not EvalRun.objects.exists()


def test_a_failing_backend_fails_the_run_with_its_message(demo_registry, scripted):
    run = eval_run_create(
        dataset=small_dataset(), split="eval", model_name="base", constrained=False,
        backend="scripted",
    )  # fmt: skip
    scripted.enqueue_error(BackendUnavailable("The model server is down."))
    run = eval_run_execute(run_id=run.pk)
    assert run.status == "failed"
    assert run.error == "scripted backend: The model server is down."
    assert run.finished and not run.summary


def test_a_row_that_times_out_fails_alone_and_the_run_keeps_the_others(demo_registry, scripted):
    run = eval_run_create(
        dataset=small_dataset(), split="eval", model_name="base", constrained=False,
        backend="scripted",
    )  # fmt: skip
    scripted.enqueue(PERFECT[0])
    scripted.enqueue_error(BackendTimeout("The vLLM server did not answer in time."))
    run = eval_run_execute(run_id=run.pk)
    assert run.status == "succeeded", run.error
    assert run.summary["timed_out"] == 1 and run.summary["type_accuracy"] == 0.5
    assert [c["failed"] for c in run.cases] == [False, True]
    assert run.cases[1]["timed_out"]
    assert "timed out: The vLLM server did not answer in time." in run.cases[1]["problems"]


def test_a_finished_run_is_not_executed_again(demo_registry, scripted):
    run = evaluate(scripted, small_dataset(), PERFECT)
    assert eval_run_execute(run_id=run.pk).summary == run.summary
    assert len(scripted.history) == 2


def test_the_compare_table_is_markdown_with_one_column_per_run(demo_registry, scripted):
    dataset = small_dataset()
    good, bad = evaluate(scripted, dataset, PERFECT), evaluate(scripted, dataset, INVALID)
    table = markdown_table([("base, free", good), ("base, constrained", bad)]).splitlines()
    assert table[0] == "| metric | base, free | base, constrained |"
    assert table[1] == "| --- | ---: | ---: |"
    assert table[2] == "| validity | 1.000 | 0.500 |"
    assert [line.split(" | ")[0] for line in table[2:]] == [
        "| validity", "| type_accuracy", "| field_accuracy", "| field_recall",
        "| hallucinated_values", "| tokens_per_s",
    ]  # fmt: skip


def test_the_compare_command_runs_the_four_configurations_in_process(
    demo_registry, scripted, adapter, monkeypatch, capsys
):
    from django.core.management import call_command

    # The command's own backend choice is local or vllm; the scripted one stands in here.
    monkeypatch.setattr("finetune.management.commands.evaluate.get_backend", lambda name: scripted)
    dataset = small_dataset()
    scripted.enqueue(*PERFECT, *INVALID, *WRONG_PRICE, *PERFECT)
    call_command("evaluate", "--dataset", "small", "--compare", "--model", adapter.name)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "| metric | base, manual prompt, free | base, manual prompt, constrained "
        "| small-v1, short prompt, free | small-v1, short prompt, constrained |"
    )
    assert out[2] == "| validity | 1.000 | 0.500 | 1.000 | 1.000 |"
    assert out[4] == "| field_accuracy | 1.000 | 0.938 | 0.938 | 1.000 |"
    runs = dataset.eval_runs.order_by("id")
    assert [r.status for r in runs] == ["succeeded"] * 4 and runs[3].adapter == adapter


# ---------------------------------------------------------------- the Celery task, the pages


@pytest.fixture
def eager_celery():
    """Run tasks in this process when they are sent: the scripted backend lives here."""
    from project.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


def test_evaluate_queues_four_runs_through_the_task_and_the_page_compares_them(
    demo_registry, scripted, adapter, client, staff_user, eager_celery,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    dataset = small_dataset()
    # Configurations in the order queued: base free, base constrained, adapter free, constrained.
    scripted.enqueue(*PERFECT, *INVALID, *WRONG_PRICE, *PERFECT)
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/finetune/evals/queue/", {"dataset": dataset.pk, "adapter": adapter.name}
        )
    assert response.status_code == 302
    runs = list(EvalRun.objects.order_by("id"))
    assert [r.status for r in runs] == ["succeeded"] * 4
    assert [(r.model_name, r.manual_prompt, r.constrained) for r in runs] == [
        ("base", True, False), ("base", True, True),
        ("small-v1", False, False), ("small-v1", False, True),
    ]  # fmt: skip
    assert runs[1].summary["validity"] == 0.5 and runs[0].summary["validity"] == 1.0

    page = client.get(response["Location"]).content.decode()
    for label in (
        "base, manual prompt, free",
        "base, manual prompt, constrained",
        "small-v1, short prompt, free",
        "small-v1, short prompt, constrained",
    ):
        assert label in page
    assert "<svg" in page and "field_accuracy" in page
    assert "listing_card · validity" in page  # per-widget rows
    assert f"/finetune/evals/runs/{runs[1].pk}/?widget=listing_card" in page
    assert 'id="production"' in page


def test_the_page_shows_progress_of_queued_runs_and_ticked_past_runs(
    demo_registry, scripted, adapter, client, staff_user
):
    dataset = small_dataset()
    old = evaluate(scripted, dataset, INVALID, constrained=False)
    evaluate(scripted, dataset, PERFECT, constrained=False)  # newer: the base column shows it
    EvalRun.objects.create(
        model_name="base", backend="scripted", manual_prompt=True, constrained=True,
        max_tokens=64, dataset=dataset, source="small v1 (eval)", split="eval",
        status="running", done=1, total=2,
    )  # fmt: skip
    client.force_login(staff_user)
    page = client.get(f"/finetune/evals/?dataset={dataset.pk}&run={old.pk}").content.decode()
    assert "1/2" in page and 'http-equiv="refresh"' in page
    assert f"#{old.pk} base, manual prompt, free" in page  # the ticked column


def test_failing_cases_show_the_output_beside_the_reference(
    demo_registry, scripted, client, staff_user
):
    run = evaluate(scripted, small_dataset(), INVALID)
    client.force_login(staff_user)
    page = client.get(f"/finetune/evals/runs/{run.pk}/?widget=listing_card").content.decode()
    assert "1 failing case with a listing_card" in page
    assert page.count('class="output"') == 1 and page.count('class="reference"') == 1
    assert "&quot;beds&quot;: &quot;three&quot;" in page  # the model's output, escaped
    assert "listing_card is invalid" in page
    assert (
        "No failing cases."
        in client.get(f"/finetune/evals/runs/{run.pk}/?widget=contact_card").content.decode()
    )


# ---------------------------------------------------------------- production quality


def test_outcomes_of_live_replies_are_counted_per_widget_per_day(plain_user, demo_registry):
    conversation = Conversation.objects.create(owner=plain_user)
    now = timezone.now()

    def reply_with(*blocks, days_ago=0, role="assistant"):
        message = Message.objects.create(
            conversation=conversation, role=role, raw="…",
            blocks=[{"type": t, "outcome": o} for t, o in blocks],
        )  # fmt: skip
        Message.objects.filter(pk=message.pk).update(created=now - timedelta(days=days_ago))

    reply_with(("listing_card", "valid"), ("listing_card", "invalid"), ("contact_card", "valid"))
    reply_with(("listing_card", "valid"), ("listing_card", "malformed"))
    reply_with(("listing_card", "unterminated"), days_ago=2)
    reply_with(("listing_card", "valid"), days_ago=40)  # older than 30 days
    reply_with(("listing_card", "valid"), role="user")  # not a model's reply

    rows = widget_outcome_shares_by_day(days=30, now=now)
    today, earlier = timezone.localdate(now), timezone.localdate(now - timedelta(days=2))
    assert [(r["day"], r["widget"], r["total"]) for r in rows] == [
        (today, "contact_card", 1), (today, "listing_card", 4), (earlier, "listing_card", 1),
    ]  # fmt: skip
    listing = rows[1]
    assert listing["counts"] == {
        "valid": 2, "invalid": 1, "malformed": 1, "unknown_type": 0, "unterminated": 0,
    }  # fmt: skip
    assert listing["shares"]["valid"] == 0.5 and rows[2]["shares"]["unterminated"] == 1.0


# ---------------------------------------------------------------- who may see it


def test_evaluation_pages_are_for_staff_only(demo_registry, scripted, client, plain_user, adapter):
    run = evaluate(scripted, small_dataset(), PERFECT)
    client.force_login(plain_user)
    for url in ("/finetune/evals/", f"/finetune/evals/runs/{run.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(
        "/finetune/evals/queue/", {"dataset": run.dataset_id, "adapter": adapter.name}
    )
    assert response.status_code == 302 and EvalRun.objects.count() == 1
    assert client.post(f"/finetune/adapters/{adapter.name}/promote/").status_code == 302
    assert not adapter.promotion_set.exists()


# ---------------------------------------------------------------- the real thing


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_evaluation_runs_in_a_celery_worker_with_the_local_model(capsys):
    """Queued like the page queues it; a worker process runs the real model on 2 demo rows."""
    import os
    import signal

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from finetune.models import Dataset
    from tests.finetune.test_jobs import _wait, _worker

    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs a database it can share (PostgreSQL)")
    call_command("load_demo")
    capsys.readouterr()
    demo = Dataset.objects.get(name="demo")
    run = eval_run_create(
        dataset=demo, split="eval", model_name="base", constrained=True, backend="local",
        max_tokens=32, limit=2, enqueue=True,
    )  # fmt: skip
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    worker = _worker(env, "evaluator")
    try:
        assert _wait(lambda: EvalRun.objects.get(pk=run.pk).finished_running, 400), "not done"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert (run.done, run.total, len(run.cases)) == (2, 2, 2)
    assert run.summary["n"] == 2 and run.summary["tokens_per_s"]
    # Constrained decoding: whatever widget the model opened follows its schema.
    assert run.summary["outcomes"]["invalid"] == run.summary["outcomes"]["malformed"] == 0
    assert {"listing_card", "contact_card"} <= set(run.registry_versions)
    assert demo.eval_runs.get() == run and Dataset.objects.get(pk=demo.pk).frozen
