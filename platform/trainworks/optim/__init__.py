"""Optimisers and learning-rate schedules by name."""

from trainworks.optim.optimizers import OPTIMIZERS
from trainworks.optim.schedules import SCHEDULES, Plan, Schedule

__all__ = ["OPTIMIZERS", "SCHEDULES", "Plan", "Schedule"]
