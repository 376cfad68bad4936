import json

import pytest
from django.core.management import call_command

from finetune.evaluation.generation import EvalSettings, evaluate_rows
from finetune.evaluation.scoring import score_case, summarise
from serving.constraints import widget_constraint
from serving.prompts import CONTEXT_LABEL
from serving.registry_specs import active_widget_specs
from serving.scripted import ScriptedBackend
from tests.chat.conftest import LISTING, block
from widgets.markup import Outcome
from widgets.selectors import registry_validators

pytestmark = pytest.mark.django_db
CONTACT = {"name": "Maria Gonzalez", "role": "agent", "phone": "+1 (512) 555-0142"}


def row(answer, question="anything 3 bed in Austin?", context=None):
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "context": context
        if context is not None
        else {"listings": [LISTING], "contacts": [CONTACT]},
        "meta": {"id": "r1"},
    }


def test_a_perfect_answer_scores_perfectly(demo_registry):
    reference = f"Here: {block(LISTING)} {block(CONTACT, 'contact_card')}"
    summary = summarise([score_case(row(reference), reference, registry_validators())])
    assert (summary["validity"], summary["type_accuracy"], summary["field_accuracy"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert summary["hallucinated_values"] == 0.0 and summary["outcomes"]["valid"] == 2


def test_metrics_follow_datasets_md(demo_registry):
    validators = registry_validators()
    reference = f"Here: {block(LISTING)} {block(CONTACT, 'contact_card')}"
    # One listing with a wrong, invented price; the contact card missing; an invalid extra card.
    output = f"{block({**LISTING, 'price': 123456})} {block({**LISTING, 'beds': 'x'})}"
    score = score_case(row(reference), output, validators)
    summary = summarise([score])
    assert summary["validity"] == 0.5  # 1 of 2 emitted blocks valid
    assert summary["type_accuracy"] == 0.0  # {listing, listing} != {listing, contact}
    # Matched: the first listing only (8 leaves, 7 right). Recall counts the contact's 3 too.
    assert summary["field_accuracy"] == round(7 / 8, 4)
    assert summary["field_recall"] == round(7 / 11, 4)
    # 16 emitted leaves; 123456 and "x" appear nowhere.
    assert summary["hallucinated_values"] == round(2 / 16, 4)
    assert summary["per_widget"]["contact_card"]["field_recall"] == 0.0
    assert summary["per_widget"]["listing_card"]["validity"] == 0.5
    assert any("listing_card/price: expected 449000, got 123456" in p for p in score.problems)


def test_outcomes_are_the_markup_enum_and_counted_by_its_values(demo_registry):
    validators = registry_validators()
    output = f'{block(LISTING)} {block({**LISTING, "beds": "x"})} <widget type="listing_card">{{'
    score = score_case(row(block(LISTING)), output, validators)
    assert [b.outcome for b in score.emitted] == [
        Outcome.VALID,
        Outcome.INVALID,
        Outcome.UNTERMINATED,
    ]
    assert "listing_card is invalid" in score.problems
    counted = summarise([score])["outcomes"]
    assert list(counted) == [o.value for o in Outcome]
    assert (counted["valid"], counted["invalid"], counted["unterminated"]) == (1, 1, 1)


def test_a_card_shown_twice_counts_as_not_valid(demo_registry):
    reference = f"Here: {block(LISTING)}"
    output = f"Here: {block(LISTING)} and again {block(LISTING)}"
    score = score_case(row(reference), output, registry_validators())
    assert [b.outcome for b in score.emitted] == [Outcome.VALID, Outcome.INVALID]
    assert "listing_card is invalid" in score.problems
    summary = summarise([score])
    assert summary["validity"] == 0.5 and summary["outcomes"]["invalid"] == 1


def test_values_from_the_question_are_not_invented(demo_registry):
    reference = "Sure."
    output = block(
        {"action": "create_task", "summary": "Call Bob", "params": {"who": "bob"}}, "action_request"
    )
    score = score_case(
        row(reference, question="make a task to call Bob", context={}),
        output,
        registry_validators(),
    )
    # "Call Bob" is in the question, create_task is the schema's own enum value; "bob" is known too
    assert score.hallucinated == []
    invented = score_case(
        row(reference, question="make a task", context={}), output, registry_validators()
    )
    assert [v for _, v in invented.hallucinated] == ["Call Bob", "bob"]


def test_evaluate_rows_prompts_like_the_chat_and_scores(demo_registry):
    backend = ScriptedBackend()
    good = f"One fits: {block(LISTING)}"
    backend.enqueue(good, f"{block(LISTING)} extra {block(LISTING)}")
    rows = [row(good), row(good)]
    summary, scores = evaluate_rows(
        rows, backend=backend, widgets=active_widget_specs(), validators=registry_validators(),
        settings=EvalSettings(manual_prompt=False, constrained=True),
    )  # fmt: skip
    assert (
        summary["n"] == 2 and summary["type_accuracy"] == 0.5 and summary["field_accuracy"] == 1.0
    )
    assert not scores[0].failed and scores[1].failed
    first_prompt = backend.history[0].messages
    assert (
        CONTEXT_LABEL in first_prompt[0].content
        and first_prompt[-1].content == rows[0]["messages"][0]["content"]
    )
    # The grammar of each row is grounded in that row's records, as the chat's is.
    assert backend.history[0].constraint == widget_constraint(
        active_widget_specs(), rows[0]["context"]
    )


def test_an_evaluation_row_offers_the_actions_its_context_allows(demo_registry):
    backend = ScriptedBackend()
    backend.enqueue("Sure.", "Sure.")
    rows = [row("Sure.", context={}), row("Sure.", context={"actions": ["create_task"]})]
    evaluate_rows(
        rows, backend=backend, widgets=active_widget_specs(), validators=registry_validators(),
        settings=EvalSettings(constrained=True),
    )  # fmt: skip
    offered = []
    for call, r in zip(backend.history, rows, strict=True):
        # The chat's code, on the chat's specs: the action card is narrowed as in the chat.
        assert call.constraint == widget_constraint(active_widget_specs(), r["context"])
        (tag,) = json.loads(call.constraint.structural_tag)["format"]["tags"]
        offered.append(len(tag["content"]["json_schema"]["anyOf"]))
    assert offered == [4, 1]


def test_evaluate_command_refuses_invalid_rows(tmp_path, demo_registry):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row(block({**LISTING, "price": "cheap"}))) + "\n{oops\n")
    from django.core.management import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("evaluate", str(bad), "--json")
    assert "line 1: messages[1] widget 1 (listing_card) is invalid" in str(caught.value)
    assert "line 2: not JSON" in str(caught.value)


@pytest.mark.slow
def test_evaluate_command_on_the_demo_split_with_the_local_backend(tmp_path, capsys):
    call_command("load_demo")
    capsys.readouterr()
    cases = tmp_path / "cases.jsonl"
    call_command(
        "evaluate", "--dataset", "demo", "--limit", "2", "--max-tokens", "48", "--constrained",
        "--json", "--cases", str(cases),
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 2 and result["model"] == "base" and result["prompt"] == "manual"
    for key in (
        "validity",
        "type_accuracy",
        "field_accuracy",
        "hallucinated_values",
        "latency_p50_s",
        "tokens_per_s",
    ):
        assert key in result
    assert (
        result["outcomes"]["malformed"] == 0 and result["outcomes"]["invalid"] == 0
    )  # constrained
    assert len(cases.read_text().splitlines()) == 2
