"""What a widget schema version must satisfy before it is stored.

The schema is a draft 2020-12 schema of one JSON object, every example validates against it,
and the card template compiles, holds no markup that runs script, and renders every example.
Each failure names its field and the JSON pointer of the problem, so staff can fix it from the
message alone.
"""

import re
from html.parser import HTMLParser

from django.template.base import Lexer, TokenType
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from widgets.cards import CardTemplateError, compile_card_template, render_card_body
from widgets.markup import validator_for
from widgets.markup.patterns import pattern_problems
from widgets.markup.validation import json_pointer
from widgets.url_safety import DANGEROUS_SCHEMES, url_scheme

MAX_ERRORS_PER_FIELD = 20
# Tags that run script, restyle or redirect the page, or embed another one. Rendering removes
# them anyway (cards.clean_card_html); refusing them here tells staff why the card is blank.
REFUSED_TAGS = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "base", "link", "meta"}
)
# Attributes a browser loads or follows as a URL (a title that reads "data: 3 rows" is text).
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "poster", "background", "cite", "data"}
)
_SCRIPT_SCHEME_IN_TEXT = re.compile(r"\b(javascript|vbscript)\s*:", re.IGNORECASE)


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
    if not messages:  # patterns must run on RE2, in linear time: backtracking is a DoS
        messages = [f"at {json_pointer(p)}: {m}" for p, m in pattern_problems(json_schema)]
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
        # An unresolvable $ref only shows up when validating.
        return [f"the schema cannot validate: {exc}"]
    return messages[:MAX_ERRORS_PER_FIELD]


def template_compile_errors(card_template: str) -> list[str]:
    try:
        compile_card_template(card_template)
    except CardTemplateError as exc:
        return [f"does not compile: {exc}"]
    return []


class _TemplateMarkup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # attribute values arrive unescaped
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in REFUSED_TAGS:
            self.problems.append(
                f"<{tag}> is not allowed in a card template: cards run no script and embed "
                "or restyle nothing"
            )
        for name, value in attrs:
            scheme = url_scheme(value or "") if name in _URL_ATTRIBUTES else None
            if name.startswith("on"):
                self.problems.append(
                    f"the event-handler attribute {name}= on <{tag}> is not allowed in a card "
                    "template: cards run no script"
                )
            elif scheme in DANGEROUS_SCHEMES:
                self.problems.append(_scheme_problem(scheme))

    handle_startendtag = handle_starttag


def _scheme_problem(scheme: str) -> str:
    return f"{scheme}: URLs are not allowed in a card template: they run script or embed content"


def template_markup_errors(card_template: str) -> list[str]:
    """Tags, event handlers and URLs that would run script, found in the template's own HTML.

    Template tags are left out of the HTML checked (so `{% if a > b %}` cannot hide an
    attribute) and variables stand in as a word; what a variable prints is escaped, and what
    string literals spell out is removed when the card renders.
    """
    markup = _TemplateMarkup()
    for token in Lexer(card_template).tokenize():
        if token.token_type is TokenType.TEXT:
            markup.feed(token.contents)
        elif token.token_type is TokenType.VAR:
            markup.feed("x")
    markup.close()
    problems = markup.problems
    problems += [_scheme_problem(m.lower()) for m in _SCRIPT_SCHEME_IN_TEXT.findall(card_template)]
    return list(dict.fromkeys(problems))[:MAX_ERRORS_PER_FIELD]


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
    if found := template_compile_errors(card_template) + template_markup_errors(card_template):
        errors["card_template"] = found
    elif not errors and (found := template_render_errors(card_template, json_schema, examples)):
        errors["card_template"] = found
    if errors:
        raise VersionContentError(errors)
