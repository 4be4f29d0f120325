"""What the terminal shows: one line per epoch, then where to find the run."""

from __future__ import annotations

from typing import Mapping

from rich.console import Console

KEY_METRICS = ("train_loss", "d_loss", "g_loss", "val_loss", "val_accuracy", "val_rmse", "val_mse",
               "episode_return", "val_return")


def format_epoch(epoch: int, total: int, metrics: Mapping[str, float]) -> str:
    """`epoch  3/10  train_loss 0.1512  val_loss 0.0884  val_accuracy 0.9721  lr 1.0e-03  0.6s  2659 samples/s`."""
    width = len(str(total))
    shown = [f"{name} {metrics[name]:.4f}" for name in KEY_METRICS if name in metrics]
    lr = f"lr {metrics['lr']:.1e}" if "lr" in metrics else ""
    unit = "episodes" if "episodes_per_second" in metrics else "samples"
    speed = f"{metrics.get('epoch_seconds', 0):.1f}s  {metrics.get(unit + '_per_second', 0):.0f} {unit}/s"
    return "  ".join(part for part in (f"epoch {epoch:>{width}}/{total}", *shown, lr, speed) if part)


class Terminal:
    """A thin wrapper over rich's console so the runtime never formats output itself."""

    def __init__(self, console: Console | None = None, errors: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.errors = errors or (Console(stderr=True, highlight=False, soft_wrap=True) if console is None else console)

    def info(self, text: str) -> None:
        self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        self.errors.print(f"warning: {text}", style="yellow", markup=False)

    def epoch(self, epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        self.console.print(format_epoch(epoch, total, metrics), markup=False)
