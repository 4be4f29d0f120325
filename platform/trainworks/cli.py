"""The `trainworks` command: parses arguments and calls the library; nothing else lives here."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
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
    if spec.ensemble is not None:
        _run_ensemble(spec, options, terminal)
        return
    summary = _guarded(spec_file, lambda: run_job(spec, options, MlflowTracker(), terminal))
    metrics = "  ".join(f"{name} {value:.4f}" for name, value in summary.metrics.items())
    terminal.info(f"done: run {summary.run_id}  {metrics}")
    if summary.model_version:
        terminal.info(f"model: {summary.model_uri} registered as {spec.tracking.registered_model} "
                      f"version {summary.model_version}")
    terminal.info(f"MLflow UI: {summary.url}  (start it with: trainworks ui)")


def _run_ensemble(spec, options, terminal) -> None:
    """Members as parallel Tune trials, then the combined model; --resume takes the parent run id or 'latest'."""
    if options.inline:
        _fail(str(options.job_file), [f"{options.job_file}: ensemble: members train as Ray Tune trials; "
                                      "drop --inline (or remove the ensemble section to debug one member)"])
    from trainworks.runtime.ensemble import run_ensemble
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    summary = _guarded(options.job_file, lambda: run_ensemble(spec, options, MlflowTracker(), terminal))
    shown = lambda metrics: "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())  # noqa: E731
    for index, member in enumerate(summary.members):
        terminal.info(f"member {index}: {shown(member)}")
    terminal.info(f"done: ensemble {summary.parent_run_id} ({spec.ensemble.combine} of {len(summary.members)}): "
                  f"{shown(summary.metrics)}")
    if summary.model_version:
        terminal.info(f"model: {summary.model_uri} registered as {spec.tracking.registered_model} "
                      f"version {summary.model_version}")


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
    from trainworks.runtime.tune import LATEST, run_search
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    terminal = Terminal()
    options = RunOptions(spec_file, resume=LATEST if resume else None, address=address, verbose=verbose)
    summary = _guarded(spec_file, lambda: run_search(spec, options, MlflowTracker(), terminal))
    best = "  ".join(f"{path}={value}" for path, value in summary.best_config.items())
    terminal.info(f"done: search {summary.parent_run_id}, {summary.trials} trials; best {spec.tune.metric} "
                  f"{summary.best_metric:.4f} (run {summary.best_run_id}): {best}")
    if summary.model_version:
        terminal.info(f"model: registered as {spec.tracking.registered_model} version {summary.model_version}")


AddressOption = typer.Option(None, "--address", help="the head's Jobs API, e.g. http://127.0.0.1:8265; default "
                                                   "RAY_API_SERVER_ADDRESS, else RAY_ADDRESS")


def _jobs(address: Optional[str], action: Callable[..., T], verbose: bool = False) -> T:
    """Call the Jobs API; refusals and unreachable heads exit 1 with the fix."""
    from trainworks.runtime.submit import JobsClient, SubmitError

    try:
        return action(JobsClient(address, verbose))
    except SubmitError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def _follow(client, job_id: str) -> None:
    """Stream a job's logs to the end and exit with its status: 0 when it SUCCEEDED, 1 otherwise."""
    def write(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    try:
        status = client.follow(job_id, write)
    except KeyboardInterrupt:
        typer.echo(f"\nstopped following; the job keeps running (trainworks jobs stop {job_id} ends it)", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"job {job_id} {status}")
    if status != "SUCCEEDED":
        message = client.info(job_id).message
        if message:
            typer.echo(message.strip(), err=True)
        raise typer.Exit(1)


@app.command()
def submit(spec_file: Path = typer.Argument(..., help="job file (YAML) inside this checkout"),
           set_: list[str] = SetOption,
           address: Optional[str] = AddressOption,
           command: str = typer.Option("run", "--command", help="what the job runs: run, tune or ablate"),
           env: list[str] = typer.Option([], "--env", metavar="NAME",
                                         help="send this variable's value from here to the job (repeatable), e.g. "
                                              "MLFLOW_TRACKING_USERNAME; values never go on the command line"),
           tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", envvar="TRAINWORKS_CLUSTER_TRACKING_URI",
                                                      help="MLflow server the job logs to, as the cluster reaches it; "
                                                           "default: the cluster's own MLFLOW_TRACKING_URI"),
           follow: bool = typer.Option(False, "--follow", help="stream the logs; exit with the job's status"),
           verbose: bool = typer.Option(False, "--verbose", "-v", help="show Ray's own logs (the upload)")):
    """Submit a job to a Ray cluster (Ray Jobs API) with this checkout's code; print its id."""
    _quiet(verbose)
    spec = _load(spec_file, set_)
    from trainworks.runtime.submit import SubmitError, build_submission

    try:
        submission = build_submission(spec_file, spec, set_, command, env, tracking_uri)
    except SubmitError as error:
        _fail(str(spec_file), [str(error)])
    for warning in submission.warnings:
        typer.echo(f"warning: {warning}", err=True)
    client, job_id = _jobs(address, lambda jobs: (jobs, jobs.submit(submission)), verbose)
    typer.echo(f"submitted {job_id} to {client.address}")
    if follow:
        _follow(client, job_id)
    else:
        typer.echo(f"follow it with: trainworks jobs logs {job_id} --follow --address {client.address}")


