"""Backups of the registry: `artifacts/mlops/` in one `.tar.gz` that is verified before it is kept or restored.

- `create_backup` archives the registry, its audit log, every published run and the alert outbox under the
  registry lock (no commit is half-captured), with `backup_manifest.json` (the sha256 and size of every file),
  verifies the archive, renames it into the backup folder, and keeps the newest YTS_BACKUP_KEEP archives.
- `verify_backup` streams an archive (bounded memory): members must be plain files under `mlops/` with safe
  names and bounded sizes, every file must match the backup manifest, and every published run must verify from
  the registry down (registry record -> run manifest sha256 -> artifact sha256), as `registry.verified_manifest` does.
- `restore_backup` verifies, refuses to replace a newer registry unless forced, extracts into
  `mlops/.restore.staging/`, verifies the extracted runs with the registry's own code, commits the restore's audit
  record into the staged registry, commits by renaming the staging folder to `mlops/.restore.ready/`, and moves it in
  (`registry.finish_restore`; `recover` finishes it after a crash). Everything happens under the registry lock,
  whose file stays where it is: swapping the whole `mlops/` folder would hand writers a second lock file. The
  registry and audit log it replaces are kept in `mlops/replaced/`, and runs the backup lacks in `mlops/orphans/`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from . import config
from .files import atomic_write
from .manifest import code_version
from .paths import ProjectPaths
from .registry import (
    PUBLISHED_MANIFEST,
    RESTORE_READY,
    RESTORE_STAGING,
    RegistryError,
    _audit,
    _commit,
    _remove,
    finish_restore,
    load_registry,
    read_audit,
    recover,
    refresh_canonical,
    registry_lock,
    verify_published_run,
)

BACKUP_FORMAT = 1
BACKUP_KIND = "yts-registry-backup"
MANIFEST_NAME = "backup_manifest.json"
TREE = "mlops"  # members: backup_manifest.json and mlops/<path under artifacts/mlops/>
REGISTRY_MEMBER = f"{TREE}/model_registry.json"
AUDIT_MEMBER = f"{TREE}/registry_audit.jsonl"
ARCHIVE_PREFIX = "yts-registry-"
ARCHIVE_PATTERN = re.compile(r"^yts-registry-(\d{8}T\d{6})(?:\.(\d{3}))?Z\.tar\.gz$")
NOT_BACKED_UP = ("orphans",)  # run folders no record points at (moved there by `recover`): not registry state
REPLACED = "replaced"  # mlops/replaced/<time>/: the registry and audit log a restore replaced
CANONICAL_MANIFEST = "training_manifest.json"  # the active run's canonical copy: a restore rebuilds it
OUTBOX = "alerts.jsonl"
CHUNK = 1 << 20
SHOWN_PROBLEMS = 10


class BackupError(RegistryError):
    """A backup could not be made, verified or restored; the message names the archive and the problem."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold before it is refused unread (a tar bomb, or not a yts backup)."""

    max_members: int = 100_000
    max_member_bytes: int = 4 << 30
    max_total_bytes: int = 32 << 30
    max_document_bytes: int = 256 << 20  # the registry and the run manifests, parsed in memory
    max_line_bytes: int = 16 << 20  # one audit record


LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class BackupReport:
    """A verified archive: what it holds."""

    path: Path
    sha256: str
    size_bytes: int
    created_at: str
    yts_version: str
    active_run_id: str | None
    runs: int  # registry records, rejected and unchanged ones included
    published_runs: tuple[str, ...]
    files: int
    content_bytes: int
    audit_records: int
    last_audit_time: str | None

    def summary(self) -> str:
        return (f"{self.path.name}: verified; created {self.created_at} by yts {self.yts_version}; active run "
                f"{self.active_run_id or 'none'}; {self.runs} runs ({len(self.published_runs)} published); "
                f"{self.audit_records} audit records, the last at {self.last_audit_time or '-'}; {self.files} files, "
                f"{self.content_bytes} bytes ({self.size_bytes} compressed); sha256 {self.sha256}")


@dataclass(frozen=True)
class BackupOutcome:
    path: Path
    report: BackupReport
    deleted: tuple[Path, ...]  # older archives removed by retention
    skipped: tuple[str, ...]  # entries of mlops/ left out: symbolic links and special files


