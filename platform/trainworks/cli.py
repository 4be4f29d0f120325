"""The `trainworks` command: parses arguments and calls the library; nothing else lives here."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Callable, NoReturn, Optional, TypeVar

import typer

from trainworks.data.types import DataError
from trainworks.engine.divergence import Diverged
from trainworks.spec import SpecError, load_spec

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Training tricks by name: run job specs on Ray Train, record them in MLflow.")

SetOption = typer.Option([], "--set", help="override a field: --set training.epochs=3 (repeatable)")
SPEC_ERROR_EXIT = 2
T = TypeVar("T")


def _private() -> None:
    """No usage telemetry from MLflow or Ray unless the user asks for it (it also costs CPU beside training)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _quiet(verbose: bool) -> None:
    """Keep library chatter (MLflow's migrations, Ray's start-up, deprecation warnings) out of the default view."""
    if verbose:
        return
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic", "ray", "urllib3", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _fail(source: str, lines: list[str]) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(SPEC_ERROR_EXIT)


def _guarded(spec_file: Path, action: Callable[[], T]) -> T:
    """Run a job-like action; bad specs and data exit 2, an unreachable cluster or a diverged run 1, Ctrl-C 130."""
    try:
        return action()
    except SpecError as error:
        _fail(str(spec_file), [issue.render(str(spec_file)) for issue in error.issues])
    except DataError as error:
        _fail(str(spec_file), [f"{spec_file}: {error}"])
    except (ConnectionError, Diverged) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _load(spec_file: Path, overrides: list[str]):
    try:
        return load_spec(spec_file, overrides)
    except SpecError as error:
        _fail(str(spec_file), str(error).splitlines())


@app.command()
def validate(spec_file: Path = typer.Argument(..., help="job file (YAML)"), set_: list[str] = SetOption,
             data: bool = typer.Option(True, help="also load the data and fit preprocessing (catches bad columns)")):
    """Check a job file without running it: every error on one line with its YAML path; exit status 2."""
    spec = _load(spec_file, set_)
    if data:
        from trainworks.runtime.job import prepare_job_data

        try:
            bundle = prepare_job_data(spec)
        except DataError as error:
            _fail(str(spec_file), [f"{spec_file}: {error}"])
        typer.echo(f"ok: {spec_file}: {len(bundle.train)} training and {len(bundle.val)} validation examples, "
                   f"input shape {tuple(bundle.info.input_shape)}, {bundle.info.num_outputs} outputs")
    else:
        typer.echo(f"ok: {spec_file}")


@app.command()
def run(spec_file: Path = typer.Argument(..., help="job file (YAML)"), set_: list[str] = SetOption,
        inline: bool = typer.Option(False, "--inline", help="run in this process, without Ray (debugging, tests)"),
        resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN_ID",
                                             help="continue this MLflow run from its latest checkpoint"),
        address: Optional[str] = typer.Option(None, help="Ray cluster address; default RAY_ADDRESS, else a local Ray"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="show Ray's and MLflow's own logs")):
    """Train a job: Ray Train workers (or --inline), every epoch in MLflow, the model logged and registered."""
    _quiet(verbose)
    spec = _load(spec_file, set_)
    from trainworks.runtime.console import Terminal
    from trainworks.runtime.job import RunOptions, run_job
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    terminal = Terminal()
    options = RunOptions(spec_file, inline=inline, resume=resume, address=address, verbose=verbose)
    summary = _guarded(spec_file, lambda: run_job(spec, options, MlflowTracker(), terminal))
    metrics = "  ".join(f"{name} {value:.4f}" for name, value in summary.metrics.items())
    terminal.info(f"done: run {summary.run_id}  {metrics}")
    if summary.model_version:
        terminal.info(f"model: {summary.model_uri} registered as {spec.tracking.registered_model} "
                      f"version {summary.model_version}")
    terminal.info(f"MLflow UI: {summary.url}  (start it with: trainworks ui)")


