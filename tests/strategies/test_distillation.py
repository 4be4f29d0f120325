"""Knowledge distillation: the loss is the formula, the teacher stays fixed, and a student learns to agree with it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import make_spec
from tests.runtime.test_job_inline import inline, quiet
from trainworks.engine.objectives import Classify
from trainworks.runtime.job import run_job
from trainworks.strategies.distillation import Distill, DistillationLoss, distillation_loss, pack


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_loss_matches_the_formula_on_hand_made_logits() -> None:
    student, teacher, label, alpha, temperature = [1.0, 2.0, 0.5], [3.0, 0.0, 1.0], 2, 0.7, 2.0
    p_teacher = softmax([t / temperature for t in teacher])
    p_student = softmax([s / temperature for s in student])
    kl = sum(pt * math.log(pt / ps) for pt, ps in zip(p_teacher, p_student))
    cross_entropy = -math.log(softmax(student)[label])
    expected = alpha * kl * temperature**2 + (1 - alpha) * cross_entropy

    s, t, y = torch.tensor([student]), torch.tensor([teacher]), torch.tensor([label])
    assert distillation_loss(s, t, F.cross_entropy(s, y), alpha, temperature).item() == pytest.approx(expected)
    blended = DistillationLoss(F.cross_entropy, classes=3, alpha=alpha, temperature=temperature)
    assert blended(s, pack(t, y)).item() == pytest.approx(expected)  # through the packed targets the loop uses


def test_teacher_is_evaluated_in_eval_mode_whatever_its_mode_was() -> None:
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    objective = Distill(Classify(3), teacher, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    teacher.train()
    first = objective.targets(x, y)
    teacher.train()
    second = objective.targets(x, y)
    assert not teacher.training and torch.equal(first, second)  # dropout off both times
    assert torch.equal(first[:, :3], teacher(x)) and torch.equal(first[:, 3].long(), y)


def digits(model: dict, epochs: int, **sections) -> dict:
    return {"name": "distill-digits", "data": {"dataset": "digits", "val_fraction": 0.5}, "model": model,
            "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": epochs, "batch_size": 64},
            "tracking": {"experiment": "tests", "log_model": False}, **sections}


TEACHER = {"name": "mlp", "hidden": [256]}
STUDENT = {"name": "mlp", "hidden": [16]}


def test_a_student_taught_by_a_registered_teacher_agrees_with_it_more_than_one_taught_by_labels(tracker) -> None:
    """The teacher learnt from a tenth of the images, so where it and the labels differ shows whom the student
    follows (with an accurate teacher on digits the labels already say nearly all the teacher would)."""
    few = make_spec(digits(TEACHER, 30), data={"dataset": "digits", "val_fraction": 0.9},
                    tracking={"log_model": True, "registered_model": "teacher"})
    teacher = run_job(few, inline(), tracker, quiet())
    assert 0.85 < teacher.metrics["val_accuracy"] < 0.97

    def agreement(alpha: float) -> float:  # alpha 0: the teacher only watches (the same student, labels only)
        strategy = {"name": "distillation", "alpha": alpha, "temperature": 1.0,
                    "teacher": {"model": TEACHER, "source": f"models:/teacher/{teacher.model_version}"}}
        run_id = run_job(make_spec(digits(STUDENT, 6, strategy=strategy)), inline(), tracker, quiet()).run_id
        points = tracker.client.get_metric_history(run_id, "val_teacher_agreement")
        return max(points, key=lambda point: point.step).value

    taught, alone = agreement(0.9), agreement(0.0)
    assert taught > alone + 0.01, (taught, alone)  # about 0.90 against 0.89 here
