"""PNG plots for asset metadata (matplotlib, headless)."""

from __future__ import annotations

import io

import numpy as np


def _figure_png(figure) -> bytes:  # noqa: ANN001 - a matplotlib Figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()


def predicted_vs_actual_png(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    """One panel per target: out-of-fold log1p prediction against the log1p label."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4 * len(series), 3.6))
    for index, (target, (actual, predicted)) in enumerate(series.items(), start=1):
        axes = figure.add_subplot(1, len(series), index)
        axes.scatter(actual, predicted, s=6, alpha=0.5)
        low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
        axes.plot([low, high], [low, high], color="grey", linewidth=1)
        axes.set_title(f"{target} (out-of-fold)")
        axes.set_xlabel("actual, log1p")
        axes.set_ylabel("predicted, log1p")
    return _figure_png(figure)


def clusters_png(x: np.ndarray, y: np.ndarray, labels: list[str], x_label: str, y_label: str) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    for name in sorted(set(labels)):
        mask = np.array([label == name for label in labels])
        axes.scatter(x[mask], y[mask], s=8, alpha=0.6, label=name)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(fontsize=7)
    return _figure_png(figure)
