"""Losses equal their formulas on hand-made values, and every entry trains a couple of steps on digits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import make_spec
from tests.engine.test_loop import train
from trainworks.data.types import DataInfo
from trainworks.losses import LOSSES, GanLoss
from trainworks.losses.vae import gaussian_kl
from trainworks.spec.components import entry_model

CLASSIFY = DataInfo("classification", "image", (1, 8, 8), 5)
REGRESS = DataInfo("regression", "table", (3,), 1)


def loss(name: str, info: DataInfo = CLASSIFY, **params):
    entry = LOSSES.get(name)
    return entry.build(entry_model(entry).model_validate({"name": name, **params}), info)


def test_cross_entropy_with_label_smoothing_matches_its_definition() -> None:
    logits, targets = torch.randn(8, 5), torch.randint(0, 5, (8,))
    smooth = 0.2
    soft = F.one_hot(targets, 5).float() * (1 - smooth) + smooth / 5
    expected = -(soft * logits.log_softmax(-1)).sum(-1).mean()
    assert torch.allclose(loss("cross_entropy", label_smoothing=smooth)(logits, targets), expected)


def test_mse_is_brier_score_for_classes_and_plain_mse_for_regression() -> None:
    logits, targets = torch.randn(8, 5), torch.randint(0, 5, (8,))
    brier = ((logits.softmax(-1) - F.one_hot(targets, 5)) ** 2).mean()
    assert torch.allclose(loss("mse")(logits, targets), brier)
    outputs, values = torch.randn(8, 1), torch.randn(8, 1)
    assert torch.allclose(loss("mse", REGRESS)(outputs, values), ((outputs - values) ** 2).mean())


def test_focal_with_gamma_zero_is_exactly_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(64, 5) * 3, torch.randint(0, 5, (64,))
    assert torch.equal(loss("focal", gamma=0.0)(logits, targets), F.cross_entropy(logits, targets))
    soft = torch.softmax(torch.randn(64, 5), -1)  # probability targets (label smoothing, mixup)
    assert torch.allclose(loss("focal", gamma=0.0)(logits, soft), F.cross_entropy(logits, soft), atol=1e-7)


def test_focal_down_weights_easy_examples_by_its_formula() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.5, 0.0]])
    targets = torch.tensor([0, 2])
    p = logits.softmax(-1)[torch.arange(2), targets]
    by_hand = (-(1 - p) ** 2 * p.log() * torch.tensor([0.25, 2.0])).mean()
    info = DataInfo("classification", "image", (1, 8, 8), 3)
    assert torch.allclose(loss("focal", info, gamma=2.0, alpha=[0.25, 1.0, 2.0])(logits, targets), by_hand)
    assert loss("focal", info, gamma=2.0)(logits, targets) < F.cross_entropy(logits, targets)
    with pytest.raises(ValueError, match="loss.alpha: 2 weights for 3 classes"):
        loss("focal", info, alpha=[1.0, 2.0])


def by_hand_bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return -(y * s.log() + (1 - y) * (1 - s).log()).mean()


def test_bce_matches_its_formula_for_every_shape_it_accepts() -> None:
    bce = loss("bce")
    z, y = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([1, 0, 0])
    assert torch.allclose(bce(z, y), by_hand_bce(z, y.float()))                       # one logit, (N,)
    assert torch.allclose(bce(z[:, None], y), by_hand_bce(z, y.float()))              # one logit, (N, 1)
    multi, labels = torch.tensor([[1.0, -1.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 0.3]])
    assert torch.allclose(bce(multi, labels), by_hand_bce(multi, labels))             # multi-label / soft
    ids = torch.tensor([1, 0])
    assert torch.allclose(bce(multi, ids), by_hand_bce(multi, torch.tensor([[0.0, 1.0], [1.0, 0.0]])))  # one-vs-rest
    with pytest.raises(ValueError, match=r"bce: logits \(2, 2\) and targets \(3,\) do not fit"):
        bce(multi, torch.tensor([1.0, 0.0, 1.0]))


def test_vae_loss_is_reconstruction_plus_beta_times_kl() -> None:
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    # KL(N(mu, s^2) || N(0, 1)) = 1/2 sum(s^2 + mu^2 - 1 - log s^2) = 1/2 (1 + 1 - 1 - 0) + 1/2 (2 + 0 - 1 - log 2)
    kl = 0.5 + 0.5 * (1 - math.log(2.0))
    assert gaussian_kl(mu, logvar).item() == pytest.approx(kl)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                  torch.distributions.Normal(0.0, 1.0)).sum()
    assert gaussian_kl(mu, logvar).item() == pytest.approx(reference.item())
    reconstruction, inputs = torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[0.0, 2.0, 0.5]])
    squared = 1.0 + 0.0 + 0.25  # summed over features
    vae = loss("vae", beta=2.0)
    assert vae((reconstruction, mu, logvar), inputs).item() == pytest.approx(squared + 2 * kl, rel=1e-6)
    crossed = 3 * by_hand_bce(reconstruction, inputs).item()  # summed over the 3 features
    assert loss("vae", reconstruction="bce", beta=0.5)((reconstruction, mu, logvar), inputs).item() == pytest.approx(
        crossed + 0.5 * kl, rel=1e-5)


REAL, FAKE = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 3.0])


def softplus(values: list[float]) -> float:
    return sum(math.log1p(math.exp(v)) for v in values) / len(values)


@pytest.mark.parametrize(("name", "params", "discriminator", "generator"), [
    ("gan_bce", {}, softplus([-2.0, 1.0]) + softplus([0.0, 3.0]), softplus([0.0, -3.0])),
    ("gan_hinge", {}, (0 + 2) / 2 + (1 + 4) / 2, -1.5),
    ("gan_wasserstein", {}, 1.5 - 0.5, -1.5),
])
def test_gan_losses_on_hand_made_logits(name: str, params: dict, discriminator: float, generator: float) -> None:
    gan = loss(name, **params)
    assert isinstance(gan, GanLoss) and {"generation", "gan"} <= LOSSES.get(name).tags
    assert gan.discriminator(REAL, FAKE).item() == pytest.approx(discriminator)
    assert gan.generator(FAKE).item() == pytest.approx(generator)


def test_gan_bce_real_label_smooths_the_real_side_only() -> None:
    gan = loss("gan_bce", real_label=0.9)
    real_term = (0.9 * softplus([-2.0, 1.0]) + 0.1 * softplus([2.0, -1.0]))
    assert gan.discriminator(REAL, FAKE).item() == pytest.approx(real_term + softplus([0.0, 3.0]))


def trains_in_the_loop(name: str) -> None:
    """Two epochs of the digits MLP with this loss: far above chance."""
    _, reporter = train(make_spec(loss=name, training={"epochs": 2}))
    assert reporter.records[-1].metrics["val_accuracy"] > 0.7


class TinyVae(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encode, self.decode = nn.Linear(64, 2 * 4), nn.Linear(4, 64)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x.flatten(1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z).view_as(x), mu, logvar


def digits_images() -> torch.Tensor:
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().data[:256], dtype=torch.float32).view(-1, 1, 8, 8) / 16.0


def trains_a_vae(name: str) -> None:
    """A few Adam steps on digits images lower the loss a lot (targets are the inputs)."""
    torch.manual_seed(0)
    images, model = digits_images(), TinyVae()
    criterion = loss(name, reconstruction="bce")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        value = criterion(model(images), images)
        value.backward()
        optimizer.step()
        losses.append(value.item())
    assert losses[-1] < 0.7 * losses[0]


def trains_a_gan(name: str) -> None:
    """Each side's loss, stepped alone, does its job: D separates real from fake, then G fools that D."""
    torch.manual_seed(0)
    real = torch.randn(128, 2) + 3.0
    generator, discriminator = nn.Linear(2, 2), nn.Linear(2, 1)
    gan = loss(name)
    d_opt = torch.optim.SGD(discriminator.parameters(), lr=0.05)
    g_opt = torch.optim.SGD(generator.parameters(), lr=0.05)
    noise = torch.randn(128, 2)

    def d_loss() -> torch.Tensor:
        return gan.discriminator(discriminator(real), discriminator(generator(noise).detach()))

    def g_loss() -> torch.Tensor:
        return gan.generator(discriminator(generator(noise)))

    for optimizer, objective in ((d_opt, d_loss), (g_opt, g_loss)):
        start = objective().item()
        for _ in range(5):
            optimizer.zero_grad()
            objective().backward()
            optimizer.step()
        assert objective().item() < start