@dataclass(frozen=True)
class RestoreOutcome:
    report: BackupReport
    previous_active_run_id: str | None
    active_run_id: str | None
    newer: tuple[str, ...]  # why the registry replaced (with force) was newer than the backup
    replaced: str | None  # where the replaced registry and audit log are kept, under mlops/
    repaired: tuple[str, ...]  # what `recover` did afterwards (runs the backup lacks moved to orphans/)


# --- creating --------------------------------------------------------------------------------------------------------


def is_published(record: dict[str, Any]) -> bool:
    """Whether a registry record has a run folder: promoted runs, candidates (rejected ones too); not runs the checks
    rejected, nor `unchanged` ones (a record with a folder but no anchor does not verify: it was published before
    runs were anchored)."""
    return bool(record.get("path") or record.get("manifest_sha256"))


def yts_version() -> str:
    try:
        return metadata.version("yts")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Hashing(io.RawIOBase):
    """Reads through to `handle`, hashing and counting newlines, so a file is read once."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.digest, self.newlines, self.size = handle, hashlib.sha256(), 0, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.newlines += data.count(b"\n")
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _collect(folder: Path, skipped: list[str], prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(path under mlops/, file) of every regular file; hidden entries (locks, staging, temp files) and orphans/
    are left out silently, symbolic links and special files into `skipped`."""
    with os.scandir(folder) as scanned:
        entries = sorted(scanned, key=lambda entry: entry.name)
    for entry in entries:
        relative = f"{prefix}{entry.name}"
        if entry.name.startswith(".") or (not prefix and entry.name in NOT_BACKED_UP):
            continue
        if entry.is_symlink():
            skipped.append(f"{relative} (symbolic link)")
        elif entry.is_dir(follow_symlinks=False):
            yield from _collect(Path(entry.path), skipped, f"{relative}/")
        elif entry.is_file(follow_symlinks=False):
            yield relative, Path(entry.path)
        else:
            skipped.append(f"{relative} (not a regular file)")


