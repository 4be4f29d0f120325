"""Every example job in jobs/ runs: one short epoch each through the Ray Train path, recorded in MLflow."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import JOBS
from tests.data.test_datasets import write_cifar10
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, prepare_job_data, run_job
from trainworks.spec import load_spec

SHORT = ["training.epochs=1", "tracking.experiment=example-jobs"]
# What makes each job short enough for a test (it must stay the same job otherwise).
OVERRIDES: dict[str, list[str]] = {
    "quickstart.yaml": [],
    "penguins_mlp.yaml": [],
    "cifar10_seed_cnn.yaml": ["data.dataset.download=false", "data.dataset.verify_checksums=false",
                              "data.preprocessing[0].size=32", "model.pooled_size=8"],
    "cartpole_reinforce.yaml": ["data.dataset.episodes_per_epoch=8", "data.dataset.max_steps=50",
                                "data.dataset.eval_episodes=2"],
    "digits_vae.yaml": [],
    "digits_gan.yaml": [],
    "digits_cnn_tricks.yaml": [],
    "co2_lstm.yaml": [],
    "co2_transformer.yaml": [],
    "digits_staged_resize.yaml": [],  # one epoch: the first (16 pixel) stage only; the model is evaluated at 32
    "digits_transfer.yaml": [],
    "digits_adversarial.yaml": ["strategy.steps=2", "evaluation.robust_accuracy.steps=2"],
    "digits_distillation.yaml": ["strategy.teacher.train_epochs=1"],
}


# Searches, ensembles and ablations are Tune experiments: each runs, made short, in its own test module.
RUN_ELSEWHERE = {"digits_search.yaml": "runtime/test_tune.py", "digits_ensemble.yaml": "runtime/test_ensemble.py",
                 "digits_ablation.yaml": "runtime/test_ablation.py"}


def test_every_job_has_short_settings() -> None:
    assert sorted([*OVERRIDES, *RUN_ELSEWHERE]) == sorted(path.name for path in JOBS.glob("*.yaml")), \
        "add the new job to OVERRIDES"
    for job, module in RUN_ELSEWHERE.items():
        assert f'JOBS / "{job}"' in (Path(__file__).parent / module).read_text(), f"{module} must run {job}"


@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(OVERRIDES))
def test_example_job_completes_an_epoch_on_ray_train(job: str, ray_session, tracker, tmp_path: Path) -> None:
    overrides = [*SHORT, *OVERRIDES[job]]
    if job.startswith("cifar10"):
        overrides.append(f"data.dataset.root={write_cifar10(tmp_path / 'cifar', per_batch=40)}")
    spec = load_spec(JOBS / job, overrides)
    summary = run_job(spec, RunOptions(JOBS / job), tracker, Terminal(Console(file=io.StringIO())))
    run = tracker.client.get_run(summary.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["trainworks.workers"] == str(spec.scaling.num_workers)
    assert [point.step for point in tracker.client.get_metric_history(summary.run_id, "epoch_seconds")] == [1]


def test_co2_lstm_forecasts_better_than_persistence() -> None:
    """Predicting 'no change' (persistence) is the baseline any forecaster must beat."""
    from trainworks.engine.distributed import SingleProcess
    from trainworks.engine.families import family_of

    spec = load_spec(JOBS / "co2_lstm.yaml", ["training.epochs=8", "scaling.num_workers=1"])
    data = prepare_job_data(spec)
    persistence = data.val.y.pow(2).mean().sqrt().item()

    class Last:
        metrics: dict = {}

        def epoch_end(self, record, save) -> None:
            self.metrics = record.metrics

        def fit_end(self, save) -> None:
            pass

    reporter = Last()
    family_of(spec).train(spec, data, SingleProcess(), reporter, None, ())
    assert reporter.metrics["val_rmse"] < 0.9 * persistence
