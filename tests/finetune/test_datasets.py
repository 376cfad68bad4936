import json

import pytest
from django.core.management import CommandError, call_command

from chat.models import Message
from chat.services import (
    chat_message_create,
    conversation_create,
    correction_create,
    correction_review,
    feedback_set,
)
from demo.widget_files import demo_widgets_load
from finetune.datasets import (
    DatasetFrozen,
    DatasetRejected,
    dataset_build_from_conversations,
    dataset_delete_rows,
    dataset_export,
    dataset_freeze,
    dataset_import,
    dataset_rows_to_migrate,
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


def test_build_from_conversations_takes_accepted_answers_and_corrections(
    plain_user, staff_user, demo_registry
):
    conversation = conversation_create(owner=plain_user)

    def answered(question, answer):
        _, reply = chat_message_create(conversation=conversation, text=question)
        Message.objects.filter(pk=reply.pk).update(raw=answer, status="done")
        reply.refresh_from_db()
        return reply

    liked = answered("anything in Austin?", f"One: {block(LISTING)}")
    feedback_set(message=liked, rating=1)
    disliked = answered("and in Dallas?", "Nothing.")
    feedback_set(message=disliked, rating=-1)
    wrong = answered("price of 12 Oak St?", "It is cheap.")
    correction = correction_create(
        message=wrong, raw=f"Here it is: {block(LISTING)}", author=plain_user
    )
    ignored = answered("ignored", "no feedback at all")
    Message.objects.filter(pk=ignored.pk).update(model_name="other")  # served before, say
    # Until staff accept it, the correction is no training row.
    early = dataset_build_from_conversations(name="early")
    assert [r.meta["feedback"] for r in early.rows.all()] == ["up"]
    correction_review(correction=correction, accept=True, reviewer=staff_user)

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


# ------------------------------------------------------------------ names (Hardening B)

BAD_NAMES = ['my"set', "a\r\nSet-Cookie: x=1", "x" * 81, "with space", "a/b", "ünï"]


@pytest.mark.parametrize("name", [*BAD_NAMES, "", " padded", "trailing\n"])
def test_the_service_refuses_a_bad_name(name, demo_registry):
    with pytest.raises(DatasetRejected) as caught:
        dataset_import(name=name, text=jsonl(line("q", "a", id="r1")))
    assert caught.value.problems[0][0] == "name"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_api_and_the_page_refuse_the_same_names(
    name, staff_api, client, staff_user, demo_registry
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from finetune.models import Dataset

    text = jsonl(line("q", "a", id="r1")).encode()
    response = staff_api.post(
        "/api/datasets/", {"name": name, "file": SimpleUploadedFile("f.jsonl", text)}
    )
    assert response.status_code == 400 and "name" in response.json()
    client.force_login(staff_user)
    response = client.post(
        "/finetune/datasets/upload/", {"name": name, "file": SimpleUploadedFile("f.jsonl", text)}
    )
    assert response.status_code == 302 and response.url == "/finetune/"
    assert not Dataset.objects.exists()


def test_the_page_names_an_unnamed_upload_after_its_file(client, staff_user, demo_registry):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(staff_user)
    text = jsonl(line("q", "a", id="r1")).encode()
    upload = SimpleUploadedFile('my "odd" data.v2.jsonl', text)
    response = client.post("/finetune/datasets/upload/", {"name": "", "file": upload})
    from finetune.models import Dataset

    dataset = Dataset.objects.get()
    assert response.url == f"/finetune/datasets/{dataset.pk}/"
    assert dataset.name == "my-odd-data-v2"


def test_export_header_is_safe_for_any_stored_name(staff_api, demo_registry):
    dataset = dataset_import(name="ok", text=jsonl(line("q", "a", id="r1")))
    # A name stored before names were checked on every path.
    type(dataset).objects.filter(pk=dataset.pk).update(name='a"b\r\nSet-Cookie: x=1')
    response = staff_api.get(f"/api/datasets/{dataset.pk}/export/")
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert header.startswith("attachment; filename")
    assert "\r" not in header and "\n" not in header and 'a"b' not in header


# ------------------------------------------------------------------ row ids (Hardening C)


@pytest.mark.parametrize(
    "identifier", ["a/b", "../x", "..", "has space", "x" * 121, "ünï", "a?b", "#a", 7]
)
def test_row_ids_outside_the_alphabet_are_refused(identifier, demo_registry):
    with pytest.raises(DatasetRejected) as caught:
        dataset_import(name="ids", text=jsonl(line("q", "a", id=identifier)))
    (where, problem), *_ = caught.value.problems
    assert where == "line 1" and problem.startswith("meta.id:")


@pytest.mark.parametrize(
    "identifier", ["chat-12", "chat-12-c3", "demo-0001", "row-0123abcd", "a.b:c_d-9", "x" * 120]
)
def test_row_ids_inside_the_alphabet_pass(identifier, demo_registry):
    dataset = dataset_import(name="ids", text=jsonl(line("q", "a", id=identifier)))
    assert dataset.rows.get().row_id == identifier


def test_ids_the_app_makes_itself_pass(demo_registry):
    from datetime import date

    from demo.dataset.data import generate_demo_conversations
    from demo.services import crm_fixture_load
    from finetune.datasets import ROW_ID
    from finetune.rows import row_id

    crm_fixture_load(today=date(2026, 11, 21))
    assert all(ROW_ID.fullmatch(r["meta"]["id"]) for r in generate_demo_conversations())
    assert ROW_ID.fullmatch(row_id(line("q", "a")))  # derived from the content


def test_the_dataset_page_shows_a_row_whose_id_predates_the_check(
    client, staff_user, demo_registry
):
    dataset = dataset_import(name="ids", text=jsonl(line("q", "a", id="r1")))
    dataset.rows.update(row_id="a/b")
    client.force_login(staff_user)
    page = client.get(f"/finetune/datasets/{dataset.pk}/")
    assert page.status_code == 200
    assert f"/finetune/datasets/{dataset.pk}/rows/a/b/" in page.content.decode()


# ------------------------------------------------------------------ line breaks (Hardening D)


def test_export_then_import_keeps_unicode_line_separators_inside_strings(demo_registry):
    text = jsonl(
        line("first\u2028second", "one\u0085two\u2029three\x1c four", id="sep"),
        line("plain", "answer", id="plain"),
    )
    dataset = dataset_import(name="seps", text=text.replace("\n", "\r\n"))
    exported = "".join(dataset_export(dataset))
    assert "\u2028" in exported  # written as is (ensure_ascii=False), not escaped
    again = dataset_import(name="seps", text=exported)
    assert [r.messages for r in again.rows.all()] == [r.messages for r in dataset.rows.all()]
    assert again.rows.get(row_id="sep").messages[0]["content"] == "first\u2028second"


def test_rows_are_read_as_strict_json(demo_registry):
    good = json.dumps(line("q", "a", id="ok"))
    not_finite = good.replace('"id": "ok"', '"id": "nan", "score": NaN')
    deep = good.replace('"id": "ok"', '"id": "deep", "x": ' + "[" * 100 + "]" * 100)
    with pytest.raises(DatasetRejected) as caught:
        dataset_import(name="strict", text=jsonl(good, not_finite, deep))
    reasons = dict(caught.value.problems)
    assert reasons["line 2"].startswith("not JSON: NaN is not a finite number")
    assert reasons["line 3"].startswith("not JSON: JSON nested deeper than")


def test_after_a_new_version_the_rows_to_migrate_are_listed(demo_registry_v1):
    """action_request v2 types each action's params: re-validating a dataset written
    against v1 lists the rows whose cards no longer fit, and only those."""
    untyped = {"action": "send_email", "summary": "Email the buyers",
               "params": {"to": "a@example.com"}}  # fmt: skip
    typed = {"action": "create_task", "summary": "Call the seller",
             "params": {"title": "Call the seller"}}  # fmt: skip
    dataset = dataset_import(
        name="old",
        text=jsonl(
            line("email the buyers", block(untyped, "action_request"), id="untyped"),
            line("make a task", block(typed, "action_request"), id="typed"),
            line("anything in Austin?", f"One: {block(LISTING)}", id="listing"),
        ),
    )
    assert dataset_rows_to_migrate(dataset=dataset) == []
    call_command("revalidate_dataset", "old")  # all fit: no error

    demo_widgets_load()  # activates action_request v2
    ((row_id, problems),) = dataset_rows_to_migrate(dataset=dataset)
    assert row_id == "untyped"
    assert problems[0].startswith("messages[1] widget 1 (action_request) is invalid: ")
    with pytest.raises(CommandError, match=r"old v1: 1 of 3 rows to migrate") as caught:
        call_command("revalidate_dataset", "old", "--dataset-version", "1")
    assert "action_request v2" in str(caught.value)
    with pytest.raises(CommandError, match="no dataset 'old' v2"):
        call_command("revalidate_dataset", "old", "--dataset-version", "2")
