"""A job from validated spec to finished MLflow run: data, run, training (in-process or Ray Train), outcome."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from trainworks.data.prepare import prepare_data
from trainworks.data.types import DataBundle, DataError
from trainworks.engine.checkpoint import Checkpoint, latest_checkpoint
from trainworks.engine.divergence import Diverged
from trainworks.engine.families import Outcome, family_of
from trainworks.engine.hooks import Hook
from trainworks.runtime.console import Terminal
from trainworks.runtime.messages import EpochMessage
from trainworks.spec import Issue, JobSpec, SpecError, spec_to_yaml
from trainworks.tracking.environment import device_description, source_tags, spec_hash, version_tags
from trainworks.tracking.mlflow_tracker import MlflowTracker, ModelPackage
from trainworks.tracking.plots import confusion_matrix_png, image_grid_png, learning_curve_png

RESUMABLE_KEY = "trainworks.spec_hash_without_epochs"


@dataclass(frozen=True)
class RunOptions:
    """How to run a job, from the command line: where, and whether it continues an earlier run."""

    job_file: Path
    inline: bool = False
    resume: str | None = None
    address: str | None = None
    verbose: bool = False
    extra_hooks: tuple[Hook, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """Where a finished run is and how it ended."""

    run_id: str
    metrics: dict[str, float]
    url: str
    model_uri: str | None = None
    model_version: str | None = None
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class EpochLogger:
    """Logs each epoch to MLflow exactly once (a resumed run skips what is there, fills what is missing)."""

    tracker: MlflowTracker
    run_id: str
    total_epochs: int
    terminal: Terminal
    logged: set[int] = field(default_factory=set)
    first_epoch_began: float | None = None  # perf_counter() when the first epoch of this session started

    def __call__(self, message: EpochMessage) -> None:
        if message.epoch in self.logged:
            return
        if self.first_epoch_began is None and message.checkpoint is not None:
            self.first_epoch_began = time.perf_counter() - message.metrics.get("epoch_seconds", 0.0)
        self.tracker.log_epoch(self.run_id, message.epoch, message.metrics, int(time.time() * 1000))
        self.logged.add(message.epoch)
        self.terminal.epoch(message.epoch, self.total_epochs, message.metrics)

    def backfill(self, checkpoint: Checkpoint) -> None:
        """Epochs the checkpoint holds that never reached MLflow (the driver died in between)."""
        for record in checkpoint.meta["history"]:
            self(EpochMessage(record["epoch"], record["metrics"], None))


def prepare_job_data(spec: JobSpec) -> DataBundle:
    """Load and preprocess the job's data, and check that it can fill the batches the spec asks for."""
    data = prepare_data(spec.data, spec.data.split_seed)
    if data.info.modality == "environment":
        return data  # episodes are played, not read
    if len(data.train) < spec.training.batch_size:
        raise DataError("training.batch_size", f"{spec.training.batch_size} is more than the "
                                               f"{len(data.train)} training examples; use a smaller batch")
    if len(data.val) < spec.scaling.num_workers:
        raise DataError("data.val_fraction", f"the validation split has {len(data.val)} examples, fewer than "
                                             f"scaling.num_workers = {spec.scaling.num_workers}")
    return data


def checkpoint_root(spec: JobSpec) -> Path:
    """Absolute folder holding one sub-folder of checkpoints per run id."""
    return Path(spec.checkpoint.storage_path).expanduser().resolve()


def run_tags(spec: JobSpec, options: RunOptions, where: str) -> dict[str, str]:
    """Where a run came from: versions, code, spec hashes, runtime, device, checkpoint folder."""
    dump = spec.model_dump(mode="json")
    without_epochs = {**dump, "training": {**dump["training"], "epochs": None}}
    return {**version_tags(), **source_tags(options.job_file), "trainworks.spec_hash": spec_hash(dump),
            RESUMABLE_KEY: spec_hash(without_epochs), "trainworks.runtime": where,
            "trainworks.workers": str(1 if options.inline else spec.scaling.num_workers),
            "trainworks.device": device_description(spec.scaling.use_gpu),
            "trainworks.checkpoints": str(checkpoint_root(spec))}


def open_run(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, where: str,
             terminal: Terminal) -> tuple[str, Checkpoint | None]:
    """A new MLflow run, or the one named by --resume with its latest good checkpoint."""
    tags = run_tags(spec, options, where)
    if not options.resume:
        run_id = tracker.start_run(spec.tracking.experiment, spec.tracking.run_name or spec.name,
                                   spec.model_dump(mode="json"), spec_to_yaml(spec), tags, spec.description)
        return run_id, None
    try:
        earlier = tracker.run_tags(options.resume)
    except LookupError as error:
        raise SpecError([Issue(("--resume",), str(error))]) from None
    if earlier.get(RESUMABLE_KEY) != tags[RESUMABLE_KEY]:
        raise SpecError([Issue(("--resume",), f"run {options.resume} was started from a different spec; "
                                              "resume with the same job file (only training.epochs may change)")])
    tracker.reopen_run(options.resume, {"trainworks.resumed": "true", "trainworks.runtime": where})
    start = latest_checkpoint(checkpoint_root(spec) / options.resume, warn=terminal.warn)
    if start is None:
        terminal.warn(f"no checkpoint of run {options.resume} found; training it from the first epoch")
    return options.resume, start


