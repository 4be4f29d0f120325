"""Data sets, preprocessing steps and augmentations; importing this package registers them all."""

from trainworks.data import steps, timeseries  # noqa: F401  (registers the steps and the timeseries data set)
from trainworks.data.augment import AUGMENTATIONS
from trainworks.data.datasets import DATASETS
from trainworks.data.preprocess import PREPROCESSING

__all__ = ["AUGMENTATIONS", "DATASETS", "PREPROCESSING"]
