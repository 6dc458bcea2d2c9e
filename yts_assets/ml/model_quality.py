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
from .features import CONTRACT_SCHEMA
from .models import PROBE_ROW, SupervisedModel, SupervisedSummary
from .policy import GatePolicy, SkillMinimums
from .quality import CheckOutcome
from .source import RawSource, load_recorded_source
from .training import TrainingConfig, score_configuration


def skill_over_baseline(target: str, metrics: dict[str, Any], minimums: SkillMinimums = SkillMinimums(),
                        schema: str = CONTRACT_SCHEMA) -> CheckOutcome:
    """Skill means beating the constant-median baseline on the same folds by `min_skill` log R², and
    explaining at least `min_log_r2` of the variance (a median baseline scores below 0 on skewed labels).
    Judged on the target's honest segment (earnings: earners only) where the run reports one."""
    min_skill, min_log_r2 = minimums.min_skill, minimums.min_log_r2
    segment = metrics.get("segment")
    scored = segment or metrics
    model, baseline = scored["model"]["log_r2"], scored["baseline"]["log_r2"]
    skill = model - baseline
    passed = skill >= min_skill and model >= min_log_r2
    where = f" on {segment['name']} ({segment['rows']} rows)" if segment else ""
    details = []
    if segment:
        details.append(f"median absolute error {segment['model']['mdape']:.0%} of the actual value (baseline "
                       f"{segment['baseline']['mdape']:.0%})")
    if metrics.get("zero_labels"):
        zero = metrics["zero_labels"]
        details.append(f"{zero['rows']} zero labels told apart with ROC AUC {zero['roc_auc']:.3f}")
    description = (f"{schema}/{target}: CV log R² {model:.3f} vs constant baseline {baseline:.3f}{where}"
                   + (f"; {'; '.join(details)}" if details else "")
                   + ("" if passed else f" - no useful skill (needs R² >= {min_log_r2} and +{min_skill} over the "
                                        "baseline); its predictions carry little information"))
    metadata = {"model_log_r2": round(model, 4), "baseline_log_r2": round(baseline, 4), "skill": round(skill, 4),
                "min_skill": min_skill, "min_log_r2": min_log_r2, "schema": schema,
                "all_rows_log_r2": round(metrics["model"]["log_r2"], 4),
                "model_log_mae": round(metrics["model"]["log_mae"], 4),
                "baseline_log_mae": round(metrics["baseline"]["log_mae"], 4), "rows": metrics["rows"]}
    if segment:
        metadata |= {"segment": segment["name"], "segment_rows": segment["rows"],
                     "model_mdape": round(segment["model"]["mdape"], 4),
                     "baseline_mdape": round(segment["baseline"]["mdape"], 4)}
    if metrics.get("zero_labels"):
        metadata["zero_labels"] = metrics["zero_labels"]
    return CheckOutcome(passed=passed, description=description, metadata=metadata)


def interval_coverage(metrics_by_schema: dict[str, dict[str, dict[str, Any]]], minimums: SkillMinimums) -> CheckOutcome:
    """Every target's empirical CV coverage within `coverage_warn_gap` of the nominal; a miss past it warns, a
    miss past `coverage_blocking_gap` blocks."""
    rows, misses, worst = [], [], 0.0
    for schema, metrics in metrics_by_schema.items():
        for target, m in metrics.items():
            interval = m["interval"]
            gap = interval["coverage"] - interval["nominal_coverage"]
            worst = max(worst, abs(gap))
            rows.append({"schema": schema, "target": target, "nominal": interval["nominal_coverage"],
                         "coverage": round(interval["coverage"], 4), "gap": round(gap, 4),
                         "median_width": round(interval["median_width"], 2)})
            if abs(gap) > minimums.coverage_warn_gap:
                misses.append(f"{schema}/{target} {interval['coverage']:.3f} against {interval['nominal_coverage']:.2f}")
    table = "\n".join(["| schema | target | nominal | coverage | median width |", "| --- | --- | ---: | ---: | ---: |",
                       *(f"| {r['schema']} | {r['target']} | {r['nominal']:.2f} | {r['coverage']:.3f} | "
                         f"{r['median_width']:,.0f} |" for r in rows)])
    description = (f"every interval's out-of-fold coverage within {minimums.coverage_warn_gap:.2f} of its nominal "
                   f"(worst gap {worst:.3f})" if not misses else
                   f"coverage misses the nominal by more than {minimums.coverage_warn_gap:.2f}: {', '.join(misses)}")
    return CheckOutcome(passed=not misses, description=description,
                        metadata={"coverage": rows, "coverage_table": table, "worst_gap": round(worst, 4),
                                  "warn_gap": minimums.coverage_warn_gap,
                                  "blocking_gap": minimums.coverage_blocking_gap},
                        warn_only=worst <= minimums.coverage_blocking_gap)


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


