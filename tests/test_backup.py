"""Registry backups: create, verify, restore (core, CLI, Dagster), hostile archives, the API after a restore, crashes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import build_schedule_context
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import tree_hashes
from tests.killing import COUNTED_KILL, Forking
from tests.servers import wait_for
from tests.test_serving import ITEM, make_config
from yts_assets.cli.registry import main as registry_cli
from yts_assets.core import config
from yts_assets.core.backup import (
    ArchiveLimits,
    BackupError,
    backup_registry,
    create_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from yts_assets.core.files import sha256_file
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import (
    RESTORE_READY,
    RESTORE_STAGING,
    load_registry,
    read_audit,
    record_rejection,
    recover,
    registry_lock,
    rollback,
    verify_published_run,
)
from yts_assets.definitions import build_definitions
from yts_assets.resources import YtsSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def paths(trained, tmp_path, monkeypatch) -> ProjectPaths:
    """A private copy of the trained project (runs A and B, B active), with the backup variables unset."""
    for name in ("YTS_BACKUP_DIR", "YTS_BACKUP_KEEP", "YTS_BACKUP_CRON"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(trained["root"], tmp_path / "project", ignore=shutil.ignore_patterns("candidates"))
    return ProjectPaths(root=tmp_path / "project", artifact_dir=tmp_path / "project" / "artifacts")


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}


def rebuild(source: Path, target: Path, change) -> Path:  # noqa: ANN001 - change(name, bytes) -> bytes | None (drop)
    """The archive again, member by member, with `change` applied to each member's bytes."""
    with (tarfile.open(source, "r:gz") as src,
          tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT, compresslevel=1) as dst):
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
    return target


def flip_a_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def state(paths: ProjectPaths) -> tuple[bytes, bytes, dict[str, str]]:
    """The registry's bytes, the audit log's, and every file under mlops/ (lock excluded)."""
    return paths.model_registry.read_bytes(), paths.registry_audit.read_bytes(), tree_hashes(paths.mlops_dir)


def test_backup_holds_every_registry_file_and_verifies(paths, trained):
    (paths.mlops_dir / "alerts.jsonl").write_text('{"event": "raised", "key": "k"}\n')
    (paths.mlops_dir / ".model_registry.json.x.tmp").write_text("{")  # an interrupted writer's: `recover` clears it
    (paths.published_runs_dir / ".half.staging").mkdir()
    (paths.mlops_dir / ".alerts.lock").touch()  # lock files stay, left out of the archive
    (paths.mlops_dir / "notes-link").symlink_to(paths.model_registry)  # a symbolic link and a FIFO: skipped
    os.mkfifo(paths.mlops_dir / "a-fifo")
    record_rejection(paths, "run-rejected", [{"check": "c", "why": "failed"}], "pytest")  # a record with no folder
    outcome = backup_registry(paths)
    assert outcome.path.parent == paths.root / "backups" and outcome.path.name.startswith("yts-registry-")
    assert sorted(outcome.skipped) == ["a-fifo (not a regular file)", "notes-link (symbolic link)"]
    report = verify_backup(outcome.path)
    assert report == outcome.report and report.sha256 == sha256_file(outcome.path)
    assert report.active_run_id == trained["b"] and report.runs == 3
    assert set(report.published_runs) == {trained["a"], trained["b"]} and report.audit_records == 3
    inside = members(outcome.path)
    assert (paths.mlops_dir / ".alerts.lock").exists() and not (paths.mlops_dir / ".model_registry.json.x.tmp").exists()
    expected = {f"mlops/{name}" for name in tree_hashes(paths.mlops_dir)} - {"mlops/notes-link", "mlops/.alerts.lock"}
    assert set(inside) == expected | {"backup_manifest.json"}
    assert not [name for name in inside if "/." in name]  # no lock, staging or temp file
    manifest = json.loads(inside["backup_manifest.json"])
    assert manifest["active_run_id"] == trained["b"] and manifest["runs"] == 3 and manifest["yts_version"]
    assert manifest["created_at"] and set(manifest["files"]) == expected
    assert all(entry == {"sha256": hashlib.sha256(inside[name]).hexdigest(), "size": len(inside[name])}
               for name, entry in manifest["files"].items())
    later = create_backup(paths)
    assert list_backups(paths.backups_dir) == [outcome.path, later]  # names sort by time


