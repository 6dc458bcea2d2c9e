"""The promotion gate, on Dagster's in-run blocking semantics.

- A blocking check that fails stops everything downstream in its run, so `model_registry` only
  runs when every blocking check of the run passed. It then publishes only what this run
  trained and checked: the manifest and every asset it lists must have been materialized in
  this run, and every blocking check the code location defines on them must have passed in it
  (a subset job knows only its selected checks, so the full list is `BlockingChecks`, computed
  from the whole graph when the definitions load). A registry-only run, or a run without the
  checks, is refused (promote a recorded run with `yts-registry promote` or the API, which
  verify its files).
- `record_blocked_run`, the training job's failure hook, is the one place that records a run
  as rejected, with every blocking check that failed in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    HookContext,
    failure_hook,
)

from ...core.registry import record_rejection
from ...metadata import check_label

MANIFEST = AssetKey("training_manifest")


@dataclass(frozen=True)
class BlockingChecks:
    """Every blocking check of the code location; a resource, so no run can choose to leave one out."""

    keys: frozenset[AssetCheckKey]

    @classmethod
    def of(cls, definitions: Definitions) -> "BlockingChecks":
        specs = [spec for group in (*(definitions.assets or []), *(definitions.asset_checks or []))
                 for spec in getattr(group, "check_specs", ())]
        return cls(frozenset(spec.key for spec in specs if spec.blocking))

    def on(self, assets: set[AssetKey]) -> list[AssetCheckKey]:
        return sorted((key for key in self.keys if key.asset_key in assets), key=lambda k: k.to_user_string())


def run_check_evaluations(instance: DagsterInstance, run_id: str) -> list[AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records
            if r.event_log_entry.dagster_event is not None]


def blocks(evaluation: AssetCheckEvaluation) -> bool:
    """A failed blocking check stops the run only with severity ERROR (a WARN, e.g. moderate drift, does not)."""
    return bool(evaluation.blocking) and not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR


def failed_blocking_checks(instance: DagsterInstance, run_id: str) -> list[dict[str, str]]:
    """Blocking checks that failed with ERROR in this run, as {check, why}."""
    return [{"check": check_label(e.asset_key, e.check_name), "why": e.description or "failed"}
            for e in run_check_evaluations(instance, run_id) if blocks(e)]


def unchecked_inputs(context: AssetExecutionContext, blocking: BlockingChecks) -> list[str]:
    """Why this run may not publish: inputs it did not materialize, or blocking checks it did not pass."""
    graph = context.job_def.asset_layer.asset_graph
    required = sorted({MANIFEST, *graph.get(MANIFEST).parent_keys}, key=lambda k: k.to_user_string())
    own = context.instance.get_records_for_run(context.run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    materialized = {record.event_log_entry.dagster_event.asset_key for record in own.records}
    problems = [f"{key.to_user_string()} was not materialized in this run" for key in required if key not in materialized]
    passed = {(e.asset_key, e.check_name) for e in run_check_evaluations(context.instance, context.run.run_id)
              if not blocks(e)}
    for check_key in blocking.on(set(required)):
        if (check_key.asset_key, check_key.name) not in passed:
            problems.append(f"blocking check {check_label(check_key.asset_key, check_key.name)} did not pass in this run")
    return problems


def compared_champion(context: AssetExecutionContext) -> str | None:
    """The active run this run's champion check compared against (None: there was no champion then)."""
    for evaluation in run_check_evaluations(context.instance, context.run.run_id):
        if evaluation.check_name == "no_regression_against_champion":
            value = evaluation.metadata.get("champion_run_id")
            return value.value if value is not None else None
    return None


@failure_hook(required_resource_keys={"settings"})
def record_blocked_run(context: HookContext) -> None:
    """Record the run as rejected when blocking checks failed in it; the active run stays."""
    failures = failed_blocking_checks(context.instance, context.run_id)
    if failures:
        record_rejection(context.resources.settings.paths(), context.run_id, failures, actor="dagster")
        context.log.error(f"run {context.run_id} rejected: {len(failures)} blocking checks failed; the active run stays")
