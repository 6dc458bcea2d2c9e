"""Where things live: project root and every artifact path, from YTS_PROJECT_ROOT and YTS_ARTIFACT_DIR."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from . import config

REAL_CSV_NAME = "Global YouTube Statistics.csv"
PROCESSED_CSV_NAME = "global_youtube_statistics_processed.csv"


def find_project_root(start: Path | None = None) -> Path:
    """YTS_PROJECT_ROOT, else the nearest folder holding workspace.yaml and yts_assets/."""
    explicit = config.PROJECT_ROOT.get()
    if explicit is not None:
        return explicit.resolve()
    candidates = [Path(start or Path.cwd()).resolve(), Path(__file__).resolve().parents[2]]
    for candidate in candidates:
        for folder in (candidate, *candidate.parents):
            if (folder / "workspace.yaml").is_file() and (folder / "yts_assets").is_dir():
                return folder
    return Path.cwd().resolve()


@dataclass(frozen=True)
class ProjectPaths:
    """Every path the platform reads or writes, derived from the project root and artifact dir.

    With `run_id` set (`for_run`), the training outputs (raw record, processed table, models,
    reports, manifest) are that run's own candidates under `artifacts/candidates/<run_id>/`, so
    concurrent runs never mix. Without it they are the canonical copies of the active run, which
    the registry refreshes on every activation. The registry, monitoring and Optuna storage are shared.
    """

    root: Path
    artifact_dir: Path
    run_id: str | None = None
    model_dir: Path | None = None  # canonical copies elsewhere (YTS_MODEL_DIR, YTS_REPORT_DIR, YTS_MAP_DIR)
    report_dir: Path | None = None
    map_dir: Path | None = None
    backup_dir: Path | None = None  # registry backups elsewhere (YTS_BACKUP_DIR)

    @classmethod
    def from_env(cls, root: str | Path | None = None, artifact_dir: str | Path | None = None) -> "ProjectPaths":
        resolved_root = Path(root).expanduser().resolve() if root else find_project_root()
        resolved_artifacts = Path(artifact_dir) if artifact_dir else (config.ARTIFACT_DIR.get() or resolved_root / "artifacts")
        if not resolved_artifacts.is_absolute():
            resolved_artifacts = resolved_root / resolved_artifacts

        def folder(variable: config.Variable) -> Path | None:
            value = variable.get()
            return None if value is None else (resolved_root / value).resolve()  # relative: to the project root

        return cls(root=resolved_root, artifact_dir=resolved_artifacts.expanduser().resolve(),
                   model_dir=folder(config.MODEL_DIR), report_dir=folder(config.REPORT_DIR), map_dir=folder(config.MAP_DIR),
                   backup_dir=folder(config.BACKUP_DIR))

    def for_run(self, run_id: str) -> "ProjectPaths":
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ValueError(f"invalid run id {run_id!r}")
        return replace(self, run_id=run_id)

    @property
    def canonical(self) -> "ProjectPaths":
        return replace(self, run_id=None)

    @property
    def output_dir(self) -> Path:
        """Where training outputs go: the run's candidate folder, or the artifact folder for the canonical copies."""
        return self.artifact_dir / "candidates" / self.run_id if self.run_id else self.artifact_dir

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "incoming"

    @property
    def inbox_dir(self) -> Path:
        """Where a new snapshot of the dataset may be dropped (YTS_DATA_INBOX_DIR)."""
        explicit = config.DATA_INBOX_DIR.get()
        return (self.root / explicit).resolve() if explicit is not None else self.data_dir / "inbox"

    @property
    def default_real_csv(self) -> Path:
        return self.data_dir / REAL_CSV_NAME

    @property
    def processed_csv(self) -> Path:
        return (self.output_dir / "data" if self.run_id else self.data_dir) / PROCESSED_CSV_NAME

    @property
    def raw_dir(self) -> Path:
        return self.output_dir / "raw"

    @property
    def raw_source(self) -> Path:
        return self.raw_dir / "raw_source.json"

    @property
    def demo_csv(self) -> Path:
        return self.raw_dir / "demo_global_youtube_statistics.csv"

    def _canonical_or_run(self, override: Path | None, name: str) -> Path:
        return override if override is not None and not self.run_id else self.output_dir / name

    @property
    def models_dir(self) -> Path:
        return self._canonical_or_run(self.model_dir, "models")

    @property
    def supervised_bundle(self) -> Path:
        return self.models_dir / "supervised_bundle.joblib"

    @property
    def supervised_model(self) -> Path:
        """The loadable (skops) form of supervised_bundle."""
        return self.models_dir / "supervised_bundle.skops"

    @property
    def clustering_model(self) -> Path:
        """The loadable (skops) form of clustering_bundle."""
        return self.models_dir / "clustering_bundle.skops"

    @property
    def clustering_bundle(self) -> Path:
        return self.models_dir / "clustering_bundle.joblib"

    @property
    def clustered_channels(self) -> Path:
        return self.models_dir / "clustered_channels.csv"

    @property
    def reports_dir(self) -> Path:
        return self._canonical_or_run(self.report_dir, "reports")

    @property
    def training_metrics(self) -> Path:
        return self.reports_dir / "training_metrics.json"

    @property
    def channel_insights(self) -> Path:
        return self.reports_dir / "channel_insights.json"

    @property
    def model_card(self) -> Path:
        return self.reports_dir / "model_card.md"

    @property
    def maps_dir(self) -> Path:
        return self._canonical_or_run(self.map_dir, "maps")

    @property
    def influence_map(self) -> Path:
        return self.maps_dir / "influence_map.html"

    @property
    def earnings_choropleth(self) -> Path:
        return self.maps_dir / "earnings_choropleth.html"

    @property
    def category_dominance_map(self) -> Path:
        return self.maps_dir / "category_dominance_map.html"

    @property
    def optuna_study(self) -> Path:
        return self.reports_dir / "optuna_study.json"

    @property
    def optuna_storage(self) -> Path:
        return self.artifact_dir / "optuna" / "optuna.db"

    @property
    def data_quality_report(self) -> Path:
        return self.reports_dir / "data_quality_report.json"

    @property
    def training_baseline(self) -> Path:
        return self.reports_dir / "training_baseline.json"

    @property
    def feature_snapshot(self) -> Path:
        return self.reports_dir / "feature_store_snapshot.csv"

    @property
    def production_payloads(self) -> Path:
        return self.canonical.reports_dir / "production_payloads.csv"

    @property
    def drift_report(self) -> Path:
        return self.canonical.reports_dir / "drift_report.json"

    @property
    def mlops_dir(self) -> Path:
        return self.artifact_dir / "mlops"

    @property
    def training_manifest(self) -> Path:
        return (self.output_dir / "mlops" if self.run_id else self.mlops_dir) / "training_manifest.json"

    @property
    def model_registry(self) -> Path:
        return self.mlops_dir / "model_registry.json"

    @property
    def registry_audit(self) -> Path:
        return self.mlops_dir / "registry_audit.jsonl"

    @property
    def registry_lock(self) -> Path:
        return self.mlops_dir / ".registry.lock"

    @property
    def published_runs_dir(self) -> Path:
        return self.mlops_dir / "runs"

    @property
    def backups_dir(self) -> Path:
        """Where registry backups go: YTS_BACKUP_DIR (relative: to the project root), else `<root>/backups`."""
        return self.backup_dir if self.backup_dir is not None else self.root / "backups"
