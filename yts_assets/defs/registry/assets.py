"""Registry assets: the training manifest, and model_registry, the gate that publishes and promotes."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, ResourceParam, asset

from ...core.files import read_json, sha256_file, write_json, write_text
from ...core.manifest import build_manifest
from ...core.registry import find_run, register_run
from ...lineage import output_paths, producing_run
from ...metadata import check_label, file_metadata
from ...ml import model_card as card
from ...ml.experiment import log_reports
from ...ml.model_card import CheckSummary
from ...resources import GatePolicyResource, YtsSettings
from ...tracking import ExperimentTracking
from .gate import BlockingChecks, compared_champion, run_check_evaluations, unchecked_inputs

GROUP = "registry"


@asset(
    group_name=GROUP,
    deps=["raw_youtube_stats", "processed_channels", "supervised_bundle", "clustering_bundle", "training_metrics",
          "data_quality_report", "training_baseline"],
    kinds={"markdown"},
    code_version="1",
    description="A short markdown model card, published with the run: the data, the inputs per schema, the metrics "
                "with interval coverage, known limits and the gate. Shown here and at GET /mlops/model-card.",
)
def model_card(context: AssetExecutionContext, settings: YtsSettings, gate_policy: GatePolicyResource) -> MaterializeResult:
    paths = output_paths(context, settings)
    checks = [CheckSummary(check_label(e.asset_key, e.check_name), e.passed, bool(e.blocking), e.description or "")
              for e in run_check_evaluations(context.instance, context.run.run_id)]
    text = card.render(context.run.run_id, read_json(paths.raw_source), read_json(paths.training_metrics), checks,
                       gate_policy.policy().promotion_policy)
    digest = write_text(paths.model_card, text)
    return MaterializeResult(metadata={**file_metadata(paths.model_card, digest),
                                       "dagster/row_count": MetadataValue.int(len(checks)),
                                       "card": MetadataValue.md(text)})


@asset(
    group_name=GROUP,
    deps=["raw_youtube_stats", "processed_channels", "feature_snapshot", "supervised_bundle", "clustering_bundle",
          "training_metrics", "data_quality_report", "training_baseline", "channel_insights", "channel_maps",
          model_card],
    kinds={"json"},
    code_version="1",
    description="Run id, UTC time, data path/sha256/source, training config, metrics, code and package "
                "versions, and the path and sha256 of every artifact.",
)
def training_manifest(context: AssetExecutionContext, settings: YtsSettings,
                      tracking: ExperimentTracking) -> MaterializeResult:
    paths = output_paths(context, settings)  # a manifest lists only files its own run wrote
    manifest = build_manifest(paths, context.run.run_id, read_json(paths.raw_source), read_json(paths.training_metrics),
                              mlflow_run_id=tracking.mlflow_run_id)
    digest = write_json(paths.training_manifest, manifest)
    if tracking.active:
        study_run = producing_run(context, "hpo_study")
        study = settings.paths().for_run(study_run).optuna_study if study_run else None
        log_reports([paths.training_metrics, paths.data_quality_report, paths.training_baseline, paths.training_manifest,
                     paths.feature_snapshot, *([study] if study is not None and study.is_file() else [])])
    tracking.log_run_summary(manifest, reports=[paths.training_metrics, paths.data_quality_report,  # W&B, when on
                                                paths.training_baseline, paths.training_manifest],
                             models=[paths.supervised_model, paths.clustering_model])
    return MaterializeResult(metadata={
        **file_metadata(paths.training_manifest, digest),
        "run_id": MetadataValue.text(manifest["run_id"]),
        "data_source": MetadataValue.text(manifest["data"]["source"]),
        "data_sha256": MetadataValue.text(manifest["data"]["data_sha256"]),
        "code_version": MetadataValue.text(manifest["code_version"]),
        "mlflow_run_id": MetadataValue.text(manifest["mlflow_run_id"] or "tracking off"),
        "wandb_run_id": MetadataValue.text(tracking.wandb_run_id or "tracking off"),
        "hyperparameter_source": MetadataValue.text(manifest["hyperparameters"]["source"]),
        "dagster/row_count": MetadataValue.int(len(manifest["artifacts"])),
        "artifacts": MetadataValue.md("| artifact | sha256 | bytes |\n| --- | --- | ---: |\n" + "\n".join(
            f"| {name} | `{a['sha256'][:16]}` | {a['bytes']} |" for name, a in manifest["artifacts"].items())),
    })


@asset(
    group_name=GROUP,
    deps=["training_manifest"],
    kinds={"json"},
    code_version="1",
    description="The gate: reached only when every blocking check of the run passed (Dagster stops the run "
                "otherwise and the training job's failure hook records it as rejected). Publishes the run's "
                "artifacts as an immutable copy under artifacts/mlops/runs/<run_id>/, records it and (policy auto) "
                "sets active_run_id. Refuses artifacts this run did not materialize. Every change goes to "
                "registry_audit.jsonl.",
)
def model_registry(context: AssetExecutionContext, settings: YtsSettings, gate_policy: GatePolicyResource,
                   blocking_checks: ResourceParam[BlockingChecks]) -> MaterializeResult:
    paths, policy = settings.paths(), gate_policy.policy()
    problems = unchecked_inputs(context, blocking_checks)
    if problems:
        raise Failure(
            description="not published: the registry publishes only what this run trained and checked ("
                        + "; ".join(problems) + "). Run training_job (yts-run), or promote a recorded run with "
                        "`yts-registry promote`.",
            metadata={"problems": MetadataValue.json(problems)},
        )
    manifest = read_json(output_paths(context, settings).training_manifest)
    promote = policy.promotion_policy == "auto"
    registry = register_run(paths, manifest, promote=promote, actor="dagster", compared_with=compared_champion(context),
                            reason=f"materialized by Dagster run {context.run.run_id}; all blocking checks passed; "
                                   f"policy {policy.promotion_policy}")
    decision = find_run(registry, manifest["run_id"])["status"]  # promoted, candidate or unchanged
    context.log.info(f"{manifest['run_id']}: {decision}; active run: {registry['active_run_id']}")
    return MaterializeResult(metadata={
        "decision": MetadataValue.text(decision),
        **file_metadata(paths.model_registry, sha256_file(paths.model_registry)),
        "active_run_id": MetadataValue.text(str(registry["active_run_id"])),
        "published_path": MetadataValue.text(str(paths.published_runs_dir / manifest["run_id"]) if decision != "unchanged"
                                             else f"none: identical to {find_run(registry, manifest['run_id'])['same_as']}"),
        "dagster/row_count": MetadataValue.int(len(registry["runs"])),
    })
