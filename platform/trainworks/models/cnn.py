"""Convolutional networks for images: the guide's small CNN (corrected) and ResNet-18 for small images."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import MODELS
from trainworks.registry import Params


class GuideCNNParams(Params):
    """The guide's layer sizes, with the one change that makes it run at any input size."""

    hidden: Annotated[int, Field(gt=0)] = Field(128, description="width of fc1 (the guide's 128)")
    pooled_size: Annotated[int, Field(gt=0, le=32)] = Field(
        8, description="feature map side after adaptive pooling; fc1 takes 64 * pooled_size**2 inputs"
    )


class GuideCNN(nn.Module):
    """conv(32)-pool-conv(64)-pool-fc(128)-fc(classes), as in the guide.

    The guide hard-codes fc1 = Linear(12544, 128), which matches neither a 224 pixel input
    (64*56*56 features) nor a 32 pixel one (64*8*8). An adaptive average pool to a fixed
    `pooled_size` fixes the feature count, so the same network runs at any input size; at
    32 pixels and the default size 8 it is exactly the guide's network with the right fc1.
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int, pooled_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(pooled_size),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * pooled_size * pooled_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


@MODELS.register("guide_cnn", GuideCNNParams, tags=("image",))
def build_guide_cnn(params: GuideCNNParams, info: DataInfo) -> nn.Module:
    """The guide's small CIFAR-10 CNN, corrected (adaptive pooling) so it runs at any input size."""
    return GuideCNN(info.input_shape[0], info.num_outputs, params.hidden, params.pooled_size)


class ResNetParams(Params):
    """Whether to keep ImageNet's downsampling stem."""

    small_images: bool = Field(True, description="3x3 stride-1 stem and no max-pool, for 32 pixel images")


@MODELS.register("resnet18", ResNetParams, tags=("image",))
def build_resnet18(params: ResNetParams, info: DataInfo) -> nn.Module:
    """torchvision's ResNet-18 (random init), stem adapted to small images and any channel count."""
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=info.num_outputs)
    in_channels = info.input_shape[0]
    if params.small_images:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model
