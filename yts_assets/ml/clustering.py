"""Channel archetypes: KMeans and DBSCAN over scaled log uploads, subscribers, earnings, growth."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .features import channel_ids
from .models import ClusteringModel, cluster_logs

CLUSTER_INPUTS: dict[str, str] = {
    "uploads": "uploads",
    "subscribers": "subscribers",
    "earnings": "highest_yearly_earnings",
    "growth": "growth_target",
}
CLUSTERING_COLUMNS = ("youtuber", "category", *CLUSTER_INPUTS.values())  # all train_clustering reads
GROWTH_HANDLING = (
    "missing growth labels are imputed with the median of the known labels (in log1p space) "
    "for clustering only; `growth_known` in clustered_channels.csv marks them"
)
ARCHETYPE_NAMES: dict[tuple[str, bool], str] = {
    ("subscribers", True): "Mega-audience channels",
    ("subscribers", False): "Smaller established channels",
    ("uploads", True): "High-volume uploaders",
    ("uploads", False): "Low-volume creators",
    ("earnings", True): "Top earners",
    ("earnings", False): "Low-monetization channels",
    ("growth", True): "Fast risers",
    ("growth", False): "Plateaued channels",
}


@dataclass(frozen=True)
class ClusteringConfig:
    kmeans_clusters: int = 4
    dbscan_eps: float = 0.75
    dbscan_min_samples: int = 10
    random_seed: int = 42
    # KMeans is fitted on at most kmeans_fit_rows rows (its centroids are stable long before) and assigns every
    # row. DBSCAN's neighbour search grows quadratically on dense data, so it runs on at most dbscan_fit_rows rows;
    # every other row joins the cluster of its nearest core point when that point is within eps, else it is
    # noise. Up to dbscan_fit_rows rows (the real data has 995) this is plain DBSCAN.
    kmeans_fit_rows: int = 20_000
    dbscan_fit_rows: int = 5_000

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def cluster_matrix(processed: pd.DataFrame, growth_fill: float | None = None) -> tuple[np.ndarray, float]:
    return cluster_logs(processed[list(CLUSTER_INPUTS.values())].to_numpy(dtype=float), growth_fill)


def name_archetypes(centroids_z: np.ndarray) -> list[str]:
    """Give each cluster the name of its most distinctive feature, never reusing a name."""
    names: list[str | None] = [None] * len(centroids_z)
    used: set[str] = set()
    features = list(CLUSTER_INPUTS)
    order = np.dstack(np.unravel_index(np.argsort(-np.abs(centroids_z), axis=None), centroids_z.shape))[0]
    for cluster, feature in order:
        name = ARCHETYPE_NAMES[(features[feature], bool(centroids_z[cluster, feature] > 0))]
        if names[cluster] is None and name not in used:
            names[cluster] = name
            used.add(name)
    return [name or f"Mixed profile {i}" for i, name in enumerate(names)]


@dataclass(frozen=True)
class ClusteringFit:
    """What clustering_bundle keeps of a fit: the table, the model's two file forms (serialized, and the .skops
    form loaded back, where it was fitted) and its profile; no scikit-learn object, so that the run process need
    not import scikit-learn to receive it from a worker."""

    table: pd.DataFrame
    pickled: bytes
    safe: bytes
    profile_rows: list[dict[str, Any]]
    dbscan_summary: dict[str, int]


def fit_clustering(processed: pd.DataFrame, config: ClusteringConfig) -> ClusteringFit:
    model, table = train_clustering(processed, config)
    return ClusteringFit(table, *model.serialize(), model.profile_rows(), model.dbscan_summary)


def train_clustering(processed: pd.DataFrame, config: ClusteringConfig) -> tuple[ClusteringModel, pd.DataFrame]:
    """Returns (model, clustered channels table)."""
    from sklearn.cluster import KMeans  # scikit-learn is imported when clustering runs, not with the code location
    from sklearn.preprocessing import StandardScaler

    logs, growth_fill = cluster_matrix(processed)
    scaler = StandardScaler().fit(logs)
    scaled = scaler.transform(logs)
    rng = np.random.default_rng(config.random_seed)
    with threadpool_limits(limits=1):  # at most kmeans_fit_rows rows: OpenMP threads cost more than they save
        kmeans = KMeans(n_clusters=config.kmeans_clusters, n_init=10, random_state=config.random_seed).fit(
            bounded_sample(scaled, config.kmeans_fit_rows, rng))
    kmeans_labels = kmeans.predict(scaled) if len(scaled) > config.kmeans_fit_rows else kmeans.labels_
    dbscan_labels, dbscan_fit_rows = sampled_dbscan(scaled, config, rng)
    archetypes = name_archetypes(kmeans.cluster_centers_)

    table = pd.DataFrame({
        "channel_id": channel_ids(processed["youtuber"]),
        "youtuber": processed["youtuber"],
        "category": processed["category"],
        **{name: processed[column] for name, column in CLUSTER_INPUTS.items()},
        "growth_known": processed["growth_target"].notna(),
        "kmeans_cluster": kmeans_labels,
        "archetype": np.asarray(archetypes, dtype=object)[kmeans_labels],
        "dbscan_cluster": dbscan_labels,
    })
    profiles = cluster_profiles(table, kmeans.cluster_centers_, archetypes)
    found = set(np.unique(dbscan_labels).tolist())
    model = ClusteringModel(
        scaler=scaler,
        kmeans=kmeans,
        archetypes=archetypes,
        profiles=profiles,
        dbscan_summary={"clusters": len(found - {-1}), "noise_points": int((dbscan_labels == -1).sum()),
                        "fit_rows": dbscan_fit_rows, "assigned_by_nearest_core": len(scaled) - dbscan_fit_rows},
        growth_fill_log1p=growth_fill,
        growth_handling=GROWTH_HANDLING,
        config=config.as_dict(),
    )
    return model, table


def bounded_sample(values: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= max_rows:
        return values
    return values[np.sort(rng.choice(len(values), size=max_rows, replace=False))]


def sampled_dbscan(scaled: np.ndarray, config: ClusteringConfig, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """DBSCAN labels for every row, and how many rows DBSCAN itself ran on (see ClusteringConfig.dbscan_fit_rows)."""
    from sklearn.cluster import DBSCAN
    from sklearn.neighbors import NearestNeighbors

    model = DBSCAN(eps=config.dbscan_eps, min_samples=config.dbscan_min_samples)
    if len(scaled) <= config.dbscan_fit_rows:
        return model.fit(scaled).labels_, len(scaled)
    chosen = np.sort(rng.choice(len(scaled), size=config.dbscan_fit_rows, replace=False))
    model.fit(scaled[chosen])
    labels = np.full(len(scaled), -1, dtype=int)
    cores = model.core_sample_indices_
    if len(cores):
        distance, nearest = NearestNeighbors(n_neighbors=1).fit(scaled[chosen][cores]).kneighbors(scaled)
        within = distance[:, 0] <= config.dbscan_eps
        labels[within] = model.labels_[cores][nearest[within, 0]]
    labels[chosen] = model.labels_  # the fitted rows keep DBSCAN's own labels (border points included)
    return labels, config.dbscan_fit_rows


def cluster_profiles(table: pd.DataFrame, centroids_z: np.ndarray, archetypes: list[str]) -> list[dict[str, object]]:
    """Per KMeans cluster: size, share, median and mean of each input, dominant category, centroid. Each statistic
    is taken over the cluster's values of that one column, in table order (no copy of the table per cluster)."""
    labels = table["kmeans_cluster"].to_numpy()
    inputs = {name: table[name] for name in CLUSTER_INPUTS}
    category, growth_known = table["category"], table["growth_known"].to_numpy()
    profiles = []
    for cluster, archetype in enumerate(archetypes):
        members = np.flatnonzero(labels == cluster)
        values = {name: column.iloc[members] for name, column in inputs.items()}
        profiles.append({
            "cluster": cluster,
            "archetype": archetype,
            "size": int(len(members)),
            "share": round(len(members) / len(table), 4),
            "median": {name: _float_or_none(column.median()) for name, column in values.items()},
            "mean": {name: _float_or_none(column.mean()) for name, column in values.items()},
            "dominant_category": _dominant(category.iloc[members]),
            "centroid_z": {name: round(float(z), 3) for name, z in zip(CLUSTER_INPUTS, centroids_z[cluster])},
            "growth_known_share": round(float(growth_known[members].mean()), 4) if len(members) else 0.0,
        })
    return profiles


def _float_or_none(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def _dominant(values: pd.Series) -> str | None:
    """The most frequent value (ties: alphabetical first), None when there is none."""
    counts = values.dropna().value_counts()
    if counts.empty:
        return None
    return str(sorted(counts[counts == counts.max()].index)[0])
