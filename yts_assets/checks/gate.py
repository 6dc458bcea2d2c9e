"""The promotion gate: every blocking check upstream of an asset must have passed on current data."""

from dagster import AssetExecutionContext

from .common import check_label

HISTORY_LIMIT = 50


def failed_blocking_checks(context: AssetExecutionContext) -> list[dict[str, str]]:
    """Upstream blocking checks that did not pass: failed, never ran, or ran on an older materialization.

    A check counts when it passed in this run, or passed in the run that produced the asset's
    latest materialization (so a registry-only run still sees the checks of the data it publishes).
    """
    from ..definitions import defs  # the whole code location: a job's own graph holds only its selected checks

    graph = defs.resolve_asset_graph()
    failures = []
    for check_key in sorted(graph.get_check_keys_for_assets(graph.get_ancestor_asset_keys(context.asset_key)),
                            key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = graph.get_check_spec(check_key)
        if not spec.blocking:
            continue
        latest = context.instance.get_latest_materialization_event(check_key.asset_key)
        current_runs = {context.run.run_id, latest.run_id if latest else None}
        history = context.instance.event_log_storage.get_asset_check_execution_history(check_key, limit=HISTORY_LIMIT)
        evaluation = next((record.event.asset_check_evaluation for record in history
                           if record.run_id in current_runs and record.event and record.event.asset_check_evaluation),
                          None)
        if evaluation is None:
            failures.append({"check": check_label(spec), "why": "not evaluated on the current materialization"})
        elif not evaluation.passed:
            failures.append({"check": check_label(spec), "why": evaluation.description or "failed"})
    return failures
