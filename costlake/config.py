"""Where the lake is and where each provider's exports live, validated on load.

A YAML file with the shape of ``Settings``, named by ``--config`` where a command has it or by
``$COSTLAKE_CONFIG``; a file in the working folder is never looked for. Without one, costlake
uses the built-in default (``default_settings``): the demo's exports, logs and telemetry in
``<home>/demo-data`` and the lake in ``<home>/lake``, where ``<home>`` is the costlake home
(``costlake_home``: ``$COSTLAKE_HOME``, else the user's data folder). Relative paths in a file
are relative to the file's own folder, and in settings built without a file to the costlake
home, so nothing is read or written relative to the working folder: a run behaves the same from
any folder.

Secrets never go here: each cloud SDK finds its own credentials, and a connection string or a
webhook URL is named by the environment variable holding it. Loading is defensive, because the
messages it prints end up in terminals and in Dagster's run records:

* the file is read by ``costlake.yaml_files``, which refuses files over 1 MiB, more than 100
  aliases, and documents whose aliases would expand to more than 100,000 values (a "billion
  laughs" file fails at once, instead of hanging whoever walks the result);
* errors name the file, the line or the setting and what was expected, and never quote a value:
  not the YAML line (it may be ``password: ...`` written by mistake), nor pydantic's input;
* URLs (``lake_root``, endpoints, ``account_url``) carrying user info or credential parameters
  are refused, since they would be printed in messages and kept in run records.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from platformdirs import user_data_path
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from costlake import yaml_files
from costlake.anomalies.detector import AnomalySettings
from costlake.anomalies.marts import DEFAULT_GROUPINGS
from costlake.budgets.settings import Budget

CONFIG_ENV = "COSTLAKE_CONFIG"
HOME_ENV = "COSTLAKE_HOME"
PROVIDERS = ("aws", "azure", "gcp", "oci")
# Query parameters that carry a credential (pyarrow's S3 and GCS URIs, Azure SAS tokens).
SECRET_PARAMETERS = re.compile(
    r"access_key|secret|token|password|passwd|credential|signature|^sig$|^sv$|^se$|^sp$|"
    r"account_key|sas",
    re.IGNORECASE,
)
# A source's name also names its folder in raw/, so it is kept to safe file-name characters.
SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# The name of an environment variable (a connection string or a URL itself is refused).
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def env_path(name: str) -> Path | None:
    """The path environment variable ``name`` holds (unset or empty: None). A relative one is
    refused: it would mean another place from each working folder."""
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(
            f"${name} must be an absolute path: a relative one would depend on the folder "
            "costlake is started from"
        )
    return path


def costlake_home() -> Path:
    """Where costlake keeps what it makes without being told where: the built-in default's lake
    and demo data, and the Dagster instance of the ``costlake`` command. ``$COSTLAKE_HOME``
    (an absolute path), else the user's data folder (``platformdirs``: ``~/.local/share/costlake``
    on Linux, ``~/Library/Application Support/costlake`` on macOS); never the working folder."""
    return env_path(HOME_ENV) or user_data_path("costlake")


def _is_url(value: str) -> bool:
    return "://" in value


def _against_config_folder(value: str, info: ValidationInfo) -> str:
    """A relative path made absolute against the settings file's folder, or against the
    costlake home for settings built without a file."""
    if _is_url(value):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path((info.context or {}).get("config_folder") or costlake_home()) / path
    return str(path.resolve())


def _no_credentials(value: str | None) -> str | None:
    """Refuse a URL with user info or a credential parameter; the message never quotes it."""
    if value is None or not _is_url(value):
        return value
    try:
        parts = urlsplit(value)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise ValueError("not a valid URL") from None
    if "@" in parts.netloc:
        raise ValueError(
            "credentials in the URL (user info) are refused: use the SDK's credential chain"
        )
    secret = sorted({name for name, _ in query if SECRET_PARAMETERS.search(name)})
    if secret:
        raise ValueError(
            f"credential parameter(s) {', '.join(secret)} in the URL are refused: use the "
            "SDK's credential chain (environment variables, profiles, roles)"
        )
    return value


# A local path of the settings (relative to the settings file); a URL is left as it is.
ConfigPath = Annotated[str, AfterValidator(_against_config_folder)]
# A URL (or, for lake_root, a path) that is printed in messages: no credentials in it.
PublicUrl = Annotated[str, AfterValidator(_no_credentials)]


class FolderSource(BaseModel):
    """Exports in a local folder laid out like the bucket or container: the embedded default,
    and a mirror made with ``aws s3 sync`` or ``azcopy``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["folder"] = "folder"
    name: SourceName = "default"
    root: ConfigPath = Field(description="folder that stands for the bucket or container")
    prefix: str = Field("", description="key prefix of the export(s) inside it")


