"""One line of a conversation file (shared/spec/datasets.md): checks, identity, split.

Plain functions with no Django, shared by import, build from conversations, training and
evaluation.
"""

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping

from widgets.markup import Outcome, PayloadValidator, widget_segments

ROLES = ("system", "user", "assistant")
EVAL_PERCENT = 15  # share of rows held out for evaluation, chosen by a hash of the row id


def row_problems(line, validators: Mapping[str, PayloadValidator]) -> list[str]:
    """Why `line` cannot be a training or evaluation row; empty when it can."""
    if not isinstance(line, dict):
        return ["a line is one JSON object"]
    messages = line.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["messages: a non-empty list of chat messages"]
    problems = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            problems.append(f"messages[{i}]: role must be system, user or assistant")
        elif not isinstance(message.get("content"), str):
            problems.append(f"messages[{i}]: content must be a string")
        elif message["role"] == "system" and i != 0:
            problems.append(f"messages[{i}]: only the first message may be a system message")
    if problems:
        return problems
    if messages[-1]["role"] != "assistant":
        problems.append("the last message must be the assistant's reference answer")
    if not any(m["role"] == "user" for m in messages):
        problems.append("there is no user message")
    for key in ("context", "meta"):
        if key in line and not isinstance(line[key], dict):
            problems.append(f"{key}: must be a JSON object")
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        for n, block in enumerate(widget_segments(message["content"], validators)):
            if block.outcome is not Outcome.VALID:
                errors = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in block.errors[:3])
                problems.append(
                    f"messages[{i}] widget {n + 1} ({block.type}) is {block.outcome}: {errors}"
                )
    return problems


def row_id(line: dict) -> str:
    """The line's own id, or one derived from its content (same content, same id)."""
    given = (line.get("meta") or {}).get("id")
    if isinstance(given, str) and given.strip():
        return given.strip()[:120]
    digest = hashlib.sha256(json.dumps(line["messages"], sort_keys=True).encode()).hexdigest()
    return f"row-{digest[:16]}"


def stable_split(identifier: str, *, eval_percent: int = EVAL_PERCENT) -> str:
    """train or eval, from the id alone: a row keeps its split in every dataset version."""
    bucket = int(hashlib.sha256(identifier.encode()).hexdigest(), 16) % 100
    return "eval" if bucket < eval_percent else "train"


_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def fingerprint(line: dict) -> str:
    """Equal for near-exact duplicates: case, spacing and punctuation do not count."""
    text = "\x1f".join(f"{m['role']}:{m['content']}" for m in line["messages"])
    return hashlib.sha256(_NOISE.sub(" ", text.lower()).strip().encode()).hexdigest()


# ------------------------------------------------------------------ what a set of rows holds


def reply_widget_types(row: dict) -> list[str]:
    return [block.type for block in widget_segments(row["messages"][-1]["content"], {})]


def eval_split_gaps(rows: list[dict]) -> list[str]:
    """Widget types the rows show that no eval row shows."""
    shown = {t for row in rows for t in reply_widget_types(row)}
    in_eval = {
        t
        for row in rows
        if row.get("meta", {}).get("split") == "eval"
        for t in reply_widget_types(row)
    }
    return sorted(shown - in_eval)


def rows_summary(rows: list[dict]) -> dict:
    """What the dataset holds: rows per kind, split and widget type, and reply shapes."""
    types = [reply_widget_types(row) for row in rows]
    return {
        "rows": len(rows),
        "kind": dict(
            sorted(Counter(r.get("meta", {}).get("kind", "unknown") for r in rows).items())
        ),
        "split": dict(
            sorted(Counter(r.get("meta", {}).get("split", "unknown") for r in rows).items())
        ),
        "widget_rows": dict(sorted(Counter(t for ts in types for t in set(ts)).items())),
        "widget_blocks": dict(sorted(Counter(t for ts in types for t in ts).items())),
        "several_widget_types": sum(len(set(ts)) >= 2 for ts in types),
        "several_blocks": sum(len(ts) >= 2 for ts in types),
        "prose_only": sum(not ts for ts in types),
        "two_turn": sum(len(r["messages"]) > 2 for r in rows),
    }
