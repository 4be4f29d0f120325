"""The policy-gradient loop: play episodes, then one batched forward and backward per step, under DDP.

Episodes are played with the plain policy and no gradients; the log-probabilities are then
recomputed in a single forward pass of the (DDP-wrapped) policy over every step played, so
each optimiser step is one forward and one backward whatever the episodes' lengths. Each
rank plays its own share of the batch's episodes; DDP averages the gradients.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from trainworks.data.types import DataBundle
from trainworks.engine.assemble import build_model, job_info
from trainworks.engine.batching import derive_seed
from trainworks.engine.checkpoint import Checkpoint
from trainworks.engine.distributed import Distributed
from trainworks.engine.families import FAMILIES, Family, Outcome
from trainworks.engine.hooks import Hook, Hooks
from trainworks.engine.loop import EpochRecord, Reporter, make_saver, restored_history
from trainworks.losses import LOSSES
from trainworks.optim import OPTIMIZERS, SCHEDULES, Plan
from trainworks.spec.schema import JobSpec


@dataclass(frozen=True)
class Episode:
    """What one episode produced: observations seen, actions taken, rewards received."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: list[float]

    @property
    def total(self) -> float:
        return sum(self.rewards)


@torch.no_grad()
def play(policy: nn.Module, env, seed: int, greedy: bool) -> Episode:
    """One episode: sample actions from the policy (or take the most likely one when greedy)."""
    device = next(policy.parameters()).device
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards, done = [], [], [], False
    while not done:
        state = torch.as_tensor(observation, dtype=torch.float32, device=device)
        logits = policy(state.unsqueeze(0))[0]
        action = int(logits.argmax()) if greedy else int(torch.distributions.Categorical(logits=logits).sample())
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(state)
        actions.append(action)
        rewards.append(float(reward))
        done = terminated or truncated
    return Episode(torch.stack(observations), torch.tensor(actions, device=device), rewards)


def make_env(spec: JobSpec):
    """The job's environment, cut at max_steps."""
    import gymnasium

    dataset = spec.data.dataset
    return gymnasium.make(dataset.env, max_episode_steps=dataset.max_steps)


def greedy_return(policy: nn.Module, env, seeds: Sequence[int]) -> float:
    """Total reward of greedy episodes summed over the given seeds."""
    policy.eval()
    return sum(play(policy, env, seed, greedy=True).total for seed in seeds)


def train_policy_gradient(spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
                          resume: Checkpoint | None, extra_hooks: Sequence[Hook] = ()) -> None:
    """REINFORCE for `training.epochs` epochs of `episodes_per_epoch` episodes, `batch_size` episodes a step."""
    dataset, training = spec.data.dataset, spec.training
    policy = build_model(spec, data).to(dist.device)
    model = dist.wrap(policy)
    optimizer = OPTIMIZERS.get(spec.optimizer.name).build(spec.optimizer, policy)
    steps = math.ceil(dataset.episodes_per_epoch / training.batch_size)
    schedule = SCHEDULES.get(spec.schedule.name).build(spec.schedule, optimizer, Plan(training.epochs, steps))
    loss_fn = LOSSES.get(spec.loss.name).build(spec.loss, job_info(spec, data))
    hooks = Hooks(extra_hooks)
    if resume is not None:
        for part, key in ((policy, "model"), (optimizer, "optimizer"), (schedule, "schedule")):
            part.load_state_dict(resume.state[key])
    history = restored_history(resume)
    state = lambda: {"model": policy.state_dict(), "optimizer": optimizer.state_dict(),  # noqa: E731
                     "schedule": schedule.state_dict()}
    env, stopped = make_env(spec), bool(resume and resume.meta.get("stopped"))
    per_rank = training.batch_size // dist.world_size
    for epoch in range(history[-1].epoch + 1 if history else 1, training.epochs + 1):
        if stopped:
            break
        torch.manual_seed(derive_seed(training.seed, epoch, dist.rank))
        hooks.on_epoch_start(epoch)
        started = time.perf_counter()
        totals = torch.zeros(4, dtype=torch.float64, device=dist.device)  # loss sum, returns, lengths, episodes
        for step in range(steps):
            seeds = [derive_seed(training.seed, epoch, step, dist.rank, i) for i in range(per_rank)]
            policy.eval()
            episodes = [play(policy, env, seed, greedy=False) for seed in seeds]
            model.train()
            advantages = loss_fn.advantages([episode.rewards for episode in episodes])
            logits = model(torch.cat([episode.observations for episode in episodes]))
            loss = loss_fn(logits, torch.cat([episode.actions for episode in episodes]), advantages.to(dist.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step_end()
            totals += torch.tensor([loss.item() * len(episodes), sum(e.total for e in episodes),
                                    sum(len(e.rewards) for e in episodes), len(episodes)],
                                   dtype=torch.float64, device=dist.device)
        eval_seeds = [derive_seed(training.seed, epoch, 10**6 + i) for i in
                      range(dist.rank, dataset.eval_episodes, dist.world_size)]
        evaluation = torch.tensor([greedy_return(policy, env, eval_seeds)], dtype=torch.float64, device=dist.device)
        loss_sum, returns, lengths, count = dist.all_reduce_sum(totals).tolist()
        seconds = time.perf_counter() - started
        metrics = {"train_loss": loss_sum / count, "episode_return": returns / count, "episode_length": lengths / count,
                   "val_return": dist.all_reduce_sum(evaluation).item() / dataset.eval_episodes,
                   "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": seconds, "episodes_per_second": count / seconds}
        schedule.epoch_end(metrics)
        stopped = hooks.on_validation_end(epoch, metrics)
        history.append(EpochRecord(epoch, metrics))
        reporter.epoch_end(history[-1], make_saver(state, history, stopped))
    env.close()


def policy_outcome(spec: JobSpec, data: DataBundle, final: Checkpoint) -> Outcome:
    """The final policy's greedy return over fresh episodes, and observations as its input example."""
    policy = build_model(spec, data)
    policy.load_state_dict(final.state["model"])
    env = make_env(spec)
    seeds = [derive_seed(spec.training.seed, 2**20 + i) for i in range(spec.data.dataset.eval_episodes)]
    mean_return = greedy_return(policy, env, seeds) / len(seeds)
    example = torch.stack([torch.as_tensor(env.reset(seed=seed)[0], dtype=torch.float32) for seed in seeds[:5]])
    env.close()
    return Outcome({"val_return": mean_return}, policy.eval(), example)


FAMILIES["policy"] = Family(train_policy_gradient, policy_outcome)