def _tar_info(name: str, size: int, mtime: float, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_file(tar: tarfile.TarFile, name: str, path: Path, skipped: list[str]) -> tuple[dict[str, Any], int] | None:
    """Add one file, hashed as it is read; (its manifest entry, its lines), or None if it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:  # replaced by a symbolic link since it was listed
        skipped.append(f"{name} ({exc.strerror})")
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            skipped.append(f"{name} (not a regular file)")
            return None
        reader = _Hashing(handle)  # exactly st_size bytes: an append-only file (the outbox) gives a clean prefix
        tar.addfile(_tar_info(name, info.st_size, info.st_mtime, stat.S_IMODE(info.st_mode)), reader)
    return {"sha256": reader.digest.hexdigest(), "size": info.st_size}, reader.newlines


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> dict[str, Any]:
    tar.addfile(_tar_info(name, len(data), mtime, 0o644), io.BytesIO(data))
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _write_archive(paths: ProjectPaths, target: Path, skipped: list[str]) -> None:
    """Call under the registry lock."""
    registry_bytes = paths.model_registry.read_bytes()
    registry = json.loads(registry_bytes)
    files: dict[str, dict[str, Any]] = {}
    audit_records = 0
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT, compresslevel=3) as tar:
        for relative, path in _collect(paths.mlops_dir, skipped):
            name = f"{TREE}/{relative}"
            if name == REGISTRY_MEMBER:
                continue  # added last, from the bytes parsed above
            added = _add_file(tar, name, path, skipped)
            if added is None:
                continue
            files[name], lines = added
            if name == AUDIT_MEMBER:
                audit_records = lines
        files[REGISTRY_MEMBER] = _add_bytes(tar, REGISTRY_MEMBER, registry_bytes, paths.model_registry.stat().st_mtime)
        created = datetime.now(timezone.utc)
        manifest = {
            "kind": BACKUP_KIND,
            "format": BACKUP_FORMAT,
            "created_at": created.isoformat(timespec="milliseconds"),
            "yts_version": yts_version(),
            "code_version": code_version(),
            "source": str(paths.mlops_dir),
            "active_run_id": registry.get("active_run_id"),
            "runs": len(registry.get("runs", [])),
            "published_runs": [run["run_id"] for run in registry.get("runs", []) if is_published(run)],
            "audit_records": audit_records,
            "last_audit_time": (registry.get("last_audit") or {}).get("time"),
            "files": files,
        }
        _add_bytes(tar, MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n",
                   created.timestamp())


def _archive_path(folder: Path) -> Path:
    """yts-registry-<UTC time to the millisecond>Z.tar.gz: names sort by time; never an existing name."""
    now = datetime.now(timezone.utc)
    while True:
        path = folder / f"{ARCHIVE_PREFIX}{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z.tar.gz"
        if not path.exists() and not path.is_symlink():
            return path
        now += timedelta(milliseconds=1)


def list_backups(folder: Path) -> list[Path]:
    """The archives yts wrote in `folder` (regular files named yts-registry-<time>Z.tar.gz), oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = ARCHIVE_PATTERN.match(path.name)
        if match and path.is_file() and not path.is_symlink():
            found.append(((match.group(1), match.group(2) or "000"), path))
    return [path for _, path in sorted(found)]


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives of `list_backups`; nothing else in the folder is touched."""
    if keep < 1:
        raise BackupError(f"{config.BACKUP_KEEP.name}={keep}: at least one backup must be kept")
    old = list_backups(folder)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def backup_registry(paths: ProjectPaths, keep: int | None = None, limits: ArchiveLimits = LIMITS) -> BackupOutcome:
    """Write, verify and keep one archive of `artifacts/mlops/`, then apply retention. See `create_backup`."""
    keep = config.BACKUP_KEEP.get() if keep is None else keep
    if keep < 1:
        raise BackupError(f"{config.BACKUP_KEEP.name}={keep}: at least one backup must be kept")
    folder = paths.backups_dir
    skipped: list[str] = []
    verified: list[BackupReport] = []

    def write(tmp: Path) -> None:
        _write_archive(paths, tmp, skipped)
        try:  # an archive that would not restore is not kept
            verified.append(verify_backup(tmp, limits))
        except BackupError as exc:
            raise BackupError(f"the backup of {paths.mlops_dir} does not verify, so it was not kept: {exc}") from exc

    with registry_lock(paths):
        recover(paths)
        if not paths.model_registry.is_file():
            raise BackupError(f"nothing to back up: there is no registry at {paths.model_registry}")
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(f".{ARCHIVE_PREFIX}*.tmp"):  # a backup killed mid-write (we hold the lock)
            if leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()
        target = _archive_path(folder)
        atomic_write(target, write)
        deleted = prune_backups(folder, keep)
    return BackupOutcome(path=target, report=replace(verified[0], path=target), deleted=tuple(deleted),
                         skipped=tuple(skipped))


def create_backup(paths: ProjectPaths) -> Path:
    """Archive `artifacts/mlops/` into the backup folder (YTS_BACKUP_DIR, default `<root>/backups`), atomically and
    verified, and keep the newest YTS_BACKUP_KEEP archives; returns the archive's path."""
    return backup_registry(paths).path


# --- verifying -------------------------------------------------------------------------------------------------------


@dataclass
class _Scan:
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # member -> (sha256, size)
    documents: dict[str, bytes] = field(default_factory=dict)  # kept to be parsed
    audit_records: int = 0
    audit_problem: str | None = None
    sha256: str = ""  # of the archive's bytes, as read
    size: int = 0


def _is_document(name: str) -> bool:
    parts = name.split("/")
    return name in (MANIFEST_NAME, REGISTRY_MEMBER) or (len(parts) == 4 and parts[:2] == [TREE, "runs"]
                                                        and parts[3] == PUBLISHED_MANIFEST)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        return "has an absolute path"
    if ".." in parts:
        return "has '..' in its path"
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device"
    if member.isfifo():
        return "is a FIFO"
    if not (member.isreg() or member.isdir()):
        return "is not a regular file"
    if str(PurePosixPath(name)) != name.rstrip("/") or "\\" in name or "\x00" in name:
        return "is not a plain relative path"
    if any(part.startswith(".") for part in PurePosixPath(name).parts):
        return "has a hidden path component"
    if name != MANIFEST_NAME and not (parts[0] == TREE and len(PurePosixPath(name).parts) >= 2):
        return f"is outside {TREE}/ (a yts backup holds {MANIFEST_NAME} and {TREE}/ only)"
    return None


class _AuditLines:
    """Parses the audit log as it streams by: every line must be a JSON object."""

    def __init__(self, max_line: int) -> None:
        self.max_line, self.pending, self.count, self.problem = max_line, b"", 0, None

    def feed(self, chunk: bytes) -> None:
        if self.problem:
            return
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        if len(self.pending) > self.max_line:
            self.problem = f"{AUDIT_MEMBER}: line {self.count + 1} is longer than {self.max_line} bytes"
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if not line.strip() or self.problem:
            return
        self.count += 1
        try:
            if not isinstance(json.loads(line), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self.problem = f"{AUDIT_MEMBER}: line {self.count} is not a JSON object ({exc})"

    def close(self) -> None:
        self._line(self.pending)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path | None, scan: _Scan,
                 limits: ArchiveLimits, archive: Path) -> None:
    """Hash the member in chunks; write it under `dest` if given; keep the documents that get parsed."""
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    digest, size = hashlib.sha256(), 0
    document = bytearray() if _is_document(member.name) else None
    lines = _AuditLines(limits.max_line_bytes) if member.name == AUDIT_MEMBER else None
    out = None
    if dest is not None:
        target = dest / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(target, "xb")  # noqa: SIM115 - closed below; a fresh staging folder: nothing to follow
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if document is not None:
                if len(document) + len(chunk) > limits.max_document_bytes:
                    raise BackupError(f"{archive}: member {member.name!r} is over {limits.max_document_bytes} bytes, "
                                      "too large to be parsed; refused")
                document += chunk
            if lines is not None:
                lines.feed(chunk)
            if out is not None:
                out.write(chunk)
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
    if out is not None and member.name.startswith(f"{TREE}/runs/"):
        (dest / member.name).chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # published files are read-only
    scan.files[member.name] = (digest.hexdigest(), size)
    if document is not None:
        scan.documents[member.name] = bytes(document)
    if lines is not None:
        lines.close()
        scan.audit_records, scan.audit_problem = lines.count, lines.problem


def _scan(archive: Path, dest: Path | None, limits: ArchiveLimits) -> _Scan:
    """One pass over the archive, member by member, refusing unsafe members before reading them."""
    if not archive.exists():
        raise BackupError(f"{archive}: no such archive")
    if not archive.is_file():
        raise BackupError(f"{archive}: not a regular file")
    scan, total, members = _Scan(), 0, 0
    try:
        with (open(archive, "rb") as raw, gzip.GzipFile(fileobj=(hashed := _Hashing(raw)), mode="rb") as unzipped,
              tarfile.open(fileobj=unzipped, mode="r|") as tar):  # a stream: members are read in order, once
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise BackupError(f"{archive}: more than {limits.max_members} members; refused")
                problem = _member_problem(member)
                if problem:
                    raise BackupError(f"{archive}: member {member.name!r} {problem}; refused")
                if member.isdir():
                    continue
                if member.name in scan.files:
                    raise BackupError(f"{archive}: member {member.name!r} appears twice; refused")
                if member.size > limits.max_member_bytes:
                    raise BackupError(f"{archive}: member {member.name!r} is {member.size} bytes, over the bound of "
                                      f"{limits.max_member_bytes}; refused")
                total += member.size
                if total > limits.max_total_bytes:
                    raise BackupError(f"{archive}: its members add up to over {limits.max_total_bytes} bytes "
                                      "(a tar bomb?); refused")
                _read_member(tar, member, dest, scan, limits, archive)
            while unzipped.read(CHUNK):  # to the end of the gzip stream, whose length and CRC are checked there
                pass
            while hashed.read(CHUNK):
                pass
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"{archive}: not a readable .tar.gz archive, truncated or corrupt ({exc})") from exc
    except OSError as exc:  # reading the archive, or writing a restore's staging folder
        raise BackupError(f"{archive}: {exc}") from exc
    scan.sha256, scan.size = hashed.digest.hexdigest(), hashed.size
    return scan


