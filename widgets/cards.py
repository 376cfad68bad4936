"""Card templates: compile and render them in a sandbox, generate a default from a schema.

A card template sees the payload and nothing else: no request, no settings, no ORM. Values
are autoescaped (nothing in the sandbox turns escaping off), URL values outside http(s) are
dropped before the template sees them, and the HTML a template renders is cleaned to the
tags and attributes below. Chat pages insert cards as HTML and model output, which any user
can steer, fills them: the cleaning is what guarantees no card runs script, whatever the
template does (string literals, for one, are never escaped by Django).
"""

import json
import re
from functools import lru_cache

import nh3
from django.template import Context, Engine, Library, Template, TemplateSyntaxError
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from widgets.url_safety import is_dangerous_url, is_safe_url, url_scheme

_URL_FORMATS = frozenset({"uri", "uri-reference", "iri", "iri-reference"})
_URL_KEY = re.compile(r"(^|_)(url|uri|href|link|src)$", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")


# What the tags and filters below would print unescaped; the reason is the refusal message.
UNESCAPED_OUTPUT = {
    "safe": "card values come from model output and are always escaped",
    "safeseq": "card values come from model output and are always escaped",
    "autoescape": "card output is always escaped",
    "json_script": "it writes a <script> element, and cards run no script",
}
_NOT_AVAILABLE = "is not available in card templates"
_INVALID_FILTER = re.compile(r"Invalid filter: '(\w+)'")

# What rendered card HTML may hold: the tags and attributes of the demo cards, the generated
# default card, the show filter and Django's text filters (linebreaks, urlize). id is left
# out: a card must not clobber the page's own elements.
CARD_TAGS = {
    "div", "span", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b",
    "i", "s", "del", "ins", "small", "mark", "sub", "sup", "abbr", "time", "code", "pre",
    "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "thead", "tbody",
    "tfoot", "tr", "th", "td", "a", "img", "button", "figure", "figcaption",
}  # fmt: skip
CARD_ATTRIBUTES = {
    "*": {"class", "title", "role", "lang", "dir", "hidden"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "loading", "decoding", "referrerpolicy"},
    "button": {"type", "disabled"},
    "th": {"scope", "colspan", "rowspan", "abbr"},
    "td": {"colspan", "rowspan"},
    "ol": {"start", "reversed"},
    "li": {"value"},
    "time": {"datetime"},
}
# data-* carries what the chat's buttons need (data-action="confirm"); aria-* accessibility.
CARD_ATTRIBUTE_PREFIXES = {"data-", "aria-"}
HREF_SCHEMES = {"http", "https", "mailto", "tel"}
SRC_SCHEMES = {"http", "https"}
# The wrapper's attributes (render_card): a body that carried them could pass for another card.
_WRAPPER_ATTRIBUTES = frozenset(
    {"data-widget-type", "data-outcome", "data-block-index", "data-action-card"}
)


def _card_attribute(element: str, attribute: str, value: str) -> str | None:
    """Keep an allowed attribute, or None to drop it; relative URLs go too (no scheme)."""
    if attribute in _WRAPPER_ATTRIBUTES:
        return None
    if attribute == "href":
        return value if url_scheme(value) in HREF_SCHEMES else None
    if attribute == "src":
        return value if url_scheme(value) in SRC_SCHEMES else None
    return value


def clean_card_html(html: str) -> str:
    """Card HTML reduced to CARD_TAGS and CARD_ATTRIBUTES; script and style lose their text."""
    return nh3.clean(
        html,
        tags=CARD_TAGS,
        clean_content_tags={"script", "style"},
        attributes=CARD_ATTRIBUTES,
        generic_attribute_prefixes=CARD_ATTRIBUTE_PREFIXES,
        attribute_filter=_card_attribute,
        url_schemes=HREF_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def _refused_tag(parser, token):
    name = token.split_contents()[0]
    raise TemplateSyntaxError(f"{{% {name} %}} {_NOT_AVAILABLE}: {UNESCAPED_OUTPUT[name]}")


def _sandboxed(library: Library) -> Library:
    """The library without UNESCAPED_OUTPUT; its tags stay, to refuse with a clear message."""
    sandboxed = Library()
    sandboxed.filters = {k: f for k, f in library.filters.items() if k not in UNESCAPED_OUTPUT}
    sandboxed.tags = {
        name: _refused_tag if name in UNESCAPED_OUTPUT else tag
        for name, tag in library.tags.items()
    }
    return sandboxed


class CardEngine(Engine):
    # Replaces Django's default builtins (which include {% include %}, {% load %}, {% debug %}).
    default_builtins = ["widgets.card_library"]

    def get_template_builtins(self, builtins):
        return [_sandboxed(library) for library in super().get_template_builtins(builtins)]


_ENGINE = CardEngine(loaders=[], libraries={}, autoescape=True, string_if_invalid="")


class CardTemplateError(Exception):
    """A card template that does not compile or fails to render."""


def _compile_message(exc: TemplateSyntaxError) -> str:
    # Django finds filters while parsing and says only "Invalid filter"; say why instead.
    match = _INVALID_FILTER.fullmatch(str(exc))
    if match and match.group(1) in UNESCAPED_OUTPUT:
        name = match.group(1)
        return f"the {name} filter {_NOT_AVAILABLE}: {UNESCAPED_OUTPUT[name]}"
    return str(exc)


@lru_cache(maxsize=512)
def compile_card_template(source: str) -> Template:
    """Compiled once per distinct template text (a version's template never changes)."""
    try:
        return _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise CardTemplateError(_compile_message(exc)) from exc


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
        html = template.render(Context(card_context(drop_unsafe_urls(payload, schema))))
    except Exception as exc:  # a template's runtime failure is the template author's bug
        raise CardTemplateError(f"{type(exc).__name__}: {exc}") from exc
    return mark_safe(clean_card_html(html))  # noqa: S308 - cleaned to the allow-list above


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
