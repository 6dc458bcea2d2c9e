"""The trained artefacts as typed objects: the supervised predictor and the clustering model.

Each owns its preprocessing, predicts from raw inputs, and saves two files that carry its kind
and format version: `<name>.skops`, the form yts loads, which skops reads without running code
from the file (only the types in TRUSTED_TYPES beyond skops' own safe set are allowed), and
`<name>.joblib`, a pickle kept for the platform's existing readers, which yts never loads.
Loading refuses another kind, format version or untrusted type with a clear message.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..core.files import sha256_bytes, write_bytes
from . import workers
from .features import CONTRACT_SCHEMA, ENCODED_FEATURES, EXTENDED_INPUTS, EXTENDED_SCHEMA, SCHEMA_FEATURES, TARGETS

if TYPE_CHECKING:  # scikit-learn, skops and joblib are imported where a model is fitted, saved or loaded
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.preprocessing import StandardScaler

PROBE_ROW = {"uploads": 1000.0, "age": 10.0, "category": "Music", "country": "India"}
PROBE_EXTENDED = {"channel_type": "Music", "video_views": 5e9, "video_views_last_30_days": 5e7}
CATEGORY_CODE = ENCODED_FEATURES.index("category_code")
COUNTRY_CODE = ENCODED_FEATURES.index("country_code")
CHANNEL_TYPE_CODE = ENCODED_FEATURES.index("channel_type_code")
FLATTENED_MAX_ROWS = 512  # up to this many rows, predict_log walks the flattened trees (TreeEnsembles)


def cluster_logs(values: np.ndarray, growth_fill: float | None = None) -> tuple[np.ndarray, float]:
    """log1p of (uploads, subscribers, earnings, growth) rows, negatives clipped to 0, missing growth imputed
    (with the median of the known labels unless `growth_fill` is given), other gaps with the column median."""
    logs = np.log1p(np.clip(np.asarray(values, dtype=float), 0, None))
    if growth_fill is None:
        growth_fill = float(np.nanmedian(logs[:, 3]))
    logs[:, 3] = np.where(np.isnan(logs[:, 3]), growth_fill, logs[:, 3])
    if np.isnan(logs).any():
        logs = np.where(np.isnan(logs), np.nanmedian(logs, axis=0), logs)
    return logs, growth_fill


class ModelFormatError(ValueError):
    """A model file is not the kind or format version this code reads; the message says what to do."""


def _codes(values: Iterable[object], lookup: Mapping[str, int]) -> list[float]:
    return [lookup.get(v.strip().casefold(), np.nan) if isinstance(v, str) else np.nan for v in values]


def _log_counts(values: Iterable[float | None]) -> np.ndarray:
    counts = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return np.log1p(np.clip(counts, 0, None))


@dataclass(frozen=True)
class FeatureEncoder:
    """Model inputs to a float matrix without a ColumnTransformer.

    Categories match case-insensitively and become ordinal codes; unseen or missing ones become
    NaN, which the gradient-boosted trees route as 'missing'.
    """

    categories: tuple[str, ...]
    countries: tuple[str, ...]
    channel_types: tuple[str, ...] = ()

    @classmethod
    def fit(cls, frame: Any) -> "FeatureEncoder":
        def vocabulary(column: str) -> tuple[str, ...]:
            if column not in frame:
                return ()
            return tuple(sorted(frame[column].dropna().astype(str).unique()))

        return cls(categories=vocabulary("category"), countries=vocabulary("country"),
                   channel_types=vocabulary("channel_type"))

    @cached_property
    def _category_codes(self) -> dict[str, int]:
        return {value.casefold(): code for code, value in enumerate(self.categories)}

    @cached_property
    def _country_codes(self) -> dict[str, int]:
        return {value.casefold(): code for code, value in enumerate(self.countries)}

    @cached_property
    def _channel_type_codes(self) -> dict[str, int]:
        return {value.casefold(): code for code, value in enumerate(self.channel_types)}

    def encode_values(self, uploads: Iterable[float], age: Iterable[float], category: Iterable[object],
                      country: Iterable[object], channel_type: Iterable[object] | None = None,
                      video_views: Iterable[float | None] | None = None,
                      video_views_last_30_days: Iterable[float | None] | None = None) -> np.ndarray:
        """The ENCODED_FEATURES matrix; the optional inputs are NaN where not given (None or left out)."""
        uploads = list(uploads)
        if len(uploads) == 1:  # a request: one row built from Python values, not seven column arrays
            [upload], [years] = uploads, list(age)
            return np.array([[np.log1p(max(np.nan if upload is None else float(upload), 0.0)), years,
                              *_codes(category, self._category_codes), *_codes(country, self._country_codes),
                              np.nan if channel_type is None else _codes(channel_type, self._channel_type_codes)[0],
                              np.nan if video_views is None else _log_counts(video_views)[0],
                              np.nan if video_views_last_30_days is None else _log_counts(video_views_last_30_days)[0]]],
                            dtype=float)
        uploads_array = np.asarray(uploads, dtype=float)
        rows = uploads_array.size
        if rows == 0:
            return np.empty((0, len(ENCODED_FEATURES)))
        missing = np.full(rows, np.nan)
        return np.column_stack([
            np.log1p(np.clip(uploads_array, 0, None)),
            np.asarray(list(age), dtype=float),
            _codes(category, self._category_codes),
            _codes(country, self._country_codes),
            missing if channel_type is None else _codes(channel_type, self._channel_type_codes),
            missing if video_views is None else _log_counts(video_views),
            missing if video_views_last_30_days is None else _log_counts(video_views_last_30_days),
        ])

    def encode(self, frame: Any) -> np.ndarray:
        """Encode the model inputs of a processed table (a pandas DataFrame); absent optional columns are NaN."""
        def text(column: str) -> Any:
            return frame[column].astype(object).where(frame[column].notna(), None) if column in frame else None

        def number(column: str) -> Any:
            return frame[column].to_numpy(dtype=float) if column in frame else None

        return self.encode_values(
            frame["uploads"].to_numpy(dtype=float), frame["age"].to_numpy(dtype=float),
            text("category"), text("country"), text(EXTENDED_INPUTS["channel_type"]),
            number(EXTENDED_INPUTS["video_views"]), number(EXTENDED_INPUTS["video_views_last_30_days"]),
        )


# Beyond skops' default safe types: the tree nodes of our HistGradientBoosting models.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
SAFE_SUFFIX = ".skops"
LOADED_CACHE_SIZE = 8
_LOADED: dict[tuple[str, str], Any] = {}  # (kind, sha256 of the .skops bytes) -> model, oldest first
_LOADED_LOCK = threading.Lock()


def safe_path(joblib_path: Path) -> Path:
    """Where the loadable form of a model saved at `joblib_path` lives."""
    return joblib_path.with_suffix(SAFE_SUFFIX)


def _remember(kind: str, digest: str, model: Any) -> None:
    with _LOADED_LOCK:
        _LOADED[(kind, digest)] = model
        while len(_LOADED) > LOADED_CACHE_SIZE:
            _LOADED.pop(next(iter(_LOADED)))


def _serialize(model: "_SavedModel") -> tuple[bytes, bytes]:
    return model.serialize()


def write_model_files(joblib_path: Path, pickled: bytes, safe: bytes) -> str:
    """Atomic writes of `<name>.joblib` and `<name>.skops` (bytes from `serialize`); the sha256 of the .skops file."""
    write_bytes(joblib_path, pickled)
    return write_bytes(safe_path(joblib_path), safe)


class _SavedModel:
    """save/load with a kind and a format version; subclasses are dataclasses."""

    KIND: ClassVar[str]
    FORMAT: ClassVar[int]  # the format this code writes
    READS: ClassVar[tuple[int, ...]] = ()  # older formats it still reads, converted by _from_state

    def _state(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def serialize(self) -> tuple[bytes, bytes]:
        """(the .joblib bytes, the .skops bytes); the .skops form is loaded back (audited, kind and format checked)
        before it is returned, so a model is never saved in a form yts cannot load. This process's later loads of
        those bytes get `self`."""
        import joblib
        import skops.io

        payload = {"kind": self.KIND, "format": self.FORMAT, "state": self._state()}
        pickled = io.BytesIO()
        joblib.dump(payload, pickled, compress=3)
        safe = skops.io.dumps(payload)
        type(self)._loads_uncached(safe, f"the {self.KIND} model being saved")
        _remember(self.KIND, sha256_bytes(safe), self)
        return pickled.getvalue(), safe

    def save(self, joblib_path: Path) -> str:
        """Atomic writes of `<name>.joblib` and `<name>.skops` (serialized in a worker process when a pool runs);
        returns the sha256 of the .skops file yts loads. Later loads of those bytes in this process get `self`."""
        digest = write_model_files(joblib_path, *workers.submit(_serialize, self).result())
        _remember(self.KIND, digest, self)
        return digest

    @classmethod
    def _from_state(cls, state: dict[str, Any], version: int) -> Any:
        return cls(**state)

    @classmethod
    def load(cls, path: Path) -> Any:
        """Load the .skops form (given its path or the .joblib's); never unpickles."""
        path = path if path.suffix == SAFE_SUFFIX else safe_path(path)
        return cls.loads(path.read_bytes(), str(path))

    @classmethod
    def loads(cls, data: bytes, origin: str) -> Any:
        """Load from bytes already read (and, by serving, already checked against their sha256).

        The same bytes load once per process: models are immutable, and the key is their content hash."""
        digest = sha256_bytes(data)
        with _LOADED_LOCK:
            cached = _LOADED.get((cls.KIND, digest))
        if cached is None:
            cached = cls._loads_uncached(data, origin)
            _remember(cls.KIND, digest, cached)
        return cached

    @classmethod
    def _loads_uncached(cls, data: bytes, origin: str) -> Any:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        path = origin  # named in every message
        try:
            payload = skops.io.loads(data, trusted=TRUSTED_TYPES)  # audits every type before constructing any
        except UntrustedTypesFoundException as exc:
            found = str(exc).splitlines()[0].removeprefix("Untrusted types found in the file: ")
            raise ModelFormatError(f"{path} holds types yts does not trust: {found}") from exc
        except Exception as exc:  # noqa: BLE001 - bytes skops cannot read are a format problem
            raise ModelFormatError(f"{path} is not a readable skops model file ({type(exc).__name__}: {exc})") from exc
        found = payload.get("kind") if isinstance(payload, dict) else None
        if found != cls.KIND:
            raise ModelFormatError(f"{path} is not a {cls.KIND} model (found {found or type(payload).__name__}); "
                                   "rematerialize it with yts-run")
        version = payload.get("format")
        if version != cls.FORMAT and version not in cls.READS:
            readable = ", ".join(map(str, sorted({cls.FORMAT, *cls.READS})))
            raise ModelFormatError(f"{path} is {cls.KIND} model format {version}, but this yts reads format "
                                   f"{readable}; retrain with yts-run (or serve it with the yts that wrote it)")
        return cls._from_state(payload["state"], version)


# Every tree of several HistGradientBoosting regressors, flattened into numpy arrays and walked in one pass.
#
# scikit-learn predicts one tree at a time (a Cython call per tree, plus input validation): for one row and
# three 60-tree models that is about 0.3 ms per model. Here the nodes of all trees of all models sit in one set of
# arrays, and a few rows descend every tree together, one numpy step per tree level. The decision rule is
# scikit-learn's for numeric splits (`_predict_one_from_raw_data`): NaN goes where the node sends missing values,
# else left when x <= num_threshold. Models with categorical splits are refused (yts encodes categories as codes).
# Predictions equal scikit-learn's to floating-point rounding (tests/test_tree_ensembles.py: 1e-9 on the real dataset).
@dataclass(frozen=True)
class TreeEnsembles:
    """The flattened trees of named regressors over the same input columns."""

    names: tuple[str, ...]
    feature: np.ndarray  # per node, the input column it splits on (0 at leaves)
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray  # global node indices; a leaf points to itself
    right: np.ndarray
    value: np.ndarray  # leaf values (0 at split nodes)
    roots: np.ndarray  # per tree, its root's global index
    first_tree: np.ndarray  # per model, the index of its first tree in `roots`
    baseline: np.ndarray  # per model
    depth: int  # the deepest leaf: that many steps reach every leaf

    @classmethod
    def of(cls, models: Mapping[str, HistGradientBoostingRegressor]) -> "TreeEnsembles":
        nodes, roots, first_tree, baselines = [], [], [], []
        offset = 0
        for model in models.values():
            if model.n_trees_per_iteration_ != 1:
                raise ValueError("only single-output regressors can be flattened")
            first_tree.append(len(roots))
            baselines.append(float(np.asarray(model._baseline_prediction).ravel()[0]))
            for (predictor,) in model._predictors:
                tree = predictor.nodes
                if tree["is_categorical"].any():
                    raise ValueError("trees with categorical splits are not flattened")
                roots.append(offset)
                nodes.append((tree, offset))
                offset += len(tree)
        flat = np.concatenate([tree for tree, _ in nodes])
        shift = np.concatenate([np.full(len(tree), start, dtype=np.int64) for tree, start in nodes])
        leaf = flat["is_leaf"].astype(bool)
        own = np.arange(len(flat), dtype=np.int64)
        return cls(
            names=tuple(models),
            feature=np.where(leaf, 0, flat["feature_idx"]).astype(np.intp),
            threshold=flat["num_threshold"].astype(float),
            missing_left=flat["missing_go_to_left"].astype(bool),
            left=np.where(leaf, own, flat["left"].astype(np.int64) + shift),
            right=np.where(leaf, own, flat["right"].astype(np.int64) + shift),
            value=np.where(leaf, flat["value"], 0.0),
            roots=np.asarray(roots, dtype=np.intp),
            first_tree=np.asarray(first_tree, dtype=np.intp),
            baseline=np.asarray(baselines, dtype=float),
            depth=int(flat["depth"][leaf].max()) if leaf.any() else 0,
        )

    @cached_property
    def _walk(self) -> tuple[np.ndarray, ...]:
        """The node arrays for `predict`'s descent: node i's entries sit at 2i and 2i+1, and `children[2i + went_left]`
        is 2 x (the child), so a level is one `take` per array and no `where`."""
        children = np.empty(2 * len(self.left), dtype=np.intp)
        children[0::2], children[1::2] = 2 * self.right, 2 * self.left
        return (np.repeat(self.feature, 2), np.repeat(self.threshold, 2), np.repeat(self.missing_left, 2), children,
                np.repeat(self.value, 2), (2 * self.roots).astype(np.intp))

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (untransformed) predictions of every model for the rows of `features`."""
        rows = np.asarray(features, dtype=float)
        count, width = rows.shape
        if count == 0 or not len(self.roots):
            return {name: np.full(count, self.baseline[i]) for i, name in enumerate(self.names)}
        feature, threshold, missing_left, children, value, roots = self._walk
        flat = np.ascontiguousarray(rows).ravel()
        node = np.tile(roots, count)  # row r's trees at r*T..(r+1)*T-1
        offset = np.repeat(np.arange(count, dtype=np.intp) * width, len(roots)) if count > 1 else None
        missing = bool(np.isnan(flat).any())
        for _ in range(self.depth):
            column = feature.take(node)
            if offset is not None:
                column += offset
            x = flat.take(column)
            left = x <= threshold.take(node)  # False for NaN ...
            if missing:
                left |= np.isnan(x) & missing_left.take(node)  # ... which goes where the node sends missing values
            node = children.take(node + left)
        sums = np.add.reduceat(value.take(node).reshape(count, -1), self.first_tree, axis=1)
        return {name: self.baseline[i] + sums[:, i] for i, name in enumerate(self.names)}


@dataclass(frozen=True)
class Predictions:
    """Raw-unit predictions for some rows: value and interval bounds per target, and the schema that served each row."""

    values: dict[str, np.ndarray]
    lower: dict[str, np.ndarray] | None  # None: the run was trained without intervals
    upper: dict[str, np.ndarray] | None
    schemas: list[str]


class _TrainingRecord:
    """Read-outs of a training's `metrics` and `hyperparameters` (SupervisedModel, SupervisedSummary)."""

    metrics: dict[str, dict[str, dict[str, Any]]]
    hyperparameters: dict[str, Any]

    @property
    def contract_metrics(self) -> dict[str, dict[str, Any]]:
        """Per target, the CV record of the contract schema (the original platform's inputs)."""
        return self.metrics.get(CONTRACT_SCHEMA, {})

    @property
    def hyperparameter_source(self) -> str:
        """`optuna` when a search's parameters were applied to some model, else `defaults`."""
        return self.hyperparameters["source"]


@dataclass(frozen=True)
class SupervisedSummary(_TrainingRecord):
    """What a SupervisedModel records of its training, without its regressors: what the run process reads of a
    model trained and loaded in a worker process."""

    schemas: tuple[str, ...]
    interval_coverage: float | None
    metrics: dict[str, dict[str, dict[str, Any]]]
    hyperparameters: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class SupervisedModel(_TrainingRecord, _SavedModel):
    """Per input schema, one log1p-space regressor per target over the encoded inputs, a conformal interval
    half-width per target (log1p space) at `interval_coverage`, and the training record.

    Schema-keyed fields: `regressors`, `intervals`, `metrics` and `feature_importance` map schema -> target -> ...
    Format 2 (one contract model set, no intervals) is still read."""

    KIND: ClassVar[str] = "yts.supervised"
    FORMAT: ClassVar[int] = 3
    READS: ClassVar[tuple[int, ...]] = (2,)

    encoder: FeatureEncoder
    regressors: dict[str, dict[str, HistGradientBoostingRegressor]]
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)
    interval_coverage: float | None = None
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    feature_importance: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)
    target_transform: str = "log1p"

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "encoder": asdict(self.encoder)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], version: int) -> "SupervisedModel":
        encoder = FeatureEncoder(**{k: tuple(v) for k, v in state["encoder"].items()})
        if version == 2:  # one model set on the contract inputs, no intervals
            contract = {name: {CONTRACT_SCHEMA: state[name]} for name in ("regressors", "metrics", "feature_importance")
                        if name in state}
            return cls(**{**state, **contract, "encoder": encoder})
        return cls(**{**state, "encoder": encoder})

    @property
    def schemas(self) -> tuple[str, ...]:
        """The input schemas this run has models for, poorest first."""
        return tuple(s for s in SCHEMA_FEATURES if s in self.regressors)

    def encode(self, uploads: Iterable[float], age: Iterable[float], category: Iterable[object],
               country: Iterable[object], **extended: Iterable[Any] | None) -> np.ndarray:
        return self.encoder.encode_values(uploads, age, category, country, **extended)

    @cached_property
    def _flattened(self) -> dict[str, TreeEnsembles]:
        return {schema: TreeEnsembles.of(models) for schema, models in self.regressors.items()}

    def predict_log(self, features: np.ndarray, schema: str = CONTRACT_SCHEMA) -> dict[str, np.ndarray]:
        """log1p-space predictions: a few rows (a request) walk all targets' flattened trees in one numpy pass,
        many rows (a sweep, a CV fold) go through scikit-learn; both agree to floating-point rounding."""
        columns = features[:, :len(SCHEMA_FEATURES[schema])]
        if len(columns) <= FLATTENED_MAX_ROWS:
            return self._flattened[schema].predict(columns)
        return {target: model.predict(columns) for target, model in self.regressors[schema].items()}

    def predict_encoded(self, features: np.ndarray, schema: str = CONTRACT_SCHEMA) -> dict[str, np.ndarray]:
        """Raw-space predictions for every target from an encoded matrix, by one schema's models."""
        return {target: np.expm1(values) for target, values in self.predict_log(features, schema).items()}

    def predict(self, uploads: Iterable[float], age: Iterable[float], category: Iterable[object],
                country: Iterable[object], **extended: Iterable[Any] | None) -> dict[str, np.ndarray]:
        """Raw-space predictions by the contract models, or the extended ones when their inputs are given."""
        schema = EXTENDED_SCHEMA if extended and EXTENDED_SCHEMA in self.regressors else CONTRACT_SCHEMA
        return self.predict_encoded(self.encode(uploads, age, category, country, **extended), schema)

    def predict_rows(self, features: np.ndarray, extended_rows: np.ndarray | None = None) -> Predictions:
        """Every row by the richest schema it gives all inputs for (`extended_rows`), with intervals."""
        schema = CONTRACT_SCHEMA
        if extended_rows is not None and EXTENDED_SCHEMA in self.regressors:
            extended = np.asarray(extended_rows, dtype=bool)
            if extended.all():
                schema = EXTENDED_SCHEMA
            elif extended.any():
                return self._predict_mixed_rows(features, extended)
        return self._predict_schema_rows(features, schema)

    def _predict_schema_rows(self, features: np.ndarray, schema: str) -> Predictions:
        """Every row by one schema (a request's usual case): the targets stacked, a handful of numpy calls."""
        logs = self.predict_log(features, schema)
        stacked = np.array([logs[target] for target in TARGETS])
        values = dict(zip(TARGETS, np.expm1(stacked)))
        schemas = [schema] * len(features)
        if not self.intervals:
            return Predictions(values, None, None, schemas)
        widths = np.array([[self.intervals.get(schema, {}).get(target, np.nan)] for target in TARGETS])
        lower = np.maximum(np.expm1(stacked - widths), 0.0)
        return Predictions(values, dict(zip(TARGETS, lower)), dict(zip(TARGETS, np.expm1(stacked + widths))), schemas)

    def _predict_mixed_rows(self, features: np.ndarray, use_extended: np.ndarray) -> Predictions:
        """Rows by the contract models and rows by the extended ones, in one answer."""
        groups = [(s, m) for s, m in ((CONTRACT_SCHEMA, ~use_extended), (EXTENDED_SCHEMA, use_extended)) if m.any()]
        logs = {target: np.empty(len(features)) for target in TARGETS}
        widths = {target: np.empty(len(features)) for target in TARGETS}
        for schema, rows in groups:
            subset = features if len(groups) == 1 else features[rows]
            for target, values in self.predict_log(subset, schema).items():
                logs[target][rows] = values
                widths[target][rows] = self.intervals.get(schema, {}).get(target, np.nan)
        values = {target: np.expm1(log) for target, log in logs.items()}
        schemas = np.where(use_extended, EXTENDED_SCHEMA, CONTRACT_SCHEMA).tolist()
        if not self.intervals:
            return Predictions(values, None, None, schemas)
        lower = {t: np.clip(np.expm1(log - widths[t]), 0, None) for t, log in logs.items()}
        upper = {t: np.expm1(log + widths[t]) for t, log in logs.items()}
        return Predictions(values, lower, upper, schemas)

    def probe(self) -> tuple[bool, dict[str, float]]:
        """(usable, predictions) on PROBE_ROW, by every schema: usable when each target of each schema gets a
        finite, non-negative number (keys `target` for the contract schema, `schema/target` beyond it)."""
        row = PROBE_ROW
        features = self.encode([row["uploads"]], [row["age"]], [row["category"]], [row["country"]],
                               **{k: [v] for k, v in PROBE_EXTENDED.items()})
        predictions: dict[str, float] = {}
        for schema in self.schemas:
            prefix = "" if schema == CONTRACT_SCHEMA else f"{schema}/"
            predictions |= {f"{prefix}{t}": float(v[0]) for t, v in self.predict_encoded(features, schema).items()}
        expected = {f"{'' if s == CONTRACT_SCHEMA else f'{s}/'}{t}" for s in self.schemas for t in TARGETS}
        usable = (CONTRACT_SCHEMA in self.schemas and set(predictions) == expected
                  and all(np.isfinite(v) and v >= 0 for v in predictions.values()))
        return usable, predictions

    @staticmethod
    def unknown_inputs(features: np.ndarray, extended_rows: np.ndarray | None = None) -> list[list[str]]:
        """Per encoded row, the categorical inputs outside the training vocabulary (channel_type only where the
        row is served by the extended schema)."""
        unknown_category = np.isnan(features[:, CATEGORY_CODE]).tolist()
        unknown_country = np.isnan(features[:, COUNTRY_CODE]).tolist()
        unknown_type = ((np.isnan(features[:, CHANNEL_TYPE_CODE]) & extended_rows).tolist() if extended_rows is not None
                        else [False] * len(features))
        return [[name for name, unknown in (("category", c), ("country", k), ("channel_type", t)) if unknown]
                for c, k, t in zip(unknown_category, unknown_country, unknown_type)]

    def summary(self) -> SupervisedSummary:
        return SupervisedSummary(self.schemas, self.interval_coverage, self.metrics, self.hyperparameters, self.config)

    @classmethod
    def describe(cls, path: Path) -> SupervisedSummary:
        """The summary of the model saved at `path` (its .skops form)."""
        return cls.load(path).summary()

    @property
    def refit_parameters(self) -> dict[str, dict[str, Any]]:
        """The parameters of each contract target's final model."""
        return self.hyperparameters["refit"]

    def ranked_importance(self, target: str, schema: str = CONTRACT_SCHEMA) -> list[tuple[str, dict[str, float]]]:
        return sorted(self.feature_importance[schema][target].items(), key=lambda item: -item[1]["importance"])


