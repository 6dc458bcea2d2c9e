"""Three trainings at once on one project, each on its own CSV: every published run holds its own data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import load_registry, read_audit, verify_published_run
from yts_assets.ml.demo import generate_demo_frame

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_three_concurrent_runs_publish_only_their_own_data(project: ProjectPaths, tmp_path: Path):
    frame = generate_demo_frame()
    csvs = {}
    for rows in (880, 930, 990):
        path = tmp_path / f"demo_{rows}.csv"
        frame.head(rows).to_csv(path, index=False, encoding="latin-1")
        csvs[hashlib.sha256(path.read_bytes()).hexdigest()] = rows
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "YTS_PROJECT_ROOT": str(project.root),
           "YTS_ARTIFACT_DIR": str(project.artifact_dir)}
    runs = [subprocess.Popen([str(BIN / "yts-run")], cwd=REPO, env={**env, "YTS_DATA_PATH": str(path)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for path in sorted(tmp_path.glob("demo_*.csv"))]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    registry = load_registry(project)
    published = [r for r in registry["runs"] if r["status"] != "rejected"]
    assert published, outputs
    for record in published:
        assert verify_published_run(project, record["run_id"]) == []
        folder = project.published_runs_dir / record["run_id"]
        manifest = json.loads((folder / "training_manifest.json").read_text())
        rows = csvs[manifest["data"]["data_sha256"]]  # the hash of a CSV this test wrote, nothing else
        processed = pd.read_csv(folder / manifest["artifacts"]["processed_channels"]["file"])
        baseline = json.loads((folder / manifest["artifacts"]["training_baseline"]["file"]).read_text())
        assert len(processed) == manifest["data"]["rows"] == baseline["rows"] == rows, record["run_id"]
        assert record["data_sha256"] == manifest["data"]["data_sha256"]
    assert len({r["data_sha256"] for r in published}) == len(published)
    # a run promotes only over the run its champion check compared with: concurrent runs do not silently replace
    # each other, the later ones are recorded as candidates (or rejected)
    promotions = {line["run_id"]: line for line in read_audit(project) if line["action"] == "promote"}
    for record in published:
        if record["status"] == "promoted":
            assert promotions[record["run_id"]]["previous_active_run_id"] == record["compared_with"]
        else:
            assert record["status"] == "candidate" and "after this run was compared with" in record["reason"]
    assert all("Traceback" not in out for out in outputs), outputs
