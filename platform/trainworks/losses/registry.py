"""The loss registry: each builder sees the data's description and returns what the loop (or a GAN loop) calls.

Tags say which task an entry fits: classification, regression, reconstruction
(autoencoders, VAE) or generation (GAN); spec/consistency.py refuses a loss whose tags
do not include the job's task.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from trainworks.data.types import DataInfo
from trainworks.registry import Params, Registry

Loss = Callable[[Any, torch.Tensor], torch.Tensor]  # (model outputs, targets) -> mean loss
LossBuilder = Callable[[Params, DataInfo], Any]      # a Loss, or a GanLoss for entries tagged "gan"
LOSSES: Registry[LossBuilder] = Registry("loss")
