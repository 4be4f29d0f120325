"""Reinforcement learning: environments as data sets, the policy-gradient loss and its loop.

Importing this package registers the `gym` data set and the `policy_gradient` loss.
"""

from trainworks.rl import environment, loss  # noqa: F401  (registers)