jobs_app = typer.Typer(no_args_is_help=True, help="Jobs on a Ray cluster: list, status, logs, stop.")
app.add_typer(jobs_app, name="jobs")


@jobs_app.command(name="list")
def jobs_list(address: Optional[str] = AddressOption):
    """Every job the cluster knows, oldest first: id, status, what it runs."""
    _quiet(False)
    for job in _jobs(address, lambda jobs: jobs.list()):
        began = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.start_time / 1000)) if job.start_time else ""
        typer.echo(f"{job.submission_id or job.job_id}  {job.status.value:<9}  {began}  {job.entrypoint}")


@jobs_app.command(name="status")
def jobs_status(job_id: str = typer.Argument(..., metavar="ID"), address: Optional[str] = AddressOption):
    """A job's status and Ray's message about it."""
    _quiet(False)
    info = _jobs(address, lambda jobs: jobs.info(job_id))
    typer.echo(f"{job_id}  {info.status.value}  {(info.message or '').strip()}".rstrip())


@jobs_app.command(name="logs")
def jobs_logs(job_id: str = typer.Argument(..., metavar="ID"), address: Optional[str] = AddressOption,
              follow: bool = typer.Option(False, "--follow", help="stream until the job ends; exit with its status")):
    """A job's output so far (or, with --follow, until it ends)."""
    _quiet(False)
    if follow:
        _jobs(address, lambda jobs: _follow(jobs, job_id))
    else:
        typer.echo(_jobs(address, lambda jobs: jobs.logs(job_id)), nl=False)


@jobs_app.command(name="stop")
def jobs_stop(job_id: str = typer.Argument(..., metavar="ID"), address: Optional[str] = AddressOption):
    """Ask the cluster to stop a job."""
    _quiet(False)
    stopped = _jobs(address, lambda jobs: jobs.stop(job_id))
    typer.echo(f"{job_id}: {'stopping' if stopped else 'not running; nothing to stop'}")


def _registry():
    from trainworks.tracking.mlflow_tracker import MlflowTracker
    from trainworks.tracking.registry import ModelRegistry

    return ModelRegistry(MlflowTracker().client)


def _registry_action(action: Callable[[], T]) -> T:
    """Refused promotions and conflicts exit 1 with one clear line; a bad name or version exits 2."""
    from trainworks.tracking.registry import PromotionConflict, PromotionError, PromotionRefused

    try:
        return action()
    except (PromotionRefused, PromotionConflict) as error:
        typer.echo(f"{type(error).__name__.removeprefix('Promotion').lower()}: {error}", err=True)
        raise typer.Exit(1) from None
    except PromotionError as error:
        _fail("", [str(error)])


@app.command()
def promote(name: str = typer.Argument(..., help="registered model name"),
            metric: str = typer.Option(..., help="the metric that decides, e.g. val_accuracy or val_loss"),
            version: Optional[str] = typer.Option(None, help="the candidate version (default: the newest)"),
            run: Optional[str] = typer.Option(None, "--run", metavar="RUN_ID",
                                              help="the candidate is the version this run registered"),
            mode: Optional[str] = typer.Option(None, help="max or min: which way is better (default: min for "
                                                          "names with loss/rmse/mae/error, else max)"),
            force: bool = typer.Option(False, "--force", help="promote even if it does not beat the champion")):
    """Move the `champion` alias to a version that beats the champion on a metric; the old one becomes `previous`."""
    _quiet(False)
    if mode not in (None, "max", "min"):
        _fail("", [f"--mode: expected max or min; got {mode!r}"])
    result = _registry_action(lambda: _registry().promote(name, metric, version, run, mode, force))
    if not result.changed:
        typer.echo(f"{name}: {result.reason}; nothing changed")
        return
    kept = f"; version {result.previous} is now 'previous'" if result.previous else ""
    typer.echo(f"{name}: version {result.version} is the champion ({result.reason}){kept}")


