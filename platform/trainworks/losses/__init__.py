"""Losses by name (importing this package registers them all)."""

from trainworks.losses import classification, gan, vae  # noqa: F401  (registers)
from trainworks.losses.gan import GanLoss
from trainworks.losses.registry import LOSSES, Loss

__all__ = ["LOSSES", "GanLoss", "Loss"]