@app.command(name="lr-find")
def lr_find(spec_file: Path = typer.Argument(..., help="job file (YAML)"), set_: list[str] = SetOption,
            start: float = typer.Option(1e-7, help="first learning rate"),
            end: float = typer.Option(10.0, help="last learning rate (the test stops earlier if the loss diverges)"),
            steps: int = typer.Option(100, help="training batches, one per rate, spaced evenly on a log scale"),
            out: Path = typer.Option(Path("lr_find.png"), help="where to write the plot of loss against rate"),
            verbose: bool = typer.Option(False, "--verbose", "-v", help="show library logs")):
    """Learning-rate range test (Smith 2017), in this process: raise the rate each batch, plot loss, suggest a rate."""
    _quiet(verbose)
    spec = _load(spec_file, set_)
    from trainworks.engine.lr_finder import find_learning_rate, range_test_png
    from trainworks.runtime.inline import inline_device
    from trainworks.runtime.job import prepare_job_data

    try:
        data = prepare_job_data(spec)
        result = find_learning_rate(spec, data, inline_device(spec), start, end, steps)
    except DataError as error:
        _fail(str(spec_file), [f"{spec_file}: {error}"])
    except ValueError as error:
        _fail(str(spec_file), [f"{spec_file}: {error}"])
    out.write_bytes(range_test_png(result, f"{spec.name}: {spec.optimizer.name}, {spec.model.name}"))
    suggestion = result.suggestion
    ending = "stopped when the smoothed loss passed 4x its best" if result.stopped_early else "reached --end"
    typer.echo(f"{len(result.rates)} batches, rates {result.rates[0]:.1e} to {result.rates[-1]:.1e} ({ending})")
    typer.echo(f"smoothed loss lowest at lr {suggestion.minimum_rate:.1e}; falls fastest at lr "
               f"{suggestion.steepest_rate:.1e}")
    typer.echo(f"suggested lr: {suggestion.rate:.1e} (one tenth of the rate at the lowest smoothed loss)")
    if not suggestion.loss_fell:
        typer.echo("warning: the loss never fell below its start; try a larger --end or more --steps", err=True)
    typer.echo(f"plot: {out}")


@app.command()
def tune(spec_file: Path = typer.Argument(..., help="job file (YAML) with a tune: section"), set_: list[str] = SetOption,
         resume: bool = typer.Option(False, "--resume", help="continue this job file's newest unfinished search"),
         address: Optional[str] = typer.Option(None, help="Ray cluster address; default RAY_ADDRESS, else a local Ray"),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="show Ray's and MLflow's own logs")):
    """Search the spec's tune: space on Ray Tune; trials nested under one MLflow run; best model registered."""
    _quiet(verbose)
    spec = _load(spec_file, set_)
    if spec.tune is None:
        _fail(str(spec_file), [f"{spec_file}: tune: the job has no tune section to search"])
    from trainworks.runtime.console import Terminal
    from trainworks.runtime.job import RunOptions
    from trainworks.runtime.tune import run_search
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    terminal = Terminal()
    options = RunOptions(spec_file, resume="search" if resume else None, address=address, verbose=verbose)
    summary = _guarded(spec_file, lambda: run_search(spec, options, MlflowTracker(), terminal))
    best = "  ".join(f"{path}={value}" for path, value in summary.best_config.items())
    terminal.info(f"done: search {summary.parent_run_id}, {summary.trials} trials; best {spec.tune.metric} "
                  f"{summary.best_metric:.4f} (run {summary.best_run_id}): {best}")
    if summary.model_version:
        terminal.info(f"model: registered as {spec.tracking.registered_model} version {summary.model_version}")


@app.command()
def schema():
    """Print the job spec's JSON Schema (point your editor's YAML support at it for completion)."""
    from trainworks.spec.schema import JobSpec

    typer.echo(json.dumps(JobSpec.model_json_schema(), indent=1))


@app.command(name="list")
def list_entries(kind: Optional[str] = typer.Argument(None, help="datasets, preprocessing, augmentations, models, "
                                                                 "optimizers, schedules, losses, tricks or settings")):
    """Every registered name with its one-line description (and the tricks that are settings)."""
    from trainworks.catalog import REGISTRIES, registry_for, settings

    try:
        kinds = {kind: registry_for(kind)} if kind and kind != "settings" else ({} if kind else REGISTRIES)
    except KeyError as error:
        _fail("", [f"{error.args[0]}, settings"])
    rows = {name: [(entry.name, entry.summary) for entry in registry] for name, registry in kinds.items()}
    if kind in (None, "settings"):
        rows["settings"] = settings()
    for name, entries in rows.items():
        typer.echo(f"{name}:")
        width = max(len(entry) for entry, _ in entries)
        for entry, summary in entries:
            typer.echo(f"  {entry:<{width}}  {summary}")


@app.command()
def ui(port: int = typer.Option(5000, help="port to serve on"),
       host: str = typer.Option("127.0.0.1", help="interface; keep localhost unless behind an authenticating proxy")):
    """Serve the MLflow UI on the same store `trainworks run` writes to, and print its address."""
    from trainworks.tracking.mlflow_tracker import default_artifact_root, default_tracking_uri

    uri = default_tracking_uri()
    if uri.startswith("http"):
        typer.echo(f"MLflow UI: {uri} (a tracking server is configured; nothing to start)")
        return
    typer.echo(f"MLflow UI: http://{host}:{port}  (store {uri}; Ctrl-C stops it)", err=False)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
               "--default-artifact-root", default_artifact_root(), "--host", host, "--port", str(port)]
    try:
        raise typer.Exit(subprocess.call(command))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def main() -> None:
    """Entry point of the `trainworks` console script."""
    _private()
    app()


if __name__ == "__main__":
    main()
