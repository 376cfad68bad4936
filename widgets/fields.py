"""A JSON field that keeps the author's key order on every database.

PostgreSQL's jsonb sorts object keys; a schema's property order and an example's field order
are what models see in prompts and training data, so they are stored as JSON text instead.
"""

import json

from django.core.exceptions import ValidationError
from django.db import models
from django.forms import JSONField as JSONFormField


class OrderedJSONField(models.TextField):
    description = "JSON value stored as text, key order preserved"

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if value is None or not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc}", code="invalid_json") from exc

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": JSONFormField, **kwargs})
