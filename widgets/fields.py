"""A JSON field that keeps the author's key order on every database, and its strict form field.

PostgreSQL's jsonb sorts object keys; a schema's property order and an example's field order
are what models see in prompts and training data, so they are stored as JSON text instead.
What staff type is read by widgets.json_input.load_json_strict: NaN, 1e400 or a document
nested too deep is a form error, not a value that later breaks every API response.
"""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString

from widgets.json_input import JSONInputError, load_json_strict


def _strict(text: str):
    try:
        return load_json_strict(text)
    except JSONInputError as exc:
        raise ValidationError(f"not valid JSON: {exc}", code=exc.code) from exc


class StrictJSONFormField(forms.JSONField):
    """Django's JSON form field, reading with load_json_strict."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        converted = _strict(value)
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return load_json_strict(data)
        except JSONInputError:
            return InvalidJSONInput(data)  # redisplayed as typed, with the error beside it


class OrderedJSONField(models.TextField):
    description = "JSON value stored as text, key order preserved"

    def from_db_value(self, value, expression, connection):
        # Stored text was checked on the way in; rows older than the check still load.
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if value is None or not isinstance(value, str):
            return value
        return _strict(value)

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": StrictJSONFormField, **kwargs})
