"""Training tricks as small hooks on the loop's events; each wraps a pure function tests pin down.

Importing this package registers every trick.
"""

from trainworks.tricks import (  # noqa: F401  (each module registers its tricks)
    averaging,
    early_stopping,
    grad_clip,
    label_smoothing,
    mixing,
    penalties,
    speed,
    tta,
)
from trainworks.tricks.registry import TRICKS, TrickContext

__all__ = ["TRICKS", "TrickContext"]
