"""The model registry: immutable published runs, an active pointer, and an audit log.

Every write happens under an exclusive file lock and through a temp file and rename, so
concurrent writers never lose a record and a crash never leaves a half-written registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .files import read_json, sha256_bytes, sha256_file, write_bytes, write_json
from .manifest import artifact_files
from .model_aliases import sync_mlflow
from .paths import ProjectPaths

REGISTRY_FORMAT = 1
LOCK_TIMEOUT_SECONDS = 30.0
PUBLISHED_MANIFEST = "training_manifest.json"
# A restore (core/backup.py) extracts and verifies a backup in mlops/.restore.staging/ (removed by `recover` like any
# staging folder), commits by renaming it to mlops/.restore.ready/, then moves it in; `recover` finishes that move.
RESTORE_STAGING = ".restore.staging"
RESTORE_READY = ".restore.ready"


class RegistryError(RuntimeError):
    """A registry operation was refused; the message says why."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def empty_registry() -> dict[str, Any]:
    return {"registry_format": REGISTRY_FORMAT, "active_run_id": None, "active_history": [], "runs": []}


def load_registry(paths: ProjectPaths) -> dict[str, Any]:
    if not paths.model_registry.is_file():
        return empty_registry()
    try:
        registry = read_json(paths.model_registry)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{paths.model_registry} is not valid JSON ({exc}); restore it from a backup") from exc
    for record in registry["runs"]:  # records written before the original's keys were kept
        record.setdefault("timestamp_utc", record.get("registered_at"))
        record.setdefault("artifact_paths", {})
        record.setdefault("training_config", {})
    return registry


def read_audit(paths: ProjectPaths) -> list[dict[str, Any]]:
    if not paths.registry_audit.is_file():
        return []
    return [json.loads(line) for line in paths.registry_audit.read_text(encoding="utf-8").splitlines() if line.strip()]


