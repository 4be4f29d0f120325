"""Data sets, preprocessing steps and augmentations; importing this package registers them all."""

from trainworks.data.augment import AUGMENTATIONS
from trainworks.data.datasets import DATASETS
from trainworks.data.preprocess import PREPROCESSING

__all__ = ["AUGMENTATIONS", "DATASETS", "PREPROCESSING"]
