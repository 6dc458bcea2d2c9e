"""Typed Dagster resources: where the project lives and which data it reads."""


from dagster import ConfigurableResource
from pydantic import Field

from .ml.dataset import DEFAULT_REFERENCE_YEAR
from .ml.settings import ProjectPaths
from .ml.source import SourceMode


class YtsSettings(ConfigurableResource):
    """Paths default to YTS_PROJECT_ROOT / YTS_ARTIFACT_DIR / YTS_DATA_PATH, read at run time."""

    project_root: str | None = Field(default=None, description="Project root; default YTS_PROJECT_ROOT or auto-detected.")
    artifact_dir: str | None = Field(default=None, description="Output folder; default YTS_ARTIFACT_DIR or <root>/artifacts.")
    data_source: SourceMode = Field(default="auto", description="auto: the real CSV if found, else demo; real: fail without it; demo.")
    reference_year: int = Field(default=DEFAULT_REFERENCE_YEAR, description="Year the dataset describes; `age` is computed against it.")

    champion_tolerance: float = Field(default=0.05, description="How far below the active run's CV log R² a "
                                      "candidate may fall before no_regression_against_champion fails.")

    def paths(self) -> ProjectPaths:
        return ProjectPaths.from_env(self.project_root, self.artifact_dir)

    @property
    def snapshot_timestamp(self) -> str:
        """Observation time of the dataset's features: the end of the reference year, not the wall clock."""
        return f"{self.reference_year}-12-31T00:00:00+00:00"
