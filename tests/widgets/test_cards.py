import pytest

from tests.widgets.factories import NOTE_SCHEMA
from widgets.cards import (
    CardTemplateError,
    compile_card_template,
    default_card_template,
    drop_unsafe_urls,
    render_card,
    render_card_body,
)
from widgets.url_safety import is_safe_url


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/a.jpg", True),
        ("HTTP://example.com", True),
        ("javascript:alert(1)", False),
        (" java\tscript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("vbscript:msgbox", False),
        ("//evil.example.com", False),
        ("mailto:a@b.c", False),
    ],
)
def test_only_http_urls_are_safe(url, safe):
    assert is_safe_url(url) is safe


def test_unsafe_urls_are_dropped_where_the_schema_or_name_says_url():
    payload = {
        "link": "ftp://files.example.com/x",  # schema: format uri
        "photo_url": "javascript:alert(1)",  # named like a URL
        "text": "see data:text/html,<b>",  # prose that merely contains a scheme later on
        "nested": [{"href": "vbscript:x"}, {"note": "javascript:void(0)"}],
    }
    cleaned = drop_unsafe_urls(payload, NOTE_SCHEMA)
    assert cleaned == {
        "link": "",
        "photo_url": "",
        "text": "see data:text/html,<b>",
        "nested": [{"href": ""}, {"note": ""}],
    }
    assert payload["link"].startswith("ftp:")  # the caller's payload is not modified


def test_values_are_escaped():
    html = render_card_body(
        template_source="<p>{{ text }}</p>", payload={"text": '<img src=x onerror="alert(1)">'}
    )
    assert "<img" not in html and '&lt;img src=x onerror="alert(1)"&gt;' in html


def test_card_wrapper_carries_type_and_outcome():
    html = render_card(widget_type="note", template_source="{{ text }}", payload={"text": "hi"})
    assert html.startswith(
        '<article class="weft-card weft-card--note" data-widget-type="note" data-outcome="valid">'
    )


def test_template_sees_only_the_payload():
    source = "[{{ request }}{{ settings.SECRET_KEY }}{{ user }}{{ perms }}{{ csrf_token }}]"
    assert render_card_body(template_source=source, payload={"text": "x"}) == "[]"


def test_template_runtime_error_is_a_card_template_error():
    with pytest.raises(CardTemplateError):
        render_card_body(template_source="{{ text|divisibleby:0 }}", payload={"text": "x"})


def test_default_template_lists_declared_fields_escaped():
    schema = {
        "title": "Odd <b>{{ title }}</b>",
        "type": "object",
        "properties": {"a": {"type": "string"}, 'quote"key': {"type": "array"}, "missing": {}},
    }
    html = render_card_body(
        template_source=default_card_template(schema),
        payload={"a": "<i>x</i>", 'quote"key': [1, 2]},
    )
    assert "Odd &lt;b&gt;{{ title }}&lt;/b&gt;" in html  # shown as written, not run
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    assert "<li>1</li><li>2</li>" in html
    assert "Missing" not in html  # absent fields show no row


