"""Staged (progressive) training: stages that each override part of the spec, each starting from the last's weights.

The job's own spec is what the model ends as (it is what gets evaluated and logged); stages
say how the run gets there: smaller images first, a frozen backbone, another learning rate.
The run is one MLflow run whose epochs count on across stages, with a `stage` metric
(0, 1, ...) on every epoch. Checkpoints record their stage, so a resumed run continues
inside the stage it stopped in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Sequence

from pydantic import Field, field_validator

from trainworks.data.types import DataBundle
from trainworks.engine.checkpoint import META_FILE, Checkpoint, read_meta
from trainworks.engine.distributed import Distributed
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import EpochRecord, Reporter, SaveFn
from trainworks.registry import Params
from trainworks.strategies.freezing import Freeze, under_prefixes
from trainworks.strategies.registry import STRATEGIES, job_parts

if TYPE_CHECKING:
    from trainworks.spec.errors import Issue
    from trainworks.spec.schema import JobSpec

# What a stage may change: how the same model is trained, never the model itself, the data set or the run.
STAGE_SETTABLE = ("data.preprocessing", "data.augmentation", "optimizer", "schedule", "loss", "tricks",
                  "training.batch_size", "training.precision", "training.grad_accumulation", "training.grad_clip_norm")


class StageParams(Params):
    """One stage: how long, what it changes in the spec, which layers it keeps fixed."""

    name: str | None = Field(None, min_length=1, description="a label for the stage (the `stage` metric is its index)")
    epochs: Annotated[int, Field(gt=0, le=100_000)] | None = Field(
        None, description="epochs of this stage; the last stage runs the rest of training.epochs")
    set: dict[str, Any] = Field(default_factory=dict, description="spec paths and their values in this stage, as "
                                                                  "with --set (`data.preprocessing[0].size: 16`)")
    freeze: list[str] = Field(default_factory=list, description="modules (`features`, `classifier.0`) whose "
                                                                "parameters stay fixed in this stage")

    @field_validator("set")
    @classmethod
    def _dotted(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """`preprocessing[0].size` as `preprocessing.0.size`: one spelling, and one MLflow accepts as a param name."""
        from trainworks.spec.overrides import parse_override_path

        return {".".join(map(str, parse_override_path(path))): value for path, value in settings.items()}


class StagedParams(Params):
    """The stages, in order."""

    stages: list[StageParams] = Field(min_length=1, description="each resumes from the previous stage's weights")


@dataclass(frozen=True)
class Stage:
    """A stage as it will run: its index, its own spec (epochs included) and its frozen modules."""

    index: int
    spec: JobSpec
    freeze: tuple[str, ...]

    @property
    def epochs(self) -> int:
        return self.spec.training.epochs


def stage_spec(spec: JobSpec, stage: StageParams, epochs: int) -> JobSpec:
    """The job with the stage's settings applied, as a plain job of `epochs` epochs."""
    from trainworks.spec.load import validate_spec
    from trainworks.spec.schema import EXPERIMENT_SECTIONS
    from trainworks.spec.overrides import set_field

    raw = spec.model_dump(mode="json", exclude=set(EXPERIMENT_SECTIONS))
    raw["strategy"] = {"name": "standard"}
    for path, value in stage.set.items():
        raw = set_field(raw, path, value)
    raw["training"]["epochs"] = epochs
    return validate_spec(raw)


def stage_plan(spec: JobSpec, params: StagedParams) -> list[Stage]:
    """Stages over training.epochs: each its own epochs, the last the rest; a shorter run skips later stages."""
    plan, remaining = [], spec.training.epochs
    for index, stage in enumerate(params.stages):
        last = index == len(params.stages) - 1
        epochs = remaining if last else min(stage.epochs or 0, remaining)
        if epochs <= 0:
            break
        plan.append(Stage(index, stage_spec(spec, stage, epochs), tuple(stage.freeze)))
        remaining -= epochs
    return plan


