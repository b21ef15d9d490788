"""Which accelerators an instance type, VM size, machine type or shape carries, from a shipped
and reviewed catalog (``costlake/data/gpu_catalog.csv``). Pure polars: no Dagster, no network.

The catalog
-----------
One row per instance type or pattern: ``provider`` (aws | azure | gcp | oci), ``match``
(``exact``: the name itself, compared case-insensitively; ``regex``: a pattern anchored
``^…$``, matched case-insensitively), ``instance_pattern``, ``gpu_model`` (``H100 80GB``),
``gpus_per_instance`` (a float: Azure's NVadsA10 v5 sizes carry 1/6, 1/3 or 1/2 of a GPU),
``gpu_memory_gib`` (of one whole GPU, so the GPU memory of an instance is
``gpus_per_instance × gpu_memory_gib``), ``accelerator_kind`` (gpu | trainium | inferentia |
tpu), ``billed_per`` (what a bill's GPU line counts, see below), an optional list price of the
whole instance (``on_demand_usd_per_hour`` in ``price_region``), the ``source`` (title and
``<URL>`` of the provider page the row comes from; every row has one) and ``notes`` (what could
not be verified). An exact row wins over a regex row; regex rows are tried in file order and
the first match wins. ``load_gpu_catalog(override)`` puts an override file's rows before the
shipped ones (an override row with the same provider, match and pattern replaces the shipped
row), or uses the override alone with ``replace=True``.

Instance type of a FOCUS row (``instance_type_of``)
---------------------------------------------------
* **AWS**: ``x_InstanceType`` (the CUR's ``product_instance_type``, e.g. ``p5.48xlarge`` or
  SageMaker's ``ml.g5.2xlarge``); else the part of the usage type (``x_UsageType``, which is
  also ``SkuMeter``) after ``BoxUsage:``, ``SpotUsage:``, ``DedicatedUsage:``, ``HeavyUsage:``,
  ``Host:`` or any SageMaker ``…:ml.<type>``, e.g. ``USE1-SpotUsage:g5.2xlarge`` →
  ``g5.2xlarge``, ``USE1-Host:ml.g5.2xlarge`` → ``ml.g5.2xlarge``. SageMaker types keep their
  ``ml.`` prefix; the catalog matches them with regex rows.
* **Azure**: ``x_InstanceType``, which the cost-details normalizer fills from
  ``AdditionalInfo.ServiceType`` (``Standard_ND96isr_H100_v5``); else, on a Virtual Machines
  line (``x_ProductCode`` or ``ServiceName`` "Virtual Machines", as in a FOCUS export), the VM
  size rebuilt from the meter name: ``ND96isr H100 v5`` → ``Standard_ND96isr_H100_v5`` (a
  trailing `` Spot`` or `` Low Priority`` is dropped).
* **GCP**: ``x_InstanceType``, the machine type from the ``compute.googleapis.com/machine_spec``
  system label (``a3-highgpu-8g``); else, on an accelerator SKU line (``SkuMeter`` or
  ``ChargeDescription`` like "Nvidia Tesla A100 GPU running in Americas"), the SKU description
  itself, which the catalog's GCP regex rows resolve to one GPU.
* **OCI**: ``x_InstanceType``, the shape the normalizer reads from the SKU description
  (``Compute - GPU - BM.GPU.H100.8`` → ``BM.GPU.H100.8``); else the same pattern applied to
  ``SkuMeter`` / ``ChargeDescription``.

Per-GPU-hour billing (``gpus_per_unit``)
----------------------------------------
AWS and Azure bill a GPU instance per instance-hour: one unit of the line is
``gpus_per_instance`` GPU-hours. GCP bills the GPUs of a machine on their own accelerator SKU
per GPU-hour (the a3-highgpu-8g's H100 line shows 8 hours per machine-hour) and its vCPUs and
RAM on other SKUs; OCI bills GPU shapes per GPU-hour (unit "GPU-Hours"). So
``gpus_per_unit_of`` is 1 on a GCP accelerator SKU line and on an OCI GPU line, whatever the
shape's GPU count; ``gpus_per_instance`` on an AWS or Azure instance-hour line; and 0 on the
other lines of a GPU machine (GCP cores and RAM), which carry no GPU time. The catalog's
``billed_per`` column says the same per row (``instance_hour`` or ``gpu_hour``).
``with_gpu_usage`` adds it all to FOCUS rows, with ``gpu_hours`` = ``PricingQuantity`` (in
hours) × ``gpus_per_unit`` on usage lines; AWS ``SavingsPlanNegation`` lines repeat the hours
of the covered line and are left out.

A GPU count stated by the bill (AWS ``product/gpu``, CUR 2.0 ``product`` key ``gpu``; read it
with ``aws_product_gpu``) wins over the catalog in ``with_gpu_spec``
(``gpus_per_instance_source`` = ``bill`` | ``catalog``).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

__all__ = [
    "ACCELERATOR_KINDS",
    "BILLED_PER",
    "CATALOG_COLUMNS",
    "PROVIDERS",
    "GpuCatalogError",
    "GpuSpec",
    "aws_product_gpu",
    "catalog_row_expr",
    "gpu_spec",
    "gpus_per_instance_expr",
    "gpus_per_unit_of",
    "instance_type_of",
    "is_accelerator_line",
    "load_gpu_catalog",
    "with_gpu_spec",
    "with_gpu_usage",
]

CATALOG_FILE = "gpu_catalog.csv"
PROVIDERS = ("aws", "azure", "gcp", "oci")
MATCH_KINDS = ("exact", "regex")
ACCELERATOR_KINDS = ("gpu", "trainium", "inferentia", "tpu")
BILLED_PER = ("instance_hour", "gpu_hour")
REQUIRED_COLUMNS = (
    "provider",
    "match",
    "instance_pattern",
    "gpu_model",
    "gpus_per_instance",
    "gpu_memory_gib",
    "accelerator_kind",
    "billed_per",
    "source",
)
OPTIONAL_COLUMNS = ("on_demand_usd_per_hour", "price_region", "notes")
CATALOG_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
CATALOG_SCHEMA = {
    "provider": pl.String,
    "match": pl.String,
    "instance_pattern": pl.String,
    "gpu_model": pl.String,
    "gpus_per_instance": pl.Float64,
    "gpu_memory_gib": pl.Float64,
    "accelerator_kind": pl.String,
    "billed_per": pl.String,
    "source": pl.String,
    "on_demand_usd_per_hour": pl.Float64,
    "price_region": pl.String,
    "notes": pl.String,
    "catalog_file": pl.String,  # where the row came from, for error messages and review
    "catalog_row": pl.Int64,  # 1-based data row in that file
}
_SOURCE = re.compile(r"^\S.*<https?://[^\s<>]+>$")  # "Title <https://…>"

# Columns ``with_gpu_spec`` adds (an existing column of the same name is replaced).
SPEC_COLUMNS = (
    "gpu_model",
    "gpus_per_instance",
    "gpus_per_instance_source",
    "gpu_memory_gib",
    "accelerator_kind",
    "gpu_billed_per",
    "catalog_usd_per_hour",
    "gpu_catalog_source",
)

# Usage types that name an instance after a colon: EC2 BoxUsage / SpotUsage / DedicatedUsage
# / HeavyUsage (RI fees) / Host, and any SageMaker usage (Host:, Train:, Notebk:, …) of an ml.
# type. An optional region prefix ("USE1-") comes before them.
_AWS_USAGE_INSTANCE = (
    r"(?:^|-)(?:(?:BoxUsage|SpotUsage|DedicatedUsage|HeavyUsage|UnusedBox|UnusedDed|Host|HostUsage)"
    r":([a-z][a-z0-9-]*\.[a-z0-9-]+)|[A-Za-z]+:(ml\.[a-z][a-z0-9-]*\.[a-z0-9-]+))$"
)
# An Azure VM meter name: "NC24ads A100 v4", "ND96isr H100 v5", "D2s v3 Spot".
_AZURE_METER_SIZE = r"^([A-Z][A-Za-z0-9-]*(?: [A-Za-z0-9]+)*? v[0-9]+)(?: Spot| Low Priority)?$"
# A GCP accelerator SKU ("Nvidia L4 GPU running in Americas", "… TPU …"): billed per GPU-hour.
_GCP_ACCELERATOR_SKU = r"(?i)^(?:commitment v[0-9]+: )?(?:nvidia\b.*\bgpu\b|.*\btpu\b)"
# The shape in an OCI SKU description, as ``costlake.providers.oci`` reads it.
_OCI_SHAPE = r"\b((?:BM|VM)\.[A-Za-z0-9.\-]+[A-Za-z0-9])"


class GpuCatalogError(ValueError):
    """The catalog file is unusable; the message names the file, the row and the column."""


@dataclass(frozen=True)
class GpuSpec:
    """What one instance type carries, as the catalog says."""

    provider: str
    instance_type: str
    gpu_model: str
    gpus_per_instance: float
    gpu_memory_gib: float  # of one whole GPU
    accelerator_kind: str
    billed_per: str  # instance_hour | gpu_hour
    on_demand_usd_per_hour: float | None
    price_region: str | None
    source: str
    matched_pattern: str
    notes: str | None = None

    @property
    def total_gpu_memory_gib(self) -> float:
        """GPU memory of the whole instance (a partial GPU gets its share)."""
        return self.gpus_per_instance * self.gpu_memory_gib


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _rust_regex_problem(pattern: str) -> str | None:
    """Polars matches with Rust's regex engine, which lacks look-around and back-references."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as error:  # polars raises ComputeError; the message says why
        return str(error).splitlines()[0]
    return None


