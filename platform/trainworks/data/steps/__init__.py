"""Preprocessing steps, one module per family; importing this package registers them all."""

from trainworks.data.steps import categorical, image, missing, outliers, scaling, time

__all__ = ["categorical", "image", "missing", "outliers", "scaling", "time"]
