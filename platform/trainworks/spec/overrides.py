"""`--set a.b=value` overrides: any field of a job file, changed from the command line."""

from __future__ import annotations

import copy
import re
from typing import Any, Sequence

import yaml

from trainworks.spec.errors import Issue, SpecError

_INDEX = re.compile(r"\[(\d+)\]")


def parse_override_path(key: str) -> list[str | int]:
    """`data.preprocessing[0].size` or `data.preprocessing.0.size` -> ['data', 'preprocessing', 0, 'size']."""
    parts: list[str | int] = []
    for piece in _INDEX.sub(r".\1", key).split("."):
        if not piece:
            raise ValueError(f"empty part in '{key}'")
        parts.append(int(piece) if piece.isdigit() else piece)
    return parts


def apply_override(raw: dict[str, Any], expression: str) -> dict[str, Any]:
    """A copy of `raw` with one `path=value` applied; the value is read as YAML (`3`, `true`, `[1, 2]`)."""
    key, sep, text = expression.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected PATH=VALUE, e.g. training.epochs=3")
    return set_path(raw, key.strip(), yaml.safe_load(text) if text.strip() else "")


def set_path(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of `raw` with the value at a dotted path replaced (intermediate mappings are created)."""
    parts = parse_override_path(key)
    result = copy.deepcopy(raw)
    node: Any = result
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, dict):
            if isinstance(node.get(part), str) and isinstance(parts[depth + 1], str):
                node[part] = {"name": node[part]}  # `loss: mse` then `--set loss.x=...`
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            raise ValueError(f"'{'.'.join(map(str, parts[: depth + 1]))}' is not a mapping or list item in the file")
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last <= len(node):
        node[last:last + 1] = [value]
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ValueError(f"cannot set '{key}': its parent is not a mapping or list")
    return result


def set_field(resolved: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """`set_path` on a resolved spec, where a new `.name` replaces the whole component.

    The old component's options belong to it: switching `model.name` from mlp to guide_cnn
    must not carry mlp's `hidden` along. Search spaces and trials use this.
    """
    parts = parse_override_path(key)
    if parts[-1] == "name" and len(parts) > 1:
        return set_path(resolved, key.rsplit(".", 1)[0], {"name": value})
    return set_path(resolved, key, value)


def apply_overrides(raw: dict[str, Any], expressions: Sequence[str], source: str = "") -> dict[str, Any]:
    """All overrides in order; every bad one is reported at once."""
    issues = []
    for expression in expressions:
        try:
            raw = apply_override(raw, expression)
        except (ValueError, yaml.YAMLError) as error:
            issues.append(Issue((f"--set {expression}",), str(error)))
    if issues:
        raise SpecError(issues, source)
    return raw
