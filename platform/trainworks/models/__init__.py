"""Model builders by family; importing this package registers them all."""

from trainworks.models import autoencoder, cnn, gan, mlp, policy, sequence  # noqa: F401  (registers)
from trainworks.models.registry import MODELS

__all__ = ["MODELS"]
