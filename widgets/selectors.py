"""Reads of the widget registry."""

from widgets.markup import PayloadValidator, validator_for
from widgets.models import WidgetSchemaVersion
from widgets.render import CardSpec, Registry


def active_versions(*, include_disabled: bool = False) -> dict[str, WidgetSchemaVersion]:
    """Widget name -> its active version, in name order."""
    versions = WidgetSchemaVersion.objects.filter(is_active=True).select_related("widget")
    if not include_disabled:
        versions = versions.filter(widget__enabled=True)
    return {v.widget.name: v for v in versions.order_by("widget__name")}


def registry_validators() -> dict[str, PayloadValidator]:
    """What the markup parser takes: widget name -> validator of its active schema."""
    return {name: validator_for(v.json_schema) for name, v in active_versions().items()}


def active_registry() -> Registry:
    """Validators and card specs of the enabled widgets' active versions, read once."""
    return _registry(active_versions())


def registry_at(widget_versions: dict[str, int]) -> Registry:
    """The registry a stored message was parsed with (name -> version number).

    Widgets the mapping does not name come from the active registry, so a message stored
    before a widget existed still renders.
    """
    versions = active_versions()
    if widget_versions:
        pinned = WidgetSchemaVersion.objects.filter(
            widget__name__in=list(widget_versions)
        ).select_related("widget")
        for v in pinned:
            if widget_versions.get(v.widget.name) == v.version:
                versions[v.widget.name] = v
    return _registry(versions)


def version_numbers(versions: dict[str, WidgetSchemaVersion] | None = None) -> dict[str, int]:
    return {name: v.version for name, v in (versions or active_versions()).items()}


def _registry(versions: dict[str, WidgetSchemaVersion]) -> Registry:
    return Registry(
        validators={name: validator_for(v.json_schema) for name, v in versions.items()},
        cards={
            name: CardSpec(
                template_source=v.card_template,
                schema=v.json_schema,
                title=v.widget.title,
                is_action=v.widget.is_action,
            )
            for name, v in versions.items()
        },
    )
