"""The admin's previews draw the card a chat would draw: cleaned, and refused markup named."""

from tests.widgets.factories import NOTE_EXAMPLES, NOTE_SCHEMA
from widgets.previews import version_preview


def preview_of(card_template):
    return version_preview(
        widget_name="note", json_schema=NOTE_SCHEMA, card_template=card_template,
        examples=NOTE_EXAMPLES,
    )  # fmt: skip


def test_markup_a_template_builds_from_string_literals_is_cleaned_in_the_preview():
    preview = preview_of('<p>{{ text }}</p>{{ "<scr" }}{{ "ipt>alert(1)</scr" }}{{ "ipt>" }}')
    assert preview.errors == {}
    (card,) = preview.cards
    assert "<p>Call the seller</p>" in card and "<script" not in card


def test_a_stored_template_with_script_previews_its_problem_instead_of_a_card():
    preview = preview_of('<p onclick="steal()">{{ text }}</p>')
    assert preview.cards == []
    assert any("onclick" in m for m in preview.errors["card_template"])
