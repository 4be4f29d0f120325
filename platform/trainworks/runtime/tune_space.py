"""The spec's `tune:` section in Ray Tune's terms: distributions, search algorithm, scheduler, trial specs."""

from __future__ import annotations

from typing import Any

from ray import tune

from trainworks.spec import JobSpec, validate_spec
from trainworks.spec.overrides import set_field
from trainworks.spec.schema import EXPERIMENT_SECTIONS
from trainworks.spec.tune import Choice, Distribution, Grid, Integer, LogUniform, TuneSpec, Uniform

EPOCH = "epoch"  # the time attribute schedulers count in


def to_tune(entry: Distribution) -> Any:
    """One search-space entry as a Ray Tune distribution."""
    if isinstance(entry, Choice):
        return tune.choice(entry.choice)
    if isinstance(entry, Grid):
        return tune.grid_search(entry.grid)
    if isinstance(entry, Uniform):
        return tune.uniform(*entry.uniform)
    if isinstance(entry, LogUniform):
        return tune.loguniform(*entry.loguniform)
    assert isinstance(entry, Integer)
    return tune.randint(entry.integer[0], entry.integer[1] + 1)  # Tune's upper bound is exclusive


def param_space(spec: TuneSpec) -> dict[str, Any]:
    """Dotted job paths to Tune distributions."""
    return {path: to_tune(entry) for path, entry in spec.space.items()}


def search_algorithm(spec: TuneSpec) -> Any:
    """None (Tune's own random and grid variants) or TPE through Optuna for `bayes`."""
    if spec.search != "bayes":
        return None
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(metric=spec.metric, mode=spec.mode)


def scheduler(spec: TuneSpec, epochs: int) -> Any:
    """FIFO, ASHA, HyperBand or PBT, all counting time in epochs."""
    options = spec.scheduler
    common = {"time_attr": EPOCH}  # metric and mode come from the TuneConfig
    if options.name == "asha":
        return tune.schedulers.ASHAScheduler(max_t=epochs, grace_period=options.grace_period,
                                             reduction_factor=options.reduction_factor, **common)
    if options.name == "hyperband":
        return tune.schedulers.HyperBandScheduler(max_t=epochs, reduction_factor=options.reduction_factor, **common)
    if options.name == "pbt":
        return tune.schedulers.PopulationBasedTraining(perturbation_interval=options.perturbation_interval,
                                                       hyperparam_mutations=param_space(spec), **common)
    return tune.schedulers.FIFOScheduler()


def trial_spec(base: dict[str, Any], config: dict[str, Any]) -> JobSpec:
    """The job with a trial's values set at their dotted paths (a plain job: no search or ensemble of its own)."""
    raw = {key: value for key, value in base.items() if key not in EXPERIMENT_SECTIONS}
    for path, value in config.items():
        raw = set_field(raw, path, value)
    return validate_spec(raw)
