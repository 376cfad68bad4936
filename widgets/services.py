"""Writes to the widget registry. Every path that stores a version goes through here."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from widgets.actions import default_is_action, validate_action_mark
from widgets.cards import default_card_template
from widgets.grounding import validate_grounded_fields
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.version_checks import VersionContentError, check_version_content


class RegistryError(Exception):
    """A registry write that breaks a rule; `code` is stable, the message is for people."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


@transaction.atomic
def widget_type_create(
    *,
    name: str,
    title: str,
    description: str,
    json_schema: dict,
    examples: list,
    card_template: str = "",
    enabled: bool = True,
    grounded_fields: list[str] | tuple[str, ...] = (),
    is_action: bool | None = None,
    author=None,
) -> WidgetType:
    """A new widget type with its first version, active.

    `is_action` None: an action only if named action_request (widgets/actions.py).
    """
    is_action = default_is_action(name) if is_action is None else is_action
    validate_action_mark(is_action, json_schema=json_schema)
    widget = WidgetType(
        name=name, title=title, description=description, enabled=enabled, is_action=is_action
    )
    widget.full_clean()
    widget.save()
    version = widget_version_create(
        widget=widget,
        json_schema=json_schema,
        card_template=card_template,
        examples=examples,
        author=author,
        activate=True,
    )
    # Checked once the schema is known to be valid, so a broken schema is reported as such
    # rather than as a list of unknown fields; a failure here rolls the whole type back.
    widget.grounded_fields = validate_grounded_fields(
        grounded_fields, json_schema=version.json_schema
    )
    widget.save(update_fields=["grounded_fields", "updated"])
    return widget


@transaction.atomic
def widget_type_update(
    *,
    widget: WidgetType,
    title: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    grounded_fields: list[str] | None = None,
    is_action: bool | None = None,
) -> WidgetType:
    """Change what is given; grounded fields and the action mark are checked against the
    active version's schema."""
    # The name is what models emit and stored messages reference: it never changes.
    for field, value in (("title", title), ("description", description), ("enabled", enabled)):
        if value is not None:
            setattr(widget, field, value)
    if grounded_fields is not None or is_action is not None:
        WidgetType.objects.select_for_update().get(pk=widget.pk)  # no activation in between
        active = widget.versions.filter(is_active=True).first()
        schema = active.json_schema if active else {}
        if grounded_fields is not None:
            widget.grounded_fields = validate_grounded_fields(grounded_fields, json_schema=schema)
        if is_action is not None:
            validate_action_mark(is_action, json_schema=schema)
            widget.is_action = is_action
    widget.full_clean()
    widget.save()
    return widget


@transaction.atomic
def widget_version_create(
    *,
    widget: WidgetType,
    json_schema: dict,
    examples: list,
    card_template: str = "",
    author=None,
    activate: bool = False,
    number: int | None = None,
) -> WidgetSchemaVersion:
    """Validate and store a version of `widget` (the next number unless `number` is given).

    Raises VersionContentError when the content is invalid, RegistryError when `number` is taken.
    """
    if not card_template.strip():
        card_template = default_card_template(json_schema) if isinstance(json_schema, dict) else ""
    check_version_content(json_schema=json_schema, card_template=card_template, examples=examples)
    WidgetType.objects.select_for_update().get(pk=widget.pk)  # serialise version numbering
    last = widget.versions.aggregate(last=Max("version"))["last"] or 0
    if number is not None and widget.versions.filter(version=number).exists():
        raise RegistryError(
            f"{widget.name} v{number} exists; versions are immutable", code="version_exists"
        )
    version = WidgetSchemaVersion.objects.create(
        widget=widget,
        version=number or last + 1,
        json_schema=json_schema,
        card_template=card_template,
        examples=examples,
        author=author,
    )
    if activate or last == 0:
        widget_version_activate(version=version)
    return version


@transaction.atomic
def widget_version_activate(
    *, version: WidgetSchemaVersion, grounded_fields: list[str] | None = None
) -> WidgetSchemaVersion:
    """Make `version` the one the parser, prompts and cards use. Old versions stay as they are.

    The widget's grounded fields must fit the new schema too. `grounded_fields`, when given,
    replaces them in the same step: the way to switch to a schema that renames a grounded field.
    """
    widget = WidgetType.objects.select_for_update().get(pk=version.widget_id)
    try:
        validate_action_mark(widget.is_action, json_schema=version.json_schema)
    except ValidationError as exc:
        raise ValidationError(
            {
                "is_action": [
                    ValidationError(
                        f"{widget.name} is an action widget, and v{version.version} cannot "
                        "run as one:",
                        code="action_schema_does_not_fit",
                    ),
                    *exc.error_dict["is_action"],
                ]
            }
        ) from exc
    if grounded_fields is None:
        try:
            validate_grounded_fields(widget.grounded_fields, json_schema=version.json_schema)
        except ValidationError as exc:
            explanation = ValidationError(
                f"{widget.name} v{version.version} cannot be active with the widget type's "
                "grounded fields; change them first (to fields both schemas have, or none):",
                code="grounded_fields_do_not_fit",
            )
            raise ValidationError(
                {"grounded_fields": [explanation, *exc.error_dict["grounded_fields"]]}
            ) from exc
    else:
        widget.grounded_fields = validate_grounded_fields(
            grounded_fields, json_schema=version.json_schema
        )
        widget.save(update_fields=["grounded_fields", "updated"])
    WidgetSchemaVersion.objects.filter(widget_id=version.widget_id, is_active=True).exclude(
        pk=version.pk
    ).update(is_active=False)
    WidgetSchemaVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    return version


__all__ = [
    "RegistryError",
    "VersionContentError",
    "widget_type_create",
    "widget_type_update",
    "widget_version_activate",
    "widget_version_create",
]
