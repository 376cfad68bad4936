"""The demo's widget files (demo/registry, the `manage.py widgets export` format) read as
plain definitions, for code that needs the demo's schemas without a database (tests, bench).

Their schemas must stay equal to the shared copy in demo/spec (a test checks it): each
file's first version to demo/spec/widgets, and a later version to demo/spec/versions
(action_request v2, the active one; v1 stays in the file, so stored messages keep it).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from demo.domain import DEMO
from serving.prompts import WidgetSpec
from widgets.actions import default_is_action


@dataclass(frozen=True, kw_only=True)
class WidgetDefinition:
    name: str
    title: str
    description: str
    json_schema: dict
    card_template: str
    examples: list
    grounded_fields: list[str]
    is_action: bool


def demo_widget_definitions(root: Path | None = None) -> list[WidgetDefinition]:
    """The active version of every widget file, in name order."""
    definitions = []
    for path in sorted((root or DEMO.widgets_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        active = next(v for v in doc["versions"] if v["active"])
        definitions.append(
            WidgetDefinition(
                name=doc["name"],
                title=doc["title"],
                description=doc["description"],
                json_schema=active["json_schema"],
                card_template=active["card_template"],
                examples=active["examples"],
                grounded_fields=doc.get("grounded_fields", []),
                is_action=doc.get("action", default_is_action(doc["name"])),
            )
        )
    return definitions


def demo_widget_specs(root: Path | None = None) -> list[WidgetSpec]:
    """The active widget files as the prompt and grammar builders take them: what
    serving.registry_specs gives once load_demo has imported them."""
    return [
        WidgetSpec(
            name=d.name,
            title=d.title,
            description=d.description,
            json_schema=d.json_schema,
            example=d.examples[0] if d.examples else None,
            grounded_fields=tuple(d.grounded_fields),
            is_action=d.is_action,
        )
        for d in demo_widget_definitions(root)
    ]


def demo_widgets_load(*, author=None) -> dict[str, str]:
    """Import the demo's widget files into the registry (what load_demo does first)."""
    from domains.services import domain_widgets_load

    return domain_widgets_load(widgets_dir=DEMO.widgets_dir, author=author)
