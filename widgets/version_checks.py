"""What a widget schema version must satisfy before it is stored.

The schema is a draft 2020-12 schema of one JSON object, every example validates against it,
and the card template compiles and renders every example. Each failure names its field and the
JSON pointer of the problem, so staff can fix it from the message alone.
"""

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from widgets.cards import CardTemplateError, compile_card_template, render_card_body
from widgets.markup import validator_for
from widgets.markup.validation import json_pointer

MAX_ERRORS_PER_FIELD = 20


class VersionContentError(Exception):
    """Field name -> list of messages, for a form or an API response."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(
            "; ".join(f"{field}: {' | '.join(msgs)}" for field, msgs in errors.items())
        )
        self.errors = errors


def schema_errors(json_schema) -> list[str]:
    if not isinstance(json_schema, dict):
        return ["at (root): a widget schema is a JSON object"]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    errors = sorted(
        meta.iter_errors(json_schema), key=lambda e: (list(map(str, e.path)), e.message)
    )
    messages = [f"at {json_pointer(e.path) or '(root)'}: {e.message}" for e in errors]
    if not messages and json_schema.get("type") != "object":
        # markup.md: the body of a block is one JSON object.
        messages.append('at /type: a widget payload is one JSON object; set "type": "object"')
    return messages[:MAX_ERRORS_PER_FIELD]


def example_errors(json_schema: dict, examples) -> list[str]:
    if not isinstance(examples, list) or not examples:
        return ["give at least one example payload (a JSON list of objects)"]
    try:
        validator = validator_for(json_schema)
        messages = []
        for index, example in enumerate(examples):
            messages += [
                f"example {index + 1}, at {e.pointer or '(root)'}: {e.message}"
                for e in validator.errors(example)
            ]
    except (SchemaError, LookupError, ValueError, TypeError) as exc:
        # An unresolvable $ref or a pattern Python can't compile only shows up when validating.
        return [f"the schema cannot validate: {exc}"]
    return messages[:MAX_ERRORS_PER_FIELD]


def template_compile_errors(card_template: str) -> list[str]:
    try:
        compile_card_template(card_template)
    except CardTemplateError as exc:
        return [f"does not compile: {exc}"]
    return []


def template_render_errors(card_template: str, json_schema: dict, examples: list) -> list[str]:
    messages = []
    for index, example in enumerate(examples):
        try:
            render_card_body(template_source=card_template, payload=example, schema=json_schema)
        except CardTemplateError as exc:
            messages.append(f"example {index + 1} does not render: {exc}")
    return messages


def check_version_content(*, json_schema, card_template: str, examples) -> None:
    """Raise VersionContentError listing every problem, or return when all is well."""
    errors: dict[str, list[str]] = {}
    if found := schema_errors(json_schema):
        errors["json_schema"] = found
    elif found := example_errors(json_schema, examples):
        errors["examples"] = found
    if found := template_compile_errors(card_template):
        errors["card_template"] = found
    elif not errors and (found := template_render_errors(card_template, json_schema, examples)):
        errors["card_template"] = found
    if errors:
        raise VersionContentError(errors)
