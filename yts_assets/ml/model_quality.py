"""Model checks: skill over the baseline, regression against the champion, bundle integrity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import sha256_file
from ..core.manifest import code_version
from ..core.paths import ProjectPaths
from ..core.registry import active_run, load_registry, verified_manifest
from .dataset import DatasetError, read_processed
from .models import PROBE_ROW, SupervisedModel
from .policy import GatePolicy, SkillMinimums
from .quality import CheckOutcome
from .source import RawSource, load_recorded_source
from .training import TrainingConfig, score_configuration


def skill_over_baseline(target: str, metrics: dict[str, Any], minimums: SkillMinimums = SkillMinimums()) -> CheckOutcome:
    """Skill means beating the constant-median baseline on the same folds by `min_skill` log R², and
    explaining at least `min_log_r2` of the variance (a median baseline scores below 0 on skewed labels)."""
    min_skill, min_log_r2 = minimums.min_skill, minimums.min_log_r2
    model, baseline = metrics["model"]["log_r2"], metrics["baseline"]["log_r2"]
    skill = model - baseline
    passed = skill >= min_skill and model >= min_log_r2
    return CheckOutcome(
        passed=passed,
        description=(f"{target}: CV log R² {model:.3f} vs constant baseline {baseline:.3f} on the same folds"
                     + ("" if passed else f" - no useful skill (needs R² >= {min_log_r2} and +{min_skill} over the "
                                          "baseline); its predictions carry little information")),
        metadata={"model_log_r2": round(model, 4), "baseline_log_r2": round(baseline, 4), "skill": round(skill, 4),
                  "min_skill": min_skill, "min_log_r2": min_log_r2,
                  "model_log_mae": round(metrics["model"]["log_mae"], 4),
                  "baseline_log_mae": round(metrics["baseline"]["log_mae"], 4), "rows": metrics["rows"]},
    )


def paired_decision(candidate: Sequence[float], champion: Sequence[float], policy: GatePolicy) -> dict[str, Any]:
    """Per-fold log R² differences (candidate - champion, same folds). Worse when their mean falls below
    -margin, margin = min(champion_tolerance, max(champion_min_margin, champion_noise_k * standard error)):
    a consistent drop fails, one within the folds' noise passes, and no drop over the tolerance passes."""
    differences = np.asarray(candidate, dtype=float) - np.asarray(champion, dtype=float)
    mean = float(differences.mean())
    se = float(differences.std(ddof=1) / np.sqrt(len(differences))) if len(differences) > 1 else 0.0
    margin = min(policy.champion_tolerance, max(policy.champion_min_margin, policy.champion_noise_k * se))
    return {"folds": [{"fold": fold, "candidate_log_r2": round(float(c), 4), "champion_log_r2": round(float(h), 4),
                       "difference": round(float(d), 4)}
                      for fold, (c, h, d) in enumerate(zip(candidate, champion, differences))],
            "mean_difference": round(mean, 4), "standard_error": round(se, 4), "margin": round(margin, 4),
            "worse_folds": int((differences < 0).sum()), "worse": mean < -margin}