def _problems_text(archive: Path, problems: list[str]) -> str:
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return f"{archive}: {shown}{more}"


def _parse(archive: Path, scan: _Scan, name: str) -> Any:
    try:
        return json.loads(scan.documents[name])
    except ValueError as exc:
        raise BackupError(f"{archive}: member {name!r} is not valid JSON ({exc})") from exc


def _published_problems(scan: _Scan, registry: dict[str, Any]) -> list[str]:
    """Registry record -> sha256 of the run's manifest -> sha256 of every artifact: `verified_manifest`'s chain,
    on the hashes the archive streamed."""
    problems: list[str] = []
    records = registry.get("runs")
    if not isinstance(records, list):
        return [f"{REGISTRY_MEMBER} has no list of runs"]
    known = set()
    for record in records:
        run_id = record.get("run_id") if isinstance(record, dict) else None
        if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id.startswith("."):
            problems.append(f"{REGISTRY_MEMBER} holds a record with an invalid run id {run_id!r}")
            continue
        known.add(run_id)
        if not is_published(record):
            continue
        folder = f"{TREE}/runs/{run_id}"
        anchor = record.get("manifest_sha256")
        manifest_member = f"{folder}/{PUBLISHED_MANIFEST}"
        if not anchor:
            problems.append(f"run {run_id}'s registry record has no manifest_sha256")
        elif manifest_member not in scan.files:
            problems.append(f"run {run_id}: {manifest_member} is missing")
        elif scan.files[manifest_member][0] != anchor:
            problems.append(f"run {run_id}: {manifest_member} does not match the manifest_sha256 recorded in the registry")
        else:
            try:
                artifacts = json.loads(scan.documents[manifest_member])["artifacts"]
                for name, artifact in artifacts.items():
                    member = f"{folder}/{artifact['file']}"
                    if member not in scan.files:
                        problems.append(f"run {run_id}: {name}: {member} is missing")
                    elif scan.files[member][0] != artifact["sha256"]:
                        problems.append(f"run {run_id}: {name}: {member} does not match its sha256 in the run's manifest")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                problems.append(f"run {run_id}: {manifest_member} is not a run manifest ({exc!r})")
    active = registry.get("active_run_id")
    if active is not None and active not in known:
        problems.append(f"the registry's active run {active} has no record")
    folders = {name.split("/")[2] for name in scan.files if name.startswith(f"{TREE}/runs/") and name.count("/") >= 3}
    for extra in sorted(folders - known):
        problems.append(f"{TREE}/runs/{extra}/ is in the archive but no registry record points at it")
    return problems


