"""Checkpoints carry a checksum; altered or truncated ones are refused and skipped, never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainworks.engine.checkpoint import (CorruptCheckpoint, checkpoint_folders, folder_name, latest_checkpoint,
                                          load_checkpoint, save_checkpoint)


def save(root: Path, epoch: int, final: bool = False) -> Path:
    folder = root / folder_name(epoch, final)
    save_checkpoint(folder, {"w": torch.full((3,), float(epoch))}, {"epoch": epoch, "history": []})
    return folder


def test_round_trip(tmp_path: Path) -> None:
    loaded = load_checkpoint(save(tmp_path, 2))
    assert loaded.epoch == 2 and torch.equal(loaded.state["w"], torch.full((3,), 2.0))


def test_newest_first_and_final_before_its_epoch(tmp_path: Path) -> None:
    for epoch in (1, 3, 2):
        save(tmp_path, epoch)
    save(tmp_path, 3, final=True)
    (tmp_path / folder_name(4)).mkdir()  # no meta.json: incomplete, ignored
    assert [p.name for p in checkpoint_folders(tmp_path)] == [
        "checkpoint_epoch_00003_final", "checkpoint_epoch_00003", "checkpoint_epoch_00002", "checkpoint_epoch_00001"]


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete"])
def test_corrupt_checkpoints_are_refused_and_skipped(tmp_path: Path, damage: str) -> None:
    save(tmp_path, 1)
    newest = save(tmp_path, 2) / "state.pt"
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "alter":
        newest.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:
        newest.unlink()
    with pytest.raises(CorruptCheckpoint):
        load_checkpoint(newest.parent)
    warnings: list[str] = []
    fallback = latest_checkpoint(tmp_path, warn=warnings.append)
    assert fallback is not None and fallback.epoch == 1
    assert warnings and "checkpoint_epoch_00002" in warnings[0]


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    folder = tmp_path / folder_name(1)
    save_checkpoint(folder, {"evil": Path("/")}, {"epoch": 1, "history": []})  # not a tensor type
    with pytest.raises(Exception, match="weights_only|Unsupported"):
        load_checkpoint(folder)