def trains_a_policy(name: str) -> None:
    """Positive advantages for an action make a policy choose it more often."""
    torch.manual_seed(0)
    policy, observations = nn.Linear(4, 2), torch.randn(32, 4)
    criterion = loss(name)
    actions, advantages = torch.zeros(32, dtype=torch.long), torch.ones(32)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
    before = policy(observations).softmax(-1)[:, 0].mean()
    for _ in range(5):
        optimizer.zero_grad()
        criterion(policy(observations), actions, advantages).backward()
        optimizer.step()
    assert policy(observations).softmax(-1)[:, 0].mean() > before + 0.1


TRAINERS = {"cross_entropy": trains_in_the_loop, "focal": trains_in_the_loop, "bce": trains_in_the_loop,
            "mse": trains_in_the_loop, "vae": trains_a_vae, "gan_bce": trains_a_gan, "gan_hinge": trains_a_gan,
            "gan_wasserstein": trains_a_gan, "policy_gradient": trains_a_policy}


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_trains_a_couple_of_steps(name: str) -> None:
    assert name in TRAINERS, f"loss '{name}' has no training case in TRAINERS"
    TRAINERS[name](name)


def test_loss_tags_name_the_tasks_they_fit() -> None:
    tasks = {"classification", "regression", "reconstruction", "generation", "control"}
    for entry in LOSSES:
        assert entry.tags & tasks, f"loss '{entry.name}' names no task"
    assert "reconstruction" in LOSSES.get("vae").tags and "classification" not in LOSSES.get("vae").tags