def fold_table(comparison: dict[str, dict[str, Any]]) -> str:
    """The per-fold comparison of every target as one markdown table."""
    lines = ["| target | fold | candidate log R² | champion log R² | difference |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for target, c in comparison.items():
        lines += [f"| {target} | {f['fold']} | {f['candidate_log_r2']:.4f} | {f['champion_log_r2']:.4f} | "
                  f"{f['difference']:+.4f} |" for f in c["folds"]]
        lines.append(f"| {target} | mean (SE {c['standard_error']:.4f}, margin {c['margin']:.4f}) | | | "
                     f"{c['mean_difference']:+.4f} |")
    return "\n".join(lines)


def champion_regression(candidate: dict[str, list[float]], champion: dict[str, list[float]], champion_run_id: str,
                        policy: GatePolicy, notes: Sequence[str] = ()) -> CheckOutcome:
    """Fail when any target is worse than the champion by paired_decision on the same folds; `notes` say
    how the two runs differ (data, code)."""
    comparison = {t: paired_decision(scores, champion[t], policy) for t, scores in candidate.items()}
    regressed = [t for t, c in comparison.items() if c["worse"]]
    folds = len(next(iter(candidate.values()), []))
    summary = ", ".join(f"{t} {c['mean_difference']:+.3f} (SE {c['standard_error']:.3f}, margin {c['margin']:.3f}, "
                        f"worse on {c['worse_folds']}/{len(c['folds'])} folds)"
                        for t, c in comparison.items() if not regressed or t in regressed)
    head = (f"regressed against champion {champion_run_id}: mean fold log R² difference below -margin for "
            if regressed else f"no target worse than champion {champion_run_id}: mean fold log R² difference ")
    return CheckOutcome(
        passed=not regressed,
        description="; ".join([head + summary, *notes, f"champion refit on the candidate's {folds} folds"]),
        metadata={"champion_run_id": champion_run_id, "regressed_targets": regressed, "comparison": comparison,
                  "fold_table": fold_table(comparison), "noise_k": policy.champion_noise_k,
                  "min_margin": policy.champion_min_margin, "tolerance": policy.champion_tolerance},
    )


def provenance_notes(champion: dict[str, Any], source: RawSource, code: str) -> list[str]:
    """What differs between the champion's registry record and the candidate's data and code, in words."""
    notes = []
    if champion.get("data_source") != source.kind:
        notes.append(f"champion trained on {champion.get('data_source')} data, candidate on {source.kind} data")
    elif champion.get("data_sha256") != source.sha256:
        notes.append(f"champion trained on other {source.kind} data (sha256 {str(champion.get('data_sha256'))[:12]}, "
                     f"candidate {source.sha256[:12]})")
    if champion.get("code_version") != code:
        notes.append(f"code changed since the champion (code_version {champion.get('code_version')} -> {code})")
    return notes


def compare_with_champion(paths: ProjectPaths, candidate: SupervisedModel, policy: GatePolicy) -> CheckOutcome:
    """Refit the active run's configuration on the candidate's folds of the candidate's data and compare.
    `paths` locate the candidate's processed data and raw-source record; the registry is shared."""
    registry = load_registry(paths)
    champion = active_run(registry)
    if champion is None:
        return CheckOutcome(True, "no active champion yet: nothing to compare against",
                            {"noise_k": policy.champion_noise_k, "min_margin": policy.champion_min_margin,
                             "tolerance": policy.champion_tolerance})
    run_id = champion["run_id"]
    manifest, problems = verified_manifest(paths, run_id, registry)
    if manifest is None:
        return CheckOutcome(False, f"champion {run_id} failed verification, cannot compare against it: "
                            + "; ".join(problems), {"champion_run_id": run_id, "problems": problems})
    refit = manifest.get("hyperparameters", {}).get("refit")
    if "training_config" not in manifest or not refit:
        return CheckOutcome(False, f"champion {run_id}'s manifest records no training_config or refit "
                            "hyperparameters: it cannot be refit for comparison", {"champion_run_id": run_id})
    try:
        _, source = load_recorded_source(paths)
    except DatasetError as exc:
        return CheckOutcome(False, f"cannot tell what the candidate was trained on: {exc}",
                            {"champion_run_id": run_id})
    candidate_folds = {t: [f["log_r2"] for f in m["folds"]] for t, m in candidate.metrics.items()}
    champion_config = manifest["training_config"].get("supervised", manifest["training_config"])
    same_training = (champion_config == candidate.config and manifest["hyperparameters"] == candidate.hyperparameters
                     and manifest["data"].get("processed_sha256") == sha256_file(paths.processed_csv))
    if same_training:  # the champion's refit would repeat the candidate's CV exactly: no need to run it
        return champion_regression(candidate_folds, candidate_folds, run_id, policy,
                                   provenance_notes(champion, source, code_version()))
    scored = score_configuration(read_processed(paths.processed_csv), TrainingConfig(**candidate.config),
                                 manifest["training_config"], refit)
    moved = [t for t, m in candidate.metrics.items()
             if scored[t].fold_assignment_sha256 != m["fold_assignment_sha256"]]
    if moved:
        return CheckOutcome(False, "processed_channels no longer gives the candidate's CV folds for "
                            f"{', '.join(moved)}: rematerialize supervised_bundle", {"champion_run_id": run_id})
    return champion_regression(candidate_folds, {t: [f["log_r2"] for f in r.fold_metrics] for t, r in scored.items()},
                               run_id, policy, provenance_notes(champion, source, code_version()))


def bundle_integrity(path: Path, expected_sha256: str | None) -> CheckOutcome:
    """The file is what was written, it loads, and it predicts finite values on a probe row."""
    if not path.is_file():
        return CheckOutcome(False, f"{path} is missing", {"path": str(path)})
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        return CheckOutcome(False, f"{path.name} changed after it was written (sha256 {actual[:12]} != {expected_sha256[:12]})",
                            {"expected_sha256": expected_sha256, "actual_sha256": actual})
    try:
        finite, predictions = SupervisedModel.load(path).probe()
    except Exception as exc:  # noqa: BLE001 - any load or predict failure is the finding
        return CheckOutcome(False, f"{path.name} does not load or predict: {type(exc).__name__}: {exc}",
                            {"sha256": actual})
    return CheckOutcome(
        passed=finite,
        description=("bundle matches its hash, loads and predicts on a probe row" if finite
                     else f"probe predictions are not finite non-negative numbers: {predictions}"),
        metadata={"sha256": actual, "probe_row": PROBE_ROW, "probe_predictions": predictions},
    )
