"""Paths in a job file are relative to that file, so a job runs the same from any directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

BASE_DIR_KEY = "base_dir"


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Absolute path: relative ones are taken from the job file's folder (or the working directory)."""
    path = path.expanduser()
    if path.is_absolute():
        return path
    base = Path((info.context or {}).get(BASE_DIR_KEY, "."))
    return (base / path).resolve()


def _must_exist(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


SpecPath = Annotated[Path, AfterValidator(_resolve)]
ExistingFile = Annotated[Path, AfterValidator(_resolve), AfterValidator(_must_exist)]
