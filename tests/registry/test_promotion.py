"""Champion / challenger promotion on a real MLflow Model Registry (SQLite store): gate, records, rollback, races."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from trainworks.tracking.registry import (CHAMPION, PREVIOUS, ModelRegistry, PromotionConflict, PromotionError,
                                          PromotionRefused, beats, default_mode)

MODEL = "digits-cnn"


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    """A fresh store per test (registries and aliases must not leak between tests)."""
    return store_client(tmp_path)


def store_client(folder: Path) -> MlflowClient:
    """A client of the store in `folder`; its registry named too, or MLflow uses a process-wide one."""
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    return MlflowClient(uri, registry_uri=uri)


def register(client: MlflowClient, accuracy: float, tag: bool = True) -> str:
    """A run with final metrics and a version tagged with them, as `trainworks run` leaves it."""
    experiment = client.get_experiment_by_name("tests") or client.get_experiment(client.create_experiment("tests"))
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "final_val_accuracy", accuracy)
    client.log_metric(run.info.run_id, "final_val_loss", 1 - accuracy)
    if not client.search_registered_models(f"name = '{MODEL}'"):
        client.create_registered_model(MODEL)
    tags = {"trainworks.run_id": run.info.run_id}
    if tag:
        tags |= {"val_accuracy": f"{accuracy:.6g}", "val_loss": f"{1 - accuracy:.6g}"}
    version = client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags)
    return str(version.version)


def aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(MODEL).aliases.items()}


def test_direction_of_better_and_ties() -> None:
    assert default_mode("val_accuracy") == "max" and default_mode("val_loss") == "min"
    assert default_mode("val_rmse") == "min"
    assert beats(0.9, 0.8, "max") and not beats(0.8, 0.9, "max") and not beats(0.9, 0.9, "max")
    assert beats(0.1, 0.2, "min") and not beats(0.2, 0.1, "min")


def test_first_champion_then_worse_refused_better_wins_previous_kept(client: MlflowClient) -> None:
    registry = ModelRegistry(client, user="alice", clock=lambda: "2026-01-02T03:04:05+00:00")
    v1, v2, v3 = register(client, 0.90), register(client, 0.85), register(client, 0.95)
    first = registry.promote(MODEL, "val_accuracy", version=v1)
    assert first.version == v1 and first.previous is None and aliases(client) == {CHAMPION: v1}
    with pytest.raises(PromotionRefused, match="version 2 does not beat the champion: val_accuracy 0.85 vs 0.9"):
        registry.promote(MODEL, "val_accuracy", version=v2)
    assert aliases(client) == {CHAMPION: v1}
    won = registry.promote(MODEL, "val_accuracy")  # default candidate: the newest version (v3)
    assert won.version == v3 and won.previous == v1
    assert aliases(client) == {CHAMPION: v3, PREVIOUS: v1}
    tags = client.get_model_version(MODEL, v3).tags
    assert tags["trainworks.promoted_by"] == "alice"
    assert tags["trainworks.promoted_at"] == "2026-01-02T03:04:05+00:00"
    assert tags["trainworks.promotion_reason"] == "better: val_accuracy 0.95 vs 0.9 of version 1 (max is better)"


def test_min_mode_metric_from_the_run_and_force(client: MlflowClient) -> None:
    registry = ModelRegistry(client, user="bob")
    v1, v2 = register(client, 0.90, tag=False), register(client, 0.80, tag=False)  # metrics only on the runs
    registry.promote(MODEL, "val_loss", version=v1)
    with pytest.raises(PromotionRefused, match=r"val_loss 0.2 vs 0.1 of version 1 \(min is better\)"):
        registry.promote(MODEL, "val_loss", version=v2)
    forced = registry.promote(MODEL, "val_loss", version=v2, force=True)
    assert forced.reason.startswith("forced: val_loss 0.2 vs 0.1") and aliases(client)[CHAMPION] == v2
    assert client.get_model_version(MODEL, v2).tags["trainworks.promotion_reason"] == forced.reason


def test_candidate_by_run_already_champion_and_bad_names(client: MlflowClient) -> None:
    registry = ModelRegistry(client, user="carol")
    v1 = register(client, 0.9)
    run_id = client.get_model_version(MODEL, v1).run_id
    assert registry.promote(MODEL, "val_accuracy", run_id=run_id).version == v1
    again = registry.promote(MODEL, "val_accuracy", version=v1)
    assert not again.changed and "already the champion" in again.reason
    with pytest.raises(PromotionError, match="no registered model 'nope'; registered: digits-cnn"):
        registry.promote("nope", "val_accuracy")
    with pytest.raises(PromotionError, match="has no metric 'f1' \\(its metrics: val_accuracy, val_loss\\)"):
        registry.promote(MODEL, "f1", version=register(client, 0.95))
    with pytest.raises(PromotionError, match="has no version 9"):
        registry.promote(MODEL, "val_accuracy", version="9")


def test_rollback_restores_previous_and_records_it(client: MlflowClient) -> None:
    registry = ModelRegistry(client, user="dave")
    v1, v2 = register(client, 0.90), register(client, 0.95)
    with pytest.raises(PromotionError, match="no 'previous' version"):
        registry.promote(MODEL, "val_accuracy", version=v1) and registry.rollback(MODEL)
    registry.promote(MODEL, "val_accuracy", version=v2)
    back = registry.rollback(MODEL)
    assert back.version == v1 and aliases(client) == {CHAMPION: v1, PREVIOUS: v2}
    assert client.get_model_version(MODEL, v1).tags["trainworks.promotion_reason"] == "rollback from version 2"
    assert registry.rollback(MODEL).version == v2  # rolling back a rollback undoes it
    assert [row.aliases for row in registry.rows(MODEL)] == [(CHAMPION,), (PREVIOUS,)]
    assert registry.rows(MODEL)[0].metrics == {"val_accuracy": 0.95, "val_loss": pytest.approx(0.05)}


class LockstepRegistry(ModelRegistry):
    """Both promoters finish comparing before either claims: the worst interleaving, every time."""

    def __init__(self, client: MlflowClient, user: str, barrier: threading.Barrier) -> None:
        super().__init__(client, user=user)
        self.barrier = barrier

    def _claim(self, *args, **kwargs) -> None:
        self.barrier.wait(timeout=60)
        super()._claim(*args, **kwargs)


def test_two_racing_promotions_end_with_exactly_one_winner(client: MlflowClient, tmp_path: Path) -> None:
    v1, v2, v3 = register(client, 0.90), register(client, 0.93), register(client, 0.95)
    ModelRegistry(client, user="setup").promote(MODEL, "val_accuracy", version=v1)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def promote(user: str, version: str) -> None:
        registry = LockstepRegistry(store_client(tmp_path), user, barrier)
        try:
            outcomes[user] = registry.promote(MODEL, "val_accuracy", version=version)
        except PromotionConflict as error:
            outcomes[user] = error

    threads = [threading.Thread(target=promote, args=args) for args in (("erin", v2), ("frank", v3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [value for value in outcomes.values() if isinstance(value, PromotionConflict)]
    wins = {user: value for user, value in outcomes.items() if not isinstance(value, PromotionConflict)}
    assert len(errors) == 1 and len(wins) == 1, outcomes
    [(winner, result)] = wins.items()
    assert aliases(client) == {CHAMPION: result.version, PREVIOUS: v1}
    message = str(errors[0])
    assert f"another promotion of '{MODEL}' won: {winner} moved 'champion' to version {result.version}" in message
    assert "nothing changed here" in message
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "tests"]  # claims are kept out of sight


def test_a_promotion_started_after_another_finished_compares_with_the_new_champion(client: MlflowClient) -> None:
    v1, v2, v3 = register(client, 0.90), register(client, 0.95), register(client, 0.93)
    first, second = ModelRegistry(client, user="gina"), ModelRegistry(client, user="hal")
    first.promote(MODEL, "val_accuracy", version=v1)
    first.promote(MODEL, "val_accuracy", version=v2)
    with pytest.raises(PromotionRefused, match="0.93 vs 0.95 of version 2"):
        second.promote(MODEL, "val_accuracy", version=v3)
