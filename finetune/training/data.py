"""Rows to token ids and loss labels, and the order rows are trained in.

A row (shared/spec/datasets.md) becomes exactly what chat sends the model: build_messages
(system prompt from the widget specs, short or manual, records placed after it), then the
tokenizer's chat template. Tokens that carry loss are each assistant turn's text and the
token that ends the turn (<|im_end|> for SmolLM2): the model learns what to say and when to
stop. System, user and context tokens, and the `<|im_start|>assistant` header (chat puts
it in the prompt), never carry loss. No tokens are added to the tokenizer.

Loss spans are found on the rendered text, then mapped to tokens through the tokenizer's
offsets, so the ids are those of tokenizing the whole conversation at once, as the chat does.

Pure functions; no Django, no torch.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from finetune.rows import row_id
from serving.backend import ChatMessage
from serving.prompts import WidgetSpec, build_messages

IGNORE_INDEX = -100  # the label of a token that carries no loss (torch's cross_entropy default)


class TrainDataError(ValueError):
    """Rows that cannot be trained on (empty set, malformed row, all too long...)."""


@dataclass(frozen=True, kw_only=True)
class EncodedRow:
    row_id: str
    input_ids: list[int]
    labels: list[int]  # aligned with input_ids: the id where a token carries loss, else -100

    @property
    def loss_tokens(self) -> int:
        # The first token is never predicted, so only labels[1:] can count.
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


def chat_messages(row: dict, widgets: Sequence[WidgetSpec], *, manual: bool) -> list[dict]:
    """The row's conversation as the prompt builder lays it out, as template dicts."""
    try:
        turns = [ChatMessage.from_dict(m) for m in row["messages"]]
        messages = build_messages(widgets, turns, row.get("context") or None, manual=manual)
    except (KeyError, TypeError, ValueError) as error:
        raise TrainDataError(f"{_name(row)}: not a conversation row ({error})") from error
    if messages[-1].role != "assistant":
        raise TrainDataError(f"{_name(row)}: the last message must be the assistant's")
    return [m.as_dict() for m in messages]


def encode_row(row: dict, *, widgets: Sequence[WidgetSpec], tokenizer, manual: bool) -> EncodedRow:
    messages = chat_messages(row, widgets, manual=manual)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = _assistant_spans(messages, text, tokenizer)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    labels = [IGNORE_INDEX] * len(ids)
    for start, end in spans:
        # Tokens that start inside the turn's text, then the first token after it: the
        # end-of-turn token. A token straddling the turn's start is left without loss.
        inside = [i for i, (a, _) in enumerate(offsets) if start <= a < end]
        after = next((i for i, (a, _) in enumerate(offsets) if a >= end), None)
        for i in [*inside, *([after] if after is not None else [])]:
            labels[i] = ids[i]
    return EncodedRow(row_id=row_id(row), input_ids=list(ids), labels=labels)


def _assistant_spans(messages: list[dict], text: str, tokenizer) -> list[tuple[int, int]]:
    """(start, end) in `text` of each assistant turn's content.

    A turn starts where the prompt chat would send for it ends (the conversation so far plus
    the generation prompt), so the header before it is never trained on.
    """
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(
            messages[:i], tokenize=False, add_generation_prompt=True
        )
        start = len(prompt)
        if not text.startswith(prompt + message["content"]):
            raise TrainDataError(
                "the chat template does not render a conversation's turns as prefixes of it"
            )
        spans.append((start, start + len(message["content"])))
    return spans


def preflight(
    row: dict, *, widgets: Sequence[WidgetSpec], tokenizer, manual: bool
) -> list[tuple[str, bool]]:
    """The exact tokens the model sees for `row`, each with whether it carries loss."""
    encoded = encode_row(row, widgets=widgets, tokenizer=tokenizer, manual=manual)
    return [
        (tokenizer.decode([token]), label != IGNORE_INDEX)
        for token, label in zip(encoded.input_ids, encoded.labels, strict=True)
    ]


def _name(row) -> str:
    try:
        return row_id(row)
    except (KeyError, TypeError, AttributeError):
        return "a row"


# ---------------------------------------------------------------- the order of training


def step_plan(
    row_count: int, *, batch_rows: int, epochs: int, max_steps: int | None, seed: int
) -> list[list[int]]:
    """Row indices for each optimiser step, for the whole run.

    Each epoch visits every row once in its own shuffled order (seeded by seed and epoch),
    cut into steps of batch_rows (the last step of an epoch may be smaller). With max_steps
    the plan runs over as many epochs as it takes and stops there. A pure function of its
    arguments: a resumed run recomputes it and continues at the checkpoint's step.
    """
    if row_count < 1:
        raise TrainDataError("there are no training rows")
    plan: list[list[int]] = []
    epoch = 0
    while epoch < epochs if max_steps is None else len(plan) < max_steps:
        order = list(range(row_count))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)  # noqa: S311 - not secrets
        plan += [order[i : i + batch_rows] for i in range(0, row_count, batch_rows)]
        epoch += 1
    return plan[:max_steps] if max_steps is not None else plan


def steps_per_epoch(row_count: int, batch_rows: int) -> int:
    return -(-row_count // batch_rows)
