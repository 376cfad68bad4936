"""The demo's widget files (demo/registry, the `manage.py widgets export` format) read as
plain definitions, for code that needs the demo's schemas without a database (tests, bench).

Their schemas must stay equal to the shared copy in demo/spec/widgets (a test checks it).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from demo.domain import DEMO


@dataclass(frozen=True, kw_only=True)
class WidgetDefinition:
    name: str
    title: str
    description: str
    json_schema: dict
    card_template: str
    examples: list
    grounded_fields: list[str]


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
            )
        )
    return definitions


def demo_widgets_load(*, author=None) -> dict[str, str]:
    """Import the demo's widget files into the registry (what load_demo does first)."""
    from domains.services import domain_widgets_load

    return domain_widgets_load(widgets_dir=DEMO.widgets_dir, author=author)
