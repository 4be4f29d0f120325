"""YAML's `true` is not a number: pydantic's lax mode would read `epochs: true` as 1 epoch."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

NUMBER_TYPES = (int, float)


def _number_field(annotation: Any) -> bool:
    """Whether a field takes a plain number (int or float, possibly Optional or Annotated), not a bool."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_number_field(member) for member in members)
    return annotation in NUMBER_TYPES


def booleans_as_text(model: type[BaseModel], data: Any) -> Any:
    """A `mode="before"` model check: booleans given for numeric fields become text, which the number
    check then refuses at the field's own path ("expected a valid integer ...; got 'true'")."""
    if not isinstance(data, dict):
        return data
    fields = model.model_fields
    return {key: (str(value).lower() if isinstance(value, bool) and key in fields
                  and _number_field(fields[key].annotation) else value) for key, value in data.items()}
