"""finetune.evaluation.values: a payload's leaves, and the one definition of an invented value
(the evaluation's metric and the demo generator's check both use it)."""

from finetune.evaluation.values import KnownValues, leaves, property_name, schema_constants
from widgets.markup import validator_for

ACTION = validator_for(
    {
        "type": "object",
        "properties": {
            "action": {"enum": ["create_task", "send_email"]},
            "summary": {"type": "string"},
            "params": {"type": "object"},
            "kind": {"const": "task"},
        },
    }
)
VALIDATORS = {"action_request": ACTION}


def row(question: str, context: dict | None = None) -> dict:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "the reference"},
        ],
        "context": context or {},
    }


def test_leaves_are_json_pointers_to_every_value_but_nulls():
    payload = {"a/b": {"c~d": [1, "x", None, True]}, "empty": {}, "n": None, "f": 0.5}
    assert leaves(payload) == [("/a~1b/c~0d/0", 1), ("/a~1b/c~0d/1", "x"), ("/a~1b/c~0d/3", True),
                               ("/f", 0.5)]  # fmt: skip
    assert leaves("bare") == [("", "bare")]
    assert [property_name(p) for p, _ in leaves(payload)] == ["c~d", "c~d", "c~d", "f"]
    assert property_name("/tags/0") == "tags" and property_name("/0") is None


def test_schema_constants_are_the_enum_and_const_values():
    assert sorted(schema_constants(VALIDATORS)) == ["create_task", "send_email", "task"]


def test_a_value_is_known_from_the_context_the_users_words_or_the_schemas():
    known = KnownValues.of_row(
        row("Find 3 beds near Oak St for Bob", {"listings": [{"price": 449000, "pool": True}]}),
        VALIDATORS,
    )
    payload = {
        "price": 449000,  # context
        "beds": 3,  # the user's words
        "who": " bob ",  # the user's words: trimmed, any case
        "pool": True,  # context, the same boolean
        "action": "create_task",  # the schema's own vocabulary
        "garage": False,  # a boolean is never grounded by words
        "city": "Austin",  # nowhere
        "baths": 2,  # nowhere
        "blank": "",  # an empty string grounds nothing
        "note": None,  # a null states nothing
    }
    assert known.invented(payload) == [
        ("/garage", False),
        ("/city", "Austin"),
        ("/baths", 2),
        ("/blank", ""),
    ]


def test_free_text_properties_and_also_known_payloads_are_not_invented():
    known = KnownValues.of_row(row("make a task"), VALIDATORS, also=[{"id": "TX-1"}])
    payload = {"summary": "Call the seller", "params": {"body": ["Hi", 7]}, "id": "TX-1"}
    assert known.invented(payload) == [("/summary", "Call the seller"), ("/params/body/0", "Hi"),
                                       ("/params/body/1", 7)]  # fmt: skip
    # Free text covers strings only: a number under a free-text name is still a fact.
    assert known.invented(payload, free_text={"summary", "body"}) == [("/params/body/1", 7)]


def test_the_assistant_reply_itself_grounds_nothing():
    # Only the user's messages before the reply count as words the reply may repeat.
    known = KnownValues.of_row(row("hello"), VALIDATORS)
    assert known.invented({"text": "the reference"}) == [("/text", "the reference")]
