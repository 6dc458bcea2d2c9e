"""Plain data-quality and integrity checks. Each returns an outcome with numbers that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .dataset import RAW_COLUMNS
from .files import sha256_file


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def raw_schema(raw: pd.DataFrame) -> CheckOutcome:
    present = list(raw.columns)
    missing = [c for c in RAW_COLUMNS if c not in present]
    unexpected = [c for c in present if c not in RAW_COLUMNS]
    passed = not missing and not unexpected
    return CheckOutcome(
        passed=passed,
        description=("all 28 expected columns present" if passed
                     else f"{len(missing)} expected columns missing, {len(unexpected)} unexpected"),
        metadata={"expected_columns": len(RAW_COLUMNS), "found_columns": len(present),
                  "missing_columns": missing, "unexpected_columns": unexpected},
    )


def artifacts_match_manifest(manifest: dict[str, Any]) -> CheckOutcome:
    mismatched: list[str] = []
    missing: list[str] = []
    for name, artifact in manifest["artifacts"].items():
        try:
            if sha256_file(artifact["path"]) != artifact["sha256"]:
                mismatched.append(name)
        except FileNotFoundError:
            missing.append(name)
    passed = not mismatched and not missing
    return CheckOutcome(
        passed=passed,
        description=(f"all {len(manifest['artifacts'])} artifacts match their sha256" if passed
                     else f"{len(missing)} artifacts missing, {len(mismatched)} changed since the manifest"),
        metadata={"artifacts": len(manifest["artifacts"]), "missing": missing, "mismatched": mismatched},
    )
