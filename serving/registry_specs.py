"""The active widget registry as the prompt and constraint builders take it.

The one module of serving that reads Django models: everything downstream is plain data.
"""

from serving.prompts import WidgetSpec
from widgets.selectors import active_versions


def active_widget_specs() -> list[WidgetSpec]:
    """Enabled widgets' active versions, in name order, each with its first example."""
    return [
        WidgetSpec(
            name=name,
            title=version.widget.title,
            description=version.widget.description,
            # The stored schema keeps its key order, which the grammar relies on (see constraints).
            json_schema=version.json_schema,
            example=version.examples[0] if version.examples else None,
            grounded_fields=tuple(version.widget.grounded_fields),
            is_action=version.widget.is_action,
        )
        for name, version in active_versions().items()
    ]


def grounded_fields(specs: list[WidgetSpec]) -> dict[str, list[str]]:
    """Widget name -> its grounded fields, for the widgets that have any: what a run records."""
    return {s.name: list(s.grounded_fields) for s in specs if s.grounded_fields}
