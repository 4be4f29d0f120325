"""Optimisers and learning-rate schedules by name (importing this package registers them all).

Wrappers come last: Lookahead offers every optimiser registered before it as its base,
warm-up every schedule registered before it as what follows.
"""

from trainworks.optim import adabound, lbfgs  # noqa: F401  (registers)
from trainworks.optim import lookahead  # noqa: F401  (registers; after the optimisers it wraps)
from trainworks.optim.lbfgs import needs_closure
from trainworks.optim.optimizers import OPTIMIZERS
from trainworks.optim.schedules import SCHEDULES, Plan, Schedule
from trainworks.optim import warmup  # noqa: F401,E402  (registers; after the schedules it hands over to)

__all__ = ["OPTIMIZERS", "SCHEDULES", "Plan", "Schedule", "needs_closure"]