def _row_problems(row: dict[str, str]) -> list[tuple[str, str]]:
    """(column, problem) for one catalog row."""
    problems: list[tuple[str, str]] = []
    for column in ("provider", "match", "instance_pattern", "gpu_model", "source"):
        if not row[column]:
            problems.append((column, "is empty"))
    choices = {
        "provider": PROVIDERS,
        "match": MATCH_KINDS,
        "accelerator_kind": ACCELERATOR_KINDS,
        "billed_per": BILLED_PER,
    }
    for column, allowed in choices.items():
        if row[column] and row[column] not in allowed:
            problems.append((column, f"{row[column]!r} is not one of {', '.join(allowed)}"))
        elif not row[column]:
            problems.append((column, f"is empty: use one of {', '.join(allowed)}"))
    pattern = row["instance_pattern"]
    if row["match"] == "regex" and pattern:
        if not (pattern.startswith("^") and pattern.endswith("$")):
            problems.append(("instance_pattern", f"regex {pattern!r} is not anchored ^…$"))
        try:
            re.compile(pattern)
        except re.error as error:
            problems.append(("instance_pattern", f"regex {pattern!r} does not compile: {error}"))
        else:
            problem = _rust_regex_problem(pattern)
            if problem:
                problems.append(
                    ("instance_pattern", f"polars cannot use regex {pattern!r}: {problem}")
                )
    for column in ("gpus_per_instance", "gpu_memory_gib"):
        value = _number(row[column])
        if value is None or value <= 0:
            problems.append((column, f"{row[column]!r} is not a positive number"))
    price = row["on_demand_usd_per_hour"]
    if price:
        value = _number(price)
        if value is None or value < 0:
            problems.append(("on_demand_usd_per_hour", f"{price!r} is not a non-negative number"))
        if not row["price_region"]:
            problems.append(("price_region", "is empty although the row has a price"))
    if row["source"] and not _SOURCE.match(row["source"]):
        problems.append(("source", f"{row['source']!r} is not 'Title <https://…>'"))
    return problems


