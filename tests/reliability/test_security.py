"""No unsafe deserialisation in the code, and no secret reaches MLflow as a param or tag."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT
from trainworks.tracking.params import MASK, mask_secrets, spec_params

SCANNED = ("platform", "tests", "bench")
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}
# Modules whose loaders run code from the bytes they read.
UNSAFE_CALLS = {("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "unsafe_load_all"), ("yaml", "full_load_all"),
                ("pickle", "load"), ("pickle", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"),
                ("dill", "load"), ("dill", "loads"), ("marshal", "loads"), ("shelve", "open")}


def _call_name(call: ast.Call) -> tuple[str, str] | None:
    """(`yaml`, `load`) for `yaml.load(...)`; None for calls that are not `module.function(...)`."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def violations(source: str, filename: str = "<string>", pickles: bool = True) -> list[str]:
    """Unsafe loads in Python source: yaml.load without a safe Loader, torch.load without weights_only=True,
    and (with `pickles`) pickle-family loaders."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or (name := _call_name(node)) is None:
            continue
        where = f"{filename}:{node.lineno}: {name[0]}.{name[1]}"
        if name in {("yaml", "load"), ("yaml", "load_all")}:
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = getattr(loader, "attr", getattr(loader, "id", None))
            if loader_name not in SAFE_LOADERS:
                found.append(f"{where} without Loader=yaml.SafeLoader")
        elif name == ("torch", "load"):
            weights_only = _keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(f"{where} without weights_only=True")
        elif name in UNSAFE_CALLS and (pickles or name[0] == "yaml"):
            found.append(f"{where} runs code from the data it reads")
    return found


def python_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))


def test_the_code_loads_yaml_safely_and_tensors_only() -> None:
    assert len(python_files()) > 50  # the scan really walks the code base
    problems = [problem for path in python_files()  # tests may unpickle the fixtures they wrote; the platform never
                for problem in violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)),
                                          pickles=path.is_relative_to(ROOT / "platform"))]
    assert problems == []


@pytest.mark.parametrize("source", [
    "import yaml\nyaml.load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)",
    "import yaml\nyaml.load(text, yaml.FullLoader)",
    "import yaml\nyaml.unsafe_load(text)",
    "import yaml\nyaml.full_load(text)",
    "import torch\ntorch.load(path)",
    "import torch\ntorch.load(path, weights_only=False)",
    "import torch\ntorch.load(path, map_location='cpu', weights_only=flag)",
    "import pickle\npickle.loads(blob)",
])
def test_the_scan_finds_each_unsafe_load(source: str) -> None:
    assert len(violations(source)) == 1


@pytest.mark.parametrize("source", [
    "import yaml\nyaml.safe_load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "import yaml\nyaml.load(text, yaml.CSafeLoader)",
    "import torch\ntorch.load(path, map_location='cpu', weights_only=True)",
])
def test_the_scan_passes_safe_loads(source: str) -> None:
    assert violations(source) == []


@pytest.mark.parametrize("name", ["password", "db_password", "MLFLOW_TRACKING_PASSWORD", "api_key", "apiKey",
                                  "secret", "aws_secret_access_key", "access_key", "token", "auth_token",
                                  "credentials", "private_key", "ssh_key", "passphrase", "data.dataset.storage.token"])
def test_names_that_look_like_secrets_are_masked(name: str) -> None:
    assert mask_secrets({name: "hunter2"}) == {name: MASK}


@pytest.mark.parametrize("name", ["model.hidden", "training.epochs", "optimizer.lr", "tracking.experiment",
                                  "trainworks.spec_hash", "mlflow.source.git.commit", "data.dataset.target", "monkey"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert mask_secrets({name: "value"}) == {name: "value"}


def test_passwords_inside_urls_are_masked_wherever_they_appear() -> None:
    masked = mask_secrets({"data.dataset.path": "s3://reader:hunter2@minio:9000/bucket/table.csv",
                           "trainworks.store": "postgresql://mlflow:s3cr%21t@db:5432/mlflow",
                           "note": "see https://example.org/a:b@c"})
    assert masked == {"data.dataset.path": "s3://reader:***@minio:9000/bucket/table.csv",
                      "trainworks.store": "postgresql://mlflow:***@db:5432/mlflow",
                      "note": "see https://example.org/a:b@c"}  # a colon in a path is not a password


def test_spec_params_mask_nested_secrets() -> None:
    params = spec_params({"data": {"dataset": {"name": "table", "api_token": "abc", "options": [{"password": "x"}]}}})
    assert params["data.dataset.api_token"] == MASK and params["data.dataset.options.0.password"] == MASK
    assert params["data.dataset.name"] == "table"


def test_secret_tags_never_reach_mlflow(tracker) -> None:
    run_id = tracker.start_run("tests-secrets", "secrets", {"model": {"name": "mlp"}}, "model: mlp\n",
                               {"trainworks.registry_token": "abc123", "trainworks.note": "kept"})
    tracker.set_tags(run_id, {"db_password": "hunter2", "trainworks.store": "postgresql://u:pw@db/x"})
    tracker.end_run(run_id, "FINISHED")
    tags = tracker.client.get_run(run_id).data.tags
    assert tags["trainworks.registry_token"] == MASK and tags["db_password"] == MASK
    assert tags["trainworks.store"] == "postgresql://u:***@db/x" and tags["trainworks.note"] == "kept"
    assert "abc123" not in str(tags) and "hunter2" not in str(tags)