@contextlib.contextmanager
def registry_lock(paths: ProjectPaths, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    paths.mlops_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(paths.registry_lock, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(f"registry is locked by another writer ({paths.registry_lock}) for over {timeout:.0f}s")
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run_dir(paths: ProjectPaths, run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise RegistryError(f"invalid run id {run_id!r}")
    return paths.published_runs_dir / run_id


def find_run(registry: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    return next((run for run in registry["runs"] if run["run_id"] == run_id), None)


def verified_manifest(paths: ProjectPaths, run_id: str,
                      registry: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """(the published manifest, problems): verified from the registry down, parsed from the very bytes hashed.

    The registry record anchors the sha256 of the run's published manifest, and the manifest the
    sha256 of every file, so a run folder rewritten as a whole (files and manifest) fails. Use the
    returned manifest, never a second read of the file.
    """
    record = find_run(registry if registry is not None else load_registry(paths), run_id)
    if record is None:
        return None, [f"run {run_id} is not in the registry"]
    anchor = record.get("manifest_sha256")
    if not anchor:
        return None, [f"run {run_id}'s registry record has no manifest_sha256 (published before runs were anchored, "
                      "or never published); retrain to publish it again"]
    folder = run_dir(paths, run_id)
    try:
        data = (folder / PUBLISHED_MANIFEST).read_bytes()
    except OSError as exc:
        return None, [f"{folder / PUBLISHED_MANIFEST} cannot be read: {exc}"]
    if sha256_bytes(data) != anchor:
        return None, [f"{folder / PUBLISHED_MANIFEST} does not match the manifest_sha256 recorded in the registry"]
    manifest = json.loads(data)
    problems = []
    for name, artifact in manifest["artifacts"].items():
        path = folder / artifact["file"]
        if not path.is_file():
            problems.append(f"{name}: {path} is missing")
        elif sha256_file(path) != artifact["sha256"]:
            problems.append(f"{name}: {path} does not match its sha256 in the manifest")
    return (None if problems else manifest), problems


def verify_published_run(paths: ProjectPaths, run_id: str, registry: dict[str, Any] | None = None) -> list[str]:
    """Problems with a published run; an empty list means it verifies from the registry down."""
    return verified_manifest(paths, run_id, registry)[1]


def read_verified(folder: Path, artifact: dict[str, Any]) -> bytes:
    """A published file's bytes, checked against the manifest's sha256 as they are read."""
    data = (folder / artifact["file"]).read_bytes()
    if sha256_bytes(data) != artifact["sha256"]:
        raise RegistryError(f"{folder / artifact['file']} changed after it was verified")
    return data


@dataclass(frozen=True)
class ServingBaseline:
    """The serving run's training baseline: `baseline` is None without a serving run, or when `problem` says why
    it cannot be used. Drift is always measured against what serves: a rejected or candidate run never changes it."""

    run_id: str | None = None
    baseline: dict[str, Any] | None = None
    problem: str | None = None


def serving_baseline(paths: ProjectPaths) -> ServingBaseline:
    """From the active run's published and verified copy; never raises for a registry or verification problem."""
    try:
        registry = load_registry(paths)
        run_id = registry["active_run_id"]
        if run_id is None:
            return ServingBaseline()
        manifest, problems = verified_manifest(paths, run_id, registry)
        if manifest is None:
            return ServingBaseline(run_id, problem=f"active run {run_id} failed verification: " + "; ".join(problems))
        return ServingBaseline(run_id, json.loads(read_verified(run_dir(paths, run_id),
                                                                manifest["artifacts"]["training_baseline"])))
    except RegistryError as exc:
        return ServingBaseline(problem=str(exc))


def _publish_files(paths: ProjectPaths, manifest: dict[str, Any]) -> Path:
    """Copy the candidate artifacts into runs/<run_id>/, checking each hash, then freeze them."""
    target = run_dir(paths, manifest["run_id"])
    staging = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name, artifact in manifest["artifacts"].items():
            copied = staging / artifact["file"]
            shutil.copyfile(artifact["path"], copied)
            if sha256_file(copied) != artifact["sha256"]:
                raise RegistryError(
                    f"{artifact['path']} changed after the manifest was written ({name}); "
                    "another run may be writing the same artifacts. Rematerialize the manifest."
                )
        write_json(staging / PUBLISHED_MANIFEST, manifest)
        for copied in staging.iterdir():
            copied.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _run_record(manifest: dict[str, Any], manifest_sha256: str, status: str, reason: str, actor: str,
                published: Path) -> dict[str, Any]:
    """`published`: the folder holding the run's files (its own, or for an unchanged run the identical one's)."""
    return {
        "run_id": manifest["run_id"],
        "timestamp_utc": manifest.get("timestamp_utc") or manifest.get("created_at") or utc_now(),
        "artifact_paths": {name: str(published / artifact["file"]) for name, artifact in manifest["artifacts"].items()},
        "training_config": manifest.get("training_config", {}),
        "manifest_sha256": manifest_sha256,
        "registered_at": utc_now(),
        "status": status,
        "reason": reason,
        "actor": actor,
        "data_source": manifest["data"]["source"],
        "data_sha256": manifest["data"]["data_sha256"],
        "code_version": manifest["code_version"],
        "metrics": {target: {"log_r2": m["model"]["log_r2"], "baseline_log_r2": m["baseline"]["log_r2"]}
                    for target, m in manifest["metrics"].items()},
        "path": f"runs/{manifest['run_id']}",
    }


def _commit(paths: ProjectPaths, registry: dict[str, Any], audit: dict[str, Any]) -> None:
    """The registry file, written atomically, is the commit point and carries its audit record
    (`last_audit`); the audit log line follows. A crash between the two is repaired by `recover`,
    which appends the missing line: an activation and its audit record commit together."""
    registry["updated_at"] = audit["time"]
    registry["last_audit"] = audit
    write_json(paths.model_registry, registry)
    _append_audit(paths, audit)
    sync_mlflow(paths, registry)  # the champion alias and decision tags follow, where an MLflow store exists


def _append_audit(paths: ProjectPaths, audit: dict[str, Any]) -> None:
    with open(paths.registry_audit, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(audit, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _audit(action: str, run_id: str, previous: str | None, new: str | None, reason: str, actor: str) -> dict[str, Any]:
    return {"time": utc_now(), "txn": uuid.uuid4().hex, "action": action, "run_id": run_id,
            "previous_active_run_id": previous, "new_active_run_id": new, "reason": reason, "actor": actor}


def _last_audit_line(paths: ProjectPaths) -> tuple[str | None, bool]:
    """(txn of the last complete audit line, whether the file ends in a torn line)."""
    if not paths.registry_audit.is_file():
        return None, False
    with open(paths.registry_audit, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(size - (1 << 16), 0))
        tail = handle.read()
    if not tail:
        return None, False
    torn = not tail.endswith(b"\n")
    lines = tail.splitlines()
    complete = lines[:-1] if torn else lines
    for line in reversed(complete):
        try:
            return json.loads(line).get("txn"), torn
        except json.JSONDecodeError:
            continue
    return None, torn


def recover(paths: ProjectPaths) -> list[str]:
    """Repair what an interrupted writer left; call under the registry lock. Returns what was done.

    - a restore that was committed (`mlops/.restore.ready/`) is moved in (`finish_restore`);
    - a torn last audit line is cut off; the registry's `last_audit` is appended if the log lacks it;
    - staging folders and temp files of the registry are removed;
    - published run folders that no registry record points at move to `mlops/orphans/`.
    """
    done: list[str] = []
    if finish_restore(paths):
        done.append("finished moving in a restore that was verified and committed before it was interrupted")
    registry = load_registry(paths)
    last_txn, torn = _last_audit_line(paths)
    if torn:
        data = paths.registry_audit.read_bytes()
        keep = data[: data.rfind(b"\n") + 1]
        with open(paths.registry_audit, "r+b") as handle:
            handle.truncate(len(keep))
            os.fsync(handle.fileno())
        done.append(f"cut a torn last line off {paths.registry_audit.name}")
    pending = registry.get("last_audit")
    if pending and pending.get("txn") != last_txn:
        _append_audit(paths, pending)
        done.append(f"appended the audit record of an interrupted commit ({pending['action']} {pending['run_id']})")
    active = registry["active_run_id"]
    if active and _canonical_run_id(paths) != active and not verify_published_run(paths, active, registry):
        refresh_canonical(paths, active, registry)
        done.append(f"refreshed the canonical artifacts from the active run {active}")
    known = {run["run_id"] for run in registry["runs"]}
    canonical = paths.canonical
    for folder in (paths.mlops_dir, paths.published_runs_dir, canonical.models_dir, canonical.reports_dir,
                   canonical.maps_dir, canonical.processed_csv.parent):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith(".") and (entry.name.endswith(".staging") or entry.name.endswith(".tmp")):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                shown = entry.relative_to(paths.artifact_dir) if entry.is_relative_to(paths.artifact_dir) else entry
                done.append(f"removed {shown} left by an interrupted writer")  # data/ is outside the artifact folder
            elif folder == paths.published_runs_dir and entry.is_dir() and entry.name not in known:
                target = paths.mlops_dir / "orphans" / f"{entry.name}-{uuid.uuid4().hex[:8]}"
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, target)
                done.append(f"moved {entry.name}, published but never recorded, to {target.relative_to(paths.artifact_dir)}")
    return done


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def finish_restore(paths: ProjectPaths) -> bool:
    """Move a committed restore into place; call under the registry lock. Idempotent: a crash part way is finished
    by the next call (from `recover`). Returns whether there was one.

    `mlops/.restore.ready/mlops/` holds a backup's tree, already verified, with its registry committed (audit record
    included). Each run folder replaces the one of the same id, then every other file replaces its namesake, the
    registry last: readers follow the registry, so they see the restored runs before the registry that names them.
    """
    ready = paths.mlops_dir / RESTORE_READY
    if not ready.is_dir():
        return False
    tree = ready / "mlops"
    runs = tree / "runs"
    for folder in sorted(runs.iterdir()) if runs.is_dir() else ():
        target = run_dir(paths, folder.name)
        aside = target.with_name(f".{target.name}.replaced.staging")
        if target.exists() or target.is_symlink():
            _remove(aside)  # from an earlier, interrupted pass
            os.replace(target, aside)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, target)
        _remove(aside)
    files = sorted(p for p in tree.rglob("*") if p.is_file() and p.relative_to(tree).parts[0] != "runs")
    files.sort(key=lambda p: p == tree / paths.model_registry.name)  # the registry last
    for source in files:
        target = paths.mlops_dir / source.relative_to(tree)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(ready)
    return True


def _activate(paths: ProjectPaths, registry: dict[str, Any], run_id: str, action: str, reason: str, actor: str) -> dict[str, Any]:
    audit = _audit(action, run_id, registry["active_run_id"], run_id, reason, actor)
    registry["active_run_id"] = run_id
    registry["retraining_required"] = None  # a person (or new data) acted: another run serves now
    _commit(paths, registry, audit)
    refresh_canonical(paths, run_id, registry)
    return registry


def refresh_canonical(paths: ProjectPaths, run_id: str, registry: dict[str, Any] | None = None) -> None:
    """The canonical paths (artifacts/models/..., reports/..., data/..._processed.csv, mlops/training_manifest.json)
    become copies of the active run's verified published files, each replaced atomically, the manifest last.
    A reader may briefly see new files beside the previous manifest: the manifest is the one to trust."""
    manifest, problems = verified_manifest(paths, run_id, registry)
    if manifest is None:
        raise RegistryError(f"run {run_id} failed verification; canonical copies left as they were: " + "; ".join(problems))
    canonical, folder = paths.canonical, run_dir(paths, run_id)
    targets = artifact_files(canonical)
    for name, artifact in manifest["artifacts"].items():
        if name in targets:
            write_bytes(targets[name], read_verified(folder, artifact))
    for name, target in targets.items():  # a run published before an artifact existed leaves no stale copy
        if name not in manifest["artifacts"]:
            target.unlink(missing_ok=True)
    write_json(canonical.training_manifest, manifest)


def _canonical_run_id(paths: ProjectPaths) -> str | None:
    try:
        return read_json(paths.canonical.training_manifest).get("run_id")
    except (OSError, ValueError):
        return None


def _unchanged_audit(registry: dict[str, Any], action: str, run_id: str, reason: str, actor: str) -> dict[str, Any]:
    return _audit(action, run_id, registry["active_run_id"], registry["active_run_id"], reason, actor)


def active_run(registry: dict[str, Any]) -> dict[str, Any] | None:
    return find_run(registry, registry["active_run_id"]) if registry["active_run_id"] else None


IDENTITY_ARTIFACTS = ("supervised_bundle", "clustering_bundle")  # the joblib forms: byte-for-byte deterministic


def same_run_content(manifest: dict[str, Any], other: dict[str, Any]) -> bool:
    """Same data, configuration, hyperparameters, code version and model bytes."""
    def identity(m: dict[str, Any]) -> tuple:
        return (m["data"]["data_sha256"], m.get("training_config"), m.get("hyperparameters"), m["code_version"],
                tuple(m["artifacts"].get(name, {}).get("sha256") for name in IDENTITY_ARTIFACTS))
    return identity(manifest) == identity(other)


def _identical_active(paths: ProjectPaths, registry: dict[str, Any], manifest: dict[str, Any]) -> str | None:
    active = registry["active_run_id"]
    published = verified_manifest(paths, active, registry)[0] if active else None
    return active if published is not None and same_run_content(manifest, published) else None


def register_run(paths: ProjectPaths, manifest: dict[str, Any], *, promote: bool, reason: str,
                 actor: str, compared_with: str | None | bool = False) -> dict[str, Any]:
    """Publish the run's artifacts and record it: active when `promote`, else a candidate.

    `compared_with` is the run the champion check compared against (None: no champion then). If the
    active run changed since (a concurrent run was promoted), the run is recorded as a candidate:
    it never replaces a run it was not compared with. False skips this check (tests, imports).

    A run identical to the active one (same data, configuration, code and model bytes) is recorded
    as `unchanged`, with no new published copy: retraining on nothing new changes nothing.
    """
    run_id = manifest["run_id"]
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        record = find_run(registry, run_id)
        if record is not None and record["status"] == "rejected":
            raise RegistryError(f"run {run_id} was rejected by checks and cannot be registered: {record['reason']}")
        if record is not None and record["status"] == "unchanged":
            return registry  # never published: there is nothing to promote
        if promote and compared_with is not False and registry["active_run_id"] != compared_with:
            promote = False
            reason += (f"; recorded as a candidate: the active run became {registry['active_run_id']} after this run "
                       f"was compared with {compared_with or 'no champion'}")
        same_as = _identical_active(paths, registry, manifest) if record is None else None
        if same_as is not None:
            why = f"identical to the active run {same_as}: same data, configuration, code and model bytes"
            registry["runs"].append({**_run_record(manifest, "", "unchanged", why, actor, run_dir(paths, same_as)),
                                     "same_as": same_as,
                                     "path": None})
            _commit(paths, registry, _unchanged_audit(registry, "unchanged", run_id, why, actor))
            return registry
        if record is None:
            published = _publish_files(paths, manifest)
            record = _run_record(manifest, sha256_file(published / PUBLISHED_MANIFEST),
                                 "promoted" if promote else "candidate", reason, actor, published)
            if compared_with is not False:
                record["compared_with"] = compared_with
            registry["runs"].append(record)
        if not promote:
            _commit(paths, registry, _unchanged_audit(registry, "register_candidate", run_id, reason, actor))
            return registry
        if registry["active_run_id"] == run_id:
            return registry
        record["status"] = "promoted"
        registry["active_history"].append(run_id)
        return _activate(paths, registry, run_id, "promote", reason, actor)


def record_rejection(paths: ProjectPaths, run_id: str, failing_checks: list[dict[str, str]], actor: str) -> dict[str, Any]:
    """Record that a run failed blocking checks ({check, why} each): it is never published, the active run stays.

    Idempotent: recording the same failures again changes nothing; new ones are added with an audit line.
    """
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        record = find_run(registry, run_id)
        if record is not None and record["status"] != "rejected":
            raise RegistryError(f"run {run_id} is already {record['status']}; it cannot be rejected afterwards")
        if record is None:
            now = utc_now()
            record = {"run_id": run_id, "timestamp_utc": now, "artifact_paths": {}, "training_config": {},
                      "registered_at": now, "status": "rejected", "actor": actor, "failing_checks": [], "reason": ""}
            registry["runs"].append(record)
        known = {c["check"] for c in record["failing_checks"]}
        new = [{"check": f["check"], "description": f["why"]} for f in failing_checks if f["check"] not in known]
        if not new:
            return registry
        record["failing_checks"].extend(new)
        record["reason"] = "; ".join(f"{c['check']}: {c['description']}" for c in record["failing_checks"])
        reason = "rejected: " + "; ".join(f"blocking check {c['check']} failed: {c['description']}" for c in new)
        _commit(paths, registry, _unchanged_audit(registry, "reject", run_id, reason, actor))
        return registry


def _require_valid(paths: ProjectPaths, registry: dict[str, Any], run_id: str) -> dict[str, Any]:
    record = find_run(registry, run_id)
    if record is None:
        known = ", ".join(run["run_id"] for run in registry["runs"]) or "none"
        raise RegistryError(f"unknown run {run_id!r}; registered runs: {known}")
    if record["status"] == "rejected":
        raise RegistryError(f"run {run_id} was rejected by checks: {record['reason']}")
    if record["status"] == "unchanged":
        raise RegistryError(f"run {run_id} was never published: {record['reason']}")
    problems = verify_published_run(paths, run_id, registry)
    if problems:
        raise RegistryError(f"run {run_id} failed verification: " + "; ".join(problems))
    return record


MAX_FLAGGED_BATCHES = 20


def flag_retraining_required(paths: ProjectPaths, batch: str, why: str, actor: str) -> tuple[dict[str, Any], bool]:
    """Drift without new labelled data: record that retraining is required, for a person to act on.

    The state names the active run and the batches that drifted since; it stays until another run is
    activated. Returns (registry, whether the state is new)."""
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        active = registry["active_run_id"]
        state = registry.get("retraining_required")
        if state and state["since_run_id"] == active:
            if batch in state["batches"]:
                return registry, False
            state["batches"] = [*state["batches"], batch][-MAX_FLAGGED_BATCHES:]
            _commit(paths, registry, _unchanged_audit(registry, "retraining_required", active or "", why, actor))
            return registry, False
        registry["retraining_required"] = {
            "since_run_id": active, "raised_at": utc_now(), "batches": [batch],
            "reason": f"retraining required: no new labelled data since run {active}; {why}"}
        _commit(paths, registry, _unchanged_audit(registry, "retraining_required", active or "", why, actor))
        return registry, True


def reject_candidate(paths: ProjectPaths, run_id: str, *, reason: str, actor: str) -> dict[str, Any]:
    """A person's decision: a recorded candidate may never be promoted. Its published files stay, immutable."""
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        record = find_run(registry, run_id)
        if record is None or record["status"] != "candidate":
            found = "not in the registry" if record is None else f"{record['status']}, not a candidate"
            raise RegistryError(f"run {run_id} is {found}: only a candidate can be rejected")
        record["status"] = "rejected"
        record["reason"] = f"rejected by {actor}: {reason}"
        _commit(paths, registry, _unchanged_audit(registry, "reject", run_id, reason, actor))
        return registry


def promote(paths: ProjectPaths, run_id: str, *, reason: str, actor: str) -> dict[str, Any]:
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        record = _require_valid(paths, registry, run_id)
        if registry["active_run_id"] == run_id:
            raise RegistryError(f"run {run_id} is already active")
        record["status"] = "promoted"
        registry["active_history"].append(run_id)
        return _activate(paths, registry, run_id, "promote", reason, actor)


def rollback(paths: ProjectPaths, *, reason: str, actor: str) -> dict[str, Any]:
    """Make the run that was active before the current one active again."""
    with registry_lock(paths):
        recover(paths)
        registry = load_registry(paths)
        history = list(registry["active_history"])
        if len(history) < 2:
            raise RegistryError("nothing to roll back to: no run was active before the current one")
        history.pop()
        target = history[-1]
        _require_valid(paths, registry, target)
        registry["active_history"] = history
        return _activate(paths, registry, target, "rollback", reason, actor)
