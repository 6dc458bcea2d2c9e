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


PLOT_MAX_POINTS = 20_000  # a scatter of more points looks the same and costs seconds to draw


def clusters_png(x: np.ndarray, y: np.ndarray, labels: list[str], x_label: str, y_label: str) -> bytes:
    """A scatter coloured by label: at most PLOT_MAX_POINTS points, a seeded sample when there are more."""
    from matplotlib.figure import Figure

    names = np.asarray(labels, dtype=object)
    if len(names) > PLOT_MAX_POINTS:
        chosen = np.sort(np.random.default_rng(0).choice(len(names), size=PLOT_MAX_POINTS, replace=False))
        x, y, names = np.asarray(x)[chosen], np.asarray(y)[chosen], names[chosen]
    figure = Figure(figsize=(6, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    for name in sorted(set(labels)):
        mask = names == name
        axes.scatter(x[mask], y[mask], s=8, alpha=0.6, label=name)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(fontsize=7, loc="upper left")  # "best" searches every point for the emptiest corner
    return _figure_png(figure)
