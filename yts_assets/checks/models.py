"""Model checks on supervised_bundle: skill, regression against the champion, integrity."""

from collections.abc import Iterator

import joblib
from dagster import (
    AssetCheckExecutionContext, AssetCheckResult, AssetCheckSpec, asset_check, multi_asset_check,
)

from ..assets.models import supervised_bundle
from ..ml import model_quality
from ..ml.features import TARGETS
from ..ml.registry import active_run, load_registry
from ..resources import YtsSettings
from .common import gate, warn


def _metrics(settings: YtsSettings) -> dict:
    return joblib.load(settings.paths().supervised_bundle)["metrics"]


@multi_asset_check(
    specs=[AssetCheckSpec(f"{target}_skill_over_baseline", asset=supervised_bundle,
                          description=f"CV log R² for {target} beats the constant-median baseline on the same folds. "
                                      "WARN: a target without skill is reported, not hidden (on the real data, "
                                      "subscribers has almost no signal in these inputs).")
           for target in TARGETS],
)
def skill_over_baseline(settings: YtsSettings) -> Iterator[AssetCheckResult]:
    metrics = _metrics(settings)
    for target in TARGETS:
        yield warn(model_quality.skill_over_baseline(target, metrics[target]), check_name=f"{target}_skill_over_baseline")


@asset_check(asset=supervised_bundle, blocking=True,
             description="No target's CV log R² falls below the active champion's by more than "
                         "settings.champion_tolerance (default 0.05). Blocking, ERROR.")
def no_regression_against_champion(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    champion = active_run(load_registry(settings.paths()))
    return gate(context, settings, model_quality.champion_regression(_metrics(settings), champion,
                                                                     settings.champion_tolerance))


@asset_check(asset=supervised_bundle, blocking=True,
             description="The saved bundle matches the sha256 recorded at materialization, loads, and predicts on a "
                         "probe row. Blocking, ERROR.")
def bundle_integrity(context: AssetCheckExecutionContext, settings: YtsSettings) -> AssetCheckResult:
    event = context.instance.get_latest_materialization_event(supervised_bundle.key)
    recorded = event.asset_materialization.metadata.get("sha256") if event and event.asset_materialization else None
    return gate(context, settings, model_quality.bundle_integrity(settings.paths().supervised_bundle,
                                                                  recorded.value if recorded else None))


MODEL_CHECKS = [skill_over_baseline, no_regression_against_champion, bundle_integrity]
