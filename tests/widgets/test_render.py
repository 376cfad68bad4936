import json
import random

import pytest
from django.core.management import call_command

from widgets.markup import FieldError, validator_for
from widgets.render import (
    CardSpec,
    Registry,
    StreamRenderer,
    fallback_card,
    render_message,
    render_prose,
    skeleton_card,
)
from widgets.selectors import active_registry

pytestmark = pytest.mark.django_db

LISTING = {
    "mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", "price": 449000,
    "beds": 3, "baths": 2, "sqft": 1640, "status": "active",
}  # fmt: skip


def block(payload, widget_type="listing_card"):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f'<widget type="{widget_type}">{body}</widget>'


@pytest.fixture
def registry(demo_registry):
    return active_registry()


def test_prose_is_markdown_without_raw_html():
    html = render_prose(
        "**Two** homes:\n\n- [site](https://example.com) <script>alert(1)</script>\n"
        '- <img src=x onerror="alert(1)"> [bad](javascript:alert(1)) [mail](mailto:a@b.co)\n'
        "\n![pixel](https://tracker.example.com/p.gif)"
    )
    assert "<strong>Two</strong>" in html and "<li>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and 'href="javascript' not in html
    assert 'href="mailto:a@b.co"' in html


def test_valid_block_renders_its_card(registry):
    html = render_message(f"Here:\n{block(LISTING)}\nWant a tour?", registry)
    assert '<p>Here:</p><article class="weft-card weft-card--listing_card"' in html
    assert 'data-widget-type="listing_card" data-outcome="valid"' in html and "$449,000" in html
    assert html.endswith("<p>Want a tour?</p>")


@pytest.mark.parametrize(
    ("text", "outcome", "says"),
    [
        (block({**LISTING, "price": "cheap"}), "invalid", "does not match its schema"),
        (
            '<widget type="listing_card">{"mls_id": "TX-1", "address": "12 O',
            "unterminated",
            "was cut off",
        ),
        (block('{"mls_id": "TX-1", '), "malformed", "is not one JSON object"),
        (block('{"mls_id": }'), "malformed", "is not one JSON object"),
        (block("[1, 2]"), "malformed", "is not one JSON object"),
        (block(LISTING, "floor_plan"), "unknown_type", "There is no widget type “floor_plan”"),
    ],
)
def test_every_other_outcome_renders_a_fallback_card_with_the_raw_text(
    registry, text, outcome, says
):
    html = render_message(f"Before {text} after", registry)
    assert f'data-outcome="{outcome}"' in html and "weft-card--fallback" in html
    assert says in html and "<details><summary>Raw output</summary><pre>&lt;widget type=" in html
    assert html.startswith("<p>Before</p>")
    assert html.endswith("<p>after</p>") == (outcome != "unterminated")


def test_invalid_card_lists_errors_with_pointers(registry):
    html = render_message(block({**LISTING, "price": "cheap", "status": "gone"}), registry)
    assert "<code>/price</code>" in html and "<code>/status</code>" in html


def test_hostile_values_in_a_valid_card_are_inert(registry):
    hostile = {
        **LISTING,
        "address": '<img src=x onerror="alert(1)">',
        "city": "<script>alert(1)</script>",
    }
    html = render_message(block(hostile), registry)
    assert 'data-outcome="valid"' in html
    assert "<img" not in html and "<script" not in html and 'onerror="alert(1)"&gt;' in html


def test_stream_ends_where_the_whole_message_render_does(registry):
    text = (
        "Two fit **your budget**:\n" + block(LISTING) + "\n"
        + block({**LISTING, "mls_id": "TX-11873", "price": "x"}) + "\nand <widget nope> "
        + block({"name": "Maria", "role": "agent", "phone": "+1 512 555 0142"}, "contact_card")
        + " done " + block('{"action": "send_email", "summ')
    )  # fmt: skip
    whole = render_message(text, registry)
    rng = random.Random(7)
    for _ in range(10):
        renderer, page, pos = StreamRenderer(registry), [], 0
        while pos < len(text):
            step = rng.randint(1, 12)
            ops = renderer.feed(text[pos : pos + step])
            pos += step
            for op in ops:
                if op.segment == len(page):
                    page.append(op.html)
                else:
                    page[op.segment] = op.html
        for op in renderer.close():
            page[op.segment] = op.html
        assert "".join(page) == whole == renderer.html()


