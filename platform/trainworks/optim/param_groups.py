"""Which parameters weight decay should touch: weights of linear and convolution layers, not biases or norms."""

from __future__ import annotations

from torch import nn

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
    nn.InstanceNorm3d, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
)


def exempt_from_decay(model: nn.Module) -> set[str]:
    """Names of parameters decay would only hurt: biases, 1-D parameters and every parameter of a norm layer.

    Shrinking a bias or a norm layer's scale towards zero does not limit the model's
    capacity the way shrinking weights does; it only shifts or mutes activations
    (Loshchilov & Hutter 2019; the usual practice in timm and nanoGPT). A norm layer's
    weight can be 2-D (LayerNorm over a matrix), so norm layers are found by type, not shape.
    """
    exempt = set()
    for module_name, module in model.named_modules():
        for name, parameter in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if isinstance(module, NORM_LAYERS) or parameter.ndim <= 1 or name == "bias":
                exempt.add(full)
    return exempt


def decay_groups(model: nn.Module, weight_decay: float, decay_biases_and_norms: bool) -> list[dict]:
    """Parameter groups for an optimiser: one with `weight_decay`, one without (biases, norms), empty ones left out."""
    named = list(model.named_parameters())
    exempt = set() if decay_biases_and_norms or weight_decay == 0 else exempt_from_decay(model)
    groups = [{"params": [p for name, p in named if name not in exempt], "weight_decay": weight_decay},
              {"params": [p for name, p in named if name in exempt], "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]
