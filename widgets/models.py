"""The widget registry: widget types and their immutable, versioned schemas."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from widgets.fields import OrderedJSONField

# markup.md: NAME matches [a-z][a-z0-9_]{0,63}
WIDGET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}\Z"


class WidgetType(models.Model):
    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                WIDGET_NAME_PATTERN,
                message="Use a lower-case letter, then up to 63 lower-case letters, digits or _.",
                code="invalid_widget_name",
            )
        ],
        help_text="The NAME models write in the widget tag; it never changes once created.",
    )
    title = models.CharField(max_length=120)
    description = models.TextField(
        help_text="What the widget is for: the prompt builder shows this to the model."
    )
    enabled = models.BooleanField(default=True)
    grounded_fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Property names (at any depth of the schema) whose values must be values the "
        "turn's CRM records hold under the same name; constrained decoding enforces it. "
        "Leave out fields the model writes itself (titles, summaries); an enum field such as "
        "a status may be grounded.",
    )
    is_action = models.BooleanField(
        default=False,
        help_text="An action card: its payload names an `action` and its `params`, and the "
        "user's Confirm runs it through the domain (nothing runs before that).",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WidgetSchemaVersion(models.Model):
    """One immutable definition of a widget type. Messages point at the version that parsed them."""

    widget = models.ForeignKey(WidgetType, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    json_schema = OrderedJSONField(help_text="JSON Schema (draft 2020-12) of the payload object.")
    card_template = models.TextField(
        help_text="Django template of the card; empty means a generated key/value card."
    )
    examples = OrderedJSONField(default=list, help_text="Example payloads, each valid.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)

    class Meta:
        ordering = ["widget__name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["widget", "version"], name="widget_version_unique"),
            models.UniqueConstraint(
                fields=["widget"],
                condition=models.Q(is_active=True),
                name="one_active_version_per_widget",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.widget.name} v{self.version}"
