"""What the worker pool's forkserver imports before it forks any worker (workers.py), collector tuned first."""

from __future__ import annotations

import importlib

from ..core.processes import collect_less

MODULES = ("numpy", "pandas", "sklearn.ensemble", "sklearn.inspection", "sklearn.metrics", "sklearn.model_selection",
           "sklearn.cluster", "sklearn.neighbors", "sklearn.preprocessing", "skops.io", "joblib", "crepes",
           "matplotlib.figure", "matplotlib.backends.backend_agg", "yts_assets.ml.training",
           "yts_assets.ml.clustering", "yts_assets.ml.plots", "yts_assets.ml.maps")

collect_less()
for module in MODULES:
    try:
        importlib.import_module(module)
    except ImportError:  # a worker imports it when a job needs it, and reports the error there
        pass
