"""Feast definitions for `feast -c feature_repo apply`: the channel entity, the FileSource over
<artifact dir>/feast/feature_snapshot.parquet and the channel_features view.

They are built by yts_assets/ml/feast_store.py (one definition for the CLI, the feast_online_store asset and the
API), from the same ProjectPaths as the rest of yts. The feast_online_store asset writes the parquet and applies
them itself; this file is for the Feast CLI and UI."""

from yts_assets.core.paths import ProjectPaths
from yts_assets.ml.feast_store import definitions

_definitions = definitions(ProjectPaths.from_env())
channel = _definitions["channel"]
channel_source = _definitions["channel_source"]
channel_features = _definitions["channel_features"]