def fold_label(schema: str, target: str) -> str:
    """How a target is named in the champion comparison: bare for the contract schema, `schema/target` beyond."""
    return target if schema == CONTRACT_SCHEMA else f"{schema}/{target}"


def compare_with_champion(paths: ProjectPaths, candidate: SupervisedSummary, policy: GatePolicy) -> CheckOutcome:
    """Refit the active run's configuration on the candidate's folds of the candidate's data and compare, for
    every input schema both runs have. `paths` locate the candidate's processed data and raw-source record."""
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
    hyperparameters = manifest.get("hyperparameters", {})
    refit_by_schema = hyperparameters.get("refit_by_schema") or {CONTRACT_SCHEMA: hyperparameters.get("refit")}
    if "training_config" not in manifest or not refit_by_schema.get(CONTRACT_SCHEMA):
        return CheckOutcome(False, f"champion {run_id}'s manifest records no training_config or refit "
                            "hyperparameters: it cannot be refit for comparison", {"champion_run_id": run_id})
    try:
        _, source = load_recorded_source(paths)
    except DatasetError as exc:
        return CheckOutcome(False, f"cannot tell what the candidate was trained on: {exc}",
                            {"champion_run_id": run_id})
    schemas = tuple(s for s in candidate.schemas if s in refit_by_schema)
    candidate_folds = {fold_label(s, t): [f["log_r2"] for f in m["folds"]]
                       for s in schemas for t, m in candidate.metrics[s].items()}
    champion_config = manifest["training_config"].get("supervised", manifest["training_config"])
    notes = provenance_notes(champion, source, code_version())
    if len(schemas) < len(candidate.schemas):
        notes.append(f"champion has no {', '.join(s for s in candidate.schemas if s not in schemas)} models: "
                     "compared on the schemas both have")
    same_training = (champion_config == candidate.config and hyperparameters == candidate.hyperparameters
                     and manifest["data"].get("processed_sha256") == sha256_file(paths.processed_csv))
    if same_training:  # the champion's refit would repeat the candidate's CV exactly: no need to run it
        return champion_regression(candidate_folds, candidate_folds, run_id, policy, notes)
    scored = score_configuration(read_processed(paths.processed_csv), TrainingConfig(**candidate.config),
                                 champion_config, refit_by_schema, schemas)
    moved = [fold_label(s, t) for s in schemas for t, m in candidate.metrics[s].items()
             if scored[s][t].fold_assignment_sha256 != m["fold_assignment_sha256"]]
    if moved:
        return CheckOutcome(False, "processed_channels no longer gives the candidate's CV folds for "
                            f"{', '.join(moved)}: rematerialize supervised_bundle", {"champion_run_id": run_id})
    champion_folds = {fold_label(s, t): [f["log_r2"] for f in r.fold_metrics]
                      for s in schemas for t, r in scored[s].items()}
    return champion_regression(candidate_folds, champion_folds, run_id, policy, notes)


def inspect_bundle(path: Path, expected_sha256: str | None) -> tuple[CheckOutcome, SupervisedSummary | None]:
    """Integrity: the file is what was written, it loads, and it predicts finite values on a probe row; with the
    model's summary when it passed (a worker's job when a pool runs: the run process need not import
    scikit-learn)."""
    if not path.is_file():
        return CheckOutcome(False, f"{path} is missing", {"path": str(path)}), None
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        return CheckOutcome(False, f"{path.name} changed after it was written (sha256 {actual[:12]} != {expected_sha256[:12]})",
                            {"expected_sha256": expected_sha256, "actual_sha256": actual}), None
    try:
        model = SupervisedModel.load(path)
        finite, predictions = model.probe()
    except Exception as exc:  # noqa: BLE001 - any load or predict failure is the finding
        return CheckOutcome(False, f"{path.name} does not load or predict: {type(exc).__name__}: {exc}",
                            {"sha256": actual}), None
    return CheckOutcome(
        passed=finite,
        description=("bundle matches its hash, loads and predicts on a probe row" if finite
                     else f"probe predictions are not finite non-negative numbers: {predictions}"),
        metadata={"sha256": actual, "probe_row": PROBE_ROW, "probe_predictions": predictions},
    ), (model.summary() if finite else None)
