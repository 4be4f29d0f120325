"""Model builders by family; importing this package registers them all."""

from trainworks.models import cnn, mlp  # noqa: F401  (registers the builders)
from trainworks.models.registry import MODELS

__all__ = ["MODELS"]
