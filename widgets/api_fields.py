"""Request fields that accept exactly the JSON their schema names.

DRF's fields coerce: a CharField takes 5 as "5", a BooleanField takes "yes", 1 and "on", a
primary key may come as a string. The schema drf-spectacular writes says `string`, `boolean`,
`integer`, so a client that sends anything else is refused with a 400, as the schema promises
(tests/project/test_api_fuzz.py sends them). JSON bodies only: a form sends every value as a
string, so serializers that read uploads keep DRF's fields.
"""

from rest_framework import serializers


class _StringOnly:
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StringOnly, serializers.CharField):
    pass


class StrictRegexField(_StringOnly, serializers.RegexField):
    pass


class StrictChoiceField(serializers.ChoiceField):
    """A choice sent as its own JSON type: DRF's would also take "1" for 1, and 1 for "1"."""

    def to_internal_value(self, data):
        if not any(type(data) is type(choice) for choice in self.choices):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An integer id; DRF's would also take "12"."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


def text_field(**kwargs) -> StrictRegexField:
    """A string whose schema says what it refuses: blank, or only whitespace (trimmed)."""
    return StrictRegexField(r"\S", **kwargs)
