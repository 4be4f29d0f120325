"""The importable home of the job spec's per-entry models, so that pickles (Ray) refer to them by name."""

from __future__ import annotations

from typing import Any

from trainworks.spec import schema  # noqa: F401  (building the spec builds every entry's model)
from trainworks.spec.components import BUILT


def __getattr__(name: str) -> Any:
    try:
        return BUILT[name]
    except KeyError:
        raise AttributeError(f"no job-spec entry model named {name!r}") from None