@dataclass(frozen=True)
class ArchetypeMedians:
    """The median channel of an archetype, in raw units (None where the archetype has no value)."""

    uploads: float | None
    subscribers: float | None
    earnings: float | None
    growth: float | None


@dataclass(frozen=True)
class ClusteringModel(_SavedModel):
    """KMeans archetypes over scaled log1p (uploads, subscribers, earnings, growth), with profiles."""

    KIND: ClassVar[str] = "yts.clustering"
    FORMAT: ClassVar[int] = 2

    scaler: StandardScaler
    kmeans: KMeans
    archetypes: list[str]
    profiles: list[dict[str, Any]]
    dbscan_summary: dict[str, int]
    growth_fill_log1p: float
    growth_handling: str
    config: dict[str, Any] = field(default_factory=dict)

    def cluster_ids(self, values: np.ndarray) -> list[int]:
        """KMeans cluster for rows of (uploads, subscribers, earnings, growth) in raw units."""
        logs, _ = cluster_logs(values, growth_fill=self.growth_fill_log1p)
        return [int(label) for label in self.kmeans.predict(self.scaler.transform(logs))]

    def assign(self, values: np.ndarray) -> list[str]:
        """Archetype for rows of (uploads, subscribers, earnings, growth) in raw units."""
        return [self.archetypes[label] for label in self.cluster_ids(values)]

    def medians(self, archetype: str) -> ArchetypeMedians:
        profile = next(p for p in self.profiles if p["archetype"] == archetype)
        return ArchetypeMedians(**profile["median"])

    def summary_records(self) -> list[dict[str, Any]]:
        """One row per cluster in the original's shape (means, dominant category), medians beside them.
        Runs trained before means were profiled answer null for them."""
        rows = []
        for cluster, profile in enumerate(self.profiles):
            mean, median = profile.get("mean", {}), profile["median"]
            rows.append({"cluster_id": profile.get("cluster", cluster), "archetype": profile["archetype"],
                         "size": profile["size"], **{f"avg_{k}": mean.get(k) for k in median},
                         "dominant_category": profile.get("dominant_category"),
                         **{f"median_{k}": v for k, v in median.items()}})
        return rows

    def profile_rows(self) -> list[dict[str, Any]]:
        """One flat row per archetype: name, size and the median of every clustering input."""
        return [{"archetype": p["archetype"], "size": p["size"], **{f"median_{k}": v for k, v in p["median"].items()}}
                for p in self.profiles]

    def summary(self) -> dict[str, Any]:
        return {"archetypes": self.archetypes, "profiles": self.profiles, "dbscan": self.dbscan_summary,
                "growth_handling": self.growth_handling}

    @classmethod
    def describe(cls, path: Path) -> dict[str, Any]:
        """The saved model's configuration and summary, loaded from its .skops form (in a worker process when a
        pool runs: the run process then need not import scikit-learn)."""
        model = cls.load(path)
        return {"config": model.config, "summary": model.summary()}

