"""What the apps' typed service inputs share: `UNSET`, the default of a field an update was
not given, so "not given" stays apart from "set to empty" (`None`, `""`, `[]`)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Final, Literal


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __bool__(self) -> bool:  # an unset field is never mistaken for a value
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]


def fields_given(value: Any) -> list[str]:
    """The names of a dataclass input's fields that were given (not `UNSET`), in order."""
    return [f.name for f in dataclasses.fields(value) if getattr(value, f.name) is not UNSET]
