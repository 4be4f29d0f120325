"""What an ablation runs and what it concludes, as pure functions: variants, and the table against all-on."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

ALL_ON = "all on"
NOISE_FACTOR = 2.0  # a difference counts when it exceeds twice its standard error (about 95% for normal noise)


@dataclass(frozen=True)
class Variant:
    """The job with some of the ablated tricks switched off."""

    off: tuple[str, ...]

    @property
    def label(self) -> str:
        return ALL_ON if not self.off else "without " + "+".join(self.off)

    def tricks(self, all_tricks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The job's tricks list (resolved dumps) with this variant's tricks removed, order kept."""
        return [trick for trick in all_tricks if trick["name"] not in self.off]


def variants(ablated: Sequence[str], factorial: bool) -> list[Variant]:
    """All on first; then each trick off alone, or every combination of them off (2^k variants)."""
    if not factorial:
        return [Variant(()), *[Variant((name,)) for name in ablated]]
    return [Variant(off) for size in range(len(ablated) + 1) for off in itertools.combinations(ablated, size)]


def variant_of(tricks: Sequence[dict[str, Any]], ablated: Sequence[str]) -> Variant:
    """Which variant a trial's tricks list is (the inverse of Variant.tricks)."""
    present = {trick["name"] for trick in tricks}
    return Variant(tuple(name for name in ablated if name not in present))


@dataclass(frozen=True)
class Row:
    """One variant's results over its seeds, compared with all tricks on."""

    label: str
    values: tuple[float, ...]
    mean: float
    std: float
    difference: float  # mean - all-on mean
    noise: float  # NOISE_FACTOR x standard error of that difference
    verdict: str


def summarise_variants(values: dict[str, Sequence[float]], mode: str) -> list[Row]:
    """Mean ± sample std per variant, its difference from all-on, and whether that exceeds the seed noise.

    For a one-off variant the verdict reads as the trick's: if the job gets worse without it,
    the trick "pays"; if better, it "hurts"; otherwise "within noise".
    """
    reference = values[ALL_ON]
    rows = []
    for label, runs in values.items():
        mean, std = _mean(runs), _std(runs)
        difference = mean - _mean(reference)
        noise = NOISE_FACTOR * math.sqrt(std ** 2 / len(runs) + _std(reference) ** 2 / len(reference))
        better = difference > 0 if mode == "max" else difference < 0
        verdict = "reference" if label == ALL_ON else (
            "within noise" if abs(difference) <= noise else ("hurts" if better else "pays"))
        rows.append(Row(label, tuple(runs), mean, std, difference, noise, verdict))
    return rows


def markdown_table(rows: Sequence[Row], metric: str) -> str:
    """The table people paste into a report."""
    lines = [f"| variant | seeds | {metric} mean ± std | difference vs all on | noise (2 SE) | verdict |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.label} | {len(row.values)} | {row.mean:.4f} ± {row.std:.4f} | {row.difference:+.4f} "
                     f"| {row.noise:.4f} | {row.verdict} |")
    return "\n".join(lines) + "\n"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))
