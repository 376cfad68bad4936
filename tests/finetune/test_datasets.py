import json

import pytest

from chat.models import Message
from chat.services import (
    chat_message_create,
    conversation_create,
    correction_create,
    feedback_set,
)
from finetune.datasets import (
    DatasetFrozen,
    DatasetRejected,
    dataset_build_from_conversations,
    dataset_delete_rows,
    dataset_export,
    dataset_freeze,
    dataset_import,
)
from finetune.rows import stable_split
from tests.chat.conftest import LISTING, block

pytestmark = pytest.mark.django_db


def line(question, answer, **meta):
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "context": {"listings": [LISTING]},
        "meta": meta,
    }


def jsonl(*lines):
    return "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n"


def test_import_then_export_keeps_rows_meta_and_a_stable_split(demo_registry):
    text = jsonl(
        line("anything in Austin?", f"One: {block(LISTING)}", id="a1", source="import", team="x"),
        line("what is escrow?", "Money held by a third party until closing.", id="a2"),
    )
    dataset = dataset_import(name="mine", text=text)
    assert (dataset.name, dataset.version, dataset.rows.count()) == ("mine", 1, 2)
    exported = [json.loads(x) for x in dataset_export(dataset)]
    assert exported[0]["meta"] == {
        "source": "import",
        "team": "x",
        "id": "a1",
        "split": stable_split("a1"),
    }
    assert exported[0]["messages"][1]["content"] == f"One: {block(LISTING)}"
    again = dataset_import(name="mine", text="".join(dataset_export(dataset)))
    assert again.version == 2
    assert [r.split for r in again.rows.all()] == [r.split for r in dataset.rows.all()]


def test_invalid_rows_are_listed_and_refused_unless_explicitly_excluded(demo_registry):
    text = jsonl(
        line("ok", f"fine {block(LISTING)}", id="good"),
        line("bad", block({**LISTING, "price": "cheap"}), id="bad"),
        '{"messages": [{"role": "user", "content": "no answer"}]}',
        "{not json",
    )
    with pytest.raises(DatasetRejected) as caught:
        dataset_import(name="mine", text=text)
    reasons = dict(caught.value.problems)
    assert "widget 1 (listing_card) is invalid: /price" in reasons["line 2"]
    assert "assistant's reference answer" in reasons["line 3"]
    assert reasons["line 4"].startswith("not JSON")
    from finetune.models import Dataset

    assert not Dataset.objects.exists()
    dataset = dataset_import(name="mine", text=text, exclude_invalid=True)
    assert [r.row_id for r in dataset.rows.all()] == ["good"]
    assert {e["where"] for e in dataset.excluded} == {"line 2", "line 3", "line 4"}


def test_exact_and_near_duplicates_are_dropped_and_recorded(demo_registry):
    text = jsonl(
        line("Anything in Austin?", "Nothing right now."),
        line("anything in austin", "nothing right now"),
        line("Anything in Austin?", "Nothing right now."),
        line("Anything in Dallas?", "Nothing right now."),
    )
    dataset = dataset_import(name="dups", text=text)
    assert dataset.rows.count() == 2
    assert [e["reasons"][0].startswith("duplicate of") for e in dataset.excluded] == [True, True]


def test_frozen_dataset_does_not_change(demo_registry):
    dataset = dataset_import(name="mine", text=jsonl(line("q", "a", id="r1")))
    dataset_freeze(dataset=dataset)
    with pytest.raises(DatasetFrozen):
        dataset_delete_rows(dataset=dataset, row_ids=["r1"])
    assert dataset.rows.count() == 1


def test_build_from_conversations_takes_accepted_answers_and_corrections(plain_user, demo_registry):
    conversation = conversation_create(owner=plain_user)

    def answered(question, answer, model="base"):
        _, reply = chat_message_create(conversation=conversation, text=question, model_name=model)
        Message.objects.filter(pk=reply.pk).update(raw=answer, status="done")
        reply.refresh_from_db()
        return reply

    liked = answered("anything in Austin?", f"One: {block(LISTING)}")
    feedback_set(message=liked, rating=1)
    disliked = answered("and in Dallas?", "Nothing.")
    feedback_set(message=disliked, rating=-1)
    wrong = answered("price of 12 Oak St?", "It is cheap.")
    correction_create(message=wrong, raw=f"Here it is: {block(LISTING)}", author=plain_user)
    answered("ignored", "no feedback at all", model="other")

    dataset = dataset_build_from_conversations(name="from-chat", feedback="any")
    rows = {r.meta["feedback"]: r for r in dataset.rows.all()}
    assert set(rows) == {"up", "corrected"}
    assert rows["corrected"].messages[-1]["content"] == f"Here it is: {block(LISTING)}"
    # The corrected row carries the whole conversation before it, as the model saw it.
    assert [m["content"] for m in rows["corrected"].messages[:-1]] == [
        "anything in Austin?", f"One: {block(LISTING)}", "and in Dallas?", "Nothing.",
        "price of 12 Oak St?",
    ]  # fmt: skip
    only_up = dataset_build_from_conversations(name="from-chat", feedback="up")
    assert only_up.version == 2 and only_up.rows.count() == 1
    with pytest.raises(DatasetRejected) as caught:
        dataset_build_from_conversations(name="w", feedback="any", widget_types=["contact_card"])
    assert caught.value.problems == [("dataset", "no rows to store")]
    listing_rows = dataset_build_from_conversations(name="w", widget_types=["listing_card"])
    assert listing_rows.rows.count() == 2
