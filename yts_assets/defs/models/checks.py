"""Model checks on supervised_bundle: skill, regression against the champion, integrity."""

from collections.abc import Iterator

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSpec, AssetKey, multi_asset_check

from ...lineage import input_paths, materialization
from ...metadata import check_result
from ...ml import model_quality
from ...ml.features import TARGETS
from ...ml.models import SupervisedModel
from ...ml.quality import CheckOutcome
from ...resources import GatePolicyResource, YtsSettings

SUPERVISED_BUNDLE = AssetKey("supervised_bundle")


@multi_asset_check(specs=[
    *[AssetCheckSpec(f"{target}_skill_over_baseline", asset=SUPERVISED_BUNDLE, blocking=False,
                     description=f"CV log R² for {target} beats the constant-median baseline on the same folds. WARN: "
                                 "a target without skill is reported, not hidden (on the real data, subscribers has "
                                 "almost no signal in these inputs).")
      for target in TARGETS],
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
    integrity = model_quality.bundle_integrity(paths.supervised_model, recorded.value if recorded else None)
    yield check_result(context, "bundle_integrity", integrity)
    if integrity.passed:
        candidate = SupervisedModel.load(paths.supervised_model)
        skills = {t: model_quality.skill_over_baseline(t, candidate.metrics[t], policy.skill) for t in TARGETS}
        regression = model_quality.compare_with_champion(input_paths(context, settings, "processed_channels"),
                                                         candidate, policy)
    else:
        not_evaluated = CheckOutcome(False, "not evaluated: the bundle failed its integrity check")
        skills, regression = {t: not_evaluated for t in TARGETS}, not_evaluated
    for target, outcome in skills.items():
        yield check_result(context, f"{target}_skill_over_baseline", outcome)
    yield check_result(context, "no_regression_against_champion", regression)
