"""JSON values refused before they can fail deeper down (pure functions; no API imports).

Three kinds of value pass Python's `json` module yet break later, as a 500 instead of a 400:
NUL characters and unpaired surrogates (PostgreSQL's text and jsonb refuse the first, UTF-8
encoding the second), non-finite numbers (`1e400` is `inf`, which jsonb refuses), and nesting
deep enough to exhaust the interpreter's recursion limit in the parser, a serializer or
`json.dumps`. `find_problem` names the first such value by its field path, without recursing;
the REST parser (crm/api/parsers.py) and the GraphQL view refuse the request with it, event
ingestion refuses just the one event (one bad event in 1,000 rejects one).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Any surrogate left after json decoding is unpaired: a valid pair decodes to one code point.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why this string cannot be stored, or None."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "Contains a NUL character (\\u0000), which is not allowed."
    return "Contains an unpaired surrogate (e.g. \\ud800), which is not valid Unicode."


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def find_problem(value: Any, *, max_depth: int, prefix: str = "") -> tuple[str, str] | None:
    """The first value that cannot be stored, as (field path, message), or None. The path is
    the one error details use elsewhere (`payload.email`, `rules[1].value`)."""
    stack: list[tuple[Any, str, int]] = [(value, prefix, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return path or "body", f"Nested more than {max_depth} levels deep."
            if isinstance(item, dict):
                for key, child in item.items():
                    key = str(key)
                    problem = text_problem(key)
                    if problem:
                        return (
                            path or "body",
                            f"A field name here: {problem[0].lower()}{problem[1:]}",
                        )
                    stack.append((child, _join(path, key), depth + 1))
            else:
                for index, child in enumerate(item):
                    stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path or "body", problem
        elif isinstance(item, float) and not math.isfinite(item):
            return path or "body", "Number out of range."
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON.")


def load_json(raw: bytes | str) -> Any:
    """`json.loads`, but nesting too deep for the parser is a ValueError like any bad JSON,
    and NaN/Infinity literals are refused."""
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except RecursionError as exc:
        raise ValueError("The JSON is nested too deeply.") from exc
