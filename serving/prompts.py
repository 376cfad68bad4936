"""The one prompt builder: chat, training and evaluation all send the model what this returns.

`build_messages(widgets, messages, context, manual=...)` is a pure function: the same widget
specs, messages and context give the same messages, byte for byte. Nothing in it is written
per widget; everything about a widget comes from its name, title, description, JSON Schema
and first example.

Two forms of system prompt:
- manual=True: the markup rules, then every widget (what it is for, its fields described
  from the schema, one valid example block). The base model needs this.
- manual=False: one line of rules and the widget names. A tuned adapter has learnt the
  rest, and the manual would make every training row about twice as long. Record which form
  an adapter was trained with and serve it the same form.

Where `context` goes: at the end of the system message, after a fixed label, as one line
of JSON (keys in the caller's order, non-ASCII kept). Only the current turn's records are
placed; earlier turns' records are not replayed. A missing context (None: no retrieval ran)
adds nothing; an empty one ({}: retrieval found nothing this answer needs) is written as
`{}`, so "no records, answer in prose" is something the model reads, not an absence.
If the conversation starts with its own system message (shared/spec/datasets.md lets a line
override the generated prompt), that text replaces the generated instructions and the
records still follow it the same way.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from serving.backend import ChatMessage

CONTEXT_LABEL = "Records for this answer (JSON):"
_ANNOTATIONS = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "examples", "default"}
)


@dataclass(frozen=True, kw_only=True)
class WidgetSpec:
    """What the prompt builder and the constraint builder know about one widget."""

    name: str
    title: str
    description: str
    json_schema: dict
    example: dict | None = None  # one valid payload; None when the widget has none
    # Payload fields whose values must come from the turn's records (serving.grounding).
    grounded_fields: tuple[str, ...] = ()
    # An action card (widgets.actions): its `action` is narrowed to the context's `actions`.
    is_action: bool = False


def widget_block(name: str, payload: Any) -> str:
    """A widget block exactly as markup.md writes it (and as training data must hold it)."""
    return f'<widget type="{name}">{json.dumps(payload, ensure_ascii=False)}</widget>'


def build_messages(
    widgets: Sequence[WidgetSpec],
    messages: Sequence[ChatMessage],
    context: Mapping[str, Any] | None = None,
    *,
    manual: bool = True,
) -> list[ChatMessage]:
    """The messages to send: one system message (instructions + records), then the turns."""
    turns = list(messages)
    if turns and turns[0].role == "system":
        instructions, turns = turns[0].content, turns[1:]
    else:
        instructions = system_prompt(widgets, manual=manual)
    if any(turn.role == "system" for turn in turns):
        raise ValueError("only the first message may be a system message")
    return [ChatMessage(role="system", content=instructions + context_block(context)), *turns]


def context_block(context: Mapping[str, Any] | None) -> str:
    if context is None:
        return ""
    return f"\n\n{CONTEXT_LABEL}\n{json.dumps(context, ensure_ascii=False)}"


def system_prompt(widgets: Sequence[WidgetSpec], *, manual: bool = True) -> str:
    ordered = sorted(widgets, key=lambda w: w.name)  # the registry's order must not matter
    if not manual:
        names = ", ".join(w.name for w in ordered) or "none"
        return (
            "You are a helpful assistant. Answer in Markdown; show cards as "
            '<widget type="NAME">{JSON}</widget> blocks. '
            f"Widgets: {names}."
        )
    sections = [_RULES] + [_widget_manual(w) for w in ordered]
    return "\n\n".join(sections)


_RULES = """You are a helpful assistant. Answer in Markdown. To show a card, write a widget block:
<widget type="NAME">{...}</widget>
- Open with exactly <widget type="NAME"> and close with </widget>. Blocks never nest.
- The body is one JSON object: the widget's fields in the order listed, no others.
- Take every value from the records or the user's words. Never invent values.
- Use a widget only when it fits the question; otherwise answer in prose.

