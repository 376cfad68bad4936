"""Small valid widget definitions for tests that need one that is not from the demo."""

NOTE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Note",
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "priority": {"enum": ["low", "high"]},
        "link": {"type": "string", "format": "uri"},
    },
}
NOTE_TEMPLATE = '<p class="note">{{ text }}{% if priority %} ({{ priority|label }}){% endif %}</p>'
NOTE_EXAMPLES = [{"text": "Call the seller", "priority": "high"}]


def note_widget(**overrides):
    from widgets.services import widget_type_create

    fields = {
        "name": "note",
        "title": "Note",
        "description": "A short note for the agent.",
        "json_schema": NOTE_SCHEMA,
        "card_template": NOTE_TEMPLATE,
        "examples": NOTE_EXAMPLES,
    }
    return widget_type_create(**{**fields, **overrides})
