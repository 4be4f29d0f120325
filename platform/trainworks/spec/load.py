"""Loading a job file: YAML (safe_load only), `--set` overrides, validation, cross-field checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import ValidationError

from trainworks.spec.consistency import check_consistency
from trainworks.spec.errors import Issue, SpecError, issues_from_validation
from trainworks.spec.overrides import apply_overrides, set_field
from trainworks.paths import BASE_DIR_KEY
from trainworks.spec.schema import EXPERIMENT_SECTIONS, JobSpec
from trainworks.spec.tune import candidate_values
from trainworks.spec.yaml_checks import structure_issues


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> JobSpec:
    """The validated job in `path` with `overrides` (`a.b=value`) applied; SpecError lists every problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Issue((), f"cannot read the job file: {error.strerror or error}")], source) from None
    raw = parse_yaml(text, source)
    raw = apply_overrides(raw, overrides, source)
    try:
        return validate_spec(raw, base_dir=path.parent.resolve())
    except SpecError as error:
        raise SpecError([replace(issue, line=line_of(text, issue.parts)) for issue in error.issues], source) from None


def parse_yaml(text: str, source: str = "") -> dict[str, Any]:
    """The file's top-level mapping; syntax errors, duplicate keys and alias bombs say where."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError([Issue((), f"YAML syntax error: {problem}", mark.line + 1 if mark else None)], source) from None
    if issues := structure_issues(text):
        raise SpecError(issues, source)
    if raw is None:
        raise SpecError([Issue((), "the file is empty; expected a mapping with data, model and training")], source)
    if not isinstance(raw, dict):
        raise SpecError([Issue((), f"expected a mapping with data, model and training; got {type(raw).__name__}")],
                        source)
    return raw


def validate_spec(raw: dict[str, Any], base_dir: Path | None = None) -> JobSpec:
    """A JobSpec from plain data (a parsed file, or a spec's own dump), or every problem with it."""
    context = {BASE_DIR_KEY: str(base_dir)} if base_dir else None
    try:
        spec = JobSpec.model_validate(raw, context=context)
    except ValidationError as error:
        raise SpecError(issues_from_validation(error, JobSpec, raw)) from None
    issues = check_consistency(spec) or _space_issues(spec, base_dir)
    if issues:
        raise SpecError(issues)
    return spec


def _space_issues(spec: JobSpec, base_dir: Path | None) -> list[Issue]:
    """Every value a search or an ensemble could set must make a valid job: paths exist, values fit their field."""
    spaces = {("tune", "space"): spec.tune.space if spec.tune else {},
              ("ensemble", "vary"): spec.ensemble.vary if spec.ensemble else {}}
    base = spec.model_dump(mode="json", exclude=set(EXPERIMENT_SECTIONS))
    issues = []
    for where, space in spaces.items():
        for path, entry in space.items():
            for value in candidate_values(entry):
                try:
                    validate_spec(set_field(base, path, value), base_dir)
                except (SpecError, ValueError) as error:
                    detail = "; ".join(issue.render() for issue in error.issues) if isinstance(error, SpecError) \
                        else str(error)
                    issues.append(Issue((*where, path), f"{value!r} does not make a valid job: {detail}"))
                    break
    return issues


def line_of(text: str, parts: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node of `parts` present in the YAML text."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            match = [value for key, value in node.value if key.value == part]
            key_line = [key.start_mark.line for key, _ in node.value if key.value == part]
            if not match:
                break
            node, line = match[0], key_line[0] + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def spec_to_yaml(spec: JobSpec) -> str:
    """The resolved spec (every default filled in) as YAML, names first for readability."""
    return yaml.safe_dump(_names_first(spec.model_dump(mode="json")), sort_keys=False)


def _names_first(value: Any) -> Any:
    if isinstance(value, dict):
        ordered = {"name": value["name"]} if "name" in value else {}
        ordered.update((k, _names_first(v)) for k, v in value.items() if k != "name")
        return ordered
    if isinstance(value, list):
        return [_names_first(v) for v in value]
    return value
