"""The promotion gate: an adapter must evaluate at least as well as the served model.

Every run here is an executed evaluation of scripted outputs on a real dataset, so the gate
reads summaries the harness computed, never hand-written ones.
"""

import pytest
from rest_framework.test import APIClient

from finetune.adapters import PromotionRefused, adapter_promote, adapter_rollback
from finetune.models import Adapter, Promotion
from serving.served import BASE, served_model
from tests.finetune.test_evals import INVALID, PERFECT, WRONG_PRICE, evaluate, small_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted(scripted, settings):
    settings.WEFT_CHAT_CONSTRAINED = True  # the chat's decoding, which the gate judges by
    return scripted


@pytest.fixture
def dataset(demo_registry):
    return small_dataset()


@pytest.fixture
def make_adapter(dataset, tmp_path):
    def make(name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "adapter_config.json").write_text("{}")
        return Adapter.objects.create(
            name=name, dataset=dataset, path=str(folder), manual_prompt=False
        )

    return make


@pytest.fixture
def base_run(scripted, dataset):
    """The served model (base, manual prompt, constrained like the chat): one wrong price."""
    return evaluate(scripted, dataset, WRONG_PRICE)


def test_an_adapter_with_lower_validity_is_blocked(scripted, dataset, make_adapter, base_run):
    worse = make_adapter("worse-v1")
    evaluate(scripted, dataset, INVALID, model_name=worse.name)
    with pytest.raises(PromotionRefused, match="worse-v1 is worse than base on valid_coverage"):
        adapter_promote(adapter=worse)
    assert not Promotion.objects.exists() and served_model() == BASE


def test_an_adapter_with_lower_field_accuracy_is_blocked(scripted, dataset, make_adapter, base_run):
    worse = make_adapter("sloppy-v1")
    wrong_twice = (WRONG_PRICE[1], WRONG_PRICE[1])  # valid blocks, fields wrong in both rows
    evaluate(scripted, dataset, wrong_twice, model_name=worse.name)
    with pytest.raises(PromotionRefused) as refused:
        adapter_promote(adapter=worse)
    assert "worse than base on field_recall" in str(refused.value)
    assert "valid_coverage 1.000 vs 1.000" in str(refused.value)  # both numbers are quoted


def test_an_equal_or_better_adapter_passes_and_the_runs_are_recorded(
    scripted, dataset, make_adapter, base_run
):
    equal, better = make_adapter("equal-v1"), make_adapter("better-v1")
    equal_run = evaluate(scripted, dataset, WRONG_PRICE, model_name=equal.name)
    promotion = adapter_promote(adapter=equal)
    assert promotion.gate_passed is True and promotion.override_reason == ""
    assert (promotion.candidate_run, promotion.baseline_run) == (equal_run, base_run)
    assert (served_model().name, served_model().manual_prompt) == ("equal-v1", False)

    # Now equal-v1 is served: the next adapter is compared with it, not with base.
    better_run = evaluate(scripted, dataset, PERFECT, model_name=better.name)
    promotion = adapter_promote(adapter=better)
    assert promotion.gate_passed and promotion.baseline_run == equal_run
    assert promotion.candidate_run == better_run


def test_emitting_fewer_widgets_does_not_beat_an_adapter_that_answers(
    scripted, dataset, make_adapter
):
    # The served model leaves out the second card: every widget it emits is valid and right,
    # so the spec's validity and field_accuracy (over emitted widgets) are both 100%.
    terse = evaluate(scripted, dataset, (PERFECT[0], "Nothing else fits, sorry."))
    assert terse.summary["validity"] == terse.summary["field_accuracy"] == 1.0
    answers = make_adapter("answers-v1")
    run = evaluate(scripted, dataset, WRONG_PRICE, model_name=answers.name)
    assert run.summary["field_accuracy"] < 1.0  # one price wrong: worse on the spec's metric
    promotion = adapter_promote(adapter=answers)
    assert promotion.gate_passed is True
    assert (terse.summary["valid_coverage"], run.summary["valid_coverage"]) == (0.5, 1.0)

    # The other way round, the terse model is refused for what it leaves out.
    terse_adapter = make_adapter("terse-v1")
    evaluate(scripted, dataset, (PERFECT[0], "Nothing else fits."), model_name=terse_adapter.name)
    with pytest.raises(PromotionRefused, match="valid_coverage and field_recall"):
        adapter_promote(adapter=terse_adapter)