def test_a_tampered_member_is_refused_by_verify_and_restore(paths, trained, tmp_path):
    archive = create_backup(paths)
    target = f"mlops/runs/{trained['a']}/supervised_bundle.skops"
    tampered = rebuild(archive, tmp_path / "tampered.tar.gz",
                       lambda name, data: flip_a_byte(data) if name == target else data)
    with pytest.raises(BackupError, match=f"tampered.tar.gz: {target}: its sha256 does not match backup_manifest.json"):
        verify_backup(tampered)
    rollback(paths, reason="make the registry differ", actor="pytest")
    before = state(paths)
    with pytest.raises(BackupError, match=target):
        restore_backup(paths, tampered, force=True)
    assert state(paths) == before  # refused before anything changed
    # rewritten consistently (file and backup manifest together): the registry's anchors still refuse it
    inside = members(archive)
    bad = flip_a_byte(inside[target])
    manifest = json.loads(inside["backup_manifest.json"])
    manifest["files"][target] = {"sha256": hashlib.sha256(bad).hexdigest(), "size": len(bad)}
    forged = rebuild(archive, tmp_path / "forged.tar.gz", lambda name, data: bad if name == target else
                     json.dumps(manifest).encode() if name == "backup_manifest.json" else data)
    with pytest.raises(BackupError, match=f"run {trained['a']}: supervised_model: {target} does not match its sha256 "
                                          "in the run's manifest"):
        verify_backup(forged)
    dropped = rebuild(archive, tmp_path / "dropped.tar.gz", lambda name, data: None if name == target else data)
    with pytest.raises(BackupError, match=f"{target}: listed in backup_manifest.json but missing from the archive"):
        verify_backup(dropped)


