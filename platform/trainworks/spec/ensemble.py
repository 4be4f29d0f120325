"""The `ensemble:` section (the catalogue's ensemble strategy): N members trained as parallel Tune trials."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainworks.spec.tune import SpaceEntry


class EnsembleSpec(BaseModel):
    """Members differ by seed (training.seed + i) and by any values sampled from `vary`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    members: Annotated[int, Field(ge=2, le=64)] = Field(3, description="models trained, each a Ray Tune trial")
    combine: Literal["mean", "vote"] = Field(
        "mean", description="classifiers: mean of probabilities or majority vote; regressors always average")
    vary: dict[str, SpaceEntry] = Field(default_factory=dict,
                                        description="dotted job paths sampled once per member (as in tune.space)")
    max_concurrent: Annotated[int, Field(gt=0)] = Field(2, description="members training at once")
