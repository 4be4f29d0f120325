"""Gymnasium environments as the `data.dataset` of reinforcement-learning jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator

from trainworks.data.datasets import DATASETS, LoadedData
from trainworks.registry import Params, describe_unknown


@dataclass(frozen=True)
class Environment:
    """What a policy needs to be built for an environment: its observation shape and action count."""

    env_id: str
    observation_shape: tuple[int, ...]
    actions: int


class GymParams(Params):
    """Which environment, and how much experience makes an epoch."""

    env: str = Field("CartPole-v1", description="a Gymnasium environment id with discrete actions")
    episodes_per_epoch: Annotated[int, Field(gt=0)] = Field(32, description="episodes collected per epoch")
    max_steps: Annotated[int, Field(gt=0)] = Field(500, description="an episode is cut after this many steps")
    eval_episodes: Annotated[int, Field(gt=0)] = Field(8, description="greedy episodes scored after each epoch")

    @field_validator("env")
    @classmethod
    def _known_discrete_env(cls, env: str) -> str:
        import gymnasium

        if env not in gymnasium.registry:
            raise ValueError(describe_unknown("environment", env, sorted(gymnasium.registry)))
        return env


def describe(env_id: str) -> Environment:
    """Observation shape and action count, read from a freshly made environment."""
    import gymnasium

    with gymnasium.make(env_id) as env:
        if not hasattr(env.action_space, "n"):
            raise ValueError(f"{env_id} has continuous actions; the policy-gradient agent needs discrete ones")
        return Environment(env_id, tuple(env.observation_space.shape), int(env.action_space.n))


@DATASETS.register("gym", GymParams, tags=("environment",))
def load_gym(params: GymParams) -> LoadedData:
    """A Gymnasium environment (e.g. CartPole-v1): experience comes from playing it, not from a file."""
    return LoadedData(describe(params.env))