def _check(archive: Path, scan: _Scan) -> BackupReport:
    if MANIFEST_NAME not in scan.documents:
        raise BackupError(f"{archive}: no {MANIFEST_NAME} inside: not a yts registry backup")
    manifest = _parse(archive, scan, MANIFEST_NAME)
    if not isinstance(manifest, dict) or manifest.get("kind") != BACKUP_KIND or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{archive}: {MANIFEST_NAME} does not describe a yts registry backup")
    if manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{archive}: backup format {manifest.get('format')!r}; this yts reads format {BACKUP_FORMAT}")
    listed: dict[str, Any] = manifest["files"]
    archived = {name: value for name, value in scan.files.items() if name != MANIFEST_NAME}
    problems = [f"{name}: listed in {MANIFEST_NAME} but missing from the archive" for name in sorted(set(listed) - set(archived))]
    problems += [f"{name}: in the archive but not in {MANIFEST_NAME}" for name in sorted(set(archived) - set(listed))]
    for name in sorted(set(listed) & set(archived)):
        entry = listed[name] if isinstance(listed[name], dict) else {}
        if (entry.get("sha256"), entry.get("size")) != archived[name]:
            problems.append(f"{name}: its sha256 does not match {MANIFEST_NAME} (changed after the backup was made)")
    if problems:
        raise BackupError(_problems_text(archive, problems))
    if REGISTRY_MEMBER not in scan.documents:
        raise BackupError(f"{archive}: no {REGISTRY_MEMBER} inside")
    registry = _parse(archive, scan, REGISTRY_MEMBER)
    if not isinstance(registry, dict):
        raise BackupError(f"{archive}: {REGISTRY_MEMBER} is not a registry")
    problems = _published_problems(scan, registry)
    if scan.audit_problem:
        problems.append(scan.audit_problem)
    if manifest.get("active_run_id") != registry.get("active_run_id"):
        problems.append(f"{MANIFEST_NAME} names the active run {manifest.get('active_run_id')} but the registry "
                        f"{registry.get('active_run_id')}")
    if problems:
        raise BackupError(_problems_text(archive, problems))
    records = registry.get("runs", [])
    return BackupReport(
        path=archive,
        sha256=scan.sha256,
        size_bytes=scan.size,
        created_at=str(manifest.get("created_at")),
        yts_version=str(manifest.get("yts_version")),
        active_run_id=registry.get("active_run_id"),
        runs=len(records),
        published_runs=tuple(r["run_id"] for r in records if is_published(r)),
        files=len(archived),
        content_bytes=sum(size for _, size in archived.values()),
        audit_records=scan.audit_records,
        last_audit_time=(registry.get("last_audit") or {}).get("time"),
    )


