"""Where the lake is and where each provider's exports live, validated on load.

A YAML file (``costlake.yaml`` in the working folder, or the path in ``COSTLAKE_CONFIG``) with
the shape of ``Settings``. Without one, costlake uses the embedded default: the lake in ``./lake``
and the demo exports in ``./demo-data/<provider>`` for aws, azure, gcp and oci. Secrets never go
here: each cloud SDK finds its own credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

CONFIG_ENV = "COSTLAKE_CONFIG"
PROVIDERS = ("aws", "azure", "gcp", "oci")
DEFAULT_CONFIG_FILE = "costlake.yaml"


class ExportSource(BaseModel):
    """One export location: a local folder laid out like the bucket or container (the cloud
    services themselves come with the connectors)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    root: str = Field(description="folder that stands for the bucket or container")
    prefix: str = Field("", description="key prefix of the export(s) inside it")


class Settings(BaseModel):
    """The whole configuration of one costlake deployment."""

    model_config = ConfigDict(extra="forbid")

    lake_root: str = "lake"
    aws: list[ExportSource] = Field(default_factory=list)
    azure: list[ExportSource] = Field(default_factory=list)
    gcp: list[ExportSource] = Field(default_factory=list)
    oci: list[ExportSource] = Field(default_factory=list)

    def sources(self, provider: str) -> list[ExportSource]:
        """The configured export locations of one provider."""
        return getattr(self, provider)

    def providers(self) -> list[str]:
        """Providers with at least one export location: the ones a nightly run refreshes."""
        return [p for p in PROVIDERS if self.sources(p)]


def demo_settings() -> Settings:
    """The embedded default: the demo exports ``costlake demo`` writes, and ``./lake``."""
    return Settings(**{p: [ExportSource(name="demo", root=f"demo-data/{p}")] for p in PROVIDERS})


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from ``path``, ``$COSTLAKE_CONFIG`` or ``./costlake.yaml``, else the defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if chosen is None and Path(DEFAULT_CONFIG_FILE).exists():
        chosen = DEFAULT_CONFIG_FILE
    if chosen is None:
        return demo_settings()
    try:
        data = yaml.safe_load(Path(chosen).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{chosen}: cannot read costlake configuration: {exc}") from exc
    return Settings.model_validate(data)