Widgets (* marks a required field):"""


def _widget_manual(widget: WidgetSpec) -> str:
    # A title that only respells the name ("Listing card") would cost tokens and say nothing.
    title = "" if _words(widget.title) == _words(widget.name) else _sentence(widget.title)
    head = " ".join(p for p in (f"{widget.name}:", title, _sentence(widget.description)) if p)
    lines = [head, *_object_lines(widget.json_schema, indent="")]
    if widget.example is not None:
        lines.append("Example: " + widget_block(widget.name, widget.example))
    return "\n".join(lines)


def _words(text: str) -> list[str]:
    return text.replace("_", " ").lower().split()


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text.endswith((".", "!", "?")) else text + "."


# ---------------------------------------------------------------- schema -> text


def _object_lines(schema: Mapping[str, Any], indent: str) -> list[str]:
    """One line per property (nested objects indented below theirs), then object-wide rules."""
    required = set(schema.get("required", ()))
    lines = []
    for name, subschema in schema.get("properties", {}).items():
        mark = "*" if name in required else ""
        text, children = _describe(subschema if isinstance(subschema, Mapping) else {}, indent)
        lines.append(f"{indent}- {name}{mark}: {text}" + (":" if children else ""))
        lines.extend(children)
    lines.extend(_form_lines(schema, indent))
    lines.extend(f"{indent}- {rule}" for rule in _object_rules(schema))
    return lines


def _form_lines(schema: Mapping[str, Any], indent: str) -> list[str]:
    """An object whose anyOf/oneOf branches are objects of their own (one form per action,
    say): each form's fields, as the object's own would be listed."""
    lines = []
    for keyword, words in (("anyOf", "any of"), ("oneOf", "exactly one of")):
        branches = schema.get(keyword)
        if not isinstance(branches, list) or not branches or _presence_only(branches):
            continue
        if not all(isinstance(b, Mapping) and b.get("properties") for b in branches):
            continue
        lines.append(f"{indent}- {words} these forms:")
        for number, branch in enumerate(branches, start=1):
            lines.append(f"{indent}  form {number}:")
            lines.extend(_object_lines(branch, indent + "  "))
    return lines


def _presence_only(branches: Any) -> list[list[str]] | None:
    """The `required` lists of anyOf/oneOf branches that say nothing but which keys appear."""
    if not isinstance(branches, list) or not branches:
        return None
    if not all(isinstance(b, Mapping) and set(b) == {"required"} for b in branches):
        return None
    return [list(b["required"]) for b in branches]


def _object_rules(schema: Mapping[str, Any]) -> list[str]:
    rules = []
    for keyword, words in (("anyOf", "at least one of"), ("oneOf", "exactly one of")):
        groups = _presence_only(schema.get(keyword))
        if groups is not None:
            rules.append(f"{words}: " + " | ".join(" + ".join(g) for g in groups))
    if schema.get("properties") and schema.get("additionalProperties", True) is not False:
        rules.append("other fields allowed")
    return rules


def _describe(schema: Mapping[str, Any], indent: str) -> tuple[str, list[str]]:
    """A short phrase for a value's schema, and the lines of any object nested inside it."""
    handled = set(_ANNOTATIONS) | {"type"}
    kind = schema.get("type")
    children: list[str] = []
    if "const" in schema:
        head = "exactly " + _json(schema["const"])
        handled.add("const")
    elif "enum" in schema:
        head = "one of " + ", ".join(_json(v) for v in schema["enum"])
        handled.add("enum")
    elif kind == "array" or "items" in schema:
        items, children = _describe(schema.get("items", {}), indent)
        count = _range(schema.get("minItems"), schema.get("maxItems"), "item")
        head = f"array ({count}) of {items}" if count else f"array of {items}"
        handled.update({"items", "minItems", "maxItems"})
    elif kind == "object" or "properties" in schema:
        if schema.get("properties"):
            head = "object"
            children = _object_lines(schema, indent + "  ")
        elif schema.get("additionalProperties", True) is not False:
            head = "object with any fields"
        else:
            head = "empty object"
        handled.update({"properties", "required", "additionalProperties"})
        handled.update(k for k in ("anyOf", "oneOf") if _presence_only(schema.get(k)) is not None)
    else:
        head = " or ".join(kind) if isinstance(kind, list) else (kind or "")
    parts = [head] if head else []
    parts.extend(_string_parts(schema, handled))
    parts.extend(_number_parts(schema, handled))
    for keyword, words in (("anyOf", "any of: "), ("oneOf", "one of: ")):
        if keyword in schema and keyword not in handled:
            parts.append(words + " | ".join(_describe(b, indent)[0] for b in schema[keyword]))
            handled.add(keyword)
    # Whatever this describer does not know is shown verbatim rather than dropped.
    rest = {k: v for k, v in schema.items() if k not in handled}
    if rest:
        parts.append("also " + _json(rest))
    return ", ".join(parts) or "any value", children


def _string_parts(schema: Mapping[str, Any], handled: set) -> list[str]:
    parts = []
    if "format" in schema:
        parts.append(f"format {schema['format']}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    length = _range(schema.get("minLength"), schema.get("maxLength"), "char")
    if length:
        parts.append(length)
    handled.update({"format", "pattern", "minLength", "maxLength"})
    return parts


_BOUNDS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
)


def _number_parts(schema: Mapping[str, Any], handled: set) -> list[str]:
    handled.update({keyword for keyword, _ in _BOUNDS} | {"multipleOf"})
    given = [keyword for keyword, _ in _BOUNDS if keyword in schema]
    if given == ["minimum", "maximum"]:
        parts = [f"{_json(schema['minimum'])} to {_json(schema['maximum'])}"]
    else:
        parts = [
            f"{sign} {_json(schema[keyword])}" for keyword, sign in _BOUNDS if keyword in given
        ]
    if "multipleOf" in schema:
        parts.append(f"multiple of {_json(schema['multipleOf'])}")
    return parts


def _range(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}-{high} {unit}s"
    if low is not None:
        return f"at least {low} {unit}{'s' if low != 1 else ''}"
    if high is not None:
        return f"at most {high} {unit}{'s' if high != 1 else ''}"
    return ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
