"""Where govcloud finds the county and the registry (environment first, then defaults)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".govcloud")
DEFAULT_COUNTY_DIR = Path("county")
REGISTRY_FILE = "registry.sqlite3"


class Settings(BaseSettings):
    """Settings read from GOVCLOUD_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="GOVCLOUD_", extra="ignore")

    county: Path | None = Field(
        default=None, description="county directory (GOVCLOUD_COUNTY; unset: ./county)"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the registry (GOVCLOUD_DATABASE_URL)"
    )
    state_dir: Path = Field(
        default=DEFAULT_STATE_DIR, description="local state: SQLite registry, lab and cloud files"
    )
    localcloud_dir: Path | None = Field(
        default=None, description="the local cloud's state (GOVCLOUD_LOCALCLOUD_DIR)"
    )
    lab_dir: Path | None = Field(default=None, description="network labs' state (GOVCLOUD_LAB_DIR)")
    actor: str | None = Field(
        default=None, description="who the audit log names for CLI changes (GOVCLOUD_ACTOR)"
    )
    # The audit chain's signed head (docs/audit.md): key files by path, never the key itself.
    audit_head_key: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM file, mode 0600) that signs exported chain heads "
        "(GOVCLOUD_AUDIT_HEAD_KEY)",
    )
    audit_head_public_key: Path | None = Field(
        default=None,
        description="its public key (PEM file) that verifies them (GOVCLOUD_AUDIT_HEAD_PUBLIC_KEY)",
    )
    audit_head_max_age_days: float = Field(
        default=1,
        gt=0,
        description="the newest signed head may be this old before the MLPS check fails "
        "(GOVCLOUD_AUDIT_HEAD_MAX_AGE_DAYS)",
    )

    def county_dir(self) -> Path:
        """The county directory: GOVCLOUD_COUNTY, else ./county."""
        return self.county or DEFAULT_COUNTY_DIR

    def localcloud_root(self) -> Path:
        """Where the local cloud keeps its venv, configuration, data and logs."""
        return self.localcloud_dir or self.state_dir / "localcloud"

    def lab_root(self) -> Path:
        """Where network labs keep their state, one directory per lab name."""
        return self.lab_dir or self.state_dir / "lab"

    def migration_root(self) -> Path:
        """Where migration runs keep their logs, timings and per-system secrets (0700)."""
        return self.state_dir / "migration"

    def dr_root(self) -> Path:
        """Where DR drills keep their logs, probe data, reports and per-system secrets (0700)."""
        return self.state_dir / "dr"

    def desired_cache_root(self) -> Path:
        """Where the stacks' desired items are kept while their inputs are unchanged (0700)."""
        return self.state_dir / "desired-cache"

    def registry_url(self) -> str:
        """The registry URL: GOVCLOUD_DATABASE_URL, else a SQLite file in the state directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / REGISTRY_FILE}"


def get_settings() -> Settings:
    """Read settings from the environment now (tests change it between calls)."""
    return Settings()