@app.command()
def rollback(name: str = typer.Argument(..., help="registered model name")):
    """Put the `previous` version back as `champion` (the demoted one becomes `previous`)."""
    _quiet(False)
    result = _registry_action(lambda: _registry().rollback(name))
    typer.echo(f"{name}: version {result.version} is the champion again ({result.reason}); "
               f"version {result.previous} is now 'previous'")


@app.command()
def models(name: Optional[str] = typer.Argument(None, help="a registered model: list its versions")):
    """Registered models with their champion; or one model's versions with aliases and metrics."""
    _quiet(False)
    registry = _registry()
    if name is None:
        for model in registry.model_names():
            aliases = "  ".join(f"{alias}: v{version}" for alias, version in sorted(model.aliases.items()))
            typer.echo(f"{model.name}  {aliases}".rstrip())
        return
    for row in _registry_action(lambda: registry.rows(name)):
        aliases = f"[{', '.join(row.aliases)}]" if row.aliases else ""
        metrics = "  ".join(f"{key} {value:.4g}" for key, value in sorted(row.metrics.items()))
        typer.echo(f"v{row.version:<4} {aliases:<22} {row.created}  run {row.run_id}  {metrics}".rstrip())


@app.command()
def predict(model_uri: str = typer.Argument(..., help="models:/NAME@champion, models:/NAME/3 or runs:/RUN_ID/model"),
            source: Path = typer.Argument(..., metavar="INPUT",
                                          help="CSV / Parquet table, .npy array or a folder of PNG / JPEG images"),
            out: Path = typer.Option(..., "--out", help="predictions file: .parquet or .csv"),
            batch_size: int = typer.Option(256, min=1, help="rows per forward pass")):
    """Batch inference: the model's saved preprocessing re-applied; class names and probabilities, or values."""
    _quiet(False)
    from trainworks.runtime.predict import PredictError, predict as predict_file

    try:
        rows = predict_file(model_uri, source, out, batch_size)
    except PredictError as error:
        _fail(str(source), [str(error)])
    typer.echo(f"{rows} predictions of {model_uri} written to {out}")


@app.command()
def ablate(spec_file: Path = typer.Argument(..., help="job file (YAML) with tricks to compare"),
           tricks: Optional[str] = typer.Option(None, help="comma-separated trick names to switch off, e.g. "
                                                           "label_smoothing,mixup (default: the ablation: section)"),
           seeds: Optional[int] = typer.Option(None, help="seeds per variant (default 3)"),
           factorial: Optional[bool] = typer.Option(None, "--factorial/--one-off",
                                                    help="every on/off combination, or one trick off at a time"),
           metric: Optional[str] = typer.Option(None, help="final metric compared (default by task)"),
           set_: list[str] = SetOption,
           resume: bool = typer.Option(False, "--resume", help="continue this job file's newest unfinished ablation"),
           address: Optional[str] = typer.Option(None, help="Ray cluster address; default RAY_ADDRESS, else a local Ray"),
           verbose: bool = typer.Option(False, "--verbose", "-v", help="show Ray's and MLflow's own logs")):
    """Which tricks pay on this data: all on vs each off, over seeds, as one Tune experiment under one MLflow run."""
    _quiet(verbose)
    flags = {"tricks": tricks.split(",") if tricks else None, "seeds": seeds, "factorial": factorial,
             "metric": metric}
    spec = _load(spec_file, [*set_, *[f"ablation.{key}={json.dumps(value)}" for key, value in flags.items()
                                     if value is not None]])
    if spec.ablation is None:
        _fail(str(spec_file), [f"{spec_file}: ablation: name the tricks to switch off: --tricks a,b "
                               "(or an ablation: section)"])
    from trainworks.runtime.ablation import run_ablation
    from trainworks.runtime.console import Terminal
    from trainworks.runtime.job import RunOptions
    from trainworks.runtime.tune import LATEST
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    terminal = Terminal()
    options = RunOptions(spec_file, resume=LATEST if resume else None, address=address, verbose=verbose)
    summary = _guarded(spec_file, lambda: run_ablation(spec, options, MlflowTracker(), terminal))
    typer.echo(summary.table)
    terminal.info(f"done: ablation {summary.parent_run_id}; table, chart and every trial in MLflow")


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
