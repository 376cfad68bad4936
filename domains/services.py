"""Loading a domain into Weft: its widget files into the registry, then its demo records."""

from pathlib import Path

from django.db import transaction

from widgets.models import WidgetType
from widgets.registry_files import registry_import, registry_import_plan


@transaction.atomic
def domain_widgets_load(*, widgets_dir: Path, author=None) -> dict[str, str]:
    """Import the domain's registry files; name -> "created" | "new version" | "unchanged".

    Idempotent: files already imported change nothing. A bad file changes nothing at all
    (widgets.registry_files.RegistryFileError lists every problem).
    """
    plan = registry_import_plan(Path(widgets_dir))
    names = [doc["name"] for _, doc in plan.files]
    before = {w.name: _state(w) for w in WidgetType.objects.filter(name__in=names)}
    registry_import(Path(widgets_dir), author=author)
    after = {w.name: _state(w) for w in WidgetType.objects.filter(name__in=names)}
    outcome = {}
    for name in names:
        if name not in before:
            outcome[name] = "created"
        elif after[name][0] != before[name][0]:
            outcome[name] = "new version"
        elif after[name] != before[name]:
            outcome[name] = "updated"
        else:
            outcome[name] = "unchanged"
    return outcome


def _state(widget: WidgetType) -> tuple:
    versions = tuple(widget.versions.order_by("version").values_list("version", "is_active"))
    settings = (widget.title, widget.description, widget.enabled, widget.is_action)
    return versions, settings, widget.grounded_fields


def domain_load(*, domain, author=None) -> tuple[dict[str, str], dict[str, int] | None]:
    """Widgets, then the domain's demo records if it has a fixture loader (None if not)."""
    widgets = domain_widgets_load(widgets_dir=domain.widgets_dir, author=author)
    load_fixtures = getattr(domain, "load_fixtures", None)
    return widgets, (load_fixtures(author=author) if callable(load_fixtures) else None)
