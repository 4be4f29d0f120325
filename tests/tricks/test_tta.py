"""Test-time augmentation: validation outputs are the mean of the outputs on each image and its mirror."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.conftest import make_spec
from trainworks.data.prepare import prepare_data
from trainworks.engine.assemble import build_parts
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import evaluate
from trainworks.tricks.tta import flip_views


def test_the_views_are_the_batch_and_its_left_right_mirror() -> None:
    x = torch.arange(6.0).view(1, 1, 2, 3)
    same, mirrored = flip_views(x)
    assert torch.equal(same, x) and mirrored[0, 0, 0].tolist() == [2.0, 1.0, 0.0]


def test_validation_with_tta_scores_the_mean_of_both_views_outputs() -> None:
    spec = make_spec(model={"name": "guide_cnn", "hidden": 32, "pooled_size": 4}, tricks=["tta"])
    data = prepare_data(spec.data, 0)
    parts = build_parts(spec, data, torch.device("cpu"))
    model, x, y = parts.model.eval(), data.val.x, data.val.y
    with torch.no_grad():
        mean_logits = (model(x) + model(x.flip(-1))) / 2
        plain_logits = model(x)
    scored = evaluate(model, data.val, parts, 100, "fp32", SingleProcess()).metrics
    assert abs(scored["val_loss"] - F.cross_entropy(mean_logits, y).item()) < 1e-5
    assert abs(scored["val_accuracy"] - (mean_logits.argmax(-1) == y).sum().item() / len(y)) < 1e-12
    assert abs(scored["val_loss"] - F.cross_entropy(plain_logits, y).item()) > 1e-4
