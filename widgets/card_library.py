"""The only tags and filters a card template can use.

Card templates come from the database, so they get a sandbox: no {% load %}, {% include %},
{% extends %}, {% url %} or {% debug %} (which dumps context and modules), and filters for
the things cards show: money, numbers, labels, dates, URLs restricted to http(s).
"""

from datetime import date, datetime

from django import template
from django.template import defaultfilters, defaulttags
from django.utils.html import format_html, format_html_join

from widgets.url_safety import is_safe_url

register = template.Library()

_BLOCKED_TAGS = {"load", "url", "debug", "csrf_token", "templatetag", "lorem", "resetcycle"}
register.tags.update(
    {name: tag for name, tag in defaulttags.register.tags.items() if name not in _BLOCKED_TAGS}
)
register.filters.update(defaultfilters.register.filters)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register.filter
def number(value):
    """1640 -> "1,640"; 2.5 -> "2.5"; anything else unchanged."""
    if not _is_number(value):
        return value
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


@register.filter
def money(value):
    """449000 -> "$449,000"; cents shown only when there are any."""
    if not _is_number(value):
        return value
    if isinstance(value, float) and not value.is_integer():
        return f"${value:,.2f}"
    return f"${int(value):,}"


@register.filter
def divided_by(value, divisor):
    """sold_price|divided_by:sqft -> price per square foot, rounded; "" when undefined."""
    if not (_is_number(value) and _is_number(divisor)) or divisor == 0:
        return ""
    return round(value / divisor)


@register.filter
def label(value):
    """ "book_showing" -> "Book showing"."""
    if not isinstance(value, str):
        return value
    return value.replace("_", " ").strip().capitalize()


@register.filter
def when(value):
    """ISO date-time or date -> "Sat Mar 14, 10:00" / "Mar 14, 2026"; else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) <= len("2026-03-14"):
        return date(moment.year, moment.month, moment.day).strftime("%b %-d, %Y")
    return moment.strftime("%a %b %-d, %H:%M")


@register.filter
def safe_url(value):
    """The URL if it is http(s), else "": model output must not smuggle javascript: links."""
    return value if isinstance(value, str) and is_safe_url(value) else ""


@register.filter
def field(mapping, key):
    """payload|field:"some-key" for keys that are not template identifiers."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def show(value):
    """Any JSON value as escaped HTML: lists as <ul>, objects as <dl>."""
    if isinstance(value, dict):
        return format_html(
            '<dl class="weft-kv">{}</dl>',
            format_html_join(
                "", "<dt>{}</dt><dd>{}</dd>", ((label(k), show(v)) for k, v in value.items())
            ),
        )
    if isinstance(value, list):
        return format_html(
            '<ul class="weft-list">{}</ul>',
            format_html_join("", "<li>{}</li>", ((show(v),) for v in value)),
        )
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format_html("{}", number(value))
