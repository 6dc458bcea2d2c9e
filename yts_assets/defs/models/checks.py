"""Model checks on supervised_bundle: skill per schema and target, interval coverage, regression against the champion, integrity."""

from collections.abc import Iterator

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSpec, AssetKey, multi_asset_check

from ...lineage import input_paths, materialization
from ...metadata import check_result
from ...ml import model_quality, workers
from ...ml.features import CONTRACT_SCHEMA, EXTENDED_INPUTS, EXTENDED_SCHEMA, INPUT_SCHEMAS, TARGETS
from ...ml.quality import CheckOutcome
from ...resources import GatePolicyResource, YtsSettings

SUPERVISED_BUNDLE = AssetKey("supervised_bundle")


SKILL_NOTES = {
    CONTRACT_SCHEMA: "On the real data, subscribers has almost no signal in the contract inputs (CV log R² about 0.02).",
    EXTENDED_SCHEMA: "Lifetime video_views carry most of the subscribers signal, and 30-day views nearly determine "
                     "earnings, which the dataset derives from them.",
}


def skill_check_name(schema: str, target: str) -> str:
    return f"{target}_skill_over_baseline" if schema == CONTRACT_SCHEMA else f"{schema}_{target}_skill_over_baseline"


@multi_asset_check(specs=[
    *[AssetCheckSpec(skill_check_name(schema, target), asset=SUPERVISED_BUNDLE, blocking=False,
                     description=f"CV log R² of the {schema} schema's {target} model ({', '.join(inputs)}) beats the "
                                 "constant-median baseline on the same folds, judged on the target's segment "
                                 "(earnings: earners only; zero earners are scored by ROC AUC). WARN: a target without "
                                 f"skill is reported, not hidden. {SKILL_NOTES[schema]}")
      for schema, inputs in INPUT_SCHEMAS.items() for target in TARGETS],
    AssetCheckSpec("interval_coverage", asset=SUPERVISED_BUNDLE, blocking=True,
                   description="The out-of-fold coverage of every target's conformal interval, per input schema, is "
                               "within coverage_warn_gap (0.05) of the nominal (YTS_INTERVAL_COVERAGE, default 0.8). "
                               "WARN past it; blocking, ERROR, past coverage_blocking_gap (0.10)."),
    AssetCheckSpec("no_regression_against_champion", asset=SUPERVISED_BUNDLE, blocking=True,
                   description="The active champion's configuration is refit on the candidate's CV folds of the "
                               "candidate's data; a target fails when its mean per-fold log R² difference (candidate "
                               "- champion) is below -min(champion_tolerance, max(champion_min_margin, "
                               "champion_noise_k x its standard error)) (defaults 0.02, 0.005, 2). The description "
                               "names a change of data source, data or code. Blocking, ERROR."),
    AssetCheckSpec("bundle_integrity", asset=SUPERVISED_BUNDLE, blocking=True,
                   description="The saved model (its .skops form, the one yts loads) matches the sha256 recorded at "
                               "materialization, loads without unpickling, and "
                               "predicts on a probe row. Blocking, ERROR."),
])
def model_checks(context: AssetCheckExecutionContext, settings: YtsSettings,
                 gate_policy: GatePolicyResource) -> Iterator[AssetCheckResult]:
    paths, policy = input_paths(context, settings, "supervised_bundle"), gate_policy.policy()
    event = materialization(context, "supervised_bundle")  # the one whose file is checked, not a concurrent run's
    recorded = event.metadata.get("sha256") if event else None
    # loaded in a worker when a pool runs: the run process need not import scikit-learn
    integrity, candidate = workers.submit(model_quality.inspect_bundle, paths.supervised_model,
                                          recorded.value if recorded else None).result()
    yield check_result(context, "bundle_integrity", integrity)
    if candidate is not None:
        skills = {skill_check_name(s, t): (model_quality.skill_over_baseline(t, candidate.metrics[s][t], policy.skill, s)
                                           if s in candidate.metrics else not_trained(s))
                  for s in INPUT_SCHEMAS for t in TARGETS}
        coverage = model_quality.interval_coverage(candidate.metrics, policy.skill)
        regression = model_quality.compare_with_champion(input_paths(context, settings, "processed_channels"),
                                                         candidate, policy)
    else:
        not_evaluated = CheckOutcome(False, "not evaluated: the bundle failed its integrity check")
        skills = {skill_check_name(s, t): not_evaluated for s in INPUT_SCHEMAS for t in TARGETS}
        coverage = regression = not_evaluated
    for name, outcome in skills.items():
        yield check_result(context, name, outcome)
    yield check_result(context, "interval_coverage", coverage)
    yield check_result(context, "no_regression_against_champion", regression)


def not_trained(schema: str) -> CheckOutcome:
    return CheckOutcome(True, f"no {schema} models in this run: the data lacks {', '.join(EXTENDED_INPUTS)}",
                        {"applicable": False})
