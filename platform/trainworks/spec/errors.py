"""Spec errors as users read them: one line each, the YAML path, what was given, what was expected."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ValidationError

from trainworks.registry import describe_unknown

Loc = Sequence[str | int]


@dataclass(frozen=True)
class Issue:
    """One problem in a job file: where (a YAML path such as `model.hidden[0]`) and what is wrong."""

    parts: tuple[str | int, ...]
    message: str
    line: int | None = None

    @property
    def path(self) -> str:
        return render_path(self.parts)

    def render(self, source: str = "") -> str:
        where = f"{source}:{self.line}: " if source and self.line else (f"{source}: " if source else "")
        return f"{where}{self.path or '<top level>'}: {self.message}"


class SpecError(ValueError):
    """A job file that cannot run; carries every issue found, not just the first."""

    def __init__(self, issues: Sequence[Issue], source: str = "") -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__("\n".join(issue.render(source) for issue in self.issues))


def render_path(parts: Iterable[str | int]) -> str:
    """`('data', 'preprocessing', 0, 'size')` -> `data.preprocessing[0].size`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def yaml_parts(loc: Loc, raw: Any) -> list[str | int]:
    """The error location as keys of the user's file: union tags and type names pydantic adds are dropped."""
    parts: list[str | int] = []
    node = raw
    for key in loc:
        if isinstance(node, str) and key in ("name", node):
            node = {"name": node}  # the `loss: mse` shorthand
        if isinstance(node, dict):
            if key in node:
                parts.append(key)
                node = node[key]
            elif node.get("name") != key:
                parts.append(key)
                node = None
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            parts.append(key)
            node = node[key]
    return parts


def _strip(annotation: Any) -> Any:
    """Drop `Annotated[...]` and `Optional[...]` wrappers."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _strip(members[0])
    return annotation


def _variants(annotation: Any) -> list[type[BaseModel]]:
    """The registry entries a `{name: ...}` field accepts (empty for other fields)."""
    annotation = _strip(annotation)
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    return [m for m in map(_strip, members) if isinstance(m, type) and issubclass(m, BaseModel) and "name" in m.model_fields
            and typing.get_origin(m.model_fields["name"].annotation) is typing.Literal]


def _tag(variant: type[BaseModel]) -> str:
    return typing.get_args(variant.model_fields["name"].annotation)[0]


def _kind(annotation: Any, fallback: str) -> str:
    """The registry kind ("model", "trick") behind a `{name: ...}` field, for messages."""
    variants = _variants(annotation)
    return getattr(variants[0], "registry_kind", fallback) if variants else fallback


def type_at(root: type[BaseModel], loc: Loc) -> Any:
    """The declared type at a pydantic error location, following lists and `name`-tagged unions."""
    current: Any = root
    for key in loc:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and key in current.model_fields:
            current = current.model_fields[key].annotation
        elif typing.get_origin(current) in (list, tuple) and isinstance(key, int):
            current = typing.get_args(current)[0]
        elif tagged := [v for v in _variants(current) if _tag(v) == key]:
            current = tagged[0]
        else:
            return None
    return _strip(current)


def _expected_text(message: str) -> str:
    message = re.sub(r"^Value error, ", "", message)
    message = re.sub(r"^Input should be (greater|less)", r"expected a value \1", message)
    message = re.sub(r"^Input should be ", "expected ", message)
    message = re.sub(r"^(String|List|Tuple) should have ", "expected a value with ", message)
    message = re.sub(r"^Assertion failed, ", "", message)
    return message


def _given(error: dict[str, Any]) -> str:
    value = error.get("input")
    if isinstance(value, (dict, list)) or error["type"] in {"missing", "extra_forbidden"}:
        return ""
    return f"; got {value!r}"


def _describe(error: dict[str, Any], root: type[BaseModel], raw: Any, parts: list[str | int]) -> tuple[list, str]:
    """(YAML path, message) for one pydantic error."""
    kind, loc = error["type"], error["loc"]
    field = next((p for p in reversed(parts) if isinstance(p, str)), "value")
    if kind == "extra_forbidden":
        parent = type_at(root, loc[:-1])
        valid = sorted(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return parts, f"unknown key '{loc[-1]}'{hint}; valid keys: {', '.join(valid)}"
    if kind == "union_tag_invalid":
        valid = sorted(re.findall(r"'([^']*)'", error["ctx"]["expected_tags"]))
        return [*parts, "name"], describe_unknown(_kind(type_at(root, loc), field), str(error["ctx"]["tag"]), valid)
    if kind == "literal_error" and loc[-1] == "name" and (variants := _variants(type_at(root, loc[:-1]))):
        valid = sorted(_tag(v) for v in variants)  # a registry with a single entry: no union to tag
        return parts, describe_unknown(_kind(variants[0], field), str(error.get("input")), valid)
    if kind == "union_tag_not_found":
        valid = sorted(_tag(v) for v in _variants(type_at(root, loc)))
        return [*parts, "name"], f"missing 'name'; expected one of: {', '.join(valid)}"
    if kind == "missing":
        return parts, "required field is missing"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return parts, f"expected a mapping of keys to values; got {type(error.get('input')).__name__}"
    return parts, _expected_text(error["msg"]) + _given(error)


def issues_from_validation(error: ValidationError, root: type[BaseModel], raw: Any) -> list[Issue]:
    """Every pydantic error as an Issue; alternatives of one union at one path are merged into one line."""
    merged: dict[tuple[str | int, ...], list[str]] = {}
    for item in error.errors(include_url=False):
        parts, message = _describe(item, root, raw, yaml_parts(item["loc"], raw))
        messages = merged.setdefault(tuple(parts), [])
        if message not in messages:
            messages.append(message)
    return [Issue(parts, " or ".join(messages)) for parts, messages in merged.items()]