def verify_backup(path: Path | str, limits: ArchiveLimits = LIMITS) -> BackupReport:
    """Check an archive without extracting it; raises BackupError naming the archive and every problem found."""
    archive = Path(path)
    return _check(archive, _scan(archive, None, limits))


# --- restoring -------------------------------------------------------------------------------------------------------


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _audit_key(record: dict[str, Any]) -> str:
    return record.get("txn") or json.dumps(record, sort_keys=True)


def _lenient_audit(paths: ProjectPaths) -> list[dict[str, Any]]:
    """The current audit log's records; lines that do not parse are skipped (the log may be damaged)."""
    records = []
    if paths.registry_audit.is_file():
        with open(paths.registry_audit, "rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    return records


def _state_records(registry: dict[str, Any] | None, audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit records that changed registry state: records of restores only name a backup, so they do not count."""
    pending = (registry or {}).get("last_audit")
    if pending and _audit_key(pending) not in {_audit_key(a) for a in audit}:
        audit = [*audit, pending]
    return [record for record in audit if record.get("action") != "restore"]


def newer_than_backup(paths: ProjectPaths, staged: ProjectPaths) -> list[str]:
    """Why the current registry is newer than the (extracted) backup; empty when it is not."""
    try:
        current: dict[str, Any] | None = load_registry(paths)
    except RegistryError:
        current = None  # does not parse: only its audit log can be compared
    backed_up_registry = load_registry(staged)
    mine = _state_records(current, _lenient_audit(paths))
    theirs = _state_records(backed_up_registry, read_audit(staged))
    reasons = []
    backed_up = {run["run_id"] for run in backed_up_registry["runs"]}
    missing = [run["run_id"] for run in (current or {}).get("runs", []) if run["run_id"] not in backed_up]
    if missing:
        reasons.append(f"it has {_count(len(missing), 'run')} the backup lacks ({', '.join(missing[:5])}"
                       f"{', ...' if len(missing) > 5 else ''})")
    known = {_audit_key(record) for record in theirs}
    extra = [record for record in mine if _audit_key(record) not in known]
    if extra:
        last = extra[-1]
        reasons.append(f"it has {_count(len(extra), 'audit record')} the backup lacks, the latest at {last.get('time')} "
                       f"({last.get('action')} {last.get('run_id')})")
    latest = max(filter(None, (_time(r.get("time")) for r in mine)), default=None)
    backup_latest = max(filter(None, (_time(r.get("time")) for r in theirs)), default=None)
    if latest is not None and (backup_latest is None or latest > backup_latest) and not extra:
        reasons.append(f"its latest audit record ({latest.isoformat()}) is later than the backup's "
                       f"({backup_latest.isoformat() if backup_latest else 'none'})")
    return reasons


def _stage(paths: ProjectPaths, archive: Path, staging: Path, limits: ArchiveLimits) -> tuple[BackupReport, ProjectPaths]:
    """Extract into `staging` with every check of `verify_backup` (the file may have changed since it was verified),
    then verify each published run there with the registry's own code."""
    report = _check(archive, _scan(archive, staging, limits))
    staged = ProjectPaths(root=paths.root, artifact_dir=staging)
    registry = load_registry(staged)
    problems = [problem for run_id in report.published_runs for problem in verify_published_run(staged, run_id, registry)]
    if problems:
        raise BackupError(_problems_text(archive, problems))
    return report, staged


def restore_backup(paths: ProjectPaths, path: Path | str, force: bool = False, *, reason: str | None = None,
                   actor: str = "yts", limits: ArchiveLimits = LIMITS) -> RestoreOutcome:
    """Make `artifacts/mlops/` the archive's registry, runs and audit log, plus an audit record of the restore.

    Refuses, changing nothing, an archive that does not verify, and (unless `force`) a current registry that is
    newer: runs or audit records the backup lacks, or a later audit time (records of restores do not count).
    Nothing is lost: the current registry and audit log are kept in `mlops/replaced/<time>-<txn>/` (named by the
    restore's audit record), run folders the backup lacks move to `mlops/orphans/` (`recover`), and the current
    alert outbox stays. Then the canonical copies (artifacts/models, ...) are refreshed from the restored active run.
    """
    archive = Path(path)
    verify_backup(archive, limits)
    with registry_lock(paths):
        try:
            recover(paths)
            current: dict[str, Any] | None = load_registry(paths)
        except RegistryError:  # the current registry does not parse: restoring a backup is the repair
            current = None
        staging = paths.mlops_dir / RESTORE_STAGING
        _remove(staging)
        try:
            report, staged = _stage(paths, archive, staging, limits)
            newer = newer_than_backup(paths, staged)
            if newer and not force:
                raise BackupError(f"refused to restore {archive}: the current registry {paths.model_registry} is newer "
                                  f"than the backup ({'; '.join(newer)}). Nothing was changed; restore with --force "
                                  "(force=True) to replace it")
            registry = load_registry(staged)
            _drop_unneeded(paths, staged, registry)
            previous = (current or {}).get("active_run_id")
            active = registry["active_run_id"]
            why = f"restore from {archive.name}" + (f": {reason}" if reason else "")
            audit = _audit("restore", active, previous, active, why, actor)
            audit.update(archive=str(archive.resolve()), archive_sha256=report.sha256,
                         replaced=_keep_replaced(paths, staged, audit))
            _commit(staged, registry, audit)  # the registry's commit path, on the staged copy
            os.replace(staging, paths.mlops_dir / RESTORE_READY)  # the commit point: `recover` finishes from here
        except BaseException:
            _remove(staging)
            raise
        finish_restore(paths)
        if active is not None:
            refresh_canonical(paths, active)
        repaired = recover(paths)
    return RestoreOutcome(report=report, previous_active_run_id=previous, active_run_id=active, newer=tuple(newer),
                          replaced=audit["replaced"], repaired=tuple(repaired))


def _keep_replaced(paths: ProjectPaths, staged: ProjectPaths, audit: dict[str, Any]) -> str | None:
    """Copy the current registry and audit log into the staged `replaced/<time>-<txn>/`: a restore loses no record
    (the runs the backup lacks are kept too, in orphans/). Returns that folder, relative to mlops/."""
    current = [path for path in (paths.model_registry, paths.registry_audit) if path.is_file()]
    if not current:
        return None
    stamp = datetime.fromisoformat(audit["time"]).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    relative = f"{REPLACED}/{stamp}Z-{audit['txn'][:8]}"
    folder = staged.mlops_dir / relative
    folder.mkdir(parents=True)
    for path in current:
        shutil.copyfile(path, folder / path.name)
    return relative


def _drop_unneeded(paths: ProjectPaths, staged: ProjectPaths, registry: dict[str, Any]) -> None:
    """What the restore leaves as it is: the canonical manifest (rebuilt from the active run, last, by
    `refresh_canonical`; if a crash comes first, `recover` sees it names another run and rebuilds it), the current
    alert outbox (an older one would raise and send again alerts already delivered), and run folders whose current
    copy verifies against the backup's registry (the same bytes; a serving API keeps reading them undisturbed)."""
    (staged.mlops_dir / CANONICAL_MANIFEST).unlink(missing_ok=True)
    if (paths.mlops_dir / OUTBOX).exists():
        (staged.mlops_dir / OUTBOX).unlink(missing_ok=True)
    if not staged.published_runs_dir.is_dir():
        return
    for folder in staged.published_runs_dir.iterdir():
        if (paths.published_runs_dir / folder.name).is_dir() and not verify_published_run(paths, folder.name, registry):
            _remove(folder)
