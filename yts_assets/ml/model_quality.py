"""Model checks: skill over the baseline, regression against the champion, bundle integrity."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from ..core.files import sha256_file
from .models import PROBE_ROW, SupervisedModel
from .policy import SkillMinimums
from .quality import CheckOutcome



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


def champion_regression(candidate: dict[str, dict[str, Any]], champion: dict[str, Any] | None,
                        tolerance: float) -> CheckOutcome:
    """Fail when any target's CV log R² falls more than `tolerance` below the active run's."""
    if champion is None:
        return CheckOutcome(True, "no active champion yet: nothing to compare against", {"tolerance": tolerance})
    comparison = {}
    for target, metrics in candidate.items():
        previous = champion["metrics"].get(target, {}).get("log_r2")
        current = metrics["model"]["log_r2"]
        comparison[target] = {"candidate_log_r2": round(current, 4),
                              "champion_log_r2": None if previous is None else round(previous, 4),
                              "delta": None if previous is None else round(current - previous, 4)}
    regressed = [t for t, c in comparison.items() if c["delta"] is not None and c["delta"] < -tolerance]
    return CheckOutcome(
        passed=not regressed,
        description=(f"no target worse than champion {champion['run_id']} by more than {tolerance}" if not regressed else
                     "regressed against champion " + champion["run_id"] + ": "
                     + ", ".join(f"{t} {comparison[t]['candidate_log_r2']:.3f} < {comparison[t]['champion_log_r2']:.3f} - {tolerance}"
                                 for t in regressed)),
        metadata={"champion_run_id": champion["run_id"], "tolerance": tolerance, "comparison": comparison,
                  "regressed_targets": regressed},
    )


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
