"""Card templates: compile and render them in a sandbox, generate a default from a schema.

A card template sees the payload and nothing else: no request, no settings, no ORM. Values
are autoescaped, and URL values outside http(s) are dropped before the template sees them.
"""

import json
import re
from functools import lru_cache

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from widgets.url_safety import is_dangerous_url, is_safe_url

_URL_FORMATS = frozenset({"uri", "uri-reference", "iri", "iri-reference"})
_URL_KEY = re.compile(r"(^|_)(url|uri|href|link|src)$", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")


class CardEngine(Engine):
    # Replaces Django's default builtins (which include {% include %}, {% load %}, {% debug %}).
    default_builtins = ["widgets.card_library"]


_ENGINE = CardEngine(loaders=[], libraries={}, autoescape=True, string_if_invalid="")


class CardTemplateError(Exception):
    """A card template that does not compile or fails to render."""


@lru_cache(maxsize=512)
def compile_card_template(source: str) -> Template:
    """Compiled once per distinct template text (a version's template never changes)."""
    try:
        return _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise CardTemplateError(str(exc)) from exc


def _subschema(schema, key):
    if not isinstance(schema, dict):
        return None
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    properties = schema.get("properties")
    if isinstance(properties, dict) and key in properties:
        return properties[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def drop_unsafe_urls(value, schema=None, key: str | int | None = None):
    """A copy of the payload where URL values outside http(s) became "".

    A value counts as a URL when its schema says format uri (or iri), when its key is named
    like one (photo_url, href...), or when it uses a scheme that executes (javascript:, data:).
    """
    if isinstance(value, dict):
        return {k: drop_unsafe_urls(v, _subschema(schema, k), k) for k, v in value.items()}
    if isinstance(value, list):
        return [drop_unsafe_urls(v, _subschema(schema, i), key) for i, v in enumerate(value)]
    if isinstance(value, str):
        declared_url = isinstance(schema, dict) and schema.get("format") in _URL_FORMATS
        named_url = isinstance(key, str) and bool(_URL_KEY.search(key))
        if is_dangerous_url(value) or ((declared_url or named_url) and not is_safe_url(value)):
            return ""
    return value


def card_context(payload) -> dict:
    """The whole context of a card: `payload`, and its top-level fields by name."""
    context = {"payload": payload}
    if isinstance(payload, dict):
        context.update({k: v for k, v in payload.items() if _IDENTIFIER.match(k)})
    return context


def render_card_body(*, template_source: str, payload, schema=None) -> SafeString:
    template = compile_card_template(template_source)
    try:
        return template.render(Context(card_context(drop_unsafe_urls(payload, schema))))
    except Exception as exc:  # a template's runtime failure is the template author's bug
        raise CardTemplateError(f"{type(exc).__name__}: {exc}") from exc


def render_card(
    *,
    widget_type: str,
    template_source: str,
    payload,
    schema=None,
    outcome: str = "valid",
    block_index: int | None = None,
    is_action: bool = False,
) -> SafeString:
    body = render_card_body(template_source=template_source, payload=payload, schema=schema)
    return format_html(
        '<article class="weft-card weft-card--{}" data-widget-type="{}" data-outcome="{}"{}{}>'
        "{}</article>",
        widget_type,
        widget_type,
        outcome,
        block_attribute(block_index),
        mark_safe(" data-action-card") if is_action else "",
        body,
    )


def block_attribute(block_index: int | None) -> SafeString:
    """data-block-index: which block of its message a card is (action cards post it back)."""
    if block_index is None:
        return mark_safe("")
    return format_html(' data-block-index="{}"', block_index)


def _template_string(text: str) -> str:
    # A Django template string literal: json.dumps escapes quotes and backslashes as Django expects.
    return json.dumps(text)


def _template_text(text: str) -> str:
    """Literal text inside a template: HTML-escaped, and template syntax neutralised."""
    escaped = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
    return escaped.replace("{", "&#123;").replace("}", "&#125;").replace("%", "&#37;")


def default_card_template(schema: dict) -> str:
    """Title and one key/value row per declared property, in schema order."""
    title = schema.get("title") if isinstance(schema.get("title"), str) else "Widget"
    lines = [f'<h3 class="weft-card__title">{_template_text(title)}</h3>', '<dl class="weft-kv">']
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name, subschema in properties.items():
        label = subschema.get("title") if isinstance(subschema, dict) else None
        label = label if isinstance(label, str) else name.replace("_", " ").capitalize()
        value = f"payload|field:{_template_string(name)}"
        lines.append(
            f"{{% if {value} is not None %}}<dt>{_template_text(label)}</dt>"
            f"<dd>{{{{ {value}|show }}}}</dd>{{% endif %}}"
        )
    lines.append("</dl>")
    return "\n".join(lines) + "\n"
