"""Checkpoints: one folder per epoch holding the training state and a small JSON record with its checksum."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

STATE_FILE = "state.pt"
META_FILE = "meta.json"
FOLDER_PATTERN = re.compile(r"^checkpoint_epoch_(\d+)(_final)?$")


class CorruptCheckpoint(ValueError):
    """A checkpoint whose files are missing, truncated or altered."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the tensors (`state`) and what they are (`meta`: epoch, history, ...)."""

    state: dict[str, Any]
    meta: dict[str, Any]
    folder: Path

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])


def folder_name(epoch: int, final: bool = False) -> str:
    """`checkpoint_epoch_00003`, or `..._final` for weights changed after the last epoch."""
    return f"checkpoint_epoch_{epoch:05d}" + ("_final" if final else "")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(directory: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write state, then the record with its checksum last: a folder without meta.json is incomplete."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / STATE_FILE)
    record = {**meta, "sha256": _sha256(directory / STATE_FILE)}
    (directory / META_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")


def read_meta(directory: Path) -> dict[str, Any]:
    """The checkpoint's JSON record (epoch, history, checksum)."""
    try:
        return json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CorruptCheckpoint(f"{directory}: unreadable {META_FILE} ({error})") from error


def load_checkpoint(directory: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Verify the checksum, then load tensors only (`weights_only=True`: no code runs from the file)."""
    meta = read_meta(directory)
    state_path = directory / STATE_FILE
    if not state_path.is_file() or _sha256(state_path) != meta.get("sha256"):
        raise CorruptCheckpoint(f"{directory}: {STATE_FILE} is missing or does not match its checksum")
    return Checkpoint(torch.load(state_path, map_location=map_location, weights_only=True), meta, directory)


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Complete checkpoint folders of a run, newest first (a final one before its epoch's)."""
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        match = FOLDER_PATTERN.match(child.name)
        if match and (child / META_FILE).is_file():
            found.append(((int(match.group(1)), bool(match.group(2))), child))
    return [path for _, path in sorted(found, reverse=True)]


def latest_checkpoint(run_dir: Path, warn: Callable[[str], None] = print) -> Checkpoint | None:
    """The newest checkpoint that loads; corrupt ones are skipped with a warning naming them."""
    for folder in checkpoint_folders(run_dir):
        try:
            return load_checkpoint(folder)
        except CorruptCheckpoint as error:
            warn(f"skipping corrupt checkpoint: {error}")
    return None
