"""Training tricks as small hooks on the loop's events; each wraps a pure function tests pin down.

Importing this package registers every trick.
"""

from trainworks.tricks import label_smoothing  # noqa: F401  (registers)
from trainworks.tricks.registry import TRICKS, TrickContext

__all__ = ["TRICKS", "TrickContext"]
