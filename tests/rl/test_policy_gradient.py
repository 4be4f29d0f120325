"""Policy gradients: returns and loss match their formulas, and CartPole gets better with training."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import DIGITS_MLP, make_spec
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.families import family_of
from trainworks.losses import LOSSES
from trainworks.rl.returns import discounted_returns, normalise
from trainworks.runtime.job import prepare_job_data
from trainworks.spec import SpecError


def test_discounted_returns_follow_the_recursion() -> None:
    assert torch.allclose(discounted_returns([1.0, 1.0, 1.0], 0.5), torch.tensor([1.75, 1.5, 1.0]))
    assert torch.allclose(normalise(torch.tensor([1.0, 3.0])), torch.tensor([-1.0, 1.0]))
    assert torch.equal(normalise(torch.tensor([2.0, 2.0])), torch.zeros(2))


def test_policy_gradient_loss_is_minus_log_prob_times_advantage_plus_entropy_bonus() -> None:
    entry = LOSSES.get("policy_gradient")
    loss = entry.build(entry.params(gamma=0.9, normalize=False, entropy=0.1), None)
    logits, actions = torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([1, 0])
    advantages = loss.advantages([[1.0, 1.0]])
    assert torch.allclose(advantages, torch.tensor([1.9, 1.0]))
    log_probs = logits.log_softmax(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    expected = -(log_probs[[0, 1], [1, 0]] * advantages).mean() - 0.1 * entropy
    assert torch.allclose(loss(logits, actions, advantages), expected)


class Returns:
    def __init__(self) -> None:
        self.val_returns: list[float] = []

    def epoch_end(self, record, save) -> None:
        self.val_returns.append(record.metrics["val_return"])

    def fit_end(self, save) -> None:
        pass


def test_reinforce_learns_to_balance_the_pole() -> None:
    spec = make_spec(DIGITS_MLP, data={"dataset": {"name": "gym", "env": "CartPole-v1", "episodes_per_epoch": 32,
                                                   "max_steps": 300, "eval_episodes": 4}},
                     model={"name": "policy_mlp", "hidden": [32]}, loss="policy_gradient",
                     optimizer={"name": "adam", "lr": 0.02}, training={"epochs": 4, "batch_size": 8, "seed": 1})
    reporter = Returns()
    family_of(spec).train(spec, prepare_job_data(spec), SingleProcess(), reporter, None, ())
    assert reporter.val_returns[-1] > 3 * reporter.val_returns[0] and reporter.val_returns[-1] >= 150


def test_environments_need_a_policy_and_a_known_id() -> None:
    with pytest.raises(SpecError, match="unknown environment 'CartPol-v1' \\(did you mean 'CartPole-v1'\\?\\)"):
        make_spec(DIGITS_MLP, data={"dataset": {"name": "gym", "env": "CartPol-v1"}}, model="policy_mlp",
                  loss="policy_gradient")
    with pytest.raises(SpecError, match="model.name: 'mlp' cannot learn from environments"):
        make_spec(DIGITS_MLP, data={"dataset": {"name": "gym"}}, loss="policy_gradient")
    with pytest.raises(SpecError, match="loss.name: 'cross_entropy' does not fit a control task; use one of: "
                                        "policy_gradient"):
        make_spec(DIGITS_MLP, data={"dataset": {"name": "gym"}}, model="policy_mlp")
