"""The registry as files: one JSON file per widget type, every version in it, for git.

Import checks every file and every new version before it writes anything, so a bad file
leaves the registry exactly as it was.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from widgets.actions import action_schema_problems, default_is_action
from widgets.cards import default_card_template
from widgets.grounding import validate_grounded_fields
from widgets.json_input import load_json_strict
from widgets.models import WIDGET_NAME_PATTERN, WidgetSchemaVersion, WidgetType
from widgets.services import (
    widget_type_update,
    widget_version_activate,
    widget_version_create,
)
from widgets.version_checks import VersionContentError, check_version_content

FORMAT = "weft.widget/1"
_CONTENT_KEYS = ("json_schema", "card_template", "examples")


class RegistryFileError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class ImportPlan:
    files: list[tuple[Path, dict]]
    new_versions: int
    activations: int


def widget_document(widget: WidgetType) -> dict:
    return {
        "format": FORMAT,
        "name": widget.name,
        "title": widget.title,
        "description": widget.description,
        "enabled": widget.enabled,
        "action": widget.is_action,
        "grounded_fields": widget.grounded_fields,
        "versions": [
            {
                "version": v.version,
                "active": v.is_active,
                **{k: getattr(v, k) for k in _CONTENT_KEYS},
            }
            for v in widget.versions.order_by("version")
        ],
    }


def registry_export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for widget in WidgetType.objects.prefetch_related("versions"):
        path = directory / f"{widget.name}.json"
        path.write_text(json.dumps(widget_document(widget), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _document_problems(path: Path, doc) -> list[str]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return [f'{path.name}: not a widget file (expected "format": "{FORMAT}")']
    problems = []
    name = doc.get("name")
    if not isinstance(name, str) or not re.match(WIDGET_NAME_PATTERN, name):
        problems.append(f"{path.name}: name {name!r} does not match [a-z][a-z0-9_]{{0,63}}")
    elif path.stem != name:
        problems.append(f"{path.name}: holds widget {name!r}; name the file {name}.json")
    for key in ("title", "description"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            problems.append(f"{path.name}: {key} must be a non-empty string")
    if not isinstance(doc.get("enabled", True), bool):
        problems.append(f"{path.name}: enabled must be true or false")
    if not isinstance(doc.get("action", False), bool):
        problems.append(f"{path.name}: action must be true or false")
    versions = doc.get("versions")
    if not isinstance(versions, list) or not versions:
        return [*problems, f"{path.name}: versions must be a non-empty list"]
    numbers = [v.get("version") if isinstance(v, dict) else None for v in versions]
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in numbers):
        problems.append(f'{path.name}: every version needs a positive integer "version"')
    elif len(set(numbers)) != len(numbers):
        problems.append(f"{path.name}: version numbers repeat")
    actives = [v for v in versions if isinstance(v, dict) and v.get("active") is True]
    if len(actives) != 1:
        problems.append(f"{path.name}: exactly one version must be active, found {len(actives)}")
    for v in versions:
        if isinstance(v, dict) and not all(k in v for k in _CONTENT_KEYS):
            problems.append(f"{path.name} v{v.get('version')}: needs {', '.join(_CONTENT_KEYS)}")
    if len(actives) == 1 and "json_schema" in actives[0]:
        try:  # optional: files written before grounded fields existed have none
            validate_grounded_fields(
                doc.get("grounded_fields", []), json_schema=actives[0]["json_schema"]
            )
        except ValidationError as exc:
            problems += [f"{path.name}: grounded_fields: {m}" for m in exc.messages]
        if is_action(doc) is True:
            problems += [
                f"{path.name}: action: {m}"
                for m in action_schema_problems(actives[0]["json_schema"])
            ]
    return problems


def is_action(doc: dict):
    """The file's action mark; a file without one: an action only if named action_request."""
    return doc.get("action", default_is_action(doc.get("name")))


def _fill_card_templates(doc: dict) -> None:
    """An empty card template stands for the generated one, as when a version is created, so
    a file that leaves it empty imports the same version again instead of a "changed" one."""
    for v in doc["versions"]:
        if isinstance(v["card_template"], str) and not v["card_template"].strip():
            if isinstance(v["json_schema"], dict):
                v["card_template"] = default_card_template(v["json_schema"])


def _version_problems(path: Path, doc: dict) -> tuple[list[str], int]:
    """Problems with versions against the database, and how many versions are new."""
    problems, new = [], 0
    stored = {v.version: v for v in WidgetSchemaVersion.objects.filter(widget__name=doc["name"])}
    for v in doc["versions"]:
        where = f"{path.name} v{v['version']}"
        existing = stored.get(v["version"])
        if existing is not None:
            if any(getattr(existing, k) != v[k] for k in _CONTENT_KEYS):
                problems.append(
                    f"{where}: differs from the stored version; versions are immutable, "
                    "add a new version number instead"
                )
            continue
        new += 1
        try:
            check_version_content(**{k: v[k] for k in _CONTENT_KEYS})
        except VersionContentError as exc:
            problems += [
                f"{where} {field}: {m}" for field, msgs in exc.errors.items() for m in msgs
            ]
    return problems, new


def registry_import_plan(directory: Path) -> ImportPlan:
    """Read and check every file; raise RegistryFileError listing all problems."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise RegistryFileError([f"{directory}: no *.json widget files"])
    problems, files, new_versions = [], [], 0
    for path in paths:
        try:
            doc = load_json_strict(path.read_text(encoding="utf-8"))  # NaN, 1e400: refused
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path.name}: not valid JSON ({exc})")
            continue
        if found := _document_problems(path, doc):
            problems += found
            continue
        _fill_card_templates(doc)
        found, new = _version_problems(path, doc)
        problems += found
        new_versions += new
        files.append((path, doc))
    if problems:
        raise RegistryFileError(problems)
    return ImportPlan(files=files, new_versions=new_versions, activations=len(files))


@transaction.atomic
def registry_import(directory: Path, *, author=None) -> ImportPlan:
    plan = registry_import_plan(directory)
    for _, doc in plan.files:
        widget, _ = WidgetType.objects.get_or_create(
            name=doc["name"], defaults={"title": doc["title"], "description": doc["description"]}
        )
        widget_type_update(
            widget=widget,
            title=doc["title"],
            description=doc["description"],
            enabled=doc.get("enabled", True),
        )
        if widget.is_action and not is_action(doc):
            # Unmarked before activation: the new active schema need not fit an action.
            widget_type_update(widget=widget, is_action=False)
        stored = set(widget.versions.values_list("version", flat=True))
        for v in sorted(doc["versions"], key=lambda v: v["version"]):
            if v["version"] not in stored:
                widget_version_create(
                    widget=widget,
                    number=v["version"],
                    author=author,
                    **{k: v[k] for k in _CONTENT_KEYS},
                )
        active_number = next(v["version"] for v in doc["versions"] if v["active"])
        # Together: the file's grounded fields fit its active schema, maybe not the old one.
        widget_version_activate(
            version=widget.versions.get(version=active_number),
            grounded_fields=doc.get("grounded_fields", []),
        )
        widget.refresh_from_db()  # activation stored the grounded fields; save() must keep them
        if is_action(doc) and not widget.is_action:
            widget_type_update(widget=widget, is_action=True)  # the active schema fits: checked
    return plan
