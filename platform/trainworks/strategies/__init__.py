"""Training strategies (catalogue section 7): how a job trains as a whole, chosen by name in `strategy:`.

Importing this package registers every strategy.
"""

from trainworks.strategies import adversarial, distillation, staged, transfer  # noqa: F401  (each registers)
from trainworks.strategies.registry import STRATEGIES, Strategy, strategy_of

__all__ = ["STRATEGIES", "Strategy", "strategy_of"]
