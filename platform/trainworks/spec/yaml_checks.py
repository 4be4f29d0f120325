"""What `yaml.safe_load` lets through silently: duplicate keys (the last wins) and alias bombs."""

from __future__ import annotations

from typing import Iterator

import yaml

from trainworks.spec.errors import Issue

MAX_EXPANDED_NODES = 100_000  # a job file has hundreds; "billion laughs" documents have 10^9


def structure_issues(text: str) -> list[Issue]:
    """Duplicate keys at their YAML path, and documents whose aliases expand beyond MAX_EXPANDED_NODES."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []  # safe_load reports syntax errors itself
    if root is None:
        return []
    size = expanded_size(root, {})
    if size > MAX_EXPANDED_NODES:
        return [Issue((), f"the document's aliases expand to {size:,} values, more than {MAX_EXPANDED_NODES:,} "
                          "(a 'billion laughs' file); write the values out")]
    return list(_duplicates(root, ()))


def expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """Nodes the document holds once every alias is expanded (shared nodes counted once per use)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(expanded_size(key, seen) + expanded_size(value, seen) for key, value in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(expanded_size(item, seen) for item in node.value)
    else:
        total = 1
    seen[id(node)] = total
    return total


def _duplicates(node: yaml.Node, parts: tuple[str | int, ...]) -> Iterator[Issue]:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            line = key.start_mark.line + 1
            if name in first_line:
                yield Issue((*parts, name), f"duplicate key '{name}' (first on line {first_line[name]}); "
                                            "YAML would silently keep only the last", line)
            else:
                first_line[name] = line
            yield from _duplicates(value, (*parts, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(item, (*parts, index))
