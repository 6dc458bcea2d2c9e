"""Training stays linear in rows: sampled CV and importance, sampled KMeans fit and DBSCAN."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from yts_assets.ml.clustering import ClusteringConfig, cluster_matrix, sampled_dbscan, train_clustering
from yts_assets.ml.dataset import process
from yts_assets.ml.demo import generate_demo_frame
from yts_assets.ml.training import TrainingConfig, train_supervised


@pytest.fixture(scope="module")
def processed():
    return process(generate_demo_frame()).frame


def scaled_inputs(processed):
    from sklearn.preprocessing import StandardScaler

    logs, _ = cluster_matrix(processed)
    return StandardScaler().fit_transform(logs)


def test_dbscan_is_plain_dbscan_up_to_its_fit_rows(processed):
    scaled = scaled_inputs(processed)
    config = ClusteringConfig()
    labels, fitted = sampled_dbscan(scaled, config, np.random.default_rng(0))
    expected = DBSCAN(eps=config.dbscan_eps, min_samples=config.dbscan_min_samples).fit(scaled).labels_
    assert fitted == len(scaled) and (labels == expected).all()


def test_rows_beyond_the_dbscan_sample_join_their_nearest_core_point(processed):
    scaled = scaled_inputs(processed)
    config = ClusteringConfig(dbscan_fit_rows=400, dbscan_min_samples=5)
    labels, fitted = sampled_dbscan(scaled, config, np.random.default_rng(3))
    chosen = np.sort(np.random.default_rng(3).choice(len(scaled), size=400, replace=False))
    model = DBSCAN(eps=config.dbscan_eps, min_samples=config.dbscan_min_samples).fit(scaled[chosen])
    assert fitted == 400 and (labels[chosen] == model.labels_).all()
    cores = scaled[chosen][model.core_sample_indices_]
    core_labels = model.labels_[model.core_sample_indices_]
    others = np.setdiff1d(np.arange(len(scaled)), chosen)
    for row in others[:200]:  # brute force: the nearest core point decides, within eps
        distances = np.linalg.norm(cores - scaled[row], axis=1)
        nearest = int(np.argmin(distances))
        assert labels[row] == (core_labels[nearest] if distances[nearest] <= config.dbscan_eps else -1), row


def test_kmeans_fitted_on_a_sample_still_labels_every_row(processed):
    model, table = train_clustering(processed, ClusteringConfig(kmeans_fit_rows=300, dbscan_fit_rows=300))
    assert len(table) == len(processed) and set(table["kmeans_cluster"]) == set(range(4))
    assert sum(p["size"] for p in model.profiles) == len(processed)
    assert model.dbscan_summary["fit_rows"] == 300 and model.dbscan_summary["assigned_by_nearest_core"] == 695


def test_cv_and_importance_run_on_a_sample_and_say_so(processed):
    model, results = train_supervised(processed, TrainingConfig(max_iter=5, cv_max_rows=300, importance_max_rows=200))
    result = results["contract"]["earnings"]
    assert result.rows == 300 and result.sampling["usable_rows"] == len(processed)
    assert result.sampling["importance_rows"] == 200 and "sample of 300 of 995" in result.sampling["note"]
    assert model.metrics["contract"]["earnings"]["sampling"] == result.sampling
    full = train_supervised(processed, TrainingConfig(max_iter=5))[1]["contract"]["earnings"]
    assert full.rows == len(processed) and full.sampling["note"] == "every usable row"


def test_clustered_table_ids_and_profiles_equal_a_row_by_row_recomputation(processed):
    from yts_assets.ml.features import channel_id

    model, table = train_clustering(processed, ClusteringConfig(kmeans_fit_rows=300, dbscan_fit_rows=300))
    assert table["channel_id"].tolist() == [channel_id(str(name)) for name in processed["youtuber"]]
    for profile in model.profiles:  # each cluster's rows taken out of the whole table, as the profiles once were
        members = table[table["kmeans_cluster"] == profile["cluster"]]
        counts = members["category"].dropna().value_counts()
        assert profile["size"] == len(members) and profile["share"] == round(len(members) / len(table), 4)
        for name in ("uploads", "subscribers", "earnings", "growth"):
            assert profile["median"][name] == float(members[name].median())
            assert profile["mean"][name] == float(members[name].mean())
        assert profile["dominant_category"] == sorted(counts[counts == counts.max()].index)[0]
        assert profile["growth_known_share"] == round(float(members["growth_known"].mean()), 4)


def test_bench_scale_reports_medians_per_size_and_step():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    runs = [{"wall": wall, "peak_rss_mb": rss, "peak_tree_pss_mb": 2 * rss,
             "steps": [["fit", fit, rss], ["read", 1.0, 100.0]]}
            for wall, rss, fit in ((10.0, 500.0, 4.0), (30.0, 700.0, 9.0), (20.0, 600.0, 5.0))]
    assert bench.median_steps(runs) == [("fit", 5.0, 600.0), ("read", 1.0, 100.0)]
    table = bench.summary_table({1000: runs})
    assert table.splitlines()[-1] == "| 1,000 | 3 | 20.0 s | 600 MB | 1,200 MB | fit 5.0, read 1.0 |"