def test_stream_shows_a_skeleton_that_fills_in(registry):
    renderer = StreamRenderer(registry)
    opened = renderer.feed('Look: <widget type="listing_card">{"mls_id": "TX-10492", ')
    skeleton = [op for op in opened if op.kind == "skeleton"]
    assert skeleton and 'data-outcome="streaming"' in skeleton[-1].html
    assert "TX-10492" in skeleton[-1].html
    more = renderer.feed('"address": "12 Oak St", "city": "Austin", ')
    assert "12 Oak St" in [op for op in more if op.kind == "skeleton"][-1].html
    rest = json.dumps(LISTING)[
        len('{"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", ') :
    ]
    closed = renderer.feed(rest + "</widget>")
    assert [op.kind for op in closed] == ["card"] and 'data-outcome="valid"' in closed[0].html


ADVERSARIAL = [
    "plain prose only, with a <wid",
    "split " + block(LISTING) + " twice " + block(LISTING),
    block({**LISTING, "address": "</widget> inside a string"}),
    "<widget type=\"listing_card\" >{}</widget> <widget type='x'>{}</widget> <widget>{}</widget>",
    block({**LISTING, "city": "<script>alert(1)</script>"}) + " [x](javascript:alert(1))",
    block('{"mls_id": "TX-10492"'),
    block(LISTING, "no_such_widget"),
    block("[1, 2, 3]") + block('"just a string"') + block("{} trailing"),
    '<widget type="listing_card">{"address": "unterminated',
]


def test_parse_markup_command_output_does_not_depend_on_chunk_size(registry, tmp_path, capsys):
    files = []
    for i, text in enumerate(ADVERSARIAL):
        path = tmp_path / f"case{i}.txt"
        path.write_text(text)
        files.append(str(path))
    outputs = {}
    for size in (0, 1, 2, 3, 7, 64):
        call_command("parse_markup", *files, "--json", f"--chunk-size={size}")
        outputs[size] = capsys.readouterr().out
    assert len(set(outputs.values())) == 1
    lines = [json.loads(line) for line in outputs[0].splitlines()]
    assert [line["file"] for line in lines] == files
    for text, line in zip(ADVERSARIAL, lines, strict=True):
        rebuilt = "".join(s["text"] if s["kind"] == "prose" else s["raw"] for s in line["segments"])
        assert rebuilt == text  # lossless
    outcomes = [[s["outcome"] for s in line["segments"] if s["kind"] == "widget"] for line in lines]
    assert outcomes == [
        [],
        ["valid", "invalid"],  # the second repeats the first
        ["valid"],
        [],
        ["valid"],
        ["malformed"],
        ["unknown_type"],
        ["malformed", "malformed", "malformed"],
        ["unterminated"],
    ]
    (invalid,) = [s for s in json.loads(json.dumps(lines[2]))["segments"] if s["kind"] == "widget"]
    assert invalid["payload"]["address"] == "</widget> inside a string"


def test_long_prose_streams_paragraph_by_paragraph_and_ends_exact(registry):
    # A loose list spans blank lines: streamed paragraphs render alone, the end is exact.
    text = "Intro paragraph.\n\n1. first\n\n2. second\n\n" + "More words. " * 50 + "\n\nBye."
    renderer, page = StreamRenderer(registry), []
    for i in range(0, len(text), 3):
        for op in renderer.feed(text[i : i + 3]):
            page[op.segment : op.segment + 1] = [op.html]
    for op in renderer.close():
        page[op.segment : op.segment + 1] = [op.html]
    assert "".join(page) == render_message(text, registry) == renderer.html()
    assert '<ol start="2">' not in "".join(page)


def test_card_markup_reaches_the_page_cleaned_whole_and_streamed():
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    template = '<p>{{ text }}</p>{{ "<img src=x onerror" }}=alert(1)>'
    registry = Registry(
        validators={"note": validator_for(schema)},
        cards={"note": CardSpec(template_source=template, schema=schema)},
    )
    text = '<widget type="note">{"text": "hi"}</widget>'
    renderer = StreamRenderer(registry)
    streamed = [op.html for op in renderer.feed(text) + renderer.close()]
    for html in (render_message(text, registry), streamed[-1]):
        assert 'data-outcome="valid"' in html and "<p>hi</p>" in html
        assert "onerror" not in html and "alert" not in html


def test_fallback_and_skeleton_cards_escape_what_the_model_wrote():
    hostile = '"><img src=x onerror=alert(1)>'
    html = fallback_card(
        widget_type=hostile, outcome="invalid", raw=hostile, label=hostile,
        errors=[FieldError(pointer="/" + hostile, message=hostile)],
    )  # fmt: skip
    html += skeleton_card(widget_type=hostile, partial={hostile: hostile}, label=hostile)
    assert "<img" not in html and "&lt;img" in html
