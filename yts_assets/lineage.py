"""Which run's outputs an asset or check reads: its own run's, when that run materialized the input,
else the run of the input's latest materialization. Every run writes into its own candidate folder
(`ProjectPaths.for_run`), so what is read is exactly what Dagster's lineage records."""

from __future__ import annotations

from dagster import AssetKey, AssetMaterialization, DagsterEventType, Failure

from .core.paths import ProjectPaths
from .resources import YtsSettings


def producing_run(context, asset: str) -> str | None:  # noqa: ANN001 - an asset or asset-check execution context
    """The run whose materialization of `asset` this step reads; None if it was never materialized."""
    key = AssetKey(asset)
    own = context.instance.get_records_for_run(context.run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    if any(record.event_log_entry.dagster_event.asset_key == key for record in own.records):
        return context.run.run_id
    latest = context.instance.get_latest_materialization_event(key)
    return latest.run_id if latest is not None else None


def materialization(context, asset: str) -> AssetMaterialization | None:  # noqa: ANN001
    """The materialization of `asset` this step reads (see `producing_run`), with its metadata."""
    run_id = producing_run(context, asset)
    if run_id is None:
        return None
    records = context.instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    events = [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event.asset_key == AssetKey(asset)]
    return events[-1].event_specific_data.materialization if events else None


def input_paths(context, settings: YtsSettings, asset: str) -> ProjectPaths:  # noqa: ANN001
    """The candidate paths of the run that produced `asset` (see `producing_run`)."""
    run_id = producing_run(context, asset)
    if run_id is None:
        raise Failure(description=f"{asset} has never been materialized: run training_job (yts-run) first")
    return settings.paths().for_run(run_id)


def output_paths(context, settings: YtsSettings) -> ProjectPaths:  # noqa: ANN001
    """This run's own candidate paths."""
    return settings.paths().for_run(context.run.run_id)
