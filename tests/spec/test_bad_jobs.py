"""Every bad job file is refused before Ray or MLflow is touched: exit 2, one line, the field path and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainworks.cli import SPEC_ERROR_EXIT, app

BAD_JOBS = Path(__file__).parent / "bad_jobs"
CORPUS = sorted(BAD_JOBS.glob("*.yaml"))


def expectation(job: Path) -> str:
    """The `# Expect: <path>: <message start>` line each corpus file carries."""
    lines = [line for line in job.read_text().splitlines() if line.startswith("# Expect: ")]
    assert len(lines) == 1, f"{job.name} needs one '# Expect:' line"
    return lines[0].removeprefix("# Expect: ")


def test_the_corpus_covers_at_least_forty_files() -> None:
    assert len(CORPUS) >= 40
    assert all(expectation(job).split(":")[0] for job in CORPUS)


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("job", CORPUS, ids=[job.stem for job in CORPUS])
def test_a_bad_job_is_refused_in_one_line_before_ray_or_mlflow(job: Path, command: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    was_up = ray.is_initialized()  # another test's session Ray may be up; this command must not reach it

    def refuse(*args, **kwargs):
        raise AssertionError("a bad job file reached Ray")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr("trainworks.runtime.cluster.connect_ray", refuse)
    store = tmp_path / "store" / "mlruns.db"
    store.parent.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(app, [command, str(job)], env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}",
                                                               "RAY_ADDRESS": ""})
    assert result.exit_code == SPEC_ERROR_EXIT, result.output
    [line] = result.stderr.splitlines()
    expected = expectation(job)
    assert line.startswith(str(job)) and expected in line, line
    assert not store.exists() and list(workdir.iterdir()) == []  # no store, no run, no checkpoints
    assert ray.is_initialized() == was_up
