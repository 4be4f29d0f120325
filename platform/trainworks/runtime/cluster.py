"""Connecting to Ray: a cluster when an address is given, else an embedded local Ray of our own."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Callable

import ray

from trainworks.spec.schema import JobSpec

TOKEN_FILE = Path("~/.ray/auth_token").expanduser()


class RayUnreachable(ConnectionError):
    """The Ray cluster named by --address or RAY_ADDRESS did not answer (or refused our token)."""


def required_cpus(spec: JobSpec) -> float:
    """CPUs the job's Ray Train workers reserve."""
    return spec.scaling.num_workers * spec.scaling.cpus_per_worker


def _listening(address: str, timeout: float) -> bool:
    """Whether something accepts connections at `host:port` (or `ray://host:port`)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError):
        return False
    return True


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a `host:port` (or `ray://host:port`) address."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if host and port.isdigit() and not _listening(address, timeout):
        raise RayUnreachable(f"cannot reach the Ray cluster at {address}: nothing answers there. Is it "
                             "running, and is the address right?")


def _forget_dead_current_cluster(warn: Callable[[str], None]) -> None:
    """Remove Ray's "current cluster" file when the `ray start` head it names is dead.

    A head stopped uncleanly leaves the file behind; Ray's State API (which Ray Train's
    placement-group cleaner calls from inside the embedded cluster) then waits on that dead
    address, adding 12 s to the end of every run. `ray stop` removes the file the same way.
    """
    path = Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray" / "ray_current_cluster"
    try:
        address = path.read_text().strip()
    except OSError:
        return
    if address and not _listening(address, timeout=1.0):
        path.unlink(missing_ok=True)
        warn(f"removed {path}: it named a Ray cluster at {address} that no longer runs")


API_SERVER_VARIABLE = "RAY_API_SERVER_ADDRESS"


def connect_ray(spec: JobSpec, address: str | None = None, verbose: bool = False,
                warn: Callable[[str], None] = logging.getLogger(__name__).warning) -> str:
    """Join `address` (or RAY_ADDRESS); otherwise start a local Ray explicitly.

    Starting explicitly (`address="local"`) matters: a bare `ray.init()` joins whatever
    cluster a stale ~/.ray "current cluster" file names, even a dead one. Returns a
    description of the Ray in use.
    """
    if ray.is_initialized():
        return "ray (already initialised)"
    address = address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR}
    if address:
        _probe(address)
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as error:
            raise RayUnreachable(
                f"cannot join the Ray cluster at {address}: {error}. Clusters started with `ray start` (Ray 2.60) "
                f"require token authentication: set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN "
                f"(or in {TOKEN_FILE}). Ray never sends a token to an address unless asked to.") from None
        return f"ray cluster at {address}"
    _forget_dead_current_cluster(warn)
    cpus = max(os.cpu_count() or 1, int(required_cpus(spec) + 0.999))
    # The dashboard serves Ray's state API, which Ray Train's placement-group cleaner needs to see
    # that a controller died: without it, a Tune trial stopped by ASHA or PBT keeps its workers'
    # CPUs reserved for good and the search hangs. Loopback only, on a free port, named in the
    # environment Ray's processes inherit: with another Ray on the machine the cleaner cannot
    # tell which dashboard is its own.
    port = free_port()
    os.environ[API_SERVER_VARIABLE] = f"http://127.0.0.1:{port}"
    ray.init(address="local", num_cpus=cpus, include_dashboard=True, dashboard_host="127.0.0.1",
             dashboard_port=port, **quiet)
    return f"embedded local ray ({cpus} CPUs)"


def free_port() -> int:
    """A TCP port nothing on this machine listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
