"""The Model Registry's champion / challenger gate: promote on a metric, keep `previous`, roll back, list.

MLflow has no compare-and-swap on aliases, so two promotions that read the same champion could
both move it. Each change therefore claims the champion state it compared against by creating
an MLflow experiment named after that state (`trainworks-promotions/<model>/<state>`): names
are unique in the store (a database constraint), so exactly one claim per state succeeds and the
other promoter is told who won. The claim is then soft-deleted (kept out of the UI; its name
stays taken). The winner sets the aliases and verifies them by reading them back with its
token; a change made meanwhile by something outside trainworks is rolled back and reported.
"""

from __future__ import annotations

import getpass
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Literal

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

CHAMPION = "champion"
PREVIOUS = "previous"
STATE_TAG = "trainworks.champion_state"
TOKEN_TAG = "trainworks.promotion_token"
CLAIMS = "trainworks-promotions"
STALE_CLAIM_SECONDS = 120.0
MAX_CLAIM_ATTEMPTS = 10
LOWER_IS_BETTER = ("loss", "rmse", "mae", "error")
Mode = Literal["max", "min"]


class PromotionError(Exception):
    """A registry change that cannot go ahead (unknown model, version or metric)."""


class PromotionRefused(PromotionError):
    """The candidate does not beat the champion; nothing changed."""


