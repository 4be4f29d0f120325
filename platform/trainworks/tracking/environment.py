"""Where a run came from: code version, library versions, hardware; logged as tags."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import torch

import trainworks


def git_commit(folder: Path) -> tuple[str, bool] | None:
    """(commit, has uncommitted changes) of the repository holding `folder`, or None outside one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit, bool(dirty)


def spec_hash(spec_dump: dict[str, Any]) -> str:
    """A short, stable fingerprint of the resolved spec: equal specs, equal hashes."""
    canonical = json.dumps(spec_dump, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def device_description(use_gpu: bool) -> str:
    """'cpu (N threads)' or the GPU's name."""
    if use_gpu and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({torch.get_num_threads()} threads)"


def version_tags() -> dict[str, str]:
    """trainworks, torch, Ray and MLflow versions."""
    import mlflow
    import ray

    return {"trainworks.version": trainworks.__version__, "trainworks.torch_version": torch.__version__,
            "trainworks.ray_version": ray.__version__, "trainworks.mlflow_version": mlflow.__version__}


def source_tags(job_file: Path) -> dict[str, str]:
    """MLflow's own source tags (shown in the UI): job file, git commit and whether the tree was dirty."""
    tags = {"mlflow.source.name": str(job_file), "mlflow.source.type": "LOCAL"}
    found = git_commit(job_file.resolve().parent)
    if found:
        tags["mlflow.source.git.commit"] = found[0]
        tags["trainworks.git_dirty"] = str(found[1]).lower()
    return tags