def test_an_evaluation_without_the_gate_metrics_is_refused_until_run_again(
    scripted, dataset, make_adapter, base_run
):
    candidate = make_adapter("new-v1")
    run = evaluate(scripted, dataset, PERFECT, model_name=candidate.name)
    base_run.summary.pop("valid_coverage")  # as stored before the metric existed
    base_run.save(update_fields=["summary"])
    with pytest.raises(PromotionRefused, match=f"#{base_run.pk} \\(base\\) predates"):
        adapter_promote(adapter=candidate)
    assert run.summary["valid_coverage"] == 1.0


def test_missing_evaluations_are_refused_with_what_to_run(scripted, dataset, make_adapter):
    candidate = make_adapter("new-v1")
    with pytest.raises(PromotionRefused) as refused:
        adapter_promote(adapter=candidate)
    message = str(refused.value)
    assert "No evaluation of new-v1" in message and "--model new-v1" in message
    assert "--constrained" in message and "--prompt short" in message

    # A run of the adapter, but none of the served model on that dataset version.
    evaluate(scripted, dataset, PERFECT, model_name=candidate.name)
    with pytest.raises(PromotionRefused) as refused:
        adapter_promote(adapter=candidate)
    message = str(refused.value)
    assert "No evaluation of the served model" in message
    assert f"--dataset small --dataset-version {dataset.version} --model base --constrained" in (
        message
    )


def test_runs_that_do_not_match_how_the_chat_serves_do_not_count(scripted, dataset, make_adapter):
    candidate = make_adapter("partial-v1")
    evaluate(scripted, dataset, PERFECT, constrained=True)
    evaluate(scripted, dataset, PERFECT, model_name=candidate.name, constrained=False)
    evaluate(scripted, dataset, PERFECT[:1], model_name=candidate.name, limit=1)  # smoke test
    evaluate(scripted, dataset, PERFECT, model_name=candidate.name, manual_prompt=True)
    with pytest.raises(PromotionRefused, match="No evaluation of partial-v1"):
        adapter_promote(adapter=candidate)


def test_a_staff_override_needs_a_reason_and_is_recorded(
    scripted, dataset, make_adapter, base_run, staff_user, plain_user
):
    adapter_promote(adapter=None)  # the base model is served already: nothing to judge
    worse = make_adapter("worse-v1")
    worse_run = evaluate(scripted, dataset, INVALID, model_name=worse.name)
    with pytest.raises(PromotionRefused, match="worse than base"):
        adapter_promote(adapter=worse, user=staff_user, override_reason="   ")
    with pytest.raises(PromotionRefused, match="Only a staff user"):
        adapter_promote(adapter=worse, user=plain_user, override_reason="trust me")
    promotion = adapter_promote(
        adapter=worse, user=staff_user, override_reason="the invalid card is a schema bug"
    )
    assert promotion.gate_passed is False
    assert promotion.override_reason == "the invalid card is a schema bug"
    assert (promotion.candidate_run, promotion.baseline_run) == (worse_run, base_run)
    assert served_model().name == "worse-v1"

    # Rolling back is the emergency exit: not gated, and it says so.
    rollback = adapter_rollback(user=staff_user)
    assert rollback.adapter is None and rollback.gate_passed is None
    assert "not gated" in rollback.reason


def test_the_promote_page_shows_the_verdict_and_takes_an_override(
    scripted, dataset, make_adapter, base_run, client, staff_user
):
    worse = make_adapter("worse-v1")
    evaluate(scripted, dataset, INVALID, model_name=worse.name)
    client.force_login(staff_user)
    url = f"/finetune/adapters/{worse.name}/promote/"
    page = client.get(url).content.decode()
    assert "not passed" in page and "worse-v1 is worse than base on valid_coverage" in page
    assert 'name="override_reason"' in page
    page = client.post(url, {"override_reason": ""}).content.decode()
    assert "worse than base" in page and not Promotion.objects.exists()
    response = client.post(url, {"override_reason": "known schema bug"})
    assert response.status_code == 302
    assert Promotion.objects.get().override_reason == "known schema bug"


def test_the_api_goes_through_the_gate(scripted, dataset, make_adapter, base_run, staff_user):
    worse = make_adapter("worse-v1")
    evaluate(scripted, dataset, INVALID, model_name=worse.name)
    api = APIClient()
    api.force_authenticate(staff_user)
    url = f"/api/adapters/{worse.name}/promote/"
    refused = api.post(url, {}, format="json")
    assert refused.status_code == 400
    assert "worse than base" in refused.json()["non_field_errors"][0]
    assert api.post(url, {"override_reason": "ok"}, format="json").status_code == 201
