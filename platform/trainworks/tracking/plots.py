"""Plots people read faster than tables: learning curves and the confusion matrix, as PNG bytes."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import torch  # noqa: E402


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


QUALITY_METRICS = ("val_accuracy", "val_rmse", "val_mse", "episode_return")


def learning_curve_png(history: Sequence[dict], title: str) -> bytes:
    """Every loss per epoch, and the job's quality metric (accuracy, RMSE, ...) on a second axis."""
    epochs = [row["epoch"] for row in history]
    names = sorted({name for row in history for name in row["metrics"]})
    figure, loss_axis = plt.subplots(figsize=(7, 4))
    for name in (n for n in names if n.endswith("loss")):
        loss_axis.plot(epochs, [row["metrics"].get(name) for row in history], "-o", label=name, markersize=3)
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss")
    lines = loss_axis.get_legend_handles_labels()[0]
    quality = next((name for name in QUALITY_METRICS if name in names), None)
    if quality:
        quality_axis = loss_axis.twinx()
        quality_axis.plot(epochs, [row["metrics"].get(quality) for row in history], "-^", color="tab:green",
                          label=quality, markersize=3)
        quality_axis.set_ylabel(quality)
        lines += quality_axis.get_legend_handles_labels()[0]
    loss_axis.legend(lines, [line.get_label() for line in lines], loc="center right")
    loss_axis.set_title(title)
    return _png(figure)


def image_grid_png(images: torch.Tensor, title: str) -> bytes:
    """A grid of images (N,C,H,W), each scaled to its own range: generated samples, reconstructions."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu(), nrow=int(len(images) ** 0.5 + 0.999), normalize=True,
                     scale_each=True, padding=1)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray" if images.shape[1] == 1 else None)
    axis.set_axis_off()
    axis.set_title(title)
    return _png(figure)


def confusion_matrix_png(confusion: torch.Tensor, classes: Sequence[str], title: str) -> bytes:
    """Counts of true class (rows) against predicted class (columns), annotated when small enough."""
    size = max(4.0, 0.45 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(confusion.numpy(), cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(classes) <= 20:
        peak = confusion.max().item() or 1
        for row, column in torch.cartesian_prod(torch.arange(len(classes)), torch.arange(len(classes))).tolist():
            count = int(confusion[row, column])
            axis.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > peak / 2 else "black", fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.046)
    axis.set_title(title)
    return _png(figure)


def trial_curves_png(curves: dict[str, list[tuple[int, float | None]]], metric: str) -> bytes:
    """Every trial's metric per epoch in one plot (early-stopped trials end early)."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for trial, points in sorted(curves.items()):
        kept = [(epoch, value) for epoch, value in points if value is not None]
        if kept:
            axis.plot(*zip(*kept), "-o", markersize=3, label=trial)
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    if len(curves) <= 12:
        axis.legend(fontsize=7)
    axis.set_title(f"{metric} of every trial")
    return _png(figure)


def metric_by_parameter_png(points: Sequence[tuple[object, float]], parameter: str, metric: str,
                            log_x: bool = False) -> bytes:
    """Each trial's final metric against one searched parameter (categories become ticks)."""
    figure, axis = plt.subplots(figsize=(6, 4))
    values = [value for value, _ in points]
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        axis.scatter(values, [metric_value for _, metric_value in points])
        if log_x:
            axis.set_xscale("log")
    else:
        labels = sorted({str(value) for value in values})
        axis.scatter([labels.index(str(value)) for value in values], [metric_value for _, metric_value in points])
        axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_xlabel(parameter)
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} by {parameter}")
    return _png(figure)


def bar_chart_png(bars: Sequence[tuple[str, float, float]], metric: str, title: str,
                  highlight: str | None = None) -> bytes:
    """One bar per (label, mean, error) with its error bar; `highlight` marks the reference bar."""
    figure, axis = plt.subplots(figsize=(max(5.0, 0.9 * len(bars) + 2), 4))
    labels = [label for label, _, _ in bars]
    colours = ["tab:orange" if label == highlight else "tab:blue" for label in labels]
    axis.bar(range(len(bars)), [mean for _, mean, _ in bars], yerr=[error for _, _, error in bars],
             color=colours, capsize=4)
    axis.set_xticks(range(len(bars)), labels, rotation=30, ha="right")
    low = min(mean - error for _, mean, error in bars)
    high = max(mean + error for _, mean, error in bars)
    margin = max(high - low, 1e-3) * 0.5
    axis.set_ylim(low - margin, high + margin)
    axis.set_ylabel(metric)
    axis.set_title(title)
    return _png(figure)
