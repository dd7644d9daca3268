"""DRF's JSON parser with crm.jsonsafe's checks: a value that cannot be stored (NUL,
unpaired surrogate, non-finite number, absurd nesting) is a 400 naming its field, not a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, parsers

from crm.jsonsafe import find_problem, load_json


def max_json_depth() -> int:
    return settings.MAX_JSON_DEPTH


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the checks above: a bad value is a 400 naming its field."""

    check_values = True

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            data = load_json(raw.decode(encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if self.check_values:
            problem = find_problem(data, max_depth=max_json_depth())
            if problem:
                raise exceptions.ValidationError({problem[0]: [problem[1]]})
        return data


class BatchJSONParser(JSONParser):
    """For event batches, whose envelopes are checked one by one (a bad one is rejected
    alone): only JSON that cannot be parsed at all refuses the whole batch."""

    check_values = False
