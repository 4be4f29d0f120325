"""The in-process path (`--inline`): the same loop, one rank, checkpoints in the run's folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from trainworks.data.types import DataBundle
from trainworks.engine.checkpoint import Checkpoint, checkpoint_folders, folder_name
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.hooks import Hook
from trainworks.engine.families import family_of
from trainworks.engine.loop import EpochRecord, SaveFn
from trainworks.runtime.messages import EpochMessage, OnEpoch
from trainworks.spec.schema import JobSpec


def save_atomically(save: SaveFn, target: Path) -> None:
    """Write into a temporary sibling, then rename: a crash never leaves a half-written checkpoint."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    save(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


class LocalReporter:
    """Saves each epoch's checkpoint in the run folder, keeps the newest `keep`, then tells the driver."""

    def __init__(self, run_dir: Path, keep: int, on_epoch: OnEpoch) -> None:
        self.run_dir, self.keep, self.on_epoch = run_dir, keep, on_epoch
        self.last_epoch = 0

    def epoch_end(self, record: EpochRecord, save: SaveFn) -> None:
        target = self.run_dir / folder_name(record.epoch)
        save_atomically(save, target)
        self.last_epoch = record.epoch
        self._prune()
        self.on_epoch(EpochMessage(record.epoch, record.metrics, str(target)))

    def fit_end(self, save: SaveFn) -> None:
        save_atomically(save, self.run_dir / folder_name(self.last_epoch, final=True))

    def _prune(self) -> None:
        epochs = [folder for folder in checkpoint_folders(self.run_dir) if not folder.name.endswith("_final")]
        for folder in epochs[self.keep:]:
            shutil.rmtree(folder, ignore_errors=True)


def inline_device(spec: JobSpec) -> torch.device:
    """The first GPU when the spec asks for one and there is one, else the CPU."""
    return torch.device("cuda" if spec.scaling.use_gpu and torch.cuda.is_available() else "cpu")


def run_inline(spec: JobSpec, data: DataBundle, run_dir: Path, resume: Checkpoint | None, on_epoch: OnEpoch,
               extra_hooks: list[Hook] | None = None) -> None:
    """Train in this process with the CPUs the spec asks for; `extra_hooks` let callers (and tests) observe it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(spec.scaling.num_workers * spec.scaling.cpus_per_worker)))
    try:
        reporter = LocalReporter(run_dir, spec.checkpoint.keep, on_epoch)
        family_of(spec).train(spec, data, SingleProcess(inline_device(spec)), reporter, resume, extra_hooks or [])
    finally:
        torch.set_num_threads(threads)