def hostile(path: Path, info: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info.size = len(data) if info.isreg() else 0
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(("member", "why"), [
    (entry("../evil"), "has '..' in its path"),
    (entry("mlops/runs/../../../evil"), "has '..' in its path"),
    (entry("/etc/evil"), "has an absolute path"),
    (entry("mlops/runs/x/link", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
    (entry("mlops/model_registry.json", tarfile.LNKTYPE, "/etc/passwd"), "is a hard link"),
    (entry("mlops/dev", tarfile.CHRTYPE), "is a device"),
    (entry(f"mlops/{RESTORE_READY}/mlops/model_registry.json"), "has a hidden path component"),
    (entry("elsewhere/file"), "is outside mlops/"),
])
def test_unsafe_members_are_refused(tmp_path, member, why):
    archive = hostile(tmp_path / "hostile.tar.gz", member)
    with pytest.raises(BackupError, match=f"hostile.tar.gz: member {member.name!r} {why}"):
        verify_backup(archive)
    project = ProjectPaths(root=tmp_path / "project", artifact_dir=tmp_path / "project" / "artifacts")
    with pytest.raises(BackupError, match=why):
        restore_backup(project, archive, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar.gz"]  # nothing written anywhere


def test_truncated_corrupt_and_oversized_archives_are_refused(paths, tmp_path):
    archive = create_backup(paths)
    data = archive.read_bytes()
    for cut in (len(data) // 2, len(data) - 4):  # mid-member, and only the gzip trailer missing
        truncated = tmp_path / f"cut-{cut}.tar.gz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(BackupError, match=f"cut-{cut}.tar.gz: not a readable .tar.gz archive, truncated or corrupt"):
            verify_backup(truncated)
    (tmp_path / "text.tar.gz").write_text("not an archive")
    with pytest.raises(BackupError, match="Not a gzipped file"):
        verify_backup(tmp_path / "text.tar.gz")
    with pytest.raises(BackupError, match="no such archive"):
        verify_backup(tmp_path / "missing.tar.gz")
    with pytest.raises(BackupError, match=r"bytes, over the bound of 1000; refused"):
        verify_backup(archive, ArchiveLimits(max_member_bytes=1000))
    with pytest.raises(BackupError, match=r"add up to over 100000 bytes \(a tar bomb\?\)"):
        verify_backup(archive, ArchiveLimits(max_total_bytes=100_000))
    bomb = hostile(tmp_path / "bomb.tar.gz", entry("mlops/zeros"), bytes(20 << 20))  # 20 MB of zeros, 20 kB on disk
    assert bomb.stat().st_size < 100_000
    with pytest.raises(BackupError, match="'mlops/zeros' is 20971520 bytes, over the bound"):
        verify_backup(bomb, ArchiveLimits(max_member_bytes=1 << 20))
    with pytest.raises(BackupError, match="no backup_manifest.json inside: not a yts registry backup"):
        verify_backup(hostile(tmp_path / "plain.tar.gz", entry("mlops/model_registry.json"), b"{}"))


def test_restore_refuses_a_newer_registry_unless_forced(paths, trained):
    archive = create_backup(paths)  # B active
    rollback(paths, reason="newer than the backup", actor="pytest")  # A active: an audit record the backup lacks
    before = state(paths)
    with pytest.raises(BackupError, match=r"is newer than the backup \(it has 1 audit record the backup lacks, the latest "
                                          r".* \(rollback .*\)\. Nothing was changed; restore with --force"):
        restore_backup(paths, archive)
    assert state(paths) == before
    assert not (paths.mlops_dir / RESTORE_STAGING).exists()
    restored = restore_backup(paths, archive, force=True, reason="bad rollback", actor="pytest")
    assert (restored.previous_active_run_id, restored.active_run_id) == (trained["a"], trained["b"])
    assert restored.newer and "rollback" in restored.newer[0]
    registry = load_registry(paths)
    audit = read_audit(paths)
    assert registry["active_run_id"] == trained["b"] and registry["last_audit"] == audit[-1]
    assert [a["action"] for a in audit] == ["promote", "promote", "restore"]  # the backup's log, plus the restore
    assert audit[-1]["reason"] == f"restore from {archive.name}: bad rollback" and audit[-1]["actor"] == "pytest"
    assert audit[-1]["archive_sha256"] == sha256_file(archive)
    assert json.loads(paths.canonical.training_manifest.read_text())["run_id"] == trained["b"]
    assert paths.canonical.supervised_model.read_bytes() == (paths.published_runs_dir / trained["b"] /
                                                             "supervised_bundle.skops").read_bytes()
    kept = paths.mlops_dir / audit[-1]["replaced"]  # what the restore replaced is kept
    assert (kept / "model_registry.json").read_bytes() == before[0] and (kept / "registry_audit.jsonl").read_bytes() == before[1]
    paths.model_registry.write_text("{")  # a registry that does not parse: the restore is the repair
    repaired = restore_backup(paths, archive)
    assert repaired.active_run_id == trained["b"] and load_registry(paths)["active_run_id"] == trained["b"]
    assert (paths.mlops_dir / read_audit(paths)[-1]["replaced"] / "model_registry.json").read_text() == "{"


def test_restore_rebuilds_a_deleted_registry_and_the_api_follows(paths, trained):
    older = create_backup(paths)  # B active
    rollback(paths, reason="before the newer backup", actor="pytest")
    newer = create_backup(paths)  # A active
    items = {"items": [ITEM, {**ITEM, "uploads": 7, "country": "Brazil"}]}
    with TestClient(create_app(make_config(paths))) as client:
        wait_for(lambda: client.get("/ready").json()["serving_run_id"] == trained["a"], what="serving A")
        before = client.post("/predict/batch", json=items).json()
        shutil.rmtree(paths.mlops_dir)
        wait_for(lambda: client.get("/ready").status_code == 503, what="not ready without a registry")
        restore_backup(paths, newer)
        wait_for(lambda: client.get("/ready").status_code == 200, what="ready after the restore")
        assert client.get("/ready").json()["serving_run_id"] == trained["a"]
        assert all(verify_published_run(paths, run_id) == [] for run_id in (trained["a"], trained["b"]))
        restore_backup(paths, older, force=True)  # taken before the rollback: B active
        wait_for(lambda: client.post("/predict", json=ITEM).json()["run_id"] == trained["b"], what="swap to B")
        restore_backup(paths, newer)  # no force needed: records of restores do not make a registry newer
        wait_for(lambda: client.post("/predict", json=ITEM).json()["run_id"] == trained["a"], what="swap to A")
        assert client.post("/predict/batch", json=items).json() == before  # A loaded again, from restored files


def test_retention_keeps_the_newest_and_deletes_only_its_archives(paths, monkeypatch):
    folder = paths.backups_dir
    folder.mkdir()
    others = ["yts-registry-notes.tar.gz", "other.tar.gz", "yts-registry-20200101T000000Z.txt", "README"]
    for name in others:
        (folder / name).write_text("not ours")
    oldest, older = folder / "yts-registry-20200101T000000Z.tar.gz", folder / "yts-registry-20200102T000000.500Z.tar.gz"
    for path in (older, oldest):
        path.write_text("an old archive")
    monkeypatch.setenv("YTS_BACKUP_KEEP", "2")
    first = backup_registry(paths)
    assert first.deleted == (oldest,)
    second = backup_registry(paths)
    assert second.deleted == (older,)
    assert list_backups(folder) == [first.path, second.path]
    assert sorted(p.name for p in folder.iterdir()) == sorted(others + [first.path.name, second.path.name])
    monkeypatch.setenv("YTS_BACKUP_KEEP", "0")
    with pytest.raises(BackupError, match="YTS_BACKUP_KEEP=0: at least one backup must be kept"):
        backup_registry(paths)
    monkeypatch.setenv("YTS_BACKUP_DIR", "elsewhere/backups")  # relative: to the project root
    monkeypatch.setenv("YTS_PROJECT_ROOT", str(paths.root))
    assert ProjectPaths.from_env().backups_dir == paths.root / "elsewhere" / "backups"


def test_backup_job_runs_through_dagster_on_its_schedule(paths, instance, monkeypatch):
    monkeypatch.setenv("YTS_BACKUP_CRON", "15 4 * * *")
    defs = build_definitions(settings=YtsSettings(project_root=str(paths.root), artifact_dir=str(paths.artifact_dir)))
    schedule = defs.resolve_schedule_def("backup_schedule")
    assert schedule.cron_schedule == "15 4 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status.value == "RUNNING" and schedule.job_name == "backup_job"
    assert config.BACKUP_CRON.default == "30 2 * * *"
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 11, 28, 4, 15, tzinfo=timezone.utc))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags["yts/trigger"] == "schedule"
    result = defs.resolve_job_def("backup_job").execute_in_process(instance=instance)
    assert result.success
    [archive] = list_backups(paths.backups_dir)
    assert result.output_for_node("backup_registry_op") == str(archive)
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["sha256"].value == sha256_file(archive) and metadata["runs"].value == 2
    assert metadata["size_bytes"].value == archive.stat().st_size and metadata["deleted_archives"].value == []


def test_cli_backup_verify_and_restore(paths, trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YTS_PROJECT_ROOT", str(paths.root))
    monkeypatch.setenv("YTS_ARTIFACT_DIR", str(paths.artifact_dir))
    assert registry_cli(["backup"]) == 0
    out = capsys.readouterr().out.splitlines()
    archive = Path(out[0])
    assert archive.is_file() and out[1].startswith(f"{archive.name}: verified;") and f"active run {trained['b']}" in out[1]
    assert registry_cli(["verify-backup", str(archive)]) == 0
    assert capsys.readouterr().out.startswith(f"{archive.name}: verified;")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:-100])
    assert registry_cli(["verify-backup", str(truncated)]) == 2
    assert "truncated.tar.gz: not a readable .tar.gz archive, truncated or corrupt" in capsys.readouterr().err
    assert registry_cli(["--actor", "ops", "rollback", "--reason", "newer"]) == 0
    before = paths.model_registry.read_bytes()
    assert registry_cli(["restore", str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("yts-registry: refused to restore") and "--force" in err
    assert paths.model_registry.read_bytes() == before
    assert registry_cli(["--actor", "ops", "restore", str(archive), "--force", "--reason", "undo"]) == 0
    out = capsys.readouterr().out
    assert f"active run is now {trained['b']} (was {trained['a']})" in out and "replaced a newer registry" in out
    assert read_audit(paths)[-1]["reason"] == f"restore from {archive.name}: undo"
    assert registry_cli(["restore", str(tmp_path / "missing.tar.gz")]) == 2


def test_a_restore_interrupted_after_its_commit_point_is_finished_by_recover(paths, trained, monkeypatch):
    """In-process: os.replace raises at its n-th call in a forced restore; `recover` then gives old or new
    (every step, with kill -9: test_kill_at_every_step_of_a_restore)."""
    archive = create_backup(paths)
    rollback(paths, reason="newer", actor="pytest")
    old = state(paths)
    new_audit = [json.loads(line) for line in members(archive)["mlops/registry_audit.jsonl"].splitlines()]
    real_replace, outcomes = os.replace, []
    for fail_at in (3,):  # 1: the staged registry, 2: the commit point (a rename), 3: the first move after it
        calls = 0

        def failing(src, dst, fail_at=fail_at):  # noqa: ANN001, ANN202
            nonlocal calls
            calls += 1
            if calls == fail_at:
                raise OSError(f"injected failure at replace {fail_at}")
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", failing)
        try:
            restore_backup(paths, archive, force=True)
            finished = True
        except OSError:
            finished = False
        monkeypatch.setattr(os, "replace", real_replace)
        outcomes.append(check_old_or_new(paths, old, new_audit, trained["b"]))
        assert not finished
        restore_back_old(paths, old)
    assert outcomes == ["new"]


def check_old_or_new(paths: ProjectPaths, old: tuple, backup_audit: list[dict], backup_active: str) -> str:
    """After `recover`: exactly the old registry and audit log, or the backup's plus one restore record."""
    with registry_lock(paths):
        recover(paths)
    assert not (paths.mlops_dir / RESTORE_READY).exists() and not (paths.mlops_dir / RESTORE_STAGING).exists()
    registry = load_registry(paths)
    for run in registry["runs"]:
        assert verify_published_run(paths, run["run_id"], registry) == []
    assert json.loads(paths.canonical.training_manifest.read_text())["run_id"] == registry["active_run_id"]
    if (paths.model_registry.read_bytes(), paths.registry_audit.read_bytes()) == old[:2]:
        return "old"
    audit = read_audit(paths)
    assert audit[:-1] == backup_audit and audit[-1]["action"] == "restore" and registry["last_audit"] == audit[-1]
    assert registry["active_run_id"] == backup_active
    return "new"


def restore_back_old(paths: ProjectPaths, old: tuple) -> None:
    """Put the old registry and audit log back (the runs are the same two) for the next kill point."""
    paths.model_registry.write_bytes(old[0])
    paths.registry_audit.write_bytes(old[1])
    with registry_lock(paths):
        recover(paths)


KILLER = COUNTED_KILL + """
from pathlib import Path
from yts_assets.core import backup
from yts_assets.core.paths import ProjectPaths
os.replace, shutil.rmtree = counted(os.replace), counted(shutil.rmtree)
if sys.argv[2] == "backup":  # a restore's fsyncs and unlinks are of staged files, before its commit point
    os.fsync, os.unlink = counted(os.fsync), counted(os.unlink)
paths = ProjectPaths(root=Path(sys.argv[3]), artifact_dir=Path(sys.argv[3]) / "artifacts")
if sys.argv[2] == "backup":
    backup.backup_registry(paths, keep=1)
else:
    backup.restore_backup(paths, sys.argv[4], force=True)
print("DONE", calls)
"""


@pytest.fixture
def killer() -> Iterator[Forking]:
    """Runs KILLER as `python -c KILLER step ...` would, each time in a fresh child forked after the imports."""
    with Forking(KILLER, ["yts_assets.core.backup", "yts_assets.core.paths"], cwd=REPO, timeout=120,
                 env={**os.environ, "PYTHONPATH": str(REPO)}) as server:
        yield server


def killed_at(killer: Forking, step: int, *args: str) -> subprocess.CompletedProcess:
    completed = killer.run(str(step), *args)
    assert completed.returncode in (0, -9), completed.stderr[-2000:]
    return completed


@pytest.mark.slow
def test_kill_at_every_step_of_a_backup(paths, killer):
    first = create_backup(paths)
    registry_before = tree_hashes(paths.mlops_dir)
    for step in range(1, 100):
        completed = killed_at(killer, step, "backup", str(paths.root))
        assert tree_hashes(paths.mlops_dir) == registry_before  # a backup never changes the registry
        archives = list_backups(paths.backups_dir)
        for archive in archives:
            verify_backup(archive)  # every archive in place is complete
        if completed.returncode == 0:
            assert len(archives) == 1 and archives[0] != first
            break
        assert first in archives or len(archives) == 1  # killed before retention, or after it
    else:
        pytest.fail("the backup never completed")
    assert step > 3
    assert not list(paths.backups_dir.glob(".*.tmp"))  # the next backup cleared what killed ones left


@pytest.mark.slow
@pytest.mark.parametrize("over", ["a newer registry (forced)", "a deleted mlops folder"])
def test_kill_at_every_step_of_a_restore(paths, trained, over, killer):
    archive = create_backup(paths)
    backup_audit = [json.loads(line) for line in members(archive)["mlops/registry_audit.jsonl"].splitlines()]
    rollback(paths, reason="newer", actor="pytest")
    if over == "a deleted mlops folder":
        shutil.rmtree(paths.mlops_dir)
        with registry_lock(paths):
            pass
    old = (paths.model_registry.read_bytes() if paths.model_registry.exists() else b"",
           paths.registry_audit.read_bytes() if paths.registry_audit.exists() else b"")
    seen = set()
    for step in range(1, 200):
        completed = killed_at(killer, step, "restore", str(paths.root), str(archive))
        with registry_lock(paths):
            recover(paths)
        if over == "a deleted mlops folder" and not paths.model_registry.exists():
            seen.add("old")  # not committed: still no registry, and no staging left
            assert not (paths.mlops_dir / RESTORE_STAGING).exists()
            continue
        seen.add(check_old_or_new(paths, old, backup_audit, trained["b"]))
        if completed.returncode == 0:
            break
        if over == "a deleted mlops folder":
            shutil.rmtree(paths.mlops_dir)
            with registry_lock(paths):
                pass
        else:
            restore_back_old(paths, old)
    else:
        pytest.fail("the restore never completed")
    assert seen == {"old", "new"} and step > 10