def _read_catalog_text(text: str, name: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise GpuCatalogError(f"{name}: the file is empty (expected a header row)") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise GpuCatalogError(f"{name}: missing column(s) {', '.join(missing)}")
    rows, problems = [], []
    for number, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(f"{name} row {number} (line {reader.line_num}): {len(cells)} cells")
            continue
        cells = [c.strip() for c in cells] + [""] * (len(header) - len(cells))
        row = dict(zip(header, cells, strict=True))
        row = {c: row.get(c, "") for c in CATALOG_COLUMNS}
        for column, problem in _row_problems(row):
            problems.append(
                f"{name} row {number} (line {reader.line_num}), column {column}: {problem}"
            )
        row["catalog_file"], row["catalog_row"] = name, str(number)
        rows.append(row)
    seen: dict[tuple[str, str], str] = {}
    for row in rows:
        if row["match"] != "exact":
            continue
        key = (row["provider"], row["instance_pattern"].lower())
        if key in seen:
            problems.append(
                f"{name} row {row['catalog_row']}, column instance_pattern: "
                f"{row['instance_pattern']!r} ({row['provider']}) repeats row {seen[key]}"
            )
        seen.setdefault(key, row["catalog_row"])
    if problems:
        shown = "\n  ".join(problems[:25])
        more = f"\n  … and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise GpuCatalogError(f"{name}: {len(problems)} problem(s):\n  {shown}{more}")
    return rows


def _frame(rows: list[dict[str, str]]) -> pl.DataFrame:
    def value(column: str, text: str) -> object:
        dtype = CATALOG_SCHEMA[column]
        if dtype == pl.Float64:
            return _number(text) if text else None
        if dtype == pl.Int64:
            return int(text)
        return text or None

    data = {c: [value(c, r[c]) for r in rows] for c in CATALOG_SCHEMA}
    return pl.DataFrame(data, schema=CATALOG_SCHEMA)


@functools.cache
def _shipped_rows() -> tuple[dict[str, str], ...]:
    text = resources.files("costlake").joinpath(f"data/{CATALOG_FILE}").read_text("utf-8")
    return tuple(_read_catalog_text(text, CATALOG_FILE))


def load_gpu_catalog(override: Path | None = None, *, replace: bool = False) -> pl.DataFrame:
    """The validated catalog: typed columns (``CATALOG_SCHEMA``) in matching order.

    With ``override`` (a CSV with the same columns; the optional ones may be left out), its rows
    come first and replace shipped rows with the same provider, match and pattern; with
    ``replace=True`` only the override is used. Raises ``GpuCatalogError`` naming the file, row
    and column of every problem.
    """
    shipped = list(_shipped_rows())
    if override is None:
        if replace:
            raise GpuCatalogError("replace=True needs an override file")
        return _frame(shipped)
    path = Path(override)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GpuCatalogError(f"{path.name}: cannot read the catalog override: {error}") from None
    extra = _read_catalog_text(text, path.name)
    if replace:
        return _frame(extra)
    keys = {(r["provider"], r["match"], r["instance_pattern"].lower()) for r in extra}
    kept = [
        r for r in shipped if (r["provider"], r["match"], r["instance_pattern"].lower()) not in keys
    ]
    return _frame(extra + kept)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


def _catalog(catalog: pl.DataFrame | None) -> pl.DataFrame:
    return load_gpu_catalog() if catalog is None else catalog


def _match_row(catalog: pl.DataFrame, provider: str, instance_type: str) -> int | None:
    """Index of the catalog row for one instance type (exact first, then regex in order)."""
    provider, name = provider.strip().lower(), instance_type.strip()
    rows = catalog.select("provider", "match", "instance_pattern").rows()
    for index, (p, kind, pattern) in enumerate(rows):
        if p == provider and kind == "exact" and pattern.lower() == name.lower():
            return index
    for index, (p, kind, pattern) in enumerate(rows):
        if p == provider and kind == "regex" and re.search(pattern, name, re.IGNORECASE):
            return index
    return None


def gpu_spec(
    provider: str, instance_type: str, catalog: pl.DataFrame | None = None
) -> GpuSpec | None:
    """The catalog's spec of one instance type, VM size, machine type, shape or GCP accelerator
    SKU; None when the catalog does not know it."""
    cat = _catalog(catalog)
    index = _match_row(cat, provider, instance_type)
    if index is None:
        return None
    row = cat.row(index, named=True)
    return GpuSpec(
        provider=row["provider"],
        instance_type=instance_type.strip(),
        gpu_model=row["gpu_model"],
        gpus_per_instance=row["gpus_per_instance"],
        gpu_memory_gib=row["gpu_memory_gib"],
        accelerator_kind=row["accelerator_kind"],
        billed_per=row["billed_per"],
        on_demand_usd_per_hour=row["on_demand_usd_per_hour"],
        price_region=row["price_region"],
        source=row["source"],
        matched_pattern=row["instance_pattern"],
        notes=row["notes"],
    )


def _as_expr(column: str | pl.Expr) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def catalog_row_expr(
    provider: str | pl.Expr, instance: str | pl.Expr, catalog: pl.DataFrame | None = None
) -> pl.Expr:
    """Index (Int64) of the matching catalog row, null when none matches: the same rules as
    ``gpu_spec``, as one expression (exact rows through a lookup, regex rows as a chain)."""
    cat = _catalog(catalog)
    p = _as_expr(provider).cast(pl.String).str.strip_chars().str.to_lowercase()
    name = _as_expr(instance).cast(pl.String).str.strip_chars()
    exact: dict[str, int] = {}
    regex: list[tuple[int, str, str]] = []
    for index, (prov, kind, pattern) in enumerate(
        cat.select("provider", "match", "instance_pattern").rows()
    ):
        if kind == "exact":
            exact.setdefault(f"{prov}\x1f{pattern.lower()}", index)
        else:
            regex.append((index, prov, pattern))
    key = pl.concat_str([p, pl.lit("\x1f"), name.str.to_lowercase()])
    found = key.replace_strict(exact, default=None, return_dtype=pl.Int64)
    if not regex:
        return found
    chain = None
    for index, prov, pattern in regex:
        hit = (p == prov) & name.str.contains(f"(?i){pattern}")
        chain = (pl.when(hit) if chain is None else chain.when(hit)).then(pl.lit(index, pl.Int64))
    return pl.coalesce(found, chain.otherwise(pl.lit(None, pl.Int64)))


def gpus_per_instance_expr(
    provider: str | pl.Expr, instance: str | pl.Expr, catalog: pl.DataFrame | None = None
) -> pl.Expr:
    """The catalog's GPU (or accelerator) count of each row's instance type; null if unknown."""
    cat = _catalog(catalog)
    counts = dict(enumerate(cat["gpus_per_instance"].to_list()))
    row = catalog_row_expr(provider, instance, cat)
    return row.replace_strict(counts, default=None, return_dtype=pl.Float64)


def _positive_count(expr: pl.Expr) -> pl.Expr:
    """A GPU count as the bill states it ("8", 8, "8.0"); null when absent, zero or not a number."""
    text = expr.cast(pl.String).str.strip_chars()
    value = text.str.extract(r"^([0-9]+(?:\.[0-9]+)?)$").cast(pl.Float64)
    return pl.when(value > 0).then(value)


def with_gpu_spec(
    frame: pl.LazyFrame,
    provider_col: str = "x_Provider",
    instance_col: str = "instance_type",
    bill_gpu_count_col: str | None = None,
    catalog: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """``frame`` with the catalog's spec of each row's instance type (``SPEC_COLUMNS``).

    ``gpus_per_instance`` is the bill's own count (``bill_gpu_count_col``, e.g. AWS
    ``product/gpu``) when it states a positive number, else the catalog's;
    ``gpus_per_instance_source`` says which (``bill`` | ``catalog``; null when neither knows).
    Rows whose instance type the catalog does not know keep null specs.
    """
    cat = _catalog(catalog)
    row = "__gpu_catalog_row"
    lookup = (
        cat.lazy()
        .with_row_index(row)
        .select(
            pl.col(row).cast(pl.Int64),
            "gpu_model",
            pl.col("gpus_per_instance").alias("__catalog_gpus"),
            "gpu_memory_gib",
            "accelerator_kind",
            pl.col("billed_per").alias("gpu_billed_per"),
            pl.col("on_demand_usd_per_hour").alias("catalog_usd_per_hour"),
            pl.col("source").alias("gpu_catalog_source"),
        )
    )
    present = frame.collect_schema().names()
    frame = frame.drop([c for c in SPEC_COLUMNS if c in present])
    # Match each distinct (provider, instance) once: the regex chain then runs on a handful
    # of names, not on every line of the bill.
    keys = (
        frame.select(
            pl.col(provider_col).cast(pl.String).alias("__gpu_provider"),
            pl.col(instance_col).cast(pl.String).alias("__gpu_instance"),
        )
        .unique()
        .with_columns(catalog_row_expr("__gpu_provider", "__gpu_instance", cat).alias(row))
        .join(lookup, on=row, how="left")
        .drop(row)
    )
    frame = frame.join(
        keys,
        left_on=[pl.col(provider_col).cast(pl.String), pl.col(instance_col).cast(pl.String)],
        right_on=["__gpu_provider", "__gpu_instance"],
        how="left",
        maintain_order="left",
    )
    bill = (
        _positive_count(pl.col(bill_gpu_count_col))
        if bill_gpu_count_col
        else pl.lit(None, pl.Float64)
    )
    return frame.with_columns(
        gpus_per_instance=pl.coalesce(bill, pl.col("__catalog_gpus")),
        gpus_per_instance_source=pl.when(bill.is_not_null())
        .then(pl.lit("bill"))
        .when(pl.col("__catalog_gpus").is_not_null())
        .then(pl.lit("catalog")),
    ).drop("__catalog_gpus", "__gpu_provider", "__gpu_instance", strict=False)


# ---------------------------------------------------------------------------------------------
# FOCUS rows
# ---------------------------------------------------------------------------------------------


def _names(frame: pl.LazyFrame | pl.DataFrame | pl.Schema | Iterable[str]) -> set[str]:
    if isinstance(frame, pl.LazyFrame):
        return set(frame.collect_schema().names())
    if isinstance(frame, pl.DataFrame | pl.Schema):
        return set(frame.columns if isinstance(frame, pl.DataFrame) else frame.names())
    return set(frame)


def _text(names: set[str], column: str) -> pl.Expr:
    """A text column, null where empty; a typed null when the frame lacks it."""
    if column not in names:
        return pl.lit(None, pl.String)
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


def is_accelerator_line(frame: pl.LazyFrame | pl.DataFrame | pl.Schema | Iterable[str]) -> pl.Expr:
    """True where the line itself is billed per GPU-hour: a GCP accelerator SKU, or an OCI GPU
    line (unit GPU-Hours, or "GPU" in the SKU description)."""
    names = _names(frame)
    provider = _text(names, "x_Provider").str.to_lowercase()
    sku = pl.coalesce(_text(names, "SkuMeter"), _text(names, "ChargeDescription"))
    gcp = sku.str.contains(_GCP_ACCELERATOR_SKU)
    oci = (
        (_text(names, "PricingUnit") == "GPU-Hours")
        | _text(names, "x_UsageType").str.contains(r"(?i)\bGPUS?\b")
        | sku.str.contains(r"(?i)\bGPU\b")
    )
    return (
        pl.when(provider == "gcp")
        .then(gcp.fill_null(False))
        .when(provider == "oci")
        .then(oci.fill_null(False))
        .otherwise(pl.lit(False))
    )


def instance_type_of(frame: pl.LazyFrame | pl.DataFrame | pl.Schema | Iterable[str]) -> pl.Expr:
    """The instance type / VM size / machine type / shape of each FOCUS row, per provider (the
    rules are in the module docstring). Columns the frame lacks count as null."""
    names = _names(frame)
    provider = _text(names, "x_Provider").str.to_lowercase()
    given = _text(names, "x_InstanceType")
    meter = _text(names, "SkuMeter")
    description = _text(names, "ChargeDescription")

    usage = pl.coalesce(_text(names, "x_UsageType"), meter)
    found = usage.str.extract_groups(_AWS_USAGE_INSTANCE)
    aws = pl.coalesce(given, found.struct.field("1"), found.struct.field("2"))

    is_vm = (_text(names, "x_ProductCode") == "Virtual Machines") | (
        _text(names, "ServiceName") == "Virtual Machines"
    )
    size = meter.str.extract(_AZURE_METER_SIZE, 1).str.replace_all(" ", "_")
    azure = pl.coalesce(
        given, pl.when(is_vm.fill_null(False) & size.is_not_null()).then("Standard_" + size)
    )

    sku = pl.coalesce(meter, description)
    gcp = pl.coalesce(given, pl.when(sku.str.contains(_GCP_ACCELERATOR_SKU)).then(sku))

    oci = pl.coalesce(given, sku.str.extract(_OCI_SHAPE, 1))
    return (
        pl.when(provider == "aws")
        .then(aws)
        .when(provider == "azure")
        .then(azure)
        .when(provider == "gcp")
        .then(gcp)
        .when(provider == "oci")
        .then(oci)
        .otherwise(given)
    )


def gpus_per_unit_of(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema | Iterable[str],
    gpus_per_instance_col: str = "gpus_per_instance",
    gpu_model_col: str = "gpu_model",
) -> pl.Expr:
    """GPUs in one unit of a line's quantity: 1 on a line billed per GPU-hour (GCP accelerator
    SKU, OCI GPU shape), ``gpus_per_instance`` on an instance-hour line whose instance the
    catalog knows (AWS, Azure), 0 on the other lines of a GPU machine (GCP cores and RAM);
    null for lines of no known GPU instance. Needs ``with_gpu_spec``'s columns."""
    names = _names(frame)
    provider = _text(names, "x_Provider").str.to_lowercase()
    unit = _text(names, "PricingUnit")
    per_instance = provider.is_in(["aws", "azure"]) & (unit == "Hours")
    return (
        pl.when(is_accelerator_line(frame))
        .then(pl.lit(1.0))
        .when(pl.col(gpu_model_col).is_null() & pl.col(gpus_per_instance_col).is_null())
        .then(pl.lit(None, pl.Float64))
        .when(per_instance.fill_null(False))
        .then(pl.col(gpus_per_instance_col))
        .otherwise(pl.lit(0.0))
    )


def aws_product_gpu(frame: pl.LazyFrame | pl.DataFrame | pl.Schema) -> pl.Expr:
    """The GPU count an AWS CUR states: legacy ``product/gpu`` (renamed ``product_gpu``), or
    the ``gpu`` key of CUR 2.0's ``product`` map (JSON text in CSV, a MAP in Parquet). Text;
    null when the bill does not say."""
    if isinstance(frame, pl.LazyFrame):
        schema = frame.collect_schema()
    elif isinstance(frame, pl.DataFrame):
        schema = frame.schema
    else:
        schema = frame
    for name in ("product_gpu", "product/gpu"):
        if name in schema:
            return pl.col(name).cast(pl.String)
    if "product" not in schema:
        return pl.lit(None, pl.String)
    dtype = schema["product"]
    if dtype == pl.String:
        return pl.col("product").str.extract(r'"gpu"\s*:\s*"?([0-9.]+)"?', 1)
    entries = pl.col("product")
    if not isinstance(dtype, pl.List):
        entries = entries.cast(pl.List(pl.Struct({"key": pl.String, "value": pl.String})))
    return (
        entries.list.eval(
            pl.element().filter(pl.element().struct.field("key") == "gpu").struct.field("value")
        )
        .list.first()
        .cast(pl.String)
    )


def with_gpu_usage(
    focus: pl.LazyFrame,
    catalog: pl.DataFrame | None = None,
    bill_gpu_count_col: str | None = None,
) -> pl.LazyFrame:
    """FOCUS rows with ``instance_type``, the catalog spec (``with_gpu_spec``), ``gpus_per_unit``
    and ``gpu_hours``: ``PricingQuantity`` × ``gpus_per_unit`` on Usage lines priced in Hours or
    GPU-Hours (AWS SavingsPlanNegation lines excluded: they repeat the covered line's hours)."""
    names = _names(focus)
    frame = focus.with_columns(instance_type_of(focus).alias("instance_type"))
    frame = with_gpu_spec(frame, "x_Provider", "instance_type", bill_gpu_count_col, catalog)
    hourly = _text(names, "PricingUnit").is_in(["Hours", "GPU-Hours"])
    usage = _text(names, "ChargeCategory") == "Usage"
    negation = _text(names, "x_LineItemType") == "SavingsPlanNegation"
    if "ConsumedQuantity" in names:  # fees (AWS RIFee) carry a pricing but no consumed quantity
        usage = usage & pl.col("ConsumedQuantity").is_not_null()
    quantity = (
        pl.col("PricingQuantity").cast(pl.Float64)
        if "PricingQuantity" in names
        else pl.lit(None, pl.Float64)
    )
    frame = frame.with_columns(gpus_per_unit_of(names).alias("gpus_per_unit"))
    return frame.with_columns(
        gpu_hours=pl.when(
            usage.fill_null(False) & hourly.fill_null(False) & ~negation.fill_null(False)
        ).then(quantity * pl.col("gpus_per_unit"))
    )