class StageReporter:
    """Passes a stage's epochs on, numbered across stages and marked with `stage`; checkpoints learn their stage."""

    def __init__(self, inner: Reporter, stage: int, offset: int, history: list[EpochRecord], last: bool) -> None:
        self.inner, self.stage, self.offset, self.history, self.last = inner, stage, offset, history, last

    def epoch_end(self, record: EpochRecord, save: SaveFn) -> None:
        self.history.append(EpochRecord(record.epoch + self.offset, {**record.metrics, "stage": float(self.stage)}))
        self.inner.epoch_end(self.history[-1], self._staged(save))

    def fit_end(self, save: SaveFn) -> None:
        if self.last:  # earlier stages hand their (possibly restored) weights straight to the next stage
            self.inner.fit_end(self._staged(save))

    def _staged(self, save: SaveFn) -> SaveFn:
        history = [asdict(record) for record in self.history]

        def write(directory: Path) -> None:
            save(directory)
            meta = read_meta(directory)  # the checksum covers the state file only: the record may be extended
            meta.update(epoch=meta["epoch"] + self.offset, stage=self.stage, stage_epoch=meta["epoch"],
                        stage_history=meta["history"], history=history)
            (directory / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")

        return write


def _resume_position(resume: Checkpoint | None) -> tuple[int, Checkpoint | None, list[EpochRecord]]:
    """(stage to start in, that stage's own checkpoint, the run's epochs so far)."""
    if resume is None:
        return 0, None, []
    meta = resume.meta
    local = Checkpoint(resume.state, {**meta, "epoch": meta["stage_epoch"], "history": meta["stage_history"]},
                       resume.folder)
    return int(meta["stage"]), local, [EpochRecord(**record) for record in meta["history"]]


@dataclass(frozen=True)
class StagedStrategy:
    """Runs the stages one after another in the same process (or worker), carrying the weights across."""

    params: StagedParams

    def train(self, spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
              resume: Checkpoint | None, extra_hooks: Sequence[Hook]) -> None:
        from trainworks.data.prepare import prepare_data
        from trainworks.engine.assemble import loop_settings
        from trainworks.engine.loop import fit

        plan = stage_plan(spec, self.params)
        first, local_resume, history = _resume_position(resume)
        offset, weights = sum(stage.epochs for stage in plan[:first]), None
        for stage in plan[first:]:
            own = stage.spec
            stage_data = data if own.data == spec.data else prepare_data(own.data, own.data.split_seed)
            parts = job_parts(own, stage_data, dist.device, extra_hooks)
            if weights is not None:
                parts.model.load_state_dict(weights)
            if stage.freeze:
                parts.hooks.hooks.insert(0, Freeze(_frozen(parts.model, stage.freeze)))
            relay = StageReporter(reporter, stage.index, offset, history, last=stage is plan[-1])
            weights = fit(parts, loop_settings(own), dist, relay, local_resume).model.state_dict()
            offset, local_resume = offset + stage.epochs, None

    def issues(self, spec: JobSpec) -> list[Issue]:
        return _stage_issues(spec, self.params)


def _frozen(model: Any, modules: tuple[str, ...]) -> Any:
    """The freeze test for these modules; a name that matches no parameter is an error, not a no-op."""
    names = [name for name, _ in model.named_parameters()]
    for module in modules:
        if not any(name == module or name.startswith(module + ".") for name in names):
            raise ValueError(f"strategy.stages: no module '{module}' to freeze; the model's parameters: "
                             f"{', '.join(names[:8])}")
    return under_prefixes(modules)


def _stage_issues(spec: JobSpec, params: StagedParams) -> list[Issue]:
    """Epochs on every stage but the last, settable paths only, and a valid job in every stage."""
    from trainworks.spec.errors import Issue, SpecError

    issues, last = [], len(params.stages) - 1
    for index, stage in enumerate(params.stages):
        where = ("strategy", "stages", index)
        if index < last and stage.epochs is None:
            issues.append(Issue((*where, "epochs"), "every stage but the last needs epochs"))
        if index == last and stage.epochs is not None:
            issues.append(Issue((*where, "epochs"), "the last stage runs the rest of training.epochs; leave it out"))
        for path in stage.set:
            if not path.startswith(STAGE_SETTABLE):
                issues.append(Issue((*where, "set", path), f"a stage may set only {', '.join(STAGE_SETTABLE)}"))
            elif index == last and path.startswith("data."):
                issues.append(Issue((*where, "set", path), "the last stage trains on the job's own data (it is "
                                                           "what the model is evaluated and logged with)"))
        if not issues:
            try:
                stage_spec(spec, stage, stage.epochs or spec.training.epochs)
            except (SpecError, ValueError) as error:
                detail = "; ".join(i.render() for i in error.issues) if isinstance(error, SpecError) else str(error)
                issues.append(Issue((*where, "set"), f"this stage is not a valid job: {detail}"))
    return issues


@STRATEGIES.register("staged", StagedParams)
def staged(params: StagedParams) -> StagedStrategy:
    """Staged training: stages override part of the spec (image size, frozen layers, lr), each resuming the last."""
    return StagedStrategy(params)
