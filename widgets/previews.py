"""Cards for each example of a version that may not be stored yet: the admin's live preview."""

from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from widgets.cards import CardTemplateError, default_card_template, render_card
from widgets.version_checks import VersionContentError, check_version_content


@dataclass(frozen=True, kw_only=True)
class Preview:
    cards: list[SafeString] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)


def version_preview(*, widget_name: str, json_schema, card_template: str, examples) -> Preview:
    if not (card_template or "").strip() and isinstance(json_schema, dict):
        card_template = default_card_template(json_schema)
    try:
        check_version_content(
            json_schema=json_schema, card_template=card_template, examples=examples
        )
    except VersionContentError as exc:
        errors = exc.errors
    else:
        errors = {}
    cards = []
    if "card_template" not in errors and isinstance(examples, list):
        # Examples that fail the schema still preview: staff see the card while fixing the data.
        for example in examples:
            try:
                cards.append(
                    render_card(
                        widget_type=widget_name,
                        template_source=card_template,
                        payload=example,
                        schema=json_schema if isinstance(json_schema, dict) else None,
                    )
                )
            except CardTemplateError:
                continue
    return Preview(cards=cards, errors=errors)
