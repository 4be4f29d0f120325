"""The `tune:` section: a search space over any field of the job by its dotted path, and how to search it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveInt = Annotated[int, Field(gt=0)]


class Distribution(BaseModel):
    """Base of the search-space entries: each is a mapping with exactly one key."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Choice(Distribution):
    """Sample one of the values."""

    choice: list[Any] = Field(min_length=1)


class Grid(Distribution):
    """Try every value (each combination of all grid entries)."""

    grid: list[Any] = Field(min_length=1)


class Uniform(Distribution):
    """A float drawn uniformly between the bounds."""

    uniform: tuple[float, float]

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.uniform[0] < self.uniform[1]:
            raise ValueError(f"uniform bounds must be [low, high] with low < high; got {list(self.uniform)}")
        return self


class LogUniform(Distribution):
    """A positive float drawn uniformly on a log scale (learning rates, weight decay)."""

    loguniform: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        if not self.loguniform[0] < self.loguniform[1]:
            raise ValueError(f"loguniform bounds must be [low, high] with 0 < low < high; got {list(self.loguniform)}")
        return self


class Integer(Distribution):
    """An integer drawn uniformly from low to high, both included."""

    integer: tuple[int, int]

    @model_validator(mode="after")
    def _ordered(self) -> Integer:
        if not self.integer[0] <= self.integer[1]:
            raise ValueError(f"integer bounds must be [low, high] with low <= high; got {list(self.integer)}")
        return self


SpaceEntry = Union[Choice, Grid, Uniform, LogUniform, Integer]  # noqa: UP007 (pydantic reads it at run time)


class SchedulerSpec(BaseModel):
    """Which trials stop early: none (fifo), the worst at each rung (asha, hyperband), or evolve (pbt)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["fifo", "asha", "hyperband", "pbt"] = "fifo"
    grace_period: PositiveInt = Field(1, description="asha/hyperband: epochs every trial gets before it may stop")
    reduction_factor: float = Field(2.0, gt=1.0, description="asha/hyperband: keep 1/factor of trials per rung")
    perturbation_interval: PositiveInt = Field(2, description="pbt: epochs between exploit/explore steps")


class TuneSpec(BaseModel):
    """A hyper-parameter search: every trial is this job with the space's values set, on its own workers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    metric: str = Field("val_loss", min_length=1, description="per-epoch metric that ranks trials")
    mode: Literal["min", "max"] = Field("min", description="whether the metric should be small or large")
    search: Literal["grid", "random", "bayes"] = Field(
        "random", description="grid: every grid combination; random: sample; bayes: TPE via Optuna")
    scheduler: SchedulerSpec = Field(SchedulerSpec(), description="early stopping of weak trials")
    num_samples: PositiveInt = Field(4, description="trials to sample (grid: repeats of the whole grid)")
    max_concurrent: PositiveInt = Field(2, description="trials running at once (each starts its own workers)")
    space: dict[str, SpaceEntry] = Field(default_factory=dict,
                                         description="dotted job paths (as for --set) to distributions")

    @model_validator(mode="after")
    def _search_fits_space(self) -> TuneSpec:
        grids = [path for path, entry in self.space.items() if isinstance(entry, Grid)]
        if self.search == "bayes" and grids:
            raise ValueError(f"bayes search samples; {', '.join(grids)} use grid: use choice instead")
        if self.search == "grid" and len(grids) < len(self.space):
            sampled = [path for path in self.space if path not in grids]
            raise ValueError(f"grid search needs grid entries only; {', '.join(sampled)} are sampled")
        return self


def candidate_values(entry: Distribution) -> list[Any]:
    """Values worth validating before any trial runs: every listed value, or both bounds."""
    if isinstance(entry, (Choice, Grid)):
        return list(entry.choice if isinstance(entry, Choice) else entry.grid)
    bounds = entry.uniform if isinstance(entry, Uniform) else (
        entry.loguniform if isinstance(entry, LogUniform) else entry.integer)
    return list(bounds)