class PromotionConflict(PromotionError):
    """Another promotion changed the champion first; this one changed nothing."""


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion or rollback did."""

    name: str
    version: str
    previous: str | None
    reason: str
    changed: bool = True


@dataclass(frozen=True)
class VersionRow:
    """One model version as `trainworks models NAME` lists it."""

    version: str
    aliases: tuple[str, ...]
    run_id: str
    created: str
    metrics: dict[str, float]


def default_mode(metric: str) -> Mode:
    """Losses and errors are better low; everything else (accuracy, ...) high."""
    return "min" if any(word in metric.lower() for word in LOWER_IS_BETTER) else "max"


def beats(candidate: float, champion: float, mode: Mode) -> bool:
    """Strictly better: a tie keeps the champion."""
    return candidate > champion if mode == "max" else candidate < champion


def version_metrics(version: ModelVersion) -> dict[str, float]:
    """The metrics trainworks tags a version with (its model's final evaluation)."""
    metrics = {}
    for key, value in version.tags.items():
        if key.startswith(("trainworks.", "mlflow.")):
            continue
        try:
            metrics[key] = float(value)
        except ValueError:
            continue
    return metrics


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


class ModelRegistry:
    """Promotion, rollback and listing over one MLflow store's Model Registry."""

    def __init__(self, client: MlflowClient, user: str | None = None,
                 clock: Callable[[], str] = _now) -> None:
        self.client = client
        self.user = user or getpass.getuser()
        self.clock = clock

    # ------------------------------------------------------------ reading

    def model(self, name: str) -> RegisteredModel:
        try:
            return self.client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                known = ", ".join(sorted(m.name for m in self.client.search_registered_models())) or "none"
                raise PromotionError(f"no registered model '{name}'; registered: {known}") from None
            raise

    def version(self, name: str, version: str) -> ModelVersion:
        try:
            return self.client.get_model_version(name, version)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise PromotionError(f"model '{name}' has no version {version}") from None
            raise

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first."""
        found = self.client.search_model_versions(f"name = '{name}'")
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def candidate(self, name: str, version: str | None, run_id: str | None) -> ModelVersion:
        """The version named, the newest one logged by a run, or the newest version."""
        self.model(name)
        if version is not None and run_id is not None:
            raise PromotionError("give --version or --run, not both")
        if version is not None:
            return self.version(name, version)
        versions = self.versions(name)
        if run_id is not None:
            versions = [v for v in versions if v.run_id == run_id]
            if not versions:
                raise PromotionError(f"run {run_id} registered no version of '{name}'")
        if not versions:
            raise PromotionError(f"model '{name}' has no versions")
        return versions[0]

    def metric(self, version: ModelVersion, metric: str) -> float | None:
        """The version's tag (its model's final evaluation), else its run's final_<metric>, else <metric>."""
        tagged = version_metrics(version)
        if metric in tagged:
            return tagged[metric]
        if not version.run_id:
            return None
        try:
            run_metrics = self.client.get_run(version.run_id).data.metrics
        except MlflowException:
            return None
        value = run_metrics.get(f"final_{metric}", run_metrics.get(metric))
        return None if value is None or math.isnan(value) else float(value)

    def rows(self, name: str) -> list[VersionRow]:
        """The versions of a model with their aliases and metrics, newest first."""
        aliases: dict[str, list[str]] = {}
        for alias, version in self.model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        rows = []
        for version in self.versions(name):
            created = datetime.fromtimestamp(version.creation_timestamp / 1000, timezone.utc)
            rows.append(VersionRow(str(version.version), tuple(sorted(aliases.get(str(version.version), []))),
                                   version.run_id or "", created.isoformat(timespec="seconds"),
                                   version_metrics(version)))
        return rows

    def model_names(self) -> list[RegisteredModel]:
        return sorted(self.client.search_registered_models(), key=lambda m: m.name)

    # ------------------------------------------------------------ changing

    def promote(self, name: str, metric: str, version: str | None = None, run_id: str | None = None,
                mode: Mode | None = None, force: bool = False) -> PromotionResult:
        """Move `champion` to the candidate if it beats the champion on `metric` (or with force)."""
        mode = mode or default_mode(metric)
        candidate = self.candidate(name, version, run_id)
        model = self.model(name)
        champion = model.aliases.get(CHAMPION)
        champion = str(champion) if champion is not None else None
        if champion == str(candidate.version):
            return PromotionResult(name, champion, model.aliases.get(PREVIOUS),
                                   f"version {champion} is already the champion", changed=False)
        reason = self._judge(name, candidate, champion, metric, mode, force)
        return self._change(model, str(candidate.version), reason)

    def rollback(self, name: str) -> PromotionResult:
        """Put `previous` back as `champion` (the demoted champion becomes `previous`)."""
        model = self.model(name)
        previous, champion = model.aliases.get(PREVIOUS), model.aliases.get(CHAMPION)
        if previous is None:
            raise PromotionError(f"model '{name}' has no '{PREVIOUS}' version to roll back to")
        return self._change(model, str(previous), f"rollback from version {champion}")

    def _judge(self, name: str, candidate: ModelVersion, champion: str | None, metric: str, mode: Mode,
               force: bool) -> str:
        """Why the candidate may become champion; raises PromotionRefused when it may not."""
        value = self.metric(candidate, metric)
        if value is None and not force:
            known = ", ".join(sorted(version_metrics(candidate))) or "none tagged"
            raise PromotionError(f"version {candidate.version} of '{name}' has no metric '{metric}' "
                                 f"(its metrics: {known})")
        if champion is None:
            return f"first champion: {metric} {_shown(value)}" + (" (forced)" if force and value is None else "")
        held = self.metric(self.version(name, champion), metric)
        comparison = f"{metric} {_shown(value)} vs {_shown(held)} of version {champion} ({mode} is better)"
        if force:
            return f"forced: {comparison}"
        if held is None:
            raise PromotionRefused(f"the champion, version {champion}, has no metric '{metric}' to compare "
                                   "against; nothing changed (--force promotes anyway)")
        if not beats(value, held, mode):
            raise PromotionRefused(f"version {candidate.version} does not beat the champion: {comparison}; "
                                   "nothing changed (--force promotes anyway)")
        return f"better: {comparison}"

    def _change(self, model: RegisteredModel, version: str, reason: str) -> PromotionResult:
        """Claim the champion state read, set the aliases and records, then verify them."""
        name = model.name
        old = model.aliases.get(CHAMPION)
        old = str(old) if old is not None else None
        old_previous = model.aliases.get(PREVIOUS)
        token = uuid.uuid4().hex
        self._claim(name, self._state(model), token, version)
        if old is not None:
            self.client.set_registered_model_alias(name, PREVIOUS, old)
        self.client.set_registered_model_alias(name, CHAMPION, version)
        records = {"trainworks.promoted_by": self.user, "trainworks.promoted_at": self.clock(),
                   "trainworks.promotion_reason": reason, TOKEN_TAG: token}
        for key, value in records.items():
            self.client.set_model_version_tag(name, version, key, value)
        self.client.set_registered_model_tag(name, STATE_TAG, token)
        self._verify(name, version, token, old, old_previous)
        return PromotionResult(name, version, old, reason)

    @staticmethod
    def _state(model: RegisteredModel) -> str:
        """The champion state a change starts from: the champion and the token of the change that made it."""
        champion = model.aliases.get(CHAMPION)
        token = model.tags.get(STATE_TAG, "initial")
        return f"v{champion}-{token}" if champion is not None else f"none-{token}"

    def _claim(self, name: str, state: str, token: str, version: str) -> None:
        """Win the one change allowed from `state`, or raise PromotionConflict naming who won it."""
        for attempt in range(MAX_CLAIM_ATTEMPTS):
            key = self._claim_key(name, state) + (f"~{attempt}" if attempt else "")
            tags = {"trainworks.claim.token": token, "trainworks.claim.version": version,
                    "trainworks.claim.user": self.user, "trainworks.claim.at": self.clock()}
            try:
                experiment_id = self.client.create_experiment(key, tags=tags)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                held = self.client.get_experiment_by_name(key)
                if held is None or not self._stale(held.tags):
                    raise PromotionConflict(self._conflict_message(name, held.tags if held else {})) from None
                continue  # its claimant died before finishing: the next attempt key is free
            self.client.delete_experiment(experiment_id)
            return
        raise PromotionConflict(f"'{name}': {MAX_CLAIM_ATTEMPTS} unfinished promotions from the same champion; "
                                "check the registry by hand")

    @staticmethod
    def _claim_key(name: str, state: str) -> str:
        return f"{CLAIMS}/{name}/{state}"

    def _stale(self, tags: dict[str, str]) -> bool:
        """A claim old enough that its promoter must have died, while the state it claimed is unchanged."""
        try:
            claimed = datetime.fromisoformat(tags["trainworks.claim.at"])
        except (KeyError, ValueError):
            return False
        return (datetime.now(timezone.utc) - claimed).total_seconds() > STALE_CLAIM_SECONDS

    def _conflict_message(self, name: str, tags: dict[str, str]) -> str:
        champion = self.model(name).aliases.get(CHAMPION)
        who = tags.get("trainworks.claim.user", "someone")
        return (f"another promotion of '{name}' won: {who} moved '{CHAMPION}' to version "
                f"{tags.get('trainworks.claim.version', '?')} at {tags.get('trainworks.claim.at', '?')} "
                f"(the champion is now version {champion}); nothing changed here. Compare against the new "
                "champion and promote again if you still want to")

    def _verify(self, name: str, version: str, token: str, old: str | None, old_previous: str | None) -> None:
        """Read the change back; if something else moved the champion meanwhile, undo ours and fail."""
        model = self.model(name)
        champion = model.aliases.get(CHAMPION)
        tagged = self.version(name, version).tags.get(TOKEN_TAG)
        if str(champion) == version and model.tags.get(STATE_TAG) == token and tagged == token:
            return
        if self.client.get_experiment_by_name(self._claim_key(name, f"v{version}-{token}")) is not None:
            return  # a later promotion started from ours: ours took effect, then was superseded
        if str(champion) == version:
            self._restore(name, old, old_previous)
        raise PromotionConflict(f"'{CHAMPION}' of '{name}' changed while this promotion ran (now version "
                                f"{model.aliases.get(CHAMPION)}, set outside this promotion); ours was undone")

    def _restore(self, name: str, old: str | None, old_previous: str | None) -> None:
        for alias, version in ((CHAMPION, old), (PREVIOUS, old_previous)):
            if version is None:
                self.client.delete_registered_model_alias(name, alias)
            else:
                self.client.set_registered_model_alias(name, alias, str(version))