def run_job(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> RunSummary:
    """Prepare data, open the MLflow run, train where asked, then log the outcome and the model.

    Data problems surface before Ray or MLflow is touched, and Ray is reached before an MLflow
    run exists, so neither a bad spec nor an unreachable cluster leaves a run behind. Where the
    time went is logged as `seconds_*` metrics (step 0): data, ray, mlflow, training_start,
    startup, outcome, wall.
    """
    began = time.perf_counter()
    seconds, data = _timed(prepare_job_data, spec)
    phases = {"data": seconds}
    where = "in-process"
    if not options.inline:
        from trainworks.runtime.cluster import connect_ray

        phases["ray"], where = _timed(connect_ray, spec, options.address, options.verbose, terminal.warn)
    phases["mlflow"], (run_id, start) = _timed(open_run, spec, options, tracker, where, terminal)
    terminal.info(f"run {run_id} ({where}): {spec.training.epochs} epochs of {spec.model.name} on "
                  f"{spec.data.dataset.name}")
    logger = EpochLogger(tracker, run_id, spec.training.epochs, terminal, tracker.logged_epochs(run_id))
    if start is not None:
        logger.backfill(start)
    run_dir = checkpoint_root(spec) / run_id
    training_began = time.perf_counter()
    try:
        _train(spec, data, options, run_dir, start, logger)
    except Diverged as error:
        tracker.set_tags(run_id, error.tags())
        tracker.end_run(run_id, "FAILED")
        terminal.warn(f"run {run_id} failed: {error}")
        raise
    except KeyboardInterrupt:
        tracker.end_run(run_id, "KILLED")
        terminal.warn(f"interrupted; continue with: trainworks run {options.job_file} --resume {run_id}")
        raise
    except BaseException:
        tracker.end_run(run_id, "FAILED")
        terminal.warn(f"run {run_id} failed; after fixing the cause: trainworks run {options.job_file} "
                      f"--resume {run_id}")
        raise
    training_ended = time.perf_counter()
    tracker.flush()  # an unreachable tracking server is waited for here, after training, not during it
    summary = record_outcome(spec, data, run_dir, run_id, tracker)
    first_epoch = logger.first_epoch_began or training_began
    phases.update({"training_start": first_epoch - training_began, "startup": first_epoch - began,
                   "outcome": time.perf_counter() - training_ended, "wall": time.perf_counter() - began})
    tracker.log_epoch(run_id, 0, {f"seconds_{name}": value for name, value in phases.items()},
                      int(time.time() * 1000))
    tracker.end_run(run_id, "FINISHED")
    return replace(summary, phases=phases)


def _timed(function: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """(seconds taken, result)."""
    began = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - began, result


def _train(spec: JobSpec, data: DataBundle, options: RunOptions, run_dir: Path, start: Checkpoint | None,
           logger: EpochLogger) -> None:
    hooks = list(options.extra_hooks)
    if options.inline:
        from trainworks.runtime.inline import run_inline

        run_inline(spec, data, run_dir, start, logger, hooks)
    else:
        from trainworks.runtime.ray_train import run_ray_train

        resume_dir = start.folder if start is not None else None
        run_ray_train(spec, data, run_dir.parent, run_dir.name, resume_dir, logger, hooks)


def record_outcome(spec: JobSpec, data: DataBundle, run_dir: Path, run_id: str, tracker: MlflowTracker,
                   version_tags: dict[str, str] | None = None) -> RunSummary:
    """Final evaluation, plots, preprocessing state and the model (registered if the spec names it)."""
    final = latest_checkpoint(run_dir)
    if final is None:
        raise RuntimeError(f"training ended without a checkpoint in {run_dir}")
    outcome = family_of(spec).outcome(spec, data, final)
    history = final.meta["history"]
    title = spec.tracking.run_name or spec.name
    tracker.log_json(run_id, data.preprocessing, "preprocessing/state.json")
    tracker.log_json(run_id, history, "metrics/history.json")
    tracker.log_png(run_id, learning_curve_png(history, title), "plots/learning_curve.png")
    if outcome.confusion is not None:
        tracker.log_png(run_id, confusion_matrix_png(outcome.confusion, data.info.classes, title),
                        "plots/confusion_matrix.png")
    for name, images in outcome.images.items():
        tracker.log_png(run_id, image_grid_png(images, f"{title}: {name}"), f"plots/{name}.png")
    final_metrics = {f"final_{name}": value for name, value in outcome.metrics.items()}
    tracker.log_epoch(run_id, final.epoch, final_metrics, int(time.time() * 1000))
    model_uri = version = None
    if spec.tracking.log_model:
        model_uri, version = tracker.log_model(run_id, model_package(outcome, data), spec.tracking.registered_model,
                                               {"trainworks.run_id": run_id, **_rounded(outcome.metrics),
                                                **(version_tags or {})})
    return RunSummary(run_id, outcome.metrics, tracker.run_url(run_id), model_uri, version)


def _rounded(metrics: dict[str, float]) -> dict[str, str]:
    return {name: f"{value:.6g}" for name, value in metrics.items()}


def model_package(outcome: Outcome, data: DataBundle) -> ModelPackage:
    """The model with an example of its (preprocessed) input and what inference needs to rebuild that input."""
    with torch.no_grad():
        output = outcome.model.eval()(outcome.example_input)
    info: dict[str, Any] = {"task": data.info.task, "modality": data.info.modality,
                            "input_shape": list(data.info.input_shape), "classes": list(data.info.classes),
                            "feature_names": list(data.info.feature_names)}
    return ModelPackage(outcome.model, outcome.example_input.numpy(), _numpy(output),
                        {"preprocessing.json": data.preprocessing, "data_info.json": info})


def _numpy(output: Any) -> Any:
    """Model outputs as numpy for the signature (a tuple's first element is the prediction)."""
    return (output[0] if isinstance(output, (tuple, list)) else output).numpy()
