"""Connecting to Ray: a cluster when an address is given, else an embedded local Ray of our own."""

from __future__ import annotations

import logging
import os

import ray

from trainworks.spec.schema import JobSpec


def required_cpus(spec: JobSpec) -> float:
    """CPUs the job's Ray Train workers reserve."""
    return spec.scaling.num_workers * spec.scaling.cpus_per_worker


def connect_ray(spec: JobSpec, address: str | None = None, verbose: bool = False) -> str:
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
        ray.init(address=address, **quiet)
        return f"ray cluster at {address}"
    cpus = max(os.cpu_count() or 1, int(required_cpus(spec) + 0.999))
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
    return f"embedded local ray ({cpus} CPUs)"
