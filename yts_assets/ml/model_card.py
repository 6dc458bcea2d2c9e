"""The model card of a run: a short markdown page on the data, the inputs, the metrics, the limits and the gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .features import CONTRACT_SCHEMA, INPUT_SCHEMAS, NEAR_DETERMINISTIC_NOTE, TARGETS

MIN_USEFUL_LOG_R2 = 0.1  # under this, a target's predictions are called out as carrying little information


@dataclass(frozen=True)
class CheckSummary:
    """One asset check evaluated in the run before the card was written."""

    name: str
    passed: bool
    blocking: bool
    description: str


def _metrics_table(by_schema: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["| schema | target | rows | CV log R² (baseline) | segment log R² | MdAPE | interval coverage (nominal) "
             "| median interval width |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for schema, metrics in by_schema.items():
        for target, m in metrics.items():
            segment, interval = m["segment"], m["interval"]
            lines.append(f"| {schema} | {target} | {m['rows']} | {m['model']['log_r2']:.3f} "
                         f"({m['baseline']['log_r2']:.3f}) | {segment['model']['log_r2']:.3f} | "
                         f"{segment['model']['mdape']:.0%} | {interval['coverage']:.3f} "
                         f"({interval['nominal_coverage']:.2f}) | {interval['median_width']:,.0f} |")
    return lines


def limits(by_schema: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Known limits, in words, from the metrics themselves."""
    found = []
    for schema, metrics in by_schema.items():
        for target, m in metrics.items():
            if m["segment"]["model"]["log_r2"] < MIN_USEFUL_LOG_R2:
                found.append(f"No skill on {target} from the {schema} inputs alone (segment CV log R² "
                             f"{m['segment']['model']['log_r2']:.3f}): the prediction is close to a typical value; "
                             "read its interval, not the point.")
            if "zero_labels" in m:
                zero = m["zero_labels"]
                found.append(f"{schema}/{target}: {zero['rows']} channels have a label of 0; the model ranks them "
                             f"below earners with ROC AUC {zero['roc_auc']:.2f}, and {zero['interval_includes_zero']:.0%}"
                             " of their intervals reach 0. Metrics beside it are on channels with a label > 0.")
    found.append(NEAR_DETERMINISTIC_NOTE)
    found.append("Trained on one 2023 snapshot of the top ~1,000 channels: predictions for small channels "
                 "extrapolate, and intervals cover the stated share of channels like these, not every channel.")
    return found


def render(run_id: str, source: dict[str, Any], report: dict[str, Any], checks: list[CheckSummary],
           promotion_policy: str) -> str:
    """The card as markdown (deterministic for the same inputs)."""
    by_schema = report["supervised_by_schema"]
    failed = [c for c in checks if not c.passed]
    lines = [
        f"# Model card: run {run_id}", "",
        "## Data", "",
        f"- Source: {source['kind']} `{source['path']}` (sha256 `{source['sha256'][:16]}`), {source['rows']} rows.",
        f"- Targets: {', '.join(f'{t} (`{c}`)' for t, c in TARGETS.items())}; log1p space; growth only where its "
        "label is known.", "",
        "## Inputs per schema", "",
        *(f"- **{schema}**: {', '.join(INPUT_SCHEMAS[schema])}" + (" (the original platform's contract)"
                                                                     if schema == CONTRACT_SCHEMA else "")
          for schema in by_schema),
        "- A request is served by the richest schema whose inputs it gives in full; the response names it in "
        "`input_schema`.", "",
        "## Metrics (5-fold CV, out of fold)", "",
        *_metrics_table(by_schema), "",
        f"Intervals are split-conformal at {report['interval_coverage']:.0%} nominal coverage, in raw units.", "",
        "## Known limits", "",
        *(f"- {item}" for item in limits(by_schema)), "",
        "## Gate", "",
        f"- Hyperparameters: {report['hyperparameters']['source']}"
        + (f" (tuned parameters adopted for {', '.join(report['hyperparameters']['adopted'])})"
           if report["hyperparameters"].get("adopted") else "") + ".",
        f"- Checks evaluated before this card: {len(checks)}, {len(failed)} failed "
        f"({sum(1 for c in failed if c.blocking)} of them blocking).",
        *(f"  - {'FAIL' if not c.passed else 'pass'}{' (blocking)' if c.blocking else ''} `{c.name}`: {c.description}"
          for c in checks),
        f"- Promotion policy `{promotion_policy}`: the registry publishes this run only if every blocking check "
        "passes" + (", then makes it active." if promotion_policy == "auto" else ", as a candidate a person promotes.")
        + " `GET /mlops/registry` tells what happened.",
        "",
    ]
    return "\n".join(lines)
