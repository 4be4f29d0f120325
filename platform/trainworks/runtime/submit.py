"""Jobs on a Ray cluster through the Ray Jobs API: this checkout's code and the spec travel with each job.

The job's runtime environment is the project checkout (`working_dir`, uploaded by Ray; run-time
leftovers and secrets excluded) with `platform/` first on PYTHONPATH, so the driver and every
Ray Train worker import the submitted trainworks, not one installed in the cluster's image. The
entry point is `python -m trainworks.cli run|tune|ablate SPEC [--set ...]`; settings travel as
environment variables of the job, never on its command line.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import shlex
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping
from urllib.parse import urlparse

import trainworks
from trainworks.runtime.cluster import TOKEN_FILE
from trainworks.spec import JobSpec
from trainworks.tracking.environment import git_commit

# The commands a job may run (an ensemble is a `run` of a job with an ensemble: section), and the
# section of the job file each one needs.
SUBMITTABLE = {"run": None, "tune": "tune", "ablate": "ablation"}
ADDRESS_VARIABLES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
# Never uploaded: environments, local stores and checkpoints, caches, and secrets (.env files).
EXCLUDES = [".venv", ".git", "mlruns.db", "mlflow.db", "mlruns", "mlartifacts", "mlflow-server", "checkpoints",
            "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist", ".env", ".env.*"]
PRIVACY = ("MLFLOW_DISABLE_TELEMETRY", "RAY_USAGE_STATS_ENABLED")
TRACKING_URI = "MLFLOW_TRACKING_URI"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
POLL_SECONDS = 1.0
AGENT_WAIT_SECONDS = 60.0


class SubmitError(RuntimeError):
    """A job that cannot be submitted or reached; the message says how to fix it."""


@dataclass(frozen=True)
class Submission:
    """Everything the Jobs API is given: the command, its runtime environment and searchable metadata."""

    entrypoint: str
    runtime_env: dict
    metadata: dict[str, str]
    warnings: list[str] = field(default_factory=list)


def project_root() -> Path:
    """The checkout this trainworks was imported from (pyproject.toml beside platform/trainworks)."""
    root = Path(trainworks.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "platform" / "trainworks").is_dir():
        raise SubmitError(f"trainworks was imported from {Path(trainworks.__file__).parent}, not from a project "
                          "checkout: submit from a checkout (`pip install -e .`) so its code can travel with the job")
    return root


def unreachable_tracking_uri(uri: str) -> str | None:
    """Why a cluster could not use this tracking URI (a local file store, or this machine's loopback), or None."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file", "sqlite"):
        return "a store on this machine's disk"
    if parsed.hostname in LOOPBACK:
        return f"{parsed.hostname} is this machine only as seen from itself"
    return None


def job_environment(forward: list[str], tracking_uri: str | None, environ: Mapping[str, str]
                    ) -> tuple[dict[str, str], list[str]]:
    """The job's environment variables: PYTHONPATH, privacy settings, and what the user chose to send."""
    variables = {"PYTHONPATH": "platform", "PYTHONUNBUFFERED": "1"}
    variables |= {name: environ[name] for name in PRIVACY if name in environ}
    warnings = []
    for name in forward:
        if name not in environ:
            raise SubmitError(f"--env {name}: {name} is not set here; export it first (its value is sent as an "
                              "environment variable of the job, never on its command line)")
        variables[name] = environ[name]
    if tracking_uri is not None:
        variables[TRACKING_URI] = tracking_uri
    uri = variables.get(TRACKING_URI)
    why = unreachable_tracking_uri(uri) if uri is not None else None
    if why:
        del variables[TRACKING_URI]
        warnings.append(f"not sending tracking URI {uri} ({why}): the job logs to the cluster's own "
                        f"{TRACKING_URI}; give one every node reaches with --tracking-uri")
    elif uri is None and environ.get(TRACKING_URI):
        warnings.append(f"{TRACKING_URI} is set here but not sent: the job logs to the cluster's own tracking "
                        f"server (send yours with --env {TRACKING_URI} or --tracking-uri)")
    return variables, warnings


def checkpoint_warnings(spec: JobSpec) -> list[str]:
    """Checkpoints must be on storage that every node of the cluster reads and writes."""
    path = spec.checkpoint.storage_path
    if "://" in path:
        return [f"checkpoint.storage_path {path}: trainworks writes checkpoints to local paths only (URIs are not "
                "supported yet); use a folder every node mounts, e.g. /shared/checkpoints"]
    if not Path(path).expanduser().is_absolute():
        return [f"checkpoint.storage_path '{path}' is relative: on the cluster it lands in the job's temporary "
                "copy of this checkout on the head node, which workers on other nodes cannot reach and Ray "
                "deletes later; use storage every node shares (--set checkpoint.storage_path=/shared/checkpoints)"]
    return []


def build_submission(spec_file: Path, spec: JobSpec, overrides: list[str], command: str = "run",
                     forward: list[str] | None = None, tracking_uri: str | None = None,
                     environ: Mapping[str, str] = os.environ, root: Path | None = None) -> Submission:
    """The entry point, runtime environment and metadata of a job; nothing is sent yet."""
    if command not in SUBMITTABLE:
        raise SubmitError(f"--command {command}: expected one of {', '.join(SUBMITTABLE)}")
    section = SUBMITTABLE[command]
    if section and getattr(spec, section) is None:
        raise SubmitError(f"{spec_file}: {section}: the job file has no {section}: section, which `{command}` needs")
    root = root or project_root()
    try:
        relative = spec_file.resolve().relative_to(root)
    except ValueError:
        raise SubmitError(f"{spec_file} is outside the project checkout {root}; only the checkout travels with the "
                          "job: put the job file (and its data) under it, e.g. in jobs/") from None
    arguments = ["python", "-m", "trainworks.cli", command, relative.as_posix()]
    for override in overrides:
        arguments += ["--set", override]
    variables, warnings = job_environment(forward or [], tracking_uri, environ)
    runtime_env = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": variables}
    metadata = {"trainworks.command": command, "trainworks.spec": relative.as_posix(),
                "trainworks.user": getpass.getuser()}
    found = git_commit(root)
    if found:
        metadata["trainworks.git_commit"] = found[0] + ("-dirty" if found[1] else "")
    return Submission(shlex.join(arguments), runtime_env, metadata, warnings + checkpoint_warnings(spec))


def jobs_address(address: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """--address, else RAY_API_SERVER_ADDRESS, else RAY_ADDRESS (as `ray job submit` reads them)."""
    for candidate in (address, *(environ.get(name) for name in ADDRESS_VARIABLES)):
        if candidate:
            return candidate
    raise SubmitError("no Ray Jobs address: pass --address http://HEAD:8265 (the head's dashboard) or set "
                      "RAY_API_SERVER_ADDRESS or RAY_ADDRESS")


@contextmanager
def _address_variables_hidden() -> Iterator[None]:
    """Ray's client lets RAY_ADDRESS override an explicit address; the resolved address must win."""
    saved = {name: os.environ.pop(name) for name in ADDRESS_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def authentication_fix(address: str, refusal: str) -> str:
    """What to do when the cluster refuses the request (Ray 2.60's `ray start` turns token authentication on)."""
    first = refusal.strip().splitlines()[0] if refusal.strip() else "refused"
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        fix = (f"this cluster requires token authentication: export RAY_AUTH_MODE=token and the cluster's token in "
               f"RAY_AUTH_TOKEN (or {TOKEN_FILE}); Ray sends no token unless RAY_AUTH_MODE=token")
    else:
        fix = (f"the token sent (RAY_AUTH_TOKEN, else RAY_AUTH_TOKEN_PATH, else {TOKEN_FILE}) is missing or is "
               "not this cluster's; export the cluster's token in RAY_AUTH_TOKEN")
    return f"the Ray cluster at {address} refused the request ({first}): {fix}"


class JobsClient:
    """The Ray Jobs API at one address, with refusals and unreachable heads turned into SubmitErrors."""

    def __init__(self, address: str | None, verbose: bool = False) -> None:
        self.address = jobs_address(address)
        self.verbose = verbose
        self.client = self._call(self._connect)

    def _connect(self):
        from ray.job_submission import JobSubmissionClient

        if not self.verbose:  # Ray's packaging chatter (files skipped, uploads) after its own logging set-up
            logging.getLogger("ray").setLevel(logging.ERROR)
        with _address_variables_hidden():
            return JobSubmissionClient(self.address)

    def _call(self, action: Callable):
        from ray.exceptions import AuthenticationError

        try:
            return action()
        except AuthenticationError as error:
            raise SubmitError(authentication_fix(self.address, str(error))) from None
        except ConnectionError:
            raise SubmitError(f"cannot reach the Ray Jobs API at {self.address}: is the head running with its "
                              "dashboard (`ray start --head` serves it on port 8265), and is the address right?"
                              ) from None
        except RuntimeError as error:
            if "Request failed" in str(error) or "does not exist" in str(error):
                raise SubmitError(f"the Ray Jobs API at {self.address} answered: {error}") from None
            raise

    def submit(self, submission: Submission) -> str:
        """Submit; a head that has just started has no job agent for a few seconds, so that is retried."""
        deadline = time.monotonic() + AGENT_WAIT_SECONDS
        while True:
            try:
                return self._call(lambda: self.client.submit_job(entrypoint=submission.entrypoint,
                                                                 runtime_env=submission.runtime_env,
                                                                 metadata=submission.metadata))
            except SubmitError as error:
                if "No available agent" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(POLL_SECONDS)

    def status(self, job_id: str) -> str:
        return str(self._call(lambda: self.client.get_job_status(job_id)).value)

    def info(self, job_id: str):
        return self._call(lambda: self.client.get_job_info(job_id))

    def logs(self, job_id: str) -> str:
        return self._call(lambda: self.client.get_job_logs(job_id))

    def stop(self, job_id: str) -> bool:
        return self._call(lambda: self.client.stop_job(job_id))

    def list(self) -> list:
        return sorted(self._call(self.client.list_jobs), key=lambda job: job.start_time or 0)

    def follow(self, job_id: str, write: Callable[[str], None]) -> str:
        """Stream the job's logs until it ends; returns its final status (SUCCEEDED, FAILED, STOPPED)."""
        async def tail() -> None:
            async for chunk in self.client.tail_job_logs(job_id):
                write(chunk)

        try:
            self._call(lambda: asyncio.run(tail()))
        except RuntimeError as error:  # the log stream broke; the job's status still tells how it ended
            write(f"(log stream interrupted: {error}; waiting for the job to end)\n")
        while True:
            status = self._call(lambda: self.client.get_job_status(job_id))
            if status.is_terminal():
                return str(status.value)
            time.sleep(POLL_SECONDS)
