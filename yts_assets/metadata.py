"""What a person reads in the Dagster UI: metadata (path, hash, row count, schema, previews, plots) and check results."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableSchema,
)

from .ml.quality import CheckOutcome


def file_metadata(path: Path, sha256: str) -> dict[str, Any]:
    return {"path": MetadataValue.path(str(path)), "sha256": MetadataValue.text(sha256)}


def column_schema(frame: pd.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()])


def table_metadata(frame: pd.DataFrame, preview_rows: int = 5) -> dict[str, Any]:
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "dagster/column_schema": MetadataValue.table_schema(column_schema(frame)),
        "preview": MetadataValue.md(frame.head(preview_rows).to_markdown(index=False)),
    }


def png_markdown(png: bytes, title: str) -> MetadataValue:
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def metrics_markdown(metrics_by_schema: dict[str, dict[str, dict[str, Any]]]) -> MetadataValue:
    """CV metrics per input schema and target: log R² beside the baseline, the honest segment figures, and the
    empirical coverage and median raw width of the prediction interval (runs without intervals show a dash)."""
    lines = ["| schema | target | rows | R² log (model / baseline) | segment | segment R² log | MdAPE (model / baseline) "
             "| interval coverage (nominal) | median interval width | R² raw |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for schema, metrics in metrics_by_schema.items():
        for target, m in metrics.items():
            segment, interval = m.get("segment"), m.get("interval")
            segment_cells = (f"{segment['name']} ({segment['rows']}) | {segment['model']['log_r2']:.3f} | "
                             f"{segment['model']['mdape']:.1%} / {segment['baseline']['mdape']:.1%}"
                             if segment else "- | - | -")
            interval_cell = (f"{interval['coverage']:.3f} ({interval['nominal_coverage']:.2f}) | "
                             f"{interval['median_width']:,.0f}" if interval else "- | -")
            lines.append(f"| {schema} | {target} | {m['rows']} | {m['model']['log_r2']:.3f} / "
                         f"{m['baseline']['log_r2']:.3f} | {segment_cells} | {interval_cell} | {m['model']['r2']:.3f} |")
    return MetadataValue.md("\n".join(lines))


def check_label(asset_key: AssetKey, check_name: str) -> str:
    return f"{asset_key.to_user_string()}:{check_name}"


def check_result(context: AssetCheckExecutionContext, check_name: str, outcome: CheckOutcome) -> AssetCheckResult:
    """A plain CheckOutcome as Dagster's result: ERROR when the check's spec is blocking (unless the outcome says
    warn only), else WARN. Writes nothing."""
    [spec] = [s for s in context.check_specs if s.name == check_name]
    blocks = spec.blocking and not outcome.warn_only
    if blocks and not outcome.passed:
        context.log.error(f"blocking check {check_label(spec.asset_key, check_name)} failed: {outcome.description}")
    return AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=check_name,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR if blocks else AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={key: value if isinstance(value, (int, float, str)) else MetadataValue.json(value)
                  for key, value in outcome.metadata.items()},
    )
