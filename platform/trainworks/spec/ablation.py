"""The `ablation:` section: which of the job's tricks to switch off, over how many seeds (`trainworks ablate`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class AblationSpec(BaseModel):
    """Every listed trick on, then each one off (or every on/off combination), each variant over several seeds."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tricks: list[str] = Field(min_length=1, description="names from this job's tricks: list to switch off")
    seeds: Annotated[int, Field(ge=2, le=100)] = Field(
        3, description="seeds per variant (training.seed + i); the spread between them is the noise")
    factorial: bool = Field(False, description="every on/off combination (2^k variants) instead of one off at a time")
    metric: str | None = Field(None, min_length=1, description="final metric compared; default val_accuracy "
                                                               "(classifiers), val_rmse (regressors), else val_loss")
    mode: Literal["min", "max"] | None = Field(None, description="whether the metric should be small or large")
    max_concurrent: Annotated[int, Field(gt=0)] = Field(2, description="trials running at once")
