"""The worker pool (yts_assets/ml/workers.py): same results as in-process, errors carried back, models saved only in
a form that loads, and no worker outliving a killed run process."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from yts_assets.core.files import sha256_file
from yts_assets.core.processes import FEW_COLLECTIONS, process_alive
from yts_assets.ml import models, workers
from yts_assets.ml.dataset import load_raw, process
from yts_assets.ml.models import ModelFormatError, SupervisedModel
from yts_assets.ml.training import (
    TrainingConfig,
    assemble_supervised,
    fit_supervised,
    serialize_supervised,
    train_supervised,
)

REPO = Path(__file__).resolve().parents[1]


def fails(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def pool():
    workers.start(2)
    try:
        yield
    finally:
        workers.stop()


@pytest.fixture(scope="module")
def processed(real_csv):
    return process(load_raw(real_csv).frame).frame


def test_without_a_pool_jobs_run_in_this_process():
    assert not workers.running()
    assert workers.run_all(int, [("7",), ("8",)]) == [7, 8]
    assert workers.submit(os.getpid).result() == os.getpid()
    with pytest.raises(ValueError, match="inline"):
        workers.submit(fails, "inline").result()


def _worker_state() -> tuple[tuple[int, int, int], bool, bool]:
    return gc.get_threshold(), "skops.io" in sys.modules, "sklearn.ensemble" in sys.modules


@pytest.mark.slow
def test_workers_start_with_their_imports_done_and_the_collector_tuned(pool):
    thresholds, skops_loaded, sklearn_loaded = workers.submit(_worker_state).result()
    assert thresholds == FEW_COLLECTIONS and skops_loaded and sklearn_loaded


@pytest.mark.slow
def test_stop_ends_the_forkserver_at_once_and_a_new_pool_starts_another():
    from multiprocessing import forkserver

    workers.start(1)
    assert workers.submit(os.getpid).result() != os.getpid()
    server = forkserver._forkserver._forkserver_pid
    workers.stop()
    assert not process_alive(server)  # reaped, not left to tear down its imports while holding our stdout
    workers.start(1)
    try:
        assert workers.submit(os.getpid).result() != os.getpid()
        assert forkserver._forkserver._forkserver_pid not in {None, server}
    finally:
        workers.stop()


@pytest.mark.slow
def test_the_pool_runs_jobs_elsewhere_in_order_and_carries_errors_back(pool):
    pids = set(workers.run_all(_pid_after, [(0.2,), (0.2,), (0.2,), (0.2,)]))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert workers.run_all(pow, [(2, 3), (3, 2), (10, 0)]) == [8, 9, 1]
    with pytest.raises(ValueError, match="in a worker"):
        workers.submit(fails, "in a worker").result()
    assert workers.run_all(pow, [(2, 2)]) == [4]  # a failed job leaves the pool usable


@pytest.mark.slow
def test_after_a_worker_dies_jobs_run_in_this_process(pool):
    with pytest.raises(BrokenProcessPool):
        workers.submit(os._exit, 9).result()  # a worker killed mid-job (OOM, kill -9): that job's step fails
    assert workers.submit(os.getpid).result() == os.getpid()  # later jobs still run, here


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.slow
def test_training_on_the_pool_equals_training_in_process(processed, pool, tmp_path):
    config = TrainingConfig(cv_folds=3, max_iter=20)
    pooled_fit = fit_supervised(processed, config)
    _, pooled_skops = workers.submit(serialize_supervised, pooled_fit).result()  # put together in a worker
    pooled, pooled_results = assemble_supervised(pooled_fit), pooled_fit.results
    workers.stop()
    inline, inline_results = train_supervised(processed, config)
    from_worker = SupervisedModel.loads(pooled_skops, "the model a worker put together")
    assert from_worker.summary() == inline.summary() == pooled_fit.summary()
    assert from_worker.intervals == inline.intervals and from_worker.feature_importance == inline.feature_importance
    assert json.dumps(pooled.metrics, sort_keys=True) == json.dumps(inline.metrics, sort_keys=True)
    assert pooled.feature_importance == inline.feature_importance
    assert pooled.intervals == inline.intervals
    features = inline.encode(processed["uploads"], processed["age"], processed["category"], processed["country"])
    for schema in inline.schemas:
        for target, values in inline.predict_log(features, schema).items():
            np.testing.assert_array_equal(pooled.predict_log(features, schema)[target], values)
            np.testing.assert_array_equal(from_worker.predict_log(features, schema)[target], values)
        for target, result in inline_results[schema].items():
            np.testing.assert_array_equal(pooled_results[schema][target].oof_log_predictions,
                                          result.oof_log_predictions)


@pytest.mark.slow
def test_a_model_saved_through_the_pool_loads_from_its_file(processed, pool, tmp_path):
    model, _ = train_supervised(processed, TrainingConfig(cv_folds=3, max_iter=10))
    digest = model.save(tmp_path / "supervised_bundle.joblib")
    assert SupervisedModel.load(tmp_path / "supervised_bundle.joblib") is model  # this process: no second load
    models._LOADED.clear()
    loaded = SupervisedModel.load(tmp_path / "supervised_bundle.skops")  # from the bytes on disk
    assert loaded is not model and sha256_file(tmp_path / "supervised_bundle.skops") == digest
    assert loaded.probe() == model.probe()


class Unloadable:  # not a type yts trusts: skops writes it, yts refuses to load it
    pass


def test_a_model_that_would_not_load_back_is_never_written(processed, tmp_path):
    model, _ = train_supervised(processed, TrainingConfig(cv_folds=3, max_iter=5))
    model = dataclasses.replace(model, config={**model.config, "extra": Unloadable()})
    target = tmp_path / "supervised_bundle.joblib"
    with pytest.raises(ModelFormatError, match="types yts does not trust"):
        model.save(target)
    assert list(tmp_path.iterdir()) == []


KILLED_RUN = """
import time
from yts_assets.ml import workers
from tests.test_workers import _pid_after
workers.start(2)
print(" ".join(map(str, set(workers.run_all(_pid_after, [(0.5,), (0.5,)])))), flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_workers_exit_when_the_run_process_is_killed():
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in process.stdout.readline().split()]
        assert pids and all(_alive(pid) for pid in pids)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), f"workers {pids} outlived the killed run process"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
