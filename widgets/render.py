"""One renderer for finished messages and for streams: prose, cards and fallback cards.

Prose is Markdown rendered without raw HTML, then sanitised by nh3 (links: http, https,
mailto). A valid block becomes its widget's card; any other outcome becomes a fallback card
that names the problem and keeps the raw text, collapsed. The chat never breaks on bad output.

A stream is a list of segments (prose runs and blocks). Each RenderOp replaces the HTML of one
segment, so the page after the last op is exactly `render_message` of the whole text.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import nh3
from django.utils.html import format_html, format_html_join
from markdown_it import MarkdownIt

from widgets.card_library import show
from widgets.cards import CardTemplateError, block_attribute, render_card
from widgets.markup import (
    MarkupParser,
    Outcome,
    PayloadValidator,
    ProseDelta,
    WidgetClosed,
    WidgetOpened,
    WidgetProgress,
    parse_markup,
    repeated_block,
)

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_PROSE_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_PROSE_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}


@dataclass(frozen=True, kw_only=True)
class CardSpec:
    """What rendering a widget type needs: its active card template and schema."""

    template_source: str
    schema: dict
    title: str = ""
    is_action: bool = False  # its card carries data-action-card: Confirm runs it


@dataclass(frozen=True, kw_only=True)
class Registry:
    """The active registry as the parser and the renderer see it."""

    validators: Mapping[str, PayloadValidator]
    cards: Mapping[str, CardSpec]

    def is_action(self, widget_type: str) -> bool:
        spec = self.cards.get(widget_type)
        return spec is not None and spec.is_action


def render_prose(text: str) -> str:
    html = _MARKDOWN.render(text)
    return nh3.clean(
        html,
        tags=_PROSE_TAGS,
        attributes=_PROSE_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    ).strip()


_PROBLEMS = {
    Outcome.INVALID: "This {label} does not match its schema.",
    Outcome.MALFORMED: "This {label} is not one JSON object.",
    Outcome.UNKNOWN_TYPE: "There is no widget type “{type}”.",
    Outcome.UNTERMINATED: "This {label} was cut off before its end.",
}


def fallback_card(
    *,
    widget_type: str,
    outcome: str,
    raw: str,
    errors=(),
    label: str = "",
    problem=None,
    block_index: int | None = None,
) -> str:
    label = label or f"“{widget_type}” card"
    if problem is None and Outcome(outcome) is Outcome.INVALID:
        if (first := repeated_block(tuple(errors))) is not None:
            problem = f"This {label} repeats card {first} of this reply, so it is not shown again."
    problem = problem or _PROBLEMS[Outcome(outcome)].format(label=label, type=widget_type)
    details = format_html_join(
        "", "<li><code>{}</code> {}</li>", ((e.pointer or "/", e.message) for e in errors[:10])
    )
    return format_html(
        '<article class="weft-card weft-card--fallback" data-widget-type="{}" data-outcome="{}"{}>'
        '<div class="weft-card__body"><div class="weft-card__title">{}</div>{}'
        "<details><summary>Raw output</summary><pre>{}</pre></details></div></article>",
        widget_type,
        outcome,
        block_attribute(block_index),
        problem,
        format_html('<ul class="weft-errors">{}</ul>', details) if errors else "",
        raw,
    )


def skeleton_card(*, widget_type: str, partial, label: str = "") -> str:
    """A card still streaming: the fields that have arrived so far, escaped."""
    return format_html(
        '<article class="weft-card weft-card--skeleton" data-widget-type="{}" '
        'data-outcome="streaming" aria-busy="true"><div class="weft-card__body">'
        '<div class="weft-card__eyebrow">{}</div>{}</div></article>',
        widget_type,
        label or widget_type,
        show(partial) if isinstance(partial, dict) and partial else "",
    )


def render_widget(closed: WidgetClosed, cards: Mapping[str, CardSpec]) -> str:
    spec = cards.get(closed.type)
    label = spec.title if spec else ""
    if closed.outcome is Outcome.VALID and spec is not None:
        try:
            return render_card(
                widget_type=closed.type,
                template_source=spec.template_source,
                payload=closed.payload,
                schema=spec.schema,
                block_index=closed.index,
                is_action=spec.is_action,
            )
        except CardTemplateError:
            # Templates are checked against every example on save; a payload can still trip one.
            return fallback_card(
                widget_type=closed.type, outcome=closed.outcome, raw=closed.raw, label=label,
                problem=f"The {label or closed.type} could not be drawn.",
                block_index=closed.index,
            )  # fmt: skip
    return fallback_card(
        widget_type=closed.type,
        outcome=closed.outcome,
        raw=closed.raw,
        errors=closed.errors,
        label=label,
        block_index=closed.index,
    )


def render_message(text: str, registry: Registry) -> str:
    """The HTML of a finished message."""
    parts = []
    blocks = 0
    for segment in parse_markup(text, registry.validators):
        if segment.kind == "prose":
            parts.append(render_prose(segment.text))
        else:
            blocks += 1
            closed = WidgetClosed(
                index=blocks - 1, type=segment.type, outcome=segment.outcome,
                payload=segment.payload, errors=tuple(segment.errors), raw=segment.text,
            )  # fmt: skip
            parts.append(render_widget(closed, registry.cards))
    return "".join(parts)


@dataclass(frozen=True, kw_only=True)
class RenderOp:
    """Replace the HTML of segment `segment` (appending it if new) with `html`."""

    segment: int
    kind: str  # "prose" | "skeleton" | "card"
    html: str


@dataclass
class StreamRenderer:
    """Feed model deltas, get RenderOps; the parser underneath is the same as for whole messages."""

    registry: Registry
    _parser: MarkupParser = field(init=False)
    _segments: list[str] = field(default_factory=list, init=False)
    _prose: str | None = field(default=None, init=False)  # text of the open prose segment
    # Finished paragraphs of the open prose segment, rendered once while it streams.
    _stable_len: int = field(default=0, init=False)
    _stable_html: str = field(default="", init=False)
    _approximate: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._parser = MarkupParser(self.registry.validators)

    def feed(self, text: str) -> list[RenderOp]:
        return self._apply(self._parser.feed(text), closing=False)

    def close(self) -> list[RenderOp]:
        return self._apply(self._parser.close(), closing=True)

    def html(self) -> str:
        return "".join(self._segments)

    def _set(self, kind: str, html: str, *, new: bool) -> RenderOp:
        if new:
            self._segments.append(html)
        else:
            self._segments[-1] = html
        return RenderOp(segment=len(self._segments) - 1, kind=kind, html=html)

    def _prose_html(self, *, final: bool) -> str:
        """The open prose segment's HTML: exact when final, paragraph-cached while streaming.

        Re-rendering the whole segment at every token costs O(segment); a finished paragraph
        renders the same alone, except in constructs that span blank lines (fenced code,
        loose lists), which the final render of the segment gets exactly right.
        """
        text = self._prose or ""
        if final or "```" in text or "~~~" in text:
            self._stable_len, self._stable_html, self._approximate = 0, "", False
            return render_prose(text)
        cut = text.rfind("\n\n")
        if cut > self._stable_len:
            self._stable_len, self._stable_html = cut, render_prose(text[:cut])
        self._approximate = self._stable_len > 0
        return self._stable_html + render_prose(text[self._stable_len :])

    def _apply(self, events, *, closing: bool) -> list[RenderOp]:
        ops: list[RenderOp] = []
        prose_changed = False
        for event in events:
            if isinstance(event, ProseDelta):
                if self._prose is None:
                    self._prose = ""
                    self._set("prose", "", new=True)
                self._prose += event.text
                prose_changed = True
                continue
            if self._prose is not None and (prose_changed or self._approximate):
                ops.append(self._set("prose", self._prose_html(final=True), new=False))
            prose_changed = False
            spec = self.registry.cards.get(event.type)
            label = spec.title if spec else ""
            if isinstance(event, WidgetOpened):
                self._prose = None
                ops.append(
                    self._set(
                        "skeleton",
                        skeleton_card(widget_type=event.type, partial={}, label=label),
                        new=True,
                    )
                )
            elif isinstance(event, WidgetProgress):
                html = skeleton_card(widget_type=event.type, partial=event.partial, label=label)
                ops.append(self._set("skeleton", html, new=False))
            elif isinstance(event, WidgetClosed):
                ops.append(self._set("card", render_widget(event, self.registry.cards), new=False))
        if self._prose is not None and (prose_changed or (closing and self._approximate)):
            ops.append(self._set("prose", self._prose_html(final=closing), new=False))
        return [op for i, op in enumerate(ops) if not _superseded(ops, i)]


def _superseded(ops: list[RenderOp], i: int) -> bool:
    """An op replaced later in the same batch need not be sent."""
    return any(later.segment == ops[i].segment for later in ops[i + 1 :])


__all__ = [
    "CardSpec",
    "Registry",
    "RenderOp",
    "StreamRenderer",
    "fallback_card",
    "render_message",
    "render_prose",
    "render_widget",
    "skeleton_card",
]
