"""Weights & Biases tracking, offline: what the run's local transaction log (wandb/offline-run-*/run-<id>.wandb)
records. Nothing touches the network."""

from __future__ import annotations

import inspect
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import Definitions, asset, define_asset_job

from tests.conftest import run_graph
from yts_assets.cli.run import failure_reasons
from yts_assets.core.files import read_json
from yts_assets.core.paths import ProjectPaths
from yts_assets.ml.training import TrainingConfig
from yts_assets.tracking import ExperimentTracking
from yts_assets.wandb_tracking import MODEL_ARTIFACT, REPORTS_ARTIFACT

REPO = Path(__file__).resolve().parents[1]
REPORTS = {"training_metrics.json", "data_quality_report.json", "training_baseline.json", "training_manifest.json"}
MODELS = {"supervised_bundle.skops", "clustering_bundle.skops"}


@pytest.fixture
def wandb_dir(project: ProjectPaths, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """W&B offline and silent, with every folder it writes (runs, cache, staging, settings) in the test's tmp."""
    home = project.root / "wandb-home"
    for name, sub in {"WANDB_DIR": "", "WANDB_CACHE_DIR": "cache", "WANDB_DATA_DIR": "data",
                      "WANDB_CONFIG_DIR": "config", "WANDB_ARTIFACT_DIR": "artifacts"}.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "YTS_ENABLE_WANDB", "YTS_ENABLE_MLFLOW",
                 "YTS_EXPERIMENT_TRACKING_STRICT"):
        monkeypatch.delenv(name, raising=False)
    yield home
    if sys.modules.get("wandb") is not None:
        sys.modules["wandb"].teardown()  # W&B's process-wide singleton keeps the settings it first read from the env


