"""The demo domain's widgets: schemas copied from shared/demo, plus our cards, examples and
grounded fields (demo/grounding.json: the schema files must stay byte-identical to shared/demo).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from widgets.models import WidgetType
from widgets.services import (
    widget_type_create,
    widget_type_update,
    widget_version_activate,
    widget_version_create,
)


@dataclass(frozen=True, kw_only=True)
class WidgetDefinition:
    name: str
    title: str
    description: str
    json_schema: dict
    card_template: str
    examples: list
    grounded_fields: list[str]


def demo_dir() -> Path:
    return Path(settings.BASE_DIR) / "demo"


def demo_widget_definitions(root: Path | None = None) -> list[WidgetDefinition]:
    root = root or demo_dir()
    grounding = json.loads((root / "grounding.json").read_text())
    definitions = []
    for schema_path in sorted((root / "widgets").glob("*.schema.json")):
        name = schema_path.name.removesuffix(".schema.json")
        schema = json.loads(schema_path.read_text())
        definitions.append(
            WidgetDefinition(
                name=name,
                title=schema["title"],
                description=schema["description"],
                json_schema=schema,
                card_template=(root / "cards" / f"{name}.html").read_text(),
                examples=json.loads((root / "examples" / f"{name}.json").read_text()),
                grounded_fields=grounding[name],  # every demo widget is listed, [] for none
            )
        )
    return definitions


@transaction.atomic
def demo_widgets_load(*, author=None) -> dict[str, str]:
    """Make the registry hold the demo widgets.

    Returns name -> "created" | "new version" | "grounded fields updated" | "unchanged".
    """
    outcome = {}
    for d in demo_widget_definitions():
        widget = WidgetType.objects.filter(name=d.name).first()
        if widget is None:
            widget_type_create(
                name=d.name,
                title=d.title,
                description=d.description,
                json_schema=d.json_schema,
                card_template=d.card_template,
                examples=d.examples,
                grounded_fields=d.grounded_fields,
                author=author,
            )
            outcome[d.name] = "created"
            continue
        widget_type_update(widget=widget, title=d.title, description=d.description, enabled=True)
        active = widget.versions.filter(is_active=True).first()
        same = active is not None and (
            (active.json_schema, active.card_template, active.examples)
            == (d.json_schema, d.card_template, d.examples)
        )
        if not same:
            version = widget_version_create(
                widget=widget,
                json_schema=d.json_schema,
                card_template=d.card_template,
                examples=d.examples,
                author=author,
            )
            # Together: the demo's grounded fields fit the new schema, maybe not the old one.
            widget_version_activate(version=version, grounded_fields=d.grounded_fields)
            outcome[d.name] = "new version"
        elif widget.grounded_fields != d.grounded_fields:
            widget_type_update(widget=widget, grounded_fields=d.grounded_fields)
            outcome[d.name] = "grounded fields updated"
        else:
            outcome[d.name] = "unchanged"
    return outcome