class S3Source(BaseModel):
    """AWS exports in an S3 bucket. Credentials come from boto3's chain (environment, shared
    config and ``profile``, instance or task roles), never from this file."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["s3"]
    name: SourceName = "default"
    bucket: str
    prefix: str = Field("", description="the export's S3 prefix")
    region: str | None = None
    profile: str | None = Field(None, description="a named profile of the AWS shared config")
    endpoint_url: PublicUrl | None = Field(None, description="an S3-compatible endpoint")


class BlobSource(BaseModel):
    """Azure exports in a storage container. Credentials come from ``DefaultAzureCredential``
    (environment, managed identity, Azure CLI), or from a connection string held in the
    environment variable named by ``connection_string_env`` (never the string itself)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["blob"]
    name: SourceName = "default"
    container: str
    prefix: str = Field("", description="the export's root folder in the container")
    account_url: PublicUrl | None = Field(
        None, description="https://<account>.blob.core.windows.net (no SAS token: no query)"
    )
    connection_string_env: EnvName | None = Field(
        None, description="name of the environment variable holding a connection string"
    )
    scope: str | None = Field(
        None,
        description="the Cost Management scope whose exports write here (/subscriptions/<id>, "
        "a billing account, ...), for `costlake azure exports | run-export | history`",
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> BlobSource:
        if (self.account_url is None) == (self.connection_string_env is None):
            raise ValueError("give exactly one of account_url and connection_string_env")
        if self.account_url is not None and urlsplit(self.account_url).query:
            raise ValueError(
                "account_url must not carry a query (a SAS token): use DefaultAzureCredential, "
                "or a connection string in the environment variable named by "
                "connection_string_env"
            )
        return self


# BigQuery names are written into SQL (values never are), so only plain identifiers pass.
BIGQUERY_PROJECT = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
BIGQUERY_NAME = r"^[A-Za-z0-9_]+$"
BIGQUERY_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class BigQuerySource(BaseModel):
    """The GCP billing export table in BigQuery. Credentials come from Google's application
    default credentials; queries run (and are billed) in ``project``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bigquery"]
    name: SourceName = "default"
    project: str = Field(pattern=BIGQUERY_PROJECT, description="the project holding the dataset")
    dataset: str = Field(pattern=BIGQUERY_NAME)
    table: str = Field(
        pattern=BIGQUERY_NAME,
        description="gcp_billing_export_v1_<ACCOUNT> or gcp_billing_export_resource_v1_<ACCOUNT>",
    )
    location: str | None = Field(None, description="the dataset's location, e.g. US or EU")
    maximum_bytes_billed: PositiveInt = Field(
        10 * 1024**3, description="a query that would bill more bytes fails instead"
    )
    trailing_days: PositiveInt = Field(
        10, description="partition days re-checked each run: GCP keeps rewriting recent days"
    )
    backfill_months: PositiveInt = Field(
        3, description="on a first run, the months before the current one that are listed"
    )
    partition_column: str = Field(
        "_PARTITIONTIME",
        pattern=BIGQUERY_COLUMN,
        description="_PARTITIONTIME, or the TIMESTAMP column of a copy partitioned on one",
    )
    endpoint_url: PublicUrl | None = Field(None, description="a BigQuery emulator's REST endpoint")


class ObjectStorageSource(BaseModel):
    """OCI reports in the usage-report bucket (namespace ``bling``, bucket = tenancy OCID).
    Credentials come from OCI's config file (``profile``) or from instance principals."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["object_storage"]
    name: SourceName = "default"
    bucket: str = Field(description="the tenancy OCID")
    namespace: str = "bling"
    prefix: str = Field("", description="one report folder: reports/cost-csv/ or FOCUS Reports/")
    auth: Literal["config_file", "instance_principal"] = "config_file"
    profile: str = "DEFAULT"
    config_file: ConfigPath | None = None
    region: str | None = Field(None, description="the tenancy's home region")
    service_endpoint: PublicUrl | None = None


def _source_kind(value: object) -> str:
    """Sources without a ``kind`` are folders, as before there were others."""
    if isinstance(value, dict):
        return str(value.get("kind", "folder"))
    return str(getattr(value, "kind", "folder"))


FOLDER = Annotated[FolderSource, Tag("folder")]
AwsSource = Annotated[FOLDER | Annotated[S3Source, Tag("s3")], Discriminator(_source_kind)]
AzureSource = Annotated[FOLDER | Annotated[BlobSource, Tag("blob")], Discriminator(_source_kind)]
GcpSource = Annotated[
    FOLDER | Annotated[BigQuerySource, Tag("bigquery")], Discriminator(_source_kind)
]
OciSource = Annotated[
    FOLDER | Annotated[ObjectStorageSource, Tag("object_storage")], Discriminator(_source_kind)
]
ExportSource = FolderSource | S3Source | BlobSource | BigQuerySource | ObjectStorageSource


class UntaggedShare(BaseModel):
    """Levels of the untagged share of taggable cost at which the tag check warns and errs."""

    model_config = ConfigDict(extra="forbid")

    warn: float = Field(0.10, ge=0, le=1)
    error: float = Field(0.25, ge=0, le=1)


class CommitmentSettings(BaseModel):
    """When the commitment check warns: utilization under a level, or a term ending soon."""

    model_config = ConfigDict(extra="forbid")

    utilization_threshold: float = Field(0.90, ge=0, le=1)
    expiry_days: int = Field(30, ge=0)


class AiSettings(BaseModel):
    """Where the application request logs are, and the price and capability tables that weight
    the split of billed token cost across them."""

    model_config = ConfigDict(extra="forbid")

    request_logs: list[ConfigPath] = Field(
        default_factory=list,
        description="folders or files of request logs (OpenTelemetry GenAI spans, LiteLLM spend "
        "logs, OpenAI usage exports); folders are read recursively",
    )
    prices: ConfigPath | None = Field(
        None, description="a price file whose rows replace or add to the shipped catalog's"
    )
    capabilities: ConfigPath | None = Field(
        None,
        description="model capability table for routing savings (default: the shipped "
        "costlake/data/model_capabilities.yaml)",
    )
    hosts: str | None = Field(
        None,
        description="where each model is offered, for cross-cloud arbitrage (default: the "
        "shipped costlake/data/llm_hosts.csv)",
    )
    wasted_share_warn: float = Field(
        0.05,
        ge=0,
        le=1,
        description="the share of a model's cost spent on failed calls above which the "
        "ai_wasted_share check warns",
    )


class GpuSettings(BaseModel):
    """Where the GPU telemetry is, and how its GPUs map to billed resources."""

    model_config = ConfigDict(extra="forbid")

    telemetry: list[ConfigPath] = Field(
        default_factory=list,
        description="folders or files of nvidia-smi CSV / dmon, NVML CSV or dcgm-exporter text",
    )
    mapping: ConfigPath | None = Field(
        None, description="CSV mapping gpu_uuid or host to the billed resource_id"
    )
    query_gpu: str | None = Field(
        None,
        description="the --query-gpu fields of headerless nvidia-smi CSVs (noheader) that have "
        "no <file>.query sidecar, as passed to nvidia-smi",
    )
    catalog: ConfigPath | None = Field(
        None, description="a GPU catalog CSV whose rows replace or add to the shipped one's"
    )


class AnomalyConfig(BaseModel):
    """Which series are watched for anomalies, the detector's thresholds, and the alerts."""

    model_config = ConfigDict(extra="forbid")

    groupings: list[tuple[str, ...]] = Field(
        default_factory=lambda: [tuple(g) for g in DEFAULT_GROUPINGS],
        description="FOCUS columns whose values make a series, one list per grouping (the "
        "currency is always added): default provider x billing account x service, provider x "
        "project, provider x model",
    )
    detector: AnomalySettings = Field(
        default_factory=AnomalySettings,
        description="thresholds (k, min_abs, min_rel, weeks, settle_days, ...); its group_by "
        "is replaced by each grouping",
    )
    webhook_url_env: EnvName | None = Field(
        None,
        description="name of the environment variable holding a Slack-compatible webhook URL; "
        "alerts are off without it (the URL itself is a secret: never put it here)",
    )


class Settings(BaseModel):
    """The whole configuration of one costlake deployment."""

    model_config = ConfigDict(extra="forbid")

    lake_root: Annotated[ConfigPath, AfterValidator(_no_credentials)] = Field(
        "lake",
        validate_default=True,
        description="a folder (relative to this file), or an object-store URL (s3://, gs://, "
        "abfs://) whose credentials come from the SDK's chain",
    )
    tags: ConfigPath | None = Field(
        None, description="tag rules YAML (default: the shipped costlake/data/tags.yaml)"
    )
    untagged_share: UntaggedShare = Field(default_factory=UntaggedShare)
    commitments: CommitmentSettings = Field(default_factory=CommitmentSettings)
    ai: AiSettings = Field(default_factory=AiSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    anomalies: AnomalyConfig = Field(default_factory=AnomalyConfig)
    budgets: list[Budget] = Field(
        default_factory=list, description="budgets, each with its scope and thresholds"
    )
    exchange_rates: ConfigPath | None = Field(
        None,
        description="dated exchange-rate CSV (docs/currency.md) for totals that must be in one "
        "currency, such as a budget's; without it a budget refuses spend in another currency",
    )
    aws: list[AwsSource] = Field(default_factory=list)
    azure: list[AzureSource] = Field(default_factory=list)
    gcp: list[GcpSource] = Field(default_factory=list)
    oci: list[OciSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_are_unique(self) -> Settings:
        for provider in PROVIDERS:
            names = [source.name for source in self.sources(provider)]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{provider}: source name(s) {', '.join(repeated)} used twice")
        names = [budget.name for budget in self.budgets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"budgets: name(s) {', '.join(repeated)} used twice")
        return self

    def sources(self, provider: str) -> list[ExportSource]:
        """The configured export locations of one provider."""
        return getattr(self, provider)

    def providers(self) -> list[str]:
        """Providers with at least one export location: the ones a nightly run refreshes."""
        return [p for p in PROVIDERS if self.sources(p)]


def demo_settings(data: str | Path, lake_root: str | Path) -> Settings:
    """The demo's settings: the exports, request logs and GPU telemetry that ``costlake demo``
    writes under the folder ``data``, and the lake at ``lake_root`` (a folder or a URL)."""
    data, lake_root = str(data), str(lake_root)
    return Settings(
        lake_root=lake_root,
        ai=AiSettings(request_logs=[f"{data}/ai"]),
        # One budget per team across clouds, one for the AI spend of one model (AWS in USD,
        # OCI in GBP, converted with the demo's rates): docs/budgets.md.
        budgets=[
            Budget(name="team_platform", amount=1800, currency="USD", scope={"team": ["platform"]}),
            Budget(
                name="model_atlas_13b",
                amount=30000,
                currency="USD",
                scope={"model": ["atlas-13b"]},
            ),
        ],
        exchange_rates=f"{data}/exchange_rates.csv",
        gpu=GpuSettings(telemetry=[f"{data}/gpu"], mapping=f"{data}/gpu/mapping.csv"),
        **{p: [FolderSource(name="demo", root=f"{data}/{p}")] for p in PROVIDERS},
    )


DEMO_DATA, DEMO_LAKE = "demo-data", "lake"  # the built-in default's folders in the home


def default_settings() -> Settings:
    """The built-in default, used without a settings file: the demo's, in the costlake home
    (``<home>/demo-data`` and ``<home>/lake``, where ``costlake demo`` writes by default)."""
    home = costlake_home()
    return demo_settings(home / DEMO_DATA, home / DEMO_LAKE)


def read_yaml(path: str | Path) -> Any:
    """The YAML document of a settings file, read within ``costlake.yaml_files``' limits;
    ``ValueError`` naming the file and the line, never quoting it."""
    try:
        return yaml_files.load(yaml_files.read_text(path))
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    except yaml_files.YamlFileError as exc:
        problem = str(exc)
    raise ValueError(f"{path}: cannot read costlake configuration: {problem}") from None


def _validation_problems(exc: ValidationError, root: yaml.Node | None = None) -> str:
    """One line per error: the file's line, where (``aws.0.s3.bucket``) and what was expected.
    Built from the errors without their inputs: pydantic's own text quotes each input value,
    which may be a secret written in the wrong place."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  line {_line_of(root, error['loc'])}: {where}: {error['msg']}")
    return "\n".join(lines)


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from the file ``path`` (a command's ``--config``), else the one
    ``$COSTLAKE_CONFIG`` names (an absolute path; unset or empty: none), else the built-in
    default (``default_settings``). Relative paths in the file are taken from its folder."""
    chosen = path or env_path(CONFIG_ENV)
    if chosen is None:
        return default_settings()
    data = read_yaml(chosen)
    if data is None:
        data = {}
    folder = Path(chosen).resolve().parent
    try:
        return Settings.model_validate(data, context={"config_folder": folder})
    except ValidationError as exc:
        # ``from None``: the pydantic error, which quotes inputs, is not chained either (run
        # records keep an exception's causes).
        problems = _validation_problems(exc, yaml_files.compose(yaml_files.read_text(chosen)))
        raise ValueError(f"{chosen}: invalid costlake configuration:\n{problems}") from None


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line in the YAML file of pydantic's error location ``loc``: the deepest node
    of the path that exists (a missing key points at its parent mapping)."""
    line = 1 if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:  # a discriminator tag, a model's own error, or a key not given
            continue
        node = child
        line = node.start_mark.line + 1
    return line
