"""Resuming from a truncated or altered latest checkpoint falls back to the previous good one, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import JOBS, make_spec
from tests.reliability.common import Recording, metric_steps
from trainworks.engine.checkpoint import META_FILE, STATE_FILE, checkpoint_folders
from trainworks.engine.hooks import Hook
from trainworks.runtime.job import RunOptions, run_job


class EpochsRun(Hook):
    """Records which epochs actually trained in this session."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_epoch_start(self, epoch: int) -> None:
        self.epochs.append(epoch)


def truncate(folder: Path) -> None:
    state = folder / STATE_FILE
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])


def alter(folder: Path) -> None:
    state = folder / STATE_FILE
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor: torch.load would not notice
    state.write_bytes(bytes(data))


def drop_record(folder: Path) -> None:
    (folder / META_FILE).write_text('{"epoch": 3, "history": [')


@pytest.mark.parametrize("damage", [truncate, alter, drop_record], ids=["truncated", "altered", "torn-record"])
def test_resume_skips_a_damaged_latest_checkpoint_for_the_previous_good_one(tracker, tmp_path: Path, damage) -> None:
    spec = make_spec(training={"epochs": 3}, checkpoint={"keep": 2, "storage_path": str(tmp_path / "checkpoints")},
                     tracking={"log_model": False})
    options = RunOptions(JOBS / "quickstart.yaml", inline=True)
    first = run_job(spec, options, tracker, Recording())
    run_dir = tmp_path / "checkpoints" / first.run_id
    latest, previous = checkpoint_folders(run_dir)
    assert (latest.name, previous.name) == ("checkpoint_epoch_00003", "checkpoint_epoch_00002")
    damage(latest)

    longer = make_spec(training={"epochs": 4}, checkpoint={"keep": 2, "storage_path": str(tmp_path / "checkpoints")},
                       tracking={"log_model": False})
    trained, terminal = EpochsRun(), Recording()
    resumed = run_job(longer, RunOptions(JOBS / "quickstart.yaml", inline=True, resume=first.run_id,
                                         extra_hooks=(trained,)), tracker, terminal)
    assert trained.epochs == [3, 4]  # epoch 3 trained again from epoch 2's checkpoint
    [warning] = [text for text in terminal.warnings if "corrupt checkpoint" in text]
    assert warning.startswith(f"skipping corrupt checkpoint: {latest}")
    assert resumed.run_id == first.run_id
    for metric in ("train_loss", "val_loss"):
        assert metric_steps(tracker.client, first.run_id, metric) == [1, 2, 3, 4]  # each epoch once


def test_a_run_whose_checkpoints_are_all_damaged_starts_over_and_says_so(tracker, tmp_path: Path) -> None:
    spec = make_spec(training={"epochs": 2}, checkpoint={"keep": 2, "storage_path": str(tmp_path / "checkpoints")},
                     tracking={"log_model": False})
    first = run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True), tracker, Recording())
    for folder in checkpoint_folders(tmp_path / "checkpoints" / first.run_id):
        truncate(folder)
    trained, terminal = EpochsRun(), Recording()
    run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True, resume=first.run_id, extra_hooks=(trained,)),
            tracker, terminal)
    assert trained.epochs == [1, 2]
    assert sum("skipping corrupt checkpoint" in text for text in terminal.warnings) == 2
    assert any(f"no checkpoint of run {first.run_id} found" in text for text in terminal.warnings)
