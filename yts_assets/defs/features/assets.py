"""Feature assets: the opt-in Feast online store over the feature snapshot (`pip install -e '.[feast]'`)."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from ...lineage import input_paths
from ...ml import feast_store
from ...ml.dataset import read_processed
from ...resources import YtsSettings

GROUP = "features"


@asset(
    group_name=GROUP,
    deps=["feature_snapshot"],
    kinds={"feast", "sqlite"},
    code_version="1",
    description="Feast online store (SQLite, under <artifact dir>/feast/) loaded from the latest feature snapshot: "
                "applies the channel entity and the channel_features view, then materializes the snapshot's time "
                "range. Opt-in: needs `pip install -e '.[feast]'`; outside training_job.",
)
def feast_online_store(context: AssetExecutionContext, settings: YtsSettings) -> MaterializeResult:
    try:
        feast_store.require_feast()
    except feast_store.FeastUnavailable as error:
        raise Failure(description=str(error)) from error
    snapshot = read_processed(input_paths(context, settings, "feature_snapshot").feature_snapshot)
    result = feast_store.materialize(settings.paths(), snapshot)
    return MaterializeResult(metadata={
        "rows": result["rows"], "entities": result["entities"],
        "online_store": MetadataValue.path(str(result["online_store"])),
        "registry": MetadataValue.path(str(result["registry"])),
        "time_range": f"{result['start']} .. {result['end']}",
    })
