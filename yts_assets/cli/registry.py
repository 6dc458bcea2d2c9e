"""yts-registry: list, show, promote and roll back published runs; back up, verify and restore the registry."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from ..core.backup import backup_registry, restore_backup, verify_backup
from ..core.config import ConfigError
from ..core.paths import ProjectPaths
from ..core.registry import RegistryError, find_run, load_registry, promote, rollback, verify_published_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yts-registry", description="Inspect and change the active model run.")
    parser.add_argument("--artifact-dir", help="artifact folder (default: YTS_ARTIFACT_DIR or <project>/artifacts)")
    parser.add_argument("--actor", default=f"{getpass.getuser()}@cli", help="who is acting, for the audit log")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every registered run; * marks the active one")
    show = commands.add_parser("show", help="one run's record and whether its files verify")
    show.add_argument("run_id")
    promote_cmd = commands.add_parser("promote", help="make a registered run active")
    promote_cmd.add_argument("run_id")
    promote_cmd.add_argument("--reason", required=True)
    rollback_cmd = commands.add_parser("rollback", help="reactivate the run that was active before")
    rollback_cmd.add_argument("--reason", required=True)
    commands.add_parser("backup", help="archive artifacts/mlops/ into the backup folder (YTS_BACKUP_DIR), verified; "
                                       "keeps the newest YTS_BACKUP_KEEP archives")
    verify_cmd = commands.add_parser("verify-backup", help="check an archive: safe members, every file's sha256, "
                                                           "every published run from the registry down")
    verify_cmd.add_argument("file")
    restore_cmd = commands.add_parser("restore", help="replace artifacts/mlops/ by a verified archive; refuses a newer "
                                                      "registry unless --force")
    restore_cmd.add_argument("file")
    restore_cmd.add_argument("--force", action="store_true", help="replace a registry that is newer than the backup")
    restore_cmd.add_argument("--reason", help="why, for the audit log (the archive is named there in any case)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = ProjectPaths.from_env(artifact_dir=args.artifact_dir)
    try:
        if args.command == "list":
            registry = load_registry(paths)
            if not registry["runs"]:
                print(f"no runs registered in {paths.model_registry}")
            for run in registry["runs"]:
                marker = "*" if run["run_id"] == registry["active_run_id"] else " "
                if run["status"] == "rejected":
                    detail = f"failed: {', '.join(c['check'] for c in run['failing_checks'])}"
                elif run["status"] == "unchanged":
                    detail = f"same as {run['same_as']}"
                else:
                    detail = f"{run['data_source']:<4}  log_r2: " + " ".join(f"{t}={m['log_r2']:.3f}" for t, m in run["metrics"].items())
                print(f"{marker} {run['run_id']}  {run['registered_at']}  {run['status']:<9} {detail}")
        elif args.command == "show":
            registry = load_registry(paths)
            run = find_run(registry, args.run_id)
            if run is None:
                raise RegistryError(f"unknown run {args.run_id!r}")
            problems = verify_published_run(paths, args.run_id)
            print(json.dumps({**run, "active": run["run_id"] == registry["active_run_id"],
                              "verified": not problems, "problems": problems}, indent=2))
        elif args.command == "backup":
            outcome = backup_registry(paths)
            print(outcome.path)
            print(outcome.report.summary())
            for skipped in outcome.skipped:
                print(f"left out: {skipped}")
            for deleted in outcome.deleted:
                print(f"deleted (retention): {deleted}")
        elif args.command == "verify-backup":
            print(verify_backup(args.file).summary())
        elif args.command == "restore":
            restored = restore_backup(paths, args.file, force=args.force, reason=args.reason, actor=args.actor)
            print(f"restored {args.file}; active run is now {restored.active_run_id or 'none'} "
                  f"(was {restored.previous_active_run_id or 'none'})")
            print(restored.report.summary())
            for why in restored.newer:
                print(f"replaced a newer registry (--force): {why}")
            if restored.replaced:
                print(f"the replaced registry and audit log are kept in {paths.mlops_dir / restored.replaced}")
            for done in restored.repaired:
                print(f"then: {done}")
        elif args.command == "promote":
            registry = promote(paths, args.run_id, reason=args.reason, actor=args.actor)
            print(f"active run is now {registry['active_run_id']}")
        else:
            registry = rollback(paths, reason=args.reason, actor=args.actor)
            print(f"rolled back; active run is now {registry['active_run_id']}")
    except (RegistryError, ConfigError) as exc:
        print(f"yts-registry: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
