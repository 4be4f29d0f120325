"""The Ray Train path: TorchTrainer workers run the same loop under DDP; epochs reach the driver via a queue.

Reporting is shaped around how Ray Train 2.x hands results over. `ray.train.report()`
puts each result in a one-slot queue that the controller empties once per health-check
poll, so a synchronous report blocks the worker for up to that interval every epoch.
Workers therefore report with `checkpoint_upload_mode=ASYNC` (the upload and hand-over
happen on a background thread; training goes on), and a controller-side callback relays
each epoch to the driver only after its checkpoint is persisted. The poll interval is
shortened so that results do not pile up behind short epochs.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import ray
import ray.train
import ray.train.torch
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, UserCallback
from ray.train.torch import TorchConfig, TorchTrainer
from ray.train.v2.api.report_config import CheckpointUploadMode
from ray.exceptions import RayError
from ray.util.queue import Empty, Queue

from trainworks.data.types import DataBundle
from trainworks.engine.checkpoint import Checkpoint, CorruptCheckpoint, folder_name, load_checkpoint
from trainworks.engine.distributed import TorchDistributed
from trainworks.engine.divergence import Diverged
from trainworks.engine.hooks import Hook
from trainworks.engine.families import family_of
from trainworks.engine.loop import EpochRecord, SaveFn
from trainworks.runtime.messages import EpochMessage, OnEpoch
from trainworks.spec.schema import JobSpec

POLL_INTERVAL_S = "0.1"
EPOCH_KEY = "epoch"


class RelayEpochs(UserCallback):
    """Runs on the Ray Train controller: forwards each persisted epoch to the driver's queue."""

    def __init__(self, relay: Queue) -> None:
        self.relay = relay

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        reported = dict(metrics[0])
        diverged = Diverged.from_result(reported)
        epoch = int(reported.pop(EPOCH_KEY, 0))
        if diverged is None and not epoch:
            return
        try:
            self.relay.put(diverged or EpochMessage(epoch, reported, checkpoint.path if checkpoint else None))
        except RayError:
            # Nobody listens any more: a Tune scheduler stopped this trial (ASHA, PBT) or the driver
            # is gone. Abort the run, or its workers would keep their CPUs until the last epoch.
            ray.get_runtime_context().current_actor.abort.remote()


class RayReporter:
    """Every rank reports each epoch; rank 0 attaches the checkpoint, uploaded off the training thread."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.last_epoch = 0

    def epoch_end(self, record: EpochRecord, save: SaveFn) -> None:
        self.last_epoch = record.epoch
        self._report({EPOCH_KEY: record.epoch, **record.metrics}, save, folder_name(record.epoch))

    def fit_end(self, save: SaveFn) -> None:
        self._report({}, save, folder_name(self.last_epoch, final=True))

    def _report(self, metrics: dict[str, float], save: SaveFn, name: str) -> None:
        checkpoint = None
        if self.rank == 0:
            folder = Path(tempfile.mkdtemp(prefix="trainworks-checkpoint-"))
            save(folder)
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name,
                         checkpoint_upload_mode=CheckpointUploadMode.ASYNC)


def _resume_point(config: dict[str, Any]) -> Checkpoint | None:
    """After a worker restart, Ray's latest checkpoint; on a fresh start, the one the driver chose."""
    reported = ray.train.get_checkpoint()
    if reported is not None:
        with reported.as_directory() as folder:
            try:
                return load_checkpoint(Path(folder))
            except CorruptCheckpoint:
                pass
    resume_dir = config.get("resume_dir")
    return load_checkpoint(Path(resume_dir)) if resume_dir else None


def train_worker(config: dict[str, Any]) -> None:
    """The body of each Ray Train worker: build the parts, then run the shared loop under DDP."""
    spec: JobSpec = config["spec"]
    torch.set_num_threads(max(1, int(spec.scaling.cpus_per_worker)))
    data: DataBundle = ray.get(config["data"])
    device = ray.train.torch.get_device()
    rank = ray.train.get_context().get_world_rank()
    try:
        family_of(spec).train(spec, data, TorchDistributed.current(device), RayReporter(rank), _resume_point(config),
                              config.get("extra_hooks") or [])
    except Diverged as diverged:
        # Reported, not raised: FailureConfig would restart from the last checkpoint only to diverge again.
        # Every rank gets here at the same step (see engine.divergence), as report() needs.
        ray.train.report(diverged.as_result())


def _trainer(spec: JobSpec, config: dict[str, Any], storage: Path, run_id: str, relay: Queue) -> TorchTrainer:
    scaling = spec.scaling
    resources = {"CPU": scaling.cpus_per_worker, **({"GPU": 1} if scaling.use_gpu else {})}
    return TorchTrainer(
        train_worker,
        train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if scaling.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=scaling.num_workers, use_gpu=scaling.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(
            name=run_id, storage_path=str(storage),
            failure_config=FailureConfig(max_failures=scaling.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=spec.checkpoint.keep),
            callbacks=[RelayEpochs(relay)],
        ),
    )


def run_ray_train(spec: JobSpec, data: DataBundle, storage: Path, run_id: str, resume_dir: Path | None,
                  on_epoch: OnEpoch, extra_hooks: list[Hook] | None = None) -> None:
    """Train on Ray Train workers; `on_epoch` runs on this (the driver's) thread as epochs complete."""
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", POLL_INTERVAL_S)
    relay = Queue(actor_options={"num_cpus": 0})
    config = {"spec": spec, "data": ray.put(data), "resume_dir": str(resume_dir) if resume_dir else None,
              "extra_hooks": extra_hooks or []}
    trainer = _trainer(spec, config, storage, run_id, relay)
    outcome: dict[str, Any] = {}

    def fit_in_background() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as error:  # re-raised on the driver's thread below
            outcome["error"] = error

    diverged: list[Diverged] = []

    def deliver(message: EpochMessage | Diverged) -> None:
        if isinstance(message, Diverged):
            diverged.append(message)
        else:
            on_epoch(message)

    worker = threading.Thread(target=fit_in_background, name="ray-train-fit", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            _forward(relay, deliver, timeout=0.2)
        while _forward(relay, deliver, timeout=0):
            pass
    finally:
        ray.kill(relay.actor)
    if "error" in outcome:
        raise outcome["error"]
    if diverged:
        raise diverged[0]


def _forward(relay: Queue, on_epoch: Callable[[Any], None], timeout: float) -> bool:
    """Pass one waiting message to `on_epoch`; False when none came."""
    try:
        message = relay.get(block=timeout > 0, timeout=timeout or None)
    except (Empty, queue.Empty):
        return False
    on_epoch(message)
    return True
