"""The base of every request-body serializer: strict, so a client's mistake is a 400 naming the
field instead of a write that quietly does something else.

DRF on its own drops unknown keys (`scheduled_at` for `scheduledAt` schedules nothing) and
coerces types (`{"name": 123}` names a segment "123", `"1"` is a whole number, `"yes"` is
true). Here, in a JSON body, an unknown key is refused (with the likely intended name), and a
text field takes only a string, a whole-number field only a JSON integer, a true/false field
only a JSON boolean. Form and multipart bodies (everything a string) keep DRF's reading.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import serializers


def _type_error(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    if value is None:
        return None  # allow_null and required decide
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Must be a whole number."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        # Decimals may come as strings ("45.00"), the exact form of money.
        ok = isinstance(value, int | float | str) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(field, serializers.CharField | serializers.UUIDField):
        return None if isinstance(value, str) else "Must be a string."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            problem = _type_error(field.child, item)
            if problem:
                return f"Each item: {problem[0].lower()}{problem[1:]}"
    return None


class InputSerializer(serializers.Serializer[Any]):
    """Subclass this (not `serializers.Serializer`) for anything read from a request body."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors: dict[str, list[str]] = {}
            for key in data:
                if key not in writable:
                    guess = difflib.get_close_matches(str(key), sorted(writable), n=1, cutoff=0.6)
                    hint = f" Did you mean '{guess[0]}'?" if guess else ""
                    errors[str(key)] = [f"Unknown field.{hint}"]
            for name, field in self.fields.items():
                if name in data and not field.read_only:
                    problem = _type_error(field, data[name])
                    if problem:
                        errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