def offline_records(wandb_dir: Path, run_id: str, timeout: float = 30.0) -> dict[str, list]:
    """The records of the offline run `run_id`, by kind (run, summary, artifact, exit, ...), once its exit record is
    written (W&B's service may still be flushing the log when finish() returns on a busy machine; at most `timeout`
    seconds, then whatever is there)."""
    deadline = time.monotonic() + timeout
    while True:
        found = parse_offline_log(wandb_dir, run_id)
        if "exit" in found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def parse_offline_log(wandb_dir: Path, run_id: str) -> dict[str, list]:
    """W&B's transaction log is LevelDB's log format (32 KiB blocks of CRC, length, type, data) after a 7-byte
    W&B header."""
    from wandb.proto import wandb_internal_pb2

    [log] = (wandb_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")
    data, pos, chunk, found = log.read_bytes(), 7, b"", {}
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if (left := 32768 - pos % 32768) < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        if pos + 7 + length > len(data):  # a record still being written
            break
        chunk, pos = chunk + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record.FromString(chunk)
            found.setdefault(record.WhichOneof("record_type"), []).append(getattr(record, record.WhichOneof("record_type")))
            chunk = b""
    return found


def config_of(records: dict[str, list]) -> dict:
    return {item.key: json.loads(item.value_json) for kind in ("run", "config") for record in records.get(kind, [])
            for item in (record.config.update if kind == "run" else record.update)}


def summary_of(records: dict[str, list]) -> dict:
    return {item.key: json.loads(item.value_json) for record in records["summary"] for item in record.update if item.key}


def artifacts_of(records: dict[str, list]) -> dict[str, tuple[str, set[str], dict]]:
    return {a.name: (a.type, {c.path for c in a.manifest.contents}, json.loads(a.metadata or "{}"))
            for a in records.get("artifact", [])}


def assert_summary_logged(records: dict[str, list], manifest: dict) -> None:
    """The same parameters and metrics as MLflow (tests/test_tracking_hpo.py), and both artifacts."""
    config = config_of(records)
    assert config["train_cv_folds"] == 5 and config["hyperparameter_source"] == "defaults"
    assert config["earnings_max_iter"] == TrainingConfig().max_iter and config["target_transform"] == "log1p"
    summary = summary_of(records)
    for target, metrics in manifest["metrics"].items():
        assert summary[f"{target}_log_r2"] == pytest.approx(metrics["model"]["log_r2"])
        assert summary[f"{target}_baseline_log_r2"] == pytest.approx(metrics["baseline"]["log_r2"])
        assert summary[f"{target}_rows"] == metrics["rows"]
    artifacts = artifacts_of(records)
    assert artifacts[REPORTS_ARTIFACT][:2] == ("reports", REPORTS)
    assert artifacts[MODEL_ARTIFACT][:2] == ("model", MODELS)
    assert artifacts[MODEL_ARTIFACT][2]["dagster_run_id"] == manifest["run_id"]


def summary_job(trained: ProjectPaths) -> Definitions:
    """A one-asset job that does what training_manifest does with the resource: log a trained run's summary."""

    @asset
    def wandb_summary(tracking: ExperimentTracking) -> None:
        if not trained.training_manifest.is_file():  # the untracked runs of the strict-mode test
            return
        tracking.log_run_summary(read_json(trained.training_manifest),
                                 reports=[trained.training_metrics, trained.data_quality_report,
                                          trained.training_baseline, trained.training_manifest],
                                 models=[trained.supervised_model, trained.clustering_model])

    return Definitions(assets=[wandb_summary], jobs=[define_asset_job("wandb_job", [wandb_summary])])


def run_summary_job(instance, trained: ProjectPaths, tracking: ExperimentTracking):
    defs = Definitions.merge(summary_job(trained), Definitions(resources={"tracking": tracking}))
    return defs.resolve_job_def("wandb_job").execute_in_process(instance=instance, raise_on_error=False)


@pytest.mark.slow
def test_the_resource_logs_config_metrics_reports_and_models_to_an_offline_run(project, instance, wandb_dir):
    untracked = run_graph(instance)
    assert untracked.success, failure_reasons(untracked)
    trained = project.for_run(untracked.run_id)
    assert not (wandb_dir / "wandb").exists()  # off by default

    result = run_summary_job(instance, trained, ExperimentTracking(wandb_enabled=True))
    assert result.success, failure_reasons(result)
    records = offline_records(wandb_dir, result.run_id)
    [run] = records["run"]
    assert run.run_id == result.run_id and run.project == "yts"
    assert {"wandb_job", result.run_id} <= set(run.tags) and run.display_name == f"wandb_job-{result.run_id[:8]}"
    assert_summary_logged(records, read_json(trained.training_manifest))
    [exit_record] = records["exit"]
    assert exit_record.exit_code == 0


@pytest.mark.slow
def test_the_training_job_logs_its_own_run_to_wandb(project, instance, wandb_dir, monkeypatch):
    from yts_assets.defs.registry.assets import training_manifest

    if "log_run_summary" not in inspect.getsource(training_manifest.op.compute_fn.decorated_fn):
        pytest.skip("training_manifest does not call tracking.log_run_summary yet")
    monkeypatch.setenv("WANDB_PROJECT", "yts-contract")
    monkeypatch.setenv("YTS_ENABLE_WANDB", "true")
    result = run_graph(instance, tracking=ExperimentTracking())
    assert result.success, failure_reasons(result)
    records = offline_records(wandb_dir, result.run_id)
    assert records["run"][0].project == "yts-contract" and "training_job" in records["run"][0].tags
    assert_summary_logged(records, read_json(project.for_run(result.run_id).training_manifest))
    assert records["exit"][0].exit_code == 0


@pytest.mark.slow
def test_a_failed_dagster_run_finishes_its_wandb_run_as_failed(project, instance, wandb_dir):
    result = run_graph(instance, tracking=ExperimentTracking(wandb_enabled=True),
                       run_config={"ops": {"supervised_bundle": {"config": {"cv_folds": 1}}}})
    assert not result.success
    records = offline_records(wandb_dir, result.run_id)
    assert records["run"][0].run_id == result.run_id
    assert "artifact" not in records  # training_manifest was never reached
    [exit_record] = records["exit"]
    assert exit_record.exit_code == 1


@pytest.mark.slow
def test_a_missing_package_or_failed_init_fails_strict_runs_and_warns_otherwise(project, instance, wandb_dir,
                                                                               monkeypatch):
    trained = project.for_run("never-trained")  # the asset never runs when strict setup fails
    monkeypatch.setenv("WANDB_MODE", "no-such-mode")
    monkeypatch.setenv("YTS_EXPERIMENT_TRACKING_STRICT", "true")
    strict = run_summary_job(instance, trained, ExperimentTracking(wandb_enabled=True))
    assert not strict.success
    assert any("but wandb.init for project 'yts' failed" in message for _, message in failure_reasons(strict))

    lenient = run_summary_job(instance, trained, ExperimentTracking(wandb_enabled=True, strict=False))
    assert lenient.success
    assert any("this run is not tracked in W&B" in entry.user_message for entry in instance.all_logs(lenient.run_id))

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    strict = run_summary_job(instance, trained, ExperimentTracking(wandb_enabled=True))
    assert not strict.success
    assert any("W&B tracking is on (YTS_ENABLE_WANDB) but the wandb package is not installed" in message
               for _, message in failure_reasons(strict))
    assert not (wandb_dir / "wandb").exists()


@pytest.mark.slow
def test_tracking_off_imports_nothing_heavy_and_logs_nothing(project: ProjectPaths, wandb_dir):
    """Neither MLflow, W&B nor Optuna turned on: a whole training imports none of them and writes nothing of theirs."""
    script = (
        "import sys\n"
        "from dagster import DagsterInstance\n"
        "from tests.conftest import run_graph\n"
        "with DagsterInstance.ephemeral() as instance:\n"
        "    assert run_graph(instance).success\n"
        "print('LOADED', sorted(m for m in ('wandb', 'yts_assets.wandb_tracking', 'mlflow', 'dagster_mlflow', 'optuna')"
        " if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"YTS_ENABLE_MLFLOW", "MLFLOW_TRACKING_URI"}}
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "LOADED []" in completed.stdout
    assert not (wandb_dir / "wandb").exists()
    assert not (project.artifact_dir / "mlflow").exists()
    assert read_json(project.training_manifest)["mlflow_run_id"] is None