@pytest.mark.parametrize(
    ("source", "payload", "expected"),
    [
        ("{{ p|money }}", {"p": 449000}, "$449,000"),
        ("{{ p|money }}", {"p": 1234.5}, "$1,234.50"),
        ("{{ p|number }}", {"p": 2.5}, "2.5"),
        ("{{ p|number }}", {"p": 1640}, "1,640"),
        ("{{ p|label }}", {"p": "book_showing"}, "Book showing"),
        ("{{ p|when }}", {"p": "2026-03-14T10:00:00-05:00"}, "Sat Mar 14, 10:00"),
        ("{{ p|when }}", {"p": "2026-01-22"}, "Jan 22, 2026"),
        ("{{ p|when }}", {"p": "soon"}, "soon"),
        ("{{ p|divided_by:q|money }}", {"p": 512000, "q": 1720}, "$298"),
        ("{{ p|divided_by:q }}", {"p": 1, "q": 0}, ""),
    ],
)
def test_card_filters(source, payload, expected):
    assert render_card_body(template_source=source, payload=payload) == expected


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("{{ text|safe }}", "safe"),
        ("{% if text|safe %}x{% endif %}", "safe"),
        ("{% for t in tags|safeseq %}{{ t }}{% endfor %}", "safeseq"),
        ("{% autoescape off %}{{ text }}{% endautoescape %}", "autoescape"),
        ("{{ text|json_script:'x' }}", "json_script"),
    ],
)
def test_what_turns_escaping_off_is_not_available(source, name):
    with pytest.raises(CardTemplateError) as caught:
        compile_card_template(source)
    assert name in str(caught.value) and "not available in card templates" in str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        # Django marks string literals safe, so a template can spell markup out of pieces.
        '{{ "<scr" }}{{ "ipt>alert(1)</scr" }}{{ "ipt>" }}',
        '{{ "<img src=x onerror" }}=alert(1)>',
        '<img src="https://photos.example.com/a.jpg" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a><a href=" java\tscript:alert(1)">y</a>',
        '<iframe src="https://evil.example.com"></iframe><object data="x"></object>',
        '<div style="position:fixed;inset:0">cover</div><style>p{}</style>',
        "<svg><script>alert(1)</script></svg><math><mi>x</mi></math>",
    ],
)
def test_rendered_card_html_is_cleaned(source):
    html = render_card_body(template_source=source, payload={}).lower()
    for banned in ("<script", "onerror", "javascript", "<iframe", "<object", "style", "<svg"):
        assert banned not in html, banned


def test_cleaning_keeps_what_cards_use():
    source = (
        '<div class="weft-card__body" role="group" aria-label="Offer" title="Offer">'
        '<button type="button" class="weft-button" data-action="confirm">Confirm</button>'
        '<button type="button" data-mls-id="TX-1" data-minutes="30">Book</button>'
        '<a href="tel:+15125550142">call</a> <a href="mailto:a@b.co">mail</a> '
        '<a href="https://example.com/x">site</a>'
        '<img class="weft-card__photo" src="https://photos.example.com/a.jpg" alt="Photo" '
        'loading="lazy" referrerpolicy="no-referrer">'
        '<time datetime="2026-03-14">Mar 14</time><small>30 min</small>'
        '<table class="weft-table"><thead><tr><th scope="col">A</th></tr></thead>'
        '<tbody><tr><td colspan="2">1</td></tr></tbody></table></div>'
    )
    html = render_card_body(template_source=source, payload={})
    for kept in (
        'class="weft-card__body"', 'role="group"', 'aria-label="Offer"', 'title="Offer"',
        'type="button"', 'data-action="confirm"', 'data-mls-id="TX-1"', 'data-minutes="30"',
        'href="tel:+15125550142"', 'href="mailto:a@b.co"', 'href="https://example.com/x"',
        'src="https://photos.example.com/a.jpg"', 'alt="Photo"', 'loading="lazy"',
        'referrerpolicy="no-referrer"', '<time datetime="2026-03-14">Mar 14</time>',
        "<small>30 min</small>", '<th scope="col">A</th>', '<td colspan="2">1</td>',
    ):  # fmt: skip
        assert kept in html, kept


def test_cleaning_drops_urls_outside_their_schemes_and_the_wrapper_attributes():
    source = (
        '<img src="http://photos.example.com/a.jpg"><img src="/local.png">'
        '<img src="mailto:a@b.co"><a href="ftp://files.example.com/x">ftp</a>'
        '<a href="/admin/">rel</a><div data-action-card data-block-index="0">x</div>'
    )
    html = render_card_body(template_source=source, payload={})
    assert 'src="http://photos.example.com/a.jpg"' in html
    for dropped in ("/local.png", "mailto:", "ftp:", "/admin/", "data-action-card", "block-index"):
        assert dropped not in html, dropped
