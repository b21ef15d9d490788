"""Benchmark exports shaped like the real ones: every provider's full documented column set.

The small tiled fixtures (``provider_inputs.py``) and the demo generator stay for tests; these
files are for speed and memory. Each is written vectorised (numpy draws, polars expressions) in
chunks of ``CHUNK_ROWS`` rows from a fixed seed, so the same call writes the same bytes.

What makes them like a real bill rather than a tiled sample:

- a pool of resources (50,000 + rows / 100) billed on many hours each, skewed so a few
  resources have hundreds of line items and most a few; several accounts / subscriptions /
  projects / compartments; long resource ids (ARNs, ARM ids, GCP global names, OCIDs);
- 40 tag keys of realistic cardinality (``TAG_KEYS``: an environment of 8 values next to a
  per-resource ``Name``, a commit hash, a ticket number), each resource carrying 20 to 40 of them
  (about 12 % of resources untagged): tens of thousands of distinct tag maps per file;
- the charge kinds of each bill: usage, reservation- and Savings-Plan-covered usage with their
  negations and fees, credits, refunds, tax, support fees (AWS); purchases, refunds, reservation
  and Savings Plan usage, unused benefit rows (Azure actual and amortized); credits arrays
  with committed-use and promotion credits, tax and adjustment rows (GCP); corrections (OCI).

Forms written (``EXPORTS``): AWS CUR 2.0 (the Data Exports table's 128 columns; ``product``,
``resource_tags``, ``cost_category`` and ``discount`` as JSON text in CSV and MAP in Parquet),
legacy CUR (``category/Name`` headers with one ``resourceTags/user:*`` column per tag in CSV,
Athena snake case in Parquet: 190 columns), Azure cost details actual and amortized (the EA
schema, 70 columns, ``Tags`` as JSON members without braces), the GCP detailed billing export
(nested records, ``labels`` / ``system_labels`` / ``credits`` arrays, project ancestry) as JSON
lines and as BigQuery's Parquet, and the OCI cost report (CSV.gz only, as OCI delivers it).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 200_000
ROW_GROUP_ROWS = 200_000  # Parquet row group size (the CUR and BigQuery writers use ~this)
PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
HOURS = 31 * 24


def resource_count(rows: int) -> int:
    """Distinct resources of an N-row file: tens of thousands, growing slowly with N."""
    return 50_000 + rows // 100


# ---------------------------------------------------------------------------------------------
# Tags: (display key, lower-case label key, cardinality or vocabulary, share of resources)

_ENVS = ["prod", "production", "staging", "stg", "dev", "development", "qa", "sandbox"]
TAG_KEYS: list[tuple[str, str, int | list[str], float]] = [
    ("Name", "name", 0, 0.92),  # 0: one value per resource
    ("Project", "project", 300, 0.93),
    ("Environment", "environment", _ENVS, 0.95),
    ("CostCenter", "cost-center", 120, 0.9),
    ("Team", "team", 45, 0.9),
    ("Owner", "owner", 800, 0.85),
    ("Application", "application", 400, 0.8),
    ("Service", "service", 200, 0.75),
    ("Component", "component", 90, 0.7),
    ("Version", "version", 60, 0.6),
    ("ManagedBy", "managed-by", ["terraform", "cloudformation", "cdk", "pulumi", "manual"], 0.8),
    ("CreatedBy", "created-by", 1500, 0.7),
    ("Repository", "repository", 350, 0.6),
    ("workload_type", "workload-type", ["inference", "training", "batch", "etl", "web"], 0.5),
    ("model", "model", ["llama-3-70b", "mixtral-8x7b", "claude-sonnet", "gpt-4o", "bge"], 0.3),
    ("BudgetCode", "budget-code", 80, 0.55),
    ("BusinessUnit", "business-unit", 14, 0.8),
    ("Department", "department", 25, 0.7),
    ("Compliance", "compliance", ["pci", "hipaa", "sox", "none"], 0.5),
    ("DataClassification", "data-classification", ["public", "internal", "secret"], 0.6),
    ("BackupPolicy", "backup-policy", ["daily", "weekly", "none", "hourly"], 0.55),
    ("Schedule", "schedule", ["24x7", "office-hours", "weekdays", "off"], 0.45),
    ("PatchGroup", "patch-group", 10, 0.4),
    ("Cluster", "cluster", 60, 0.5),
    ("Namespace", "namespace", 250, 0.45),
    ("NodePool", "node-pool", 40, 0.4),
    ("StackName", "stack-name", 3000, 0.6),
    ("LaunchTemplate", "launch-template", 500, 0.35),
    ("AutoScalingGroup", "autoscaling-group", 700, 0.35),
    ("Ticket", "ticket", 5000, 0.4),
    ("Release", "release", 1000, 0.45),
    ("GitSha", "git-sha", 20000, 0.5),
    ("Customer", "customer", 150, 0.3),
    ("ProductLine", "product-line", 20, 0.6),
    ("Purpose", "purpose", ["serving", "analytics", "ci", "backup", "research"], 0.5),
    ("SlaTier", "sla-tier", ["gold", "silver", "bronze"], 0.5),
    ("OnCall", "on-call", 60, 0.4),
    ("ExpiryDate", "expiry-date", 365, 0.3),
    ("CreatedAt", "created-at", 0, 0.5),  # one value per resource
    ("Lifecycle", "lifecycle", ["active", "deprecated", "experimental", "retired"], 0.5),
]


def _snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out += "_"
        out += "_" if ch in "-:." else ch.lower()
    return out


class _Rng:
    """Deterministic uniform draws from a seed and a stream, as polars Series (numpy is not a
    project dependency): murmur3's 32-bit finaliser of a counter, exact on every platform."""

    def __init__(self, seed: int, *stream: int) -> None:
        self.salt = seed * 0x9E3779B1
        for number in stream:
            self.salt = (self.salt * 0x85EBCA77 + number + 0x165667B1) & 0xFFFFFFFF
        self.drawn = 0

    def random(self, size: int) -> pl.Series:
        """``size`` uniform floats in [0, 1)."""
        keys = pl.int_range(self.drawn, self.drawn + size, dtype=pl.UInt64, eager=True)
        self.drawn += size
        mixed = _mix32(_mix32(keys) ^ self.salt)
        return (mixed.cast(pl.Float64) / 4294967296.0).alias("u")

    def integers(self, low: int, high: int, size: int) -> pl.Series:
        return (low + (self.random(size) * (high - low)).floor().cast(pl.Int64)).clip(low, high - 1)

    def permutation(self, n: int) -> pl.Series:
        return pl.select(pl.int_range(n).sort_by(self.random(n))).to_series()

    def choice(self, probabilities: list[float], size: int) -> pl.Series:
        """Indexes drawn with the given (unnormalised) probabilities."""
        total = sum(probabilities)
        edges, running = [], 0.0
        for p in probabilities[:-1]:
            running += p / total
            edges.append(running)
        return pl.Series(edges).search_sorted(self.random(size), side="right").cast(pl.Int64)


def _mix32(x: pl.Series) -> pl.Series:
    mask = 0xFFFFFFFF
    x = x & mask
    x = x ^ (x // 65536)
    x = (x * 0x85EBCA6B) & mask
    x = x ^ (x // 8192)
    x = (x * 0xC2B2AE35) & mask
    return x ^ (x // 65536)


def _rng(seed: int, *stream: int) -> _Rng:
    return _Rng(seed, *stream)


def _pick(values: list[str], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather(index)


def _skewed(rng: _Rng, n: int, size: int) -> pl.Series:
    """Indexes in [0, n), the low ones far more often (squared uniform)."""
    return (n * rng.random(size) ** 2).floor().cast(pl.Int64).clip(0, n - 1)


def tag_values(resources: int, seed: int) -> pl.DataFrame:
    """Per resource and tag key, the value (null when the resource lacks the key)."""
    rng = _rng(seed, 1)
    untagged = rng.random(resources) < 0.12
    columns = {}
    for number, (_, label, kind, share) in enumerate(TAG_KEYS):
        present = (rng.random(resources) < share) & ~untagged
        if isinstance(kind, list):
            text = pl.Series(kind).gather(_skewed(rng, len(kind), resources))
        elif kind == 0:  # per resource
            text = f"{label}-" + rng.permutation(resources).cast(pl.String)
        elif label == "git-sha":
            text = rng.integers(0, 1 << 31, kind).hash(1).cast(pl.String).str.slice(0, 10)
            text = text.gather(_skewed(rng, kind, resources))
        else:
            text = f"{label}-" + _skewed(rng, kind, resources).cast(pl.String)
        columns[f"t{number}"] = pl.select(pl.when(present).then(text)).to_series()
    return pl.DataFrame(columns)


def tags_json(
    values: pl.DataFrame, keys: list[str], sep: str = ":", braces: bool = True
) -> pl.Series:
    """One JSON object text per resource (``{}`` when untagged), keys as given."""
    pieces = [
        pl.concat_str(pl.lit(f'"{key}"{sep}"'), pl.col(f"t{n}"), pl.lit('"'))
        for n, key in enumerate(keys)
    ]
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    text = pl.concat_str(pl.lit("{"), body, pl.lit("}")) if braces else body
    return values.select(text.alias("tags")).to_series()


def tags_entries(values: pl.DataFrame, keys: list[str]) -> pl.Series:
    """One list of {key, value} per resource (empty when untagged)."""
    entries = pl.concat_list(
        pl.when(pl.col(f"t{n}").is_not_null()).then(
            pl.struct(pl.lit(key).alias("key"), pl.col(f"t{n}").alias("value"))
        )
        for n, key in enumerate(keys)
    ).list.drop_nulls()
    return values.select(entries.alias("entries")).to_series()


# ---------------------------------------------------------------------------------------------
# Rows: which resource, which hour, which kind of charge


@dataclass(frozen=True)
class Draws:
    """Per-row random draws of one chunk."""

    resource: pl.Series
    hour: pl.Series
    kind: pl.Series  # index into the provider's kinds
    amount: pl.Series  # usage quantity
    jitter: pl.Series  # 0.5 .. 1.5, price variation
    row: pl.Series  # global row number


def draws(
    seed: int, chunk: int, start: int, size: int, resources: int, kinds: list[float]
) -> Draws:
    rng = _rng(seed, 100, chunk)
    return Draws(
        resource=_skewed(rng, resources, size),
        hour=rng.integers(0, HOURS, size),
        kind=rng.choice(kinds, size),
        # long-tailed quantities: many small, a few large
        amount=(-(1 - rng.random(size)).log() * 3.0 + 0.001).round(6),
        jitter=0.5 + rng.random(size),
        row=pl.int_range(start, start + size, eager=True),
    )


def _chunks(rows: int) -> Iterator[tuple[int, int, int]]:
    for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield number, start, min(CHUNK_ROWS, rows - start)


def _hex(values: pl.Expr, salt: int, width: int = 16) -> pl.Expr:
    """Deterministic hex text of ``width`` characters from an integer column."""
    parts = []
    for i in range(0, width, 16):
        parts.append(values.hash(salt + i).cast(pl.String))
    return pl.concat_str(parts).str.slice(0, width)


def _money(expr: pl.Expr, places: int = 10) -> pl.Expr:
    return expr.round(places)


# ---------------------------------------------------------------------------------------------
# Writers


def _write_csv_gz(path: Path, frames: Iterator[pl.DataFrame], bom: bool = False) -> None:
    with gzip.open(path, "wb", compresslevel=6) as out:
        for number, frame in enumerate(frames):
            buffer = io.BytesIO()
            frame.write_csv(
                buffer,
                include_header=number == 0,
                include_bom=bom and number == 0,
                float_scientific=False,
            )
            out.write(buffer.getbuffer())


def _write_parquet(path: Path, tables: Iterator[pa.Table], compression: str = "snappy") -> None:
    writer = None
    try:
        for table in tables:
            writer = writer or pq.ParquetWriter(path, table.schema, compression=compression)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    finally:
        if writer:
            writer.close()


def _write_ndjson(path: Path, frames: Iterator[pl.DataFrame]) -> None:
    with path.open("wb") as out:
        for frame in frames:
            frame.write_ndjson(out)


# ---------------------------------------------------------------------------------------------
# AWS: CUR 2.0 and legacy CUR

# The CUR 2.0 table of Data Exports ("Cost and Usage Report (CUR) 2.0" in the Data Exports table
# dictionary, with INCLUDE_RESOURCES and split cost allocation data), in the export's order.
CUR2_COLUMNS = [
    "bill_bill_type",
    "bill_billing_entity",
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "bill_invoice_id",
    "bill_invoicing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "capacity_reservation_capacity_reservation_arn",
    "capacity_reservation_capacity_reservation_status",
    "capacity_reservation_capacity_reservation_type",
    "cost_category",
    "discount",
    "discount_bundled_discount",
    "discount_total_discount",
    "identity_line_item_id",
    "identity_time_interval",
    "line_item_availability_zone",
    "line_item_blended_cost",
    "line_item_blended_rate",
    "line_item_currency_code",
    "line_item_legal_entity",
    "line_item_line_item_description",
    "line_item_line_item_type",
    "line_item_net_unblended_cost",
    "line_item_net_unblended_rate",
    "line_item_normalization_factor",
    "line_item_normalized_usage_amount",
    "line_item_operation",
    "line_item_product_code",
    "line_item_resource_id",
    "line_item_tax_type",
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_usage_amount",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
    "line_item_usage_type",
    "pricing_currency",
    "pricing_lease_contract_length",
    "pricing_offering_class",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "pricing_purchase_option",
    "pricing_rate_code",
    "pricing_rate_id",
    "pricing_term",
    "pricing_unit",
    "product",
    "product_comment",
    "product_fee_code",
    "product_fee_description",
    "product_from_location",
    "product_from_location_type",
    "product_from_region_code",
    "product_instance_family",
    "product_instance_type",
    "product_instancesku",
    "product_location",
    "product_location_type",
    "product_operation",
    "product_pricing_unit",
    "product_product_family",
    "product_region_code",
    "product_servicecode",
    "product_sku",
    "product_to_location",
    "product_to_location_type",
    "product_to_region_code",
    "product_usagetype",
    "reservation_amortized_upfront_cost_for_usage",
    "reservation_amortized_upfront_fee_for_billing_period",
    "reservation_availability_zone",
    "reservation_effective_cost",
    "reservation_end_time",
    "reservation_modification_status",
    "reservation_net_amortized_upfront_cost_for_usage",
    "reservation_net_amortized_upfront_fee_for_billing_period",
    "reservation_net_effective_cost",
    "reservation_net_recurring_fee_for_usage",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_recurring_fee",
    "reservation_net_upfront_value",
    "reservation_normalized_units_per_reservation",
    "reservation_number_of_reservations",
    "reservation_recurring_fee_for_usage",
    "reservation_reservation_a_r_n",
    "reservation_start_time",
    "reservation_subscription_id",
    "reservation_total_reserved_normalized_units",
    "reservation_total_reserved_units",
    "reservation_units_per_reservation",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_normalized_unit_quantity",
    "reservation_unused_quantity",
    "reservation_unused_recurring_fee",
    "reservation_upfront_value",
    "resource_tags",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_end_time",
    "savings_plan_instance_type_family",
    "savings_plan_net_amortized_upfront_commitment_for_billing_period",
    "savings_plan_net_recurring_commitment_for_billing_period",
    "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_offering_type",
    "savings_plan_payment_option",
    "savings_plan_purchase_term",
    "savings_plan_recurring_commitment_for_billing_period",
    "savings_plan_region",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_savings_plan_rate",
    "savings_plan_start_time",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "split_line_item_actual_usage",
    "split_line_item_net_split_cost",
    "split_line_item_net_unused_cost",
    "split_line_item_parent_resource_id",
    "split_line_item_public_on_demand_split_cost",
    "split_line_item_public_on_demand_unused_cost",
    "split_line_item_reserved_usage",
    "split_line_item_split_cost",
    "split_line_item_split_usage",
    "split_line_item_split_usage_ratio",
    "split_line_item_unused_cost",
]
CUR_MAPS = ("cost_category", "discount", "product", "resource_tags")
CUR_TIMES = (
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
)
CUR_NUMBERS = tuple(
    c
    for c in CUR2_COLUMNS
    if c.endswith(("_cost", "_amount", "_factor", "_fee", "_usage", "_ratio", "_quantity"))
    or c.endswith(("_for_usage", "_for_billing_period", "_to_date", "_commitment", "_value"))
    or c.endswith(("_units", "_reservation", "_reservations", "_discount"))
    or c in ("savings_plan_savings_plan_rate",)
)

# (product code, usage type, operation, unit, hourly-ish rate, product family, instance types)
_AWS_SERVICES = [
    (
        "AmazonEC2",
        "BoxUsage:{it}",
        "RunInstances",
        "Hrs",
        0.35,
        "Compute Instance",
        ["m6i.xlarge", "c6i.2xlarge", "r6i.4xlarge", "g5.xlarge", "p4d.24xlarge", "t3.medium"],
    ),
    ("AmazonEC2", "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "GB-Mo", 0.08, "Storage", [""]),
    ("AmazonS3", "TimedStorage-ByteHrs", "StandardStorage", "GB-Mo", 0.023, "Storage", [""]),
    (
        "AmazonRDS",
        "InstanceUsage:{it}",
        "CreateDBInstance:0002",
        "Hrs",
        0.5,
        "Database Instance",
        ["db.r6g.large", "db.m6g.xlarge"],
    ),
    (
        "AmazonSageMaker",
        "ml.{it}-hosting",
        "RunInstance",
        "Hrs",
        1.2,
        "ML Instance",
        ["g5.2xlarge", "p4d.24xlarge"],
    ),
    (
        "AmazonBedrock",
        "NovaLite-input-tokens",
        "InvokeModel",
        "1K tokens",
        0.00006,
        "Amazon Bedrock",
        [""],
    ),
    (
        "AWSLambda",
        "Lambda-GB-Second",
        "Invoke",
        "Lambda-GB-Second",
        0.0000166667,
        "Serverless",
        [""],
    ),
    ("AmazonCloudWatch", "TimedStorage-ByteHrs", "PutLogEvents", "GB-Mo", 0.03, "Storage", [""]),
    ("AWSDataTransfer", "DataTransfer-Out-Bytes", "", "GB", 0.09, "Data Transfer", [""]),
    ("AmazonEKS", "AmazonEKS-Hours:perCluster", "CreateOperation", "Hrs", 0.1, "Compute", [""]),
]
_AWS_REGIONS = [
    ("us-east-1", "US East (N. Virginia)", "USE1"),
    ("us-west-2", "US West (Oregon)", "USW2"),
    ("eu-west-1", "Europe (Ireland)", "EU"),
    ("eu-central-1", "Europe (Frankfurt)", "EUC1"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)", "APN1"),
]
_AWS_ACCOUNTS = [f"{100000000000 + 7919 * i * 104729:012d}"[:12] for i in range(1, 41)]
_PAYER = "111122223333"
_SP_ARN = "arn:aws:savingsplans::111122223333:savingsplan/8c1d5e7a-2b44-4f0e-9d3c-5a6b7c8d9e01"
_RI_ARN = (
    "arn:aws:ec2:us-east-1:111122223333:reserved-instances/4b2c8a9e-7d1f-4e3a-9c5b-1a2b3c4d5e6f"
)
# CUR line item types and their share of rows
_CUR_KINDS = [
    ("Usage", 0.78),
    ("DiscountedUsage", 0.05),
    ("SavingsPlanCoveredUsage", 0.08),
    ("SavingsPlanNegation", 0.04),
    ("RIFee", 0.003),
    ("SavingsPlanRecurringFee", 0.003),
    ("Fee", 0.002),
    ("Credit", 0.012),
    ("Refund", 0.004),
    ("Tax", 0.012),
    ("EdpDiscount", 0.014),
]
_NO_RESOURCE = ("RIFee", "SavingsPlanRecurringFee", "Fee", "Credit", "Refund", "Tax", "EdpDiscount")

_PRODUCT_KEYS = [
    "product_name",
    "servicename",
    "region",
    "vcpu",
    "memory",
    "clock_speed",
    "current_generation",
    "ecu",
    "enhanced_networking_supported",
    "instance_family",
    "license_model",
    "network_performance",
    "normalization_size_factor",
    "operating_system",
    "physical_processor",
    "pre_installed_sw",
    "processor_architecture",
    "processor_features",
    "storage",
    "tenancy",
    "capacitystatus",
    "marketoption",
    "gpu",
    "gpu_memory",
]


def aws_resources(rows: int, seed: int) -> pl.DataFrame:
    """The AWS resource pool: account, service, region, instance type, id, tag values."""
    count = resource_count(rows)
    rng = _rng(seed, 2)
    service = rng.integers(0, len(_AWS_SERVICES), count)
    types = [s[6] for s in _AWS_SERVICES]
    itype = [
        types[s][i % len(types[s])]
        for s, i in zip(service, rng.integers(0, 60, count), strict=True)
    ]  # 60k
    frame = pl.DataFrame(
        {
            "res": pl.int_range(count, eager=True),
            "service": service,
            "region": _skewed(rng, len(_AWS_REGIONS), count),
            "account": _skewed(rng, len(_AWS_ACCOUNTS), count),
            "itype": itype,
            "rate_factor": 0.8 + 0.4 * rng.random(count),
        }
    )
    return pl.concat([frame, tag_values(count, seed)], how="horizontal")


def _aws_resource_id(pool: pl.DataFrame) -> pl.Expr:
    """ARNs and instance ids as the CUR writes them (long, account- and region-qualified)."""
    code = _pick([s[0] for s in _AWS_SERVICES], pl.col("service"))
    region = _pick([r[0] for r in _AWS_REGIONS], pl.col("region"))
    account = _pick(_AWS_ACCOUNTS, pl.col("account"))
    hexid = _hex(pl.col("res"), 11, 17)
    return (
        pl.when(code == "AmazonEC2")
        .then(pl.concat_str(pl.lit("i-"), hexid))
        .when(code == "AmazonS3")
        .then(pl.concat_str(pl.lit("acme-data-"), pl.col("t1"), pl.lit("-"), hexid))
        .otherwise(
            pl.concat_str(
                pl.lit("arn:aws:"),
                code.str.to_lowercase().str.replace("amazon|aws", ""),
                pl.lit(":"),
                region,
                pl.lit(":"),
                account,
                pl.lit(":resource/"),
                pl.col("t1").fill_null("shared"),
                pl.lit("/"),
                hexid,
            )
        )
    )


def _aws_rows(pool: pl.DataFrame, d: Draws) -> pl.DataFrame:
    """Common per-row values of both CUR forms (text and numbers, timestamps as datetimes)."""
    kinds = [k for k, _ in _CUR_KINDS]
    rows = pl.DataFrame(
        {
            "res": d.resource,
            "hour": d.hour,
            "kind": d.kind,
            "amount": d.amount,
            "jitter": d.jitter,
            "row": d.row,
        }
    ).join(pool, on="res", how="left", maintain_order="left")
    kind = _pick(kinds, pl.col("kind"))
    svc = pl.col("service")
    rate = _pick_f([s[4] for s in _AWS_SERVICES], svc) * pl.col("rate_factor")
    on_demand = rate * pl.col("amount")
    cost = (
        pl.when(kind == "Usage")
        .then(on_demand * pl.col("jitter").clip(0.9, 1.1))
        .when(kind.is_in(["DiscountedUsage", "SavingsPlanCoveredUsage"]))
        .then(0.0)
        .when(kind == "SavingsPlanNegation")
        .then(-on_demand * 0.62)
        .when(kind.is_in(["RIFee", "SavingsPlanRecurringFee"]))
        .then(pl.col("jitter") * 240.0)
        .when(kind == "Fee")
        .then(pl.col("jitter") * 1500.0)
        .when(kind.is_in(["Credit", "Refund", "EdpDiscount"]))
        .then(-pl.col("jitter") * 35.0)
        .otherwise(pl.col("jitter") * 18.0)  # Tax
    )
    start = pl.lit(PERIOD_START) + pl.duration(hours=pl.col("hour"))
    no_resource = kind.is_in(list(_NO_RESOURCE))
    region = _pick([r[0] for r in _AWS_REGIONS], pl.col("region"))
    prefix = _pick([r[2] for r in _AWS_REGIONS], pl.col("region"))
    itype = pl.col("itype")
    usage_type = pl.concat_str(
        prefix,
        pl.lit("-"),
        _pick([s[1] for s in _AWS_SERVICES], svc).str.replace("{it}", itype, literal=True),
    )
    account = _pick(_AWS_ACCOUNTS, pl.col("account"))
    sp = kind.is_in(["SavingsPlanCoveredUsage", "SavingsPlanNegation", "SavingsPlanRecurringFee"])
    ri = kind.is_in(["DiscountedUsage", "RIFee"])
    return rows.select(
        kind.alias("line_item_line_item_type"),
        pl.when(kind == "Refund")
        .then(pl.lit("Refund"))
        .otherwise(pl.lit("Anniversary"))
        .alias("bill_bill_type"),
        pl.lit("AWS").alias("bill_billing_entity"),
        pl.lit(PERIOD_END).alias("bill_billing_period_end_date"),
        pl.lit(PERIOD_START).alias("bill_billing_period_start_date"),
        pl.lit("EUINGB26-1283746").alias("bill_invoice_id"),
        pl.lit("Amazon Web Services EMEA SARL").alias("bill_invoicing_entity"),
        pl.lit(_PAYER).alias("bill_payer_account_id"),
        pl.lit("Acme AI Management").alias("bill_payer_account_name"),
        _hex(pl.col("row"), 3, 52).alias("identity_line_item_id"),
        pl.concat_str(
            start.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.lit("/"),
            (start + pl.duration(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ).alias("identity_time_interval"),
        pl.when(~no_resource)
        .then(pl.concat_str(region, pl.lit("a")))
        .alias("line_item_availability_zone"),
        _money(cost).alias("line_item_blended_cost"),
        pl.when(~no_resource).then(rate.round(10).cast(pl.String)).alias("line_item_blended_rate"),
        pl.lit("USD").alias("line_item_currency_code"),
        pl.lit("Amazon Web Services, Inc.").alias("line_item_legal_entity"),
        pl.concat_str(
            pl.lit("$"),
            rate.round(6).cast(pl.String),
            pl.lit(" per "),
            _pick([s[3] for s in _AWS_SERVICES], svc),
            pl.lit(" for "),
            usage_type,
        ).alias("line_item_line_item_description"),
        _money(cost * 0.97).alias("line_item_net_unblended_cost"),
        pl.when(~no_resource)
        .then((rate * 0.97).round(10).cast(pl.String))
        .alias("line_item_net_unblended_rate"),
        pl.when(svc == 0).then(pl.lit(8.0)).alias("line_item_normalization_factor"),
        pl.when(svc == 0).then(pl.col("amount") * 8).alias("line_item_normalized_usage_amount"),
        _pick([s[2] for s in _AWS_SERVICES], svc).alias("line_item_operation"),
        pl.when(kind == "Tax")
        .then(pl.lit("AWS"))
        .when(kind == "Fee")
        .then(pl.lit("AWSSupportBusiness"))
        .otherwise(_pick([s[0] for s in _AWS_SERVICES], svc))
        .alias("line_item_product_code"),
        pl.when(~no_resource).then(_aws_resource_id(pool)).alias("line_item_resource_id"),
        pl.when(kind == "Tax").then(pl.lit("VAT")).alias("line_item_tax_type"),
        _money(cost).alias("line_item_unblended_cost"),
        pl.when(~no_resource)
        .then(rate.round(10).cast(pl.String))
        .alias("line_item_unblended_rate"),
        account.alias("line_item_usage_account_id"),
        pl.concat_str(pl.lit("acme-"), pl.col("account").cast(pl.String)).alias(
            "line_item_usage_account_name"
        ),
        pl.when(~no_resource).then(pl.col("amount")).otherwise(1.0).alias("line_item_usage_amount"),
        (start + pl.duration(hours=1)).alias("line_item_usage_end_date"),
        start.alias("line_item_usage_start_date"),
        usage_type.alias("line_item_usage_type"),
        pl.lit("USD").alias("pricing_currency"),
        pl.when(ri).then(pl.lit("1yr")).alias("pricing_lease_contract_length"),
        pl.when(ri).then(pl.lit("standard")).alias("pricing_offering_class"),
        _money(on_demand).alias("pricing_public_on_demand_cost"),
        rate.round(10).cast(pl.String).alias("pricing_public_on_demand_rate"),
        pl.when(ri)
        .then(pl.lit("Partial Upfront"))
        .otherwise(pl.lit("No Upfront"))
        .alias("pricing_purchase_option"),
        pl.concat_str(
            _hex(svc * 100 + pl.col("region"), 5, 16).str.to_uppercase(),
            pl.lit(".JRTCKXETXF.6YS6EN2CT7"),
        ).alias("pricing_rate_code"),
        pl.col("res").mod(997).cast(pl.String).alias("pricing_rate_id"),
        pl.when(ri | sp)
        .then(pl.lit("Reserved"))
        .otherwise(pl.lit("OnDemand"))
        .alias("pricing_term"),
        _pick([s[3] for s in _AWS_SERVICES], svc).alias("pricing_unit"),
        pl.when(kind == "Fee").then(pl.lit("Support fee")).alias("product_fee_code"),
        region.alias("product_region_code"),
        _pick([r[1] for r in _AWS_REGIONS], pl.col("region")).alias("product_location"),
        pl.lit("AWS Region").alias("product_location_type"),
        _pick([s[5] for s in _AWS_SERVICES], svc).alias("product_product_family"),
        _pick([s[0] for s in _AWS_SERVICES], svc).alias("product_servicecode"),
        _hex(svc * 100 + pl.col("region") + 7, 9, 16).str.to_uppercase().alias("product_sku"),
        pl.when(itype != "").then(itype).alias("product_instance_type"),
        pl.when(itype != "")
        .then(itype.str.split(".").list.first())
        .alias("product_instance_family"),
        usage_type.alias("product_usagetype"),
        _pick([s[2] for s in _AWS_SERVICES], svc).alias("product_operation"),
        pl.when(ri).then(pl.lit(_RI_ARN)).alias("reservation_reservation_a_r_n"),
        pl.when(kind == "DiscountedUsage")
        .then(_money(on_demand * 0.6))
        .alias("reservation_effective_cost"),
        pl.when(kind == "DiscountedUsage")
        .then(_money(on_demand * 0.3))
        .alias("reservation_amortized_upfront_cost_for_usage"),
        pl.when(kind == "DiscountedUsage")
        .then(_money(on_demand * 0.3))
        .alias("reservation_recurring_fee_for_usage"),
        pl.when(kind == "RIFee")
        .then(_money(pl.col("jitter") * 20))
        .alias("reservation_unused_amortized_upfront_fee_for_billing_period"),
        pl.when(kind == "RIFee")
        .then(_money(pl.col("jitter") * 15))
        .alias("reservation_unused_recurring_fee"),
        pl.when(kind == "RIFee").then(pl.lit(12.0)).alias("reservation_unused_quantity"),
        pl.when(ri).then(pl.lit("2026-03-01T00:00:00.000Z")).alias("reservation_start_time"),
        pl.when(ri).then(pl.lit("2027-03-01T00:00:00.000Z")).alias("reservation_end_time"),
        pl.when(sp).then(pl.lit(_SP_ARN)).alias("savings_plan_savings_plan_a_r_n"),
        pl.when(kind == "SavingsPlanCoveredUsage")
        .then(_money(on_demand * 0.62))
        .alias("savings_plan_savings_plan_effective_cost"),
        pl.when(kind == "SavingsPlanCoveredUsage")
        .then((rate * 0.62).round(10))
        .alias("savings_plan_savings_plan_rate"),
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(_money(pl.col("jitter") * 240))
        .alias("savings_plan_total_commitment_to_date"),
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(_money(pl.col("jitter") * 230))
        .alias("savings_plan_used_commitment"),
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(pl.lit(0.0))
        .alias("savings_plan_amortized_upfront_commitment_for_billing_period"),
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(_money(pl.col("jitter") * 240))
        .alias("savings_plan_recurring_commitment_for_billing_period"),
        pl.when(sp).then(pl.lit("ComputeSavingsPlans")).alias("savings_plan_offering_type"),
        pl.when(sp).then(pl.lit("No Upfront")).alias("savings_plan_payment_option"),
        pl.when(sp).then(pl.lit("1yr")).alias("savings_plan_purchase_term"),
        pl.when(sp).then(pl.lit("2026-02-01T00:00:00.000Z")).alias("savings_plan_start_time"),
        pl.when(sp).then(pl.lit("2027-01-31T23:59:59.000Z")).alias("savings_plan_end_time"),
        # for the maps
        pl.col("res"),
        pl.col("account"),
        pl.col("service"),
        pl.col("region"),
        itype,
        no_resource.alias("__no_resource"),
    )


def _pick_f(values: list[float], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values, dtype=pl.Float64)).gather(index)


def _aws_tag_keys(style: str) -> list[str]:
    """Tag keys as CUR 2.0's ``resource_tags`` (``user_cost_center``), legacy CUR CSV headers
    (``user:CostCenter``) or legacy Parquet (``user_cost_center``) spell them; a few keys are
    AWS-generated tags (``aws:createdBy``)."""
    system = {
        "CreatedBy": "aws:createdBy",
        "StackName": "aws:cloudformation:stack-name",
        "AutoScalingGroup": "aws:autoscaling:groupName",
        "Cluster": "eks:cluster-name",
    }
    keys = []
    for display, _, _, _ in TAG_KEYS:
        key = system.get(display, f"user:{display}")
        keys.append(key if style == "csv" else _snake(key.replace(":", "_")).replace("__", "_"))
    return keys


def _product_maps(rows: pl.DataFrame) -> pl.Expr:
    """The ``product`` map's entries: depend on service, region and instance type."""
    svc, itype = pl.col("service"), pl.col("itype")
    values = {
        "product_name": _pick([_PRODUCT_NAMES.get(s[0], s[0]) for s in _AWS_SERVICES], svc),
        "servicename": _pick([_PRODUCT_NAMES.get(s[0], s[0]) for s in _AWS_SERVICES], svc),
        "region": _pick([r[0] for r in _AWS_REGIONS], pl.col("region")),
        "vcpu": pl.when(itype != "").then(itype.str.len_chars().cast(pl.String)),
        "memory": pl.when(itype != "").then(
            pl.concat_str(itype.str.len_chars() * 4, pl.lit(" GiB"))
        ),
        "clock_speed": pl.when(itype != "").then(pl.lit("3.5 GHz")),
        "current_generation": pl.when(itype != "").then(pl.lit("Yes")),
        "ecu": pl.when(itype != "").then(pl.lit("NA")),
        "enhanced_networking_supported": pl.when(itype != "").then(pl.lit("Yes")),
        "instance_family": pl.when(itype != "").then(pl.lit("General purpose")),
        "license_model": pl.when(itype != "").then(pl.lit("No License required")),
        "network_performance": pl.when(itype != "").then(pl.lit("Up to 12500 Megabit")),
        "normalization_size_factor": pl.when(itype != "").then(pl.lit("8")),
        "operating_system": pl.when(itype != "").then(pl.lit("Linux")),
        "physical_processor": pl.when(itype != "").then(pl.lit("Intel Xeon 8375C (Ice Lake)")),
        "pre_installed_sw": pl.when(itype != "").then(pl.lit("NA")),
        "processor_architecture": pl.when(itype != "").then(pl.lit("64-bit")),
        "processor_features": pl.when(itype != "").then(
            pl.lit("Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo")
        ),
        "storage": pl.when(itype != "").then(pl.lit("EBS only")),
        "tenancy": pl.when(itype != "").then(pl.lit("Shared")),
        "capacitystatus": pl.when(itype != "").then(pl.lit("Used")),
        "marketoption": pl.when(itype != "").then(pl.lit("OnDemand")),
        "gpu": pl.when(itype.str.starts_with("g5"))
        .then(pl.lit("1"))
        .when(itype.str.starts_with("p4d"))
        .then(pl.lit("8")),
        "gpu_memory": pl.when(itype.str.starts_with("g5"))
        .then(pl.lit("24 GiB"))
        .when(itype.str.starts_with("p4d"))
        .then(pl.lit("320 GiB")),
    }
    return values


_PRODUCT_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonS3": "Amazon Simple Storage Service",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonSageMaker": "Amazon SageMaker",
    "AmazonBedrock": "Amazon Bedrock",
    "AWSLambda": "AWS Lambda",
    "AmazonCloudWatch": "AmazonCloudWatch",
    "AWSDataTransfer": "AWS Data Transfer",
    "AmazonEKS": "Amazon Elastic Container Service for Kubernetes",
}


def _cost_category(account: pl.Expr) -> dict[str, pl.Expr]:
    return {
        "business_unit": _pick(["research", "platform", "commerce", "data"], account % 4),
        "environment_group": _pick(["production", "non-production"], account % 2),
    }


def _json_object(values: dict[str, pl.Expr]) -> pl.Expr:
    pieces = [pl.concat_str(pl.lit(f'"{k}":"'), v, pl.lit('"')) for k, v in values.items()]
    return pl.concat_str(
        pl.lit("{"), pl.concat_str(pieces, separator=",", ignore_nulls=True), pl.lit("}")
    )


def _entries(values: dict[str, pl.Expr]) -> pl.Expr:
    return pl.concat_list(
        pl.when(v.is_not_null()).then(pl.struct(pl.lit(k).alias("key"), v.alias("value")))
        for k, v in values.items()
    ).list.drop_nulls()


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _cur2_frames(rows: int, seed: int, fmt: str) -> Iterator[pl.DataFrame]:
    pool = aws_resources(rows, seed)
    keys = _aws_tag_keys("cur2")
    tags = tags_json(pool, keys) if fmt == "csv.gz" else tags_entries(pool, keys)
    pool = pool.with_columns(tags.alias("__tags"))
    for number, start, size in _chunks(rows):
        d = draws(seed, number, start, size, pool.height, [p for _, p in _CUR_KINDS])
        frame = _aws_rows(pool, d).join(
            pool.select("res", "__tags"), on="res", how="left", maintain_order="left"
        )
        product = _product_maps(frame)
        category = _cost_category(pl.col("account"))
        discount = {
            "bundled_discount": pl.when(pl.col("line_item_line_item_type") == "EdpDiscount").then(
                pl.col("line_item_unblended_cost").cast(pl.String)
            )
        }
        tag_col = pl.when(~pl.col("__no_resource")).then(pl.col("__tags"))
        if fmt == "csv.gz":
            maps = {
                "product": _json_object(product),
                "cost_category": _json_object(category),
                "discount": _json_object(discount),
                "resource_tags": tag_col.fill_null("{}"),
            }
            times = {c: _iso(c) for c in CUR_TIMES}
        else:
            maps = {
                "product": _entries(product),
                "cost_category": _entries(category),
                "discount": _entries(discount),
                "resource_tags": tag_col.fill_null(pl.lit([], dtype=tags.dtype)),
            }
            times = {
                c: pl.col(c).dt.replace_time_zone(None).dt.cast_time_unit("ms") for c in CUR_TIMES
            }
        present = frame.columns
        yield frame.select(
            (
                maps.get(c)
                if c in maps
                else times.get(c, pl.col(c) if c in present else pl.lit(None, pl.String))
            ).alias(c)
            for c in CUR2_COLUMNS
        )


_MAP_TYPE = pa.map_(pa.string(), pa.string())


def _cur_arrow(frame: pl.DataFrame, numbers: tuple[str, ...]) -> pa.Table:
    """A CUR chunk as the export's Parquet: MAP columns, doubles, naive ms timestamps."""
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in numbers if c in frame.columns)
    table = frame.to_arrow()
    fields, arrays = [], []
    for name in table.column_names:
        column = table.column(name)
        if name in CUR_MAPS:
            column = pa.chunked_array([_to_map(column.combine_chunks())])
        elif pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
            column = column.cast(pa.string())
        fields.append(pa.field(name, column.type))
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _to_map(array: pa.Array) -> pa.MapArray:
    """list<struct<key, value>> (large or not) → map<string, string>."""
    array = array.cast(pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])))
    values = array.values
    return pa.MapArray.from_arrays(array.offsets, values.field("key"), values.field("value"))


def write_cur2(path: Path, rows: int, fmt: str, seed: int = 7) -> None:
    """An AWS Data Exports CUR 2.0 data file of ``rows`` line items."""
    frames = _cur2_frames(rows, seed, fmt)
    if fmt == "csv.gz":
        _write_csv_gz(path, frames)
    else:
        _write_parquet(path, (_cur_arrow(f, CUR_NUMBERS) for f in frames))


# Legacy CUR: the product/* columns a busy account's report carries (its product attributes
# become columns), beside the CUR 2.0 columns that are not maps.
_LEGACY_PRODUCT = [
    "product/ProductName",
    "product/availability",
    "product/availabilityZone",
    "product/capacitystatus",
    "product/classicnetworkingsupport",
    "product/clockSpeed",
    "product/currentGeneration",
    "product/databaseEngine",
    "product/dedicatedEbsThroughput",
    "product/deploymentOption",
    "product/durability",
    "product/ecu",
    "product/engineCode",
    "product/enhancedNetworkingSupported",
    "product/fromLocation",
    "product/fromLocationType",
    "product/gpu",
    "product/gpuMemory",
    "product/group",
    "product/groupDescription",
    "product/instanceFamily",
    "product/instanceType",
    "product/instanceTypeFamily",
    "product/intelAvx2Available",
    "product/intelAvxAvailable",
    "product/intelTurboAvailable",
    "product/licenseModel",
    "product/location",
    "product/locationType",
    "product/marketoption",
    "product/maxIopsvolume",
    "product/maxThroughputvolume",
    "product/maxVolumeSize",
    "product/memory",
    "product/memoryGib",
    "product/networkPerformance",
    "product/normalizationSizeFactor",
    "product/operatingSystem",
    "product/operation",
    "product/physicalProcessor",
    "product/preInstalledSw",
    "product/processorArchitecture",
    "product/processorFeatures",
    "product/productFamily",
    "product/region",
    "product/regionCode",
    "product/servicecode",
    "product/servicename",
    "product/sku",
    "product/storage",
    "product/storageClass",
    "product/storageMedia",
    "product/tenancy",
    "product/toLocation",
    "product/toLocationType",
    "product/usagetype",
    "product/vcpu",
    "product/volumeApiName",
    "product/volumeType",
]
_LEGACY_RENAMED = {"line_item_usage_account_name": None, "bill_payer_account_name": None}


def _legacy_header(name: str) -> str:
    """``line_item_unblended_cost`` → ``lineItem/UnblendedCost``."""
    for prefix, category in (
        ("line_item_", "lineItem"),
        ("bill_", "bill"),
        ("identity_", "identity"),
        ("pricing_", "pricing"),
        ("reservation_", "reservation"),
        ("savings_plan_", "savingsPlan"),
        ("split_line_item_", "splitLineItem"),
        ("discount_", "discount"),
        ("product_", "product"),
    ):
        if name.startswith(prefix):
            rest = name.removeprefix(prefix)
            if category == "reservation" and rest == "reservation_a_r_n":
                return "reservation/ReservationARN"
            if category == "savingsPlan" and rest == "savings_plan_a_r_n":
                return "savingsPlan/SavingsPlanARN"
            return f"{category}/" + "".join(w.capitalize() for w in rest.split("_"))
    raise ValueError(name)


def _cur_legacy_frames(rows: int, seed: int, fmt: str) -> Iterator[pl.DataFrame]:
    pool = aws_resources(rows, seed)
    keys = _aws_tag_keys("csv" if fmt == "csv.gz" else "parquet")
    base = [
        c
        for c in CUR2_COLUMNS
        if c not in CUR_MAPS
        and not c.startswith(("capacity_", "product_"))
        and c not in _LEGACY_RENAMED
    ]
    for number, start, size in _chunks(rows):
        d = draws(seed, number, start, size, pool.height, [p for _, p in _CUR_KINDS])
        frame = _aws_rows(pool, d).join(
            pool.select("res", *[f"t{n}" for n in range(len(TAG_KEYS))]),
            on="res",
            how="left",
            maintain_order="left",
        )
        product = _product_maps(frame)
        product_cols = {}
        for header in _LEGACY_PRODUCT:
            snake = "product_" + _snake(header.removeprefix("product/"))
            source = {
                "product_product_name": product["product_name"],
                "product_vcpu": product["vcpu"],
                "product_memory": product["memory"],
                "product_gpu": product["gpu"],
                "product_gpu_memory": product["gpu_memory"],
                "product_tenancy": product["tenancy"],
                "product_operating_system": product["operating_system"],
                "product_region": product["region"],
                "product_servicename": product["servicename"],
                "product_current_generation": product["current_generation"],
                "product_physical_processor": product["physical_processor"],
            }
            existing = {
                "product_region_code": "product_region_code",
                "product_location": "product_location",
                "product_instance_type": "product_instance_type",
                "product_product_family": "product_product_family",
                "product_servicecode": "product_servicecode",
                "product_sku": "product_sku",
                "product_usagetype": "product_usagetype",
                "product_operation": "product_operation",
                "product_location_type": "product_location_type",
                "product_instance_family": "product_instance_family",
            }
            if snake in existing:
                expr = pl.col(existing[snake])
            else:
                expr = source.get(snake, pl.lit(None, pl.String))
            product_cols[header if fmt == "csv.gz" else snake] = expr
        tag_cols = {
            (f"resourceTags/{k}" if fmt == "csv.gz" else f"resource_tags_{k}"): pl.when(
                ~pl.col("__no_resource")
            ).then(pl.col(f"t{n}"))
            for n, k in enumerate(keys)
        }
        category = {
            (
                "costCategory/BusinessUnit" if fmt == "csv.gz" else "cost_category_business_unit"
            ): _cost_category(pl.col("account"))["business_unit"],
            (
                "costCategory/EnvironmentGroup"
                if fmt == "csv.gz"
                else "cost_category_environment_group"
            ): _cost_category(pl.col("account"))["environment_group"],
        }
        if fmt == "csv.gz":
            main = [
                (
                    _iso(c)
                    if c in CUR_TIMES
                    else pl.col(c)
                    if c in frame.columns
                    else pl.lit(None, pl.String)
                ).alias(_legacy_header(c))
                for c in base
            ]
        else:
            main = [
                (
                    pl.col(c).dt.replace_time_zone(None).dt.cast_time_unit("ms")
                    if c in CUR_TIMES
                    else pl.col(c)
                    if c in frame.columns
                    else pl.lit(None, pl.String)
                ).alias(c)
                for c in base
            ]
        yield frame.select(
            *main,
            *[e.alias(n) for n, e in product_cols.items()],
            *[e.alias(n) for n, e in category.items()],
            *[e.alias(n) for n, e in tag_cols.items()],
        )


def write_cur_legacy(path: Path, rows: int, fmt: str, seed: int = 7) -> None:
    """A legacy AWS Cost and Usage Report data file (one ``resourceTags/user:*`` column per tag)."""
    frames = _cur_legacy_frames(rows, seed, fmt)
    if fmt == "csv.gz":
        _write_csv_gz(path, frames)
    else:
        _write_parquet(path, (_cur_arrow(f, CUR_NUMBERS) for f in frames))


# ---------------------------------------------------------------------------------------------
# Azure cost details (EA schema, 2023+): actual and amortized

AZURE_COLUMNS = [
    "InvoiceSectionName",
    "AccountName",
    "AccountOwnerId",
    "SubscriptionId",
    "SubscriptionName",
    "ResourceGroup",
    "ResourceLocation",
    "Date",
    "ProductName",
    "MeterCategory",
    "MeterSubCategory",
    "MeterId",
    "MeterName",
    "MeterRegion",
    "UnitOfMeasure",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "CostCenter",
    "ConsumedService",
    "ResourceId",
    "Tags",
    "OfferId",
    "AdditionalInfo",
    "ServiceInfo1",
    "ServiceInfo2",
    "ResourceName",
    "ReservationId",
    "ReservationName",
    "UnitPrice",
    "ProductOrderId",
    "ProductOrderName",
    "Term",
    "PublisherType",
    "PublisherName",
    "ChargeType",
    "Frequency",
    "PricingModel",
    "AvailabilityZone",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrencyCode",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "InvoiceSectionId",
    "IsAzureCreditEligible",
    "PartNumber",
    "PayGPrice",
    "PlanName",
    "ServiceFamily",
    "CostAllocationRuleName",
    "benefitId",
    "benefitName",
    "AccountId",
    "ProductId",
    "PublisherId",
    "InvoiceId",
    "PreviousInvoiceId",
    "PricingCurrencyCode",
    "CostInPricingCurrency",
    "CostInUsd",
    "PaygCostInBillingCurrency",
    "PaygCostInUsd",
    "ExchangeRatePricingToBilling",
    "ExchangeRateDate",
    "ResellerName",
    "ResellerMpnId",
    "RoundingAdjustment",
]
_AZ_METERS = [
    (
        "Virtual Machines",
        "Dv5/DSv5 Series",
        "D8s v5",
        "1 Hour",
        0.384,
        "Compute",
        "Microsoft.Compute",
        "virtualMachines",
    ),
    (
        "Virtual Machines",
        "NCads H100 v5 Series",
        "NC40ads H100 v5",
        "1 Hour",
        6.98,
        "Compute",
        "Microsoft.Compute",
        "virtualMachines",
    ),
    (
        "Storage",
        "Premium SSD Managed Disks",
        "P30 LRS Disk",
        "1/Month",
        135.17,
        "Storage",
        "Microsoft.Compute",
        "disks",
    ),
    (
        "Storage",
        "Tiered Block Blob",
        "Hot LRS Data Stored",
        "1 GB/Month",
        0.0184,
        "Storage",
        "Microsoft.Storage",
        "storageAccounts",
    ),
    (
        "Azure OpenAI",
        "gpt 4o",
        "gpt 4o 0513 Input global Tokens",
        "1K",
        0.0025,
        "AI + Machine Learning",
        "Microsoft.CognitiveServices",
        "accounts",
    ),
    (
        "SQL Database",
        "General Purpose - Compute Gen5",
        "vCore",
        "1 Hour",
        0.2529,
        "Databases",
        "Microsoft.Sql",
        "servers",
    ),
    (
        "Bandwidth",
        "Rtn Preference: MGN",
        "Standard Data Transfer Out",
        "1 GB",
        0.087,
        "Networking",
        "Microsoft.Network",
        "publicIPAddresses",
    ),
    (
        "Azure Kubernetes Service",
        "Standard",
        "Standard Uptime SLA",
        "1 Hour",
        0.1,
        "Compute",
        "Microsoft.ContainerService",
        "managedClusters",
    ),
]
_AZ_REGIONS = ["eastus", "westeurope", "northeurope", "uksouth", "westus2", "swedencentral"]
_AZ_SUBS = [
    f"{i:08x}-{(i * 7) % 65536:04x}-4{i % 4096:03x}-9{(i * 3) % 4096:03x}-"
    f"{(i * 104729) % (1 << 48):012x}"
    for i in range(1, 31)
]
_AZ_ACTUAL_KINDS = [
    ("Usage", 0.9),
    ("Usage-RI", 0.05),
    ("Usage-SP", 0.03),
    ("Purchase", 0.004),
    ("Refund", 0.002),
    ("Marketplace", 0.014),
]
_AZ_AMORTIZED_KINDS = [
    ("Usage", 0.9),
    ("Usage-RI", 0.05),
    ("Usage-SP", 0.03),
    ("UnusedReservation", 0.006),
    ("UnusedSavingsPlan", 0.004),
    ("Refund", 0.002),
    ("Marketplace", 0.008),
]


def azure_resources(rows: int, seed: int) -> pl.DataFrame:
    count = resource_count(rows)
    rng = _rng(seed, 3)
    frame = pl.DataFrame(
        {
            "res": pl.int_range(count, eager=True),
            "meter": rng.integers(0, len(_AZ_METERS), count),
            "region": _skewed(rng, len(_AZ_REGIONS), count),
            "sub": _skewed(rng, len(_AZ_SUBS), count),
            "rg": rng.integers(0, 400, count),
            "rate_factor": 0.8 + 0.4 * rng.random(count),
        }
    )
    return pl.concat([frame, tag_values(count, seed)], how="horizontal")


def _azure_frames(rows: int, seed: int, amortized: bool) -> Iterator[pl.DataFrame]:
    pool = azure_resources(rows, seed)
    keys = [display for display, _, _, _ in TAG_KEYS]
    pool = pool.with_columns(tags_json(pool, keys, sep=": ", braces=False).alias("__tags"))
    kinds_table = _AZ_AMORTIZED_KINDS if amortized else _AZ_ACTUAL_KINDS
    kinds = [k for k, _ in kinds_table]
    for number, start, size in _chunks(rows):
        d = draws(seed, number, start, size, pool.height, [p for _, p in kinds_table])
        frame = pl.DataFrame(
            {
                "res": d.resource,
                "hour": d.hour,
                "kind": d.kind,
                "amount": d.amount,
                "jitter": d.jitter,
                "row": d.row,
            }
        ).join(pool, on="res", how="left", maintain_order="left")
        kind = _pick(kinds, pl.col("kind"))
        meter = pl.col("meter")
        field = lambda i: _pick([m[i] for m in _AZ_METERS], pl.col("meter"))  # noqa: E731
        rate = _pick_f([m[4] for m in _AZ_METERS], meter) * pl.col("rate_factor")
        payg = rate * pl.col("amount")
        benefit = kind.is_in(["Usage-RI", "Usage-SP", "UnusedReservation", "UnusedSavingsPlan"])
        cost = (
            pl.when(kind == "Usage")
            .then(payg)
            .when(kind.is_in(["Usage-RI", "Usage-SP"]))
            .then(payg * 0.6 if amortized else pl.lit(0.0))
            .when(kind == "Purchase")
            .then(pl.col("jitter") * 3000)
            .when(kind.is_in(["UnusedReservation", "UnusedSavingsPlan"]))
            .then(pl.col("jitter") * 40)
            .when(kind == "Refund")
            .then(-pl.col("jitter") * 120)
            .otherwise(pl.col("jitter") * 25)
        ).round(10)
        charge_type = (
            pl.when(kind.str.starts_with("Usage"))
            .then(pl.lit("Usage"))
            .when(kind == "UnusedReservation")
            .then(pl.lit("UnusedReservation"))
            .when(kind == "UnusedSavingsPlan")
            .then(pl.lit("UnusedSavingsPlan"))
            .when(kind == "Marketplace")
            .then(pl.lit("Usage"))
            .otherwise(kind)
        )
        model = (
            pl.when(kind.is_in(["Usage-RI", "UnusedReservation", "Purchase"]))
            .then(pl.lit("Reservation"))
            .when(kind.is_in(["Usage-SP", "UnusedSavingsPlan"]))
            .then(pl.lit("SavingsPlan"))
            .otherwise(pl.lit("OnDemand"))
        )
        sub = _pick(_AZ_SUBS, pl.col("sub"))
        rg = pl.concat_str(
            pl.lit("rg-"),
            pl.col("t1").fill_null("shared"),
            pl.lit("-"),
            pl.col("rg").cast(pl.String),
        )
        name = pl.concat_str(pl.col("t0").fill_null("res"), pl.lit("-"), _hex(pl.col("res"), 21, 8))
        resource_id = pl.concat_str(
            pl.lit("/subscriptions/"),
            sub,
            pl.lit("/resourceGroups/"),
            rg,
            pl.lit("/providers/"),
            field(6),
            pl.lit("/"),
            field(7),
            pl.lit("/"),
            name,
        )
        no_resource = kind.is_in(["Purchase", "Refund", "UnusedReservation", "UnusedSavingsPlan"])
        day = (pl.lit(PERIOD_START) + pl.duration(hours=pl.col("hour"))).dt.strftime("%m/%d/%Y")
        ri_id = pl.lit("5b8e8a6f-2f3a-4c1e-9d7b-0e1f2a3b4c5d")
        values = {
            "InvoiceSectionName": pl.lit("Research"),
            "AccountName": pl.concat_str(pl.lit("acme-ea-"), (pl.col("sub") % 5).cast(pl.String)),
            "AccountOwnerId": pl.lit("finops@acme-ai.example"),
            "SubscriptionId": sub,
            "SubscriptionName": pl.concat_str(pl.lit("acme-sub-"), pl.col("sub").cast(pl.String)),
            "ResourceGroup": pl.when(~no_resource).then(rg),
            "ResourceLocation": _pick(_AZ_REGIONS, pl.col("region")),
            "Date": day,
            "ProductName": pl.concat_str(field(0), pl.lit(" "), field(1), pl.lit(" - "), field(2)),
            "MeterCategory": field(0),
            "MeterSubCategory": field(1),
            "MeterId": _hex(meter * 10 + pl.col("region"), 31, 32),
            "MeterName": field(2),
            "MeterRegion": _pick(_AZ_REGIONS, pl.col("region")),
            "UnitOfMeasure": field(3),
            "Quantity": pl.col("amount"),
            "EffectivePrice": pl.when(benefit)
            .then((rate * 0.6).round(10))
            .otherwise(rate.round(10)),
            "CostInBillingCurrency": cost,
            "CostCenter": pl.col("t3"),
            "ConsumedService": field(6),
            "ResourceId": pl.when(~no_resource)
            .then(resource_id)
            .when(kind.str.starts_with("Unused") | (kind == "Purchase"))
            .then(pl.concat_str(pl.lit("/providers/Microsoft.Capacity/reservationOrders/"), ri_id)),
            "Tags": pl.when(~no_resource).then(pl.col("__tags")),
            "OfferId": pl.lit("MS-AZR-0017P"),
            "AdditionalInfo": pl.when(field(0) == "Virtual Machines").then(
                pl.concat_str(
                    pl.lit('{"ServiceType":"Standard_'),
                    field(2).str.replace_all(" ", "_"),
                    pl.lit('","VCPUs":8,"UsageType":"ComputeHR"}'),
                )
            ),
            "ServiceInfo1": pl.lit(None, pl.String),
            "ServiceInfo2": pl.lit(None, pl.String),
            "ResourceName": pl.when(~no_resource).then(name),
            "ReservationId": pl.when(model == "Reservation").then(ri_id),
            "ReservationName": pl.when(model == "Reservation").then(pl.lit("VM_RI_2026-03_D8sv5")),
            "UnitPrice": rate.round(10),
            "ProductOrderId": pl.when(model != "OnDemand").then(ri_id),
            "ProductOrderName": pl.when(model != "OnDemand").then(
                pl.lit("Reserved VM Instance, Standard_D8s_v5, East US, 1 Year")
            ),
            "Term": pl.when(model != "OnDemand").then(pl.lit("12")),
            "PublisherType": pl.when(kind == "Marketplace")
            .then(pl.lit("Marketplace"))
            .otherwise(pl.lit("Azure")),
            "PublisherName": pl.when(kind == "Marketplace")
            .then(pl.lit("databricks"))
            .otherwise(pl.lit("Microsoft")),
            "ChargeType": charge_type,
            "Frequency": pl.when(kind == "Purchase")
            .then(pl.lit("OneTime"))
            .otherwise(pl.lit("UsageBased")),
            "PricingModel": model,
            "AvailabilityZone": pl.lit(None, pl.String),
            "BillingAccountId": pl.lit("8611537"),
            "BillingAccountName": pl.lit("Acme AI EA"),
            "BillingCurrencyCode": pl.lit("EUR"),
            "BillingPeriodStartDate": pl.lit("10/01/2026"),
            "BillingPeriodEndDate": pl.lit("10/31/2026"),
            "BillingProfileId": pl.lit("8611537"),
            "BillingProfileName": pl.lit("Acme AI EA"),
            "InvoiceSectionId": pl.lit("42"),
            "IsAzureCreditEligible": pl.lit("True"),
            "PartNumber": pl.concat_str(pl.lit("AAD-"), (meter * 1000 + 7).cast(pl.String)),
            "PayGPrice": rate.round(10),
            "PlanName": pl.when(kind == "Marketplace").then(pl.lit("premium")),
            "ServiceFamily": field(5),
            "CostAllocationRuleName": pl.lit(None, pl.String),
            "benefitId": pl.when(model == "SavingsPlan").then(
                pl.lit(
                    "/providers/Microsoft.BillingBenefits/savingsPlanOrders/1a2b/savingsPlans/3c4d"
                )
            ),
            "benefitName": pl.when(model == "SavingsPlan").then(pl.lit("compute-sp-2026")),
            "AccountId": pl.concat_str(pl.lit("1234"), (pl.col("sub") % 5).cast(pl.String)),
            "ProductId": _hex(meter, 41, 12).str.to_uppercase(),
            "PublisherId": pl.lit(None, pl.String),
            "InvoiceId": pl.lit("G012345678"),
            "PreviousInvoiceId": pl.when(kind == "Refund").then(pl.lit("G011111111")),
            "PricingCurrencyCode": pl.lit("USD"),
            "CostInPricingCurrency": (cost * 1.08).round(10),
            "CostInUsd": (cost * 1.08).round(10),
            "PaygCostInBillingCurrency": payg.round(10),
            "PaygCostInUsd": (payg * 1.08).round(10),
            "ExchangeRatePricingToBilling": pl.lit(0.9259259259),
            "ExchangeRateDate": pl.lit("10/01/2026"),
            "ResellerName": pl.lit(None, pl.String),
            "ResellerMpnId": pl.lit(None, pl.String),
            "RoundingAdjustment": pl.lit(None, pl.String),
        }
        yield frame.select(values[c].alias(c) for c in AZURE_COLUMNS)


def write_azure(path: Path, rows: int, fmt: str, amortized: bool, seed: int = 7) -> None:
    """An Azure cost details export (EA), actual or amortized, as CSV.gz (with BOM) or Parquet."""
    frames = _azure_frames(rows, seed, amortized)
    if fmt == "csv.gz":
        _write_csv_gz(path, frames, bom=True)
    else:
        _write_parquet(path, (f.to_arrow().cast(_plain_schema(f)) for f in frames))


def _plain_schema(frame: pl.DataFrame) -> pa.Schema:
    fields = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String or dtype == pl.Null:
            fields.append(pa.field(name, pa.string()))
        else:
            fields.append(pa.field(name, pl.Series(dtype=dtype).to_arrow().type))
    return pa.schema(fields)


# ---------------------------------------------------------------------------------------------
# GCP detailed billing export

_GCP_SKUS = [
    (
        "6F81-5844-456A",
        "Compute Engine",
        "9E2C-7B3D-41AA",
        "Nvidia H100 80GB GPU running in Americas",
        "seconds",
        "hour",
        3600.0,
        11.06,
    ),
    (
        "6F81-5844-456A",
        "Compute Engine",
        "CF4E-A0C7-E3BF",
        "N2 Instance Core running in Americas",
        "seconds",
        "hour",
        3600.0,
        0.0316,
    ),
    (
        "6F81-5844-456A",
        "Compute Engine",
        "F449-33EC-A5EF",
        "N2 Instance Ram running in Americas",
        "byte-seconds",
        "gibibyte hour",
        3600.0 * 2**30,
        0.0042,
    ),
    (
        "95FF-2EF5-5EA1",
        "Cloud Storage",
        "E5F0-6A5F-7A4C",
        "Standard Storage US Multi-region",
        "byte-seconds",
        "gibibyte month",
        2.6784e15,
        0.026,
    ),
    (
        "C7E2-9256-1C43",
        "Vertex AI",
        "A1B2-C3D4-E5F6",
        "Gemini 2.5 Pro Text Input (<=200k)",
        "count",
        "count",
        1.0,
        0.00000125,
    ),
    (
        "24E6-581D-38E5",
        "BigQuery",
        "3362-E469-6BEF",
        "Analysis",
        "bytes",
        "tebibyte",
        2.0**40,
        6.25,
    ),
    (
        "9662-B51E-5089",
        "Cloud SQL",
        "D973-5D65-BAB2",
        "DB custom CORE running in Americas",
        "seconds",
        "hour",
        3600.0,
        0.0413,
    ),
    (
        "CCD8-9BF1-090E",
        "Kubernetes Engine",
        "B561-BA04-A2D0",
        "Regional Kubernetes Clusters",
        "seconds",
        "hour",
        3600.0,
        0.1,
    ),
]
_GCP_REGIONS = [
    ("us-central1", "US"),
    ("europe-west4", "NL"),
    ("us-east4", "US"),
    ("asia-northeast1", "JP"),
]
_GCP_KINDS = [
    ("regular", 0.965),
    ("regular-cud", 0.02),
    ("regular-promo", 0.006),
    ("tax", 0.006),
    ("adjustment", 0.002),
    ("rounding_error", 0.001),
]


def gcp_resources(rows: int, seed: int) -> pl.DataFrame:
    count = resource_count(rows)
    rng = _rng(seed, 4)
    frame = pl.DataFrame(
        {
            "res": pl.int_range(count, eager=True),
            "sku": rng.integers(0, len(_GCP_SKUS), count),
            "region": _skewed(rng, len(_GCP_REGIONS), count),
            "project": _skewed(rng, 60, count),
            "rate_factor": 0.9 + 0.2 * rng.random(count),
        }
    )
    return pl.concat([frame, tag_values(count, seed)], how="horizontal")


def _gcp_frames(rows: int, seed: int) -> Iterator[pl.DataFrame]:
    pool = gcp_resources(rows, seed)
    labels = tags_entries(pool, [label for _, label, _, _ in TAG_KEYS])
    pool = pool.with_columns(labels.alias("__labels"))
    kinds = [k for k, _ in _GCP_KINDS]
    entry = pl.Struct({"key": pl.String, "value": pl.String})
    credit_type = pl.Struct(
        {
            "name": pl.String,
            "amount": pl.Float64,
            "full_name": pl.String,
            "id": pl.String,
            "type": pl.String,
        }
    )
    for number, start, size in _chunks(rows):
        d = draws(seed, number, start, size, pool.height, [p for _, p in _GCP_KINDS])
        frame = pl.DataFrame(
            {
                "res": d.resource,
                "hour": d.hour,
                "kind": d.kind,
                "amount": d.amount,
                "jitter": d.jitter,
                "row": d.row,
            }
        ).join(pool, on="res", how="left", maintain_order="left")
        kind = _pick(kinds, pl.col("kind"))
        sku = pl.col("sku")
        field = lambda i: _pick([s[i] for s in _GCP_SKUS], pl.col("sku"))  # noqa: E731
        per_unit = _pick_f([s[6] for s in _GCP_SKUS], sku)
        price = _pick_f([s[7] for s in _GCP_SKUS], sku) * pl.col("rate_factor")
        pricing_amount = pl.col("amount")
        cost = (
            pl.when(kind.str.starts_with("regular"))
            .then(pricing_amount * price)
            .when(kind == "tax")
            .then(pl.col("jitter") * 12)
            .when(kind == "adjustment")
            .then(-pl.col("jitter") * 9)
            .otherwise(pl.col("jitter") * 0.000001)
        ).round(6)
        start_time = pl.lit(PERIOD_START) + pl.duration(hours=pl.col("hour"))
        region, country = (
            _pick([r[0] for r in _GCP_REGIONS], pl.col("region")),
            _pick([r[1] for r in _GCP_REGIONS], pl.col("region")),
        )
        project_id = pl.concat_str(
            pl.lit("acme-"),
            pl.col("t1").fill_null("core"),
            pl.lit("-"),
            pl.col("project").cast(pl.String),
        )
        project_number = (pl.col("project") * 7919 + 100000000000).cast(pl.String)
        credit = pl.struct(
            pl.when(kind == "regular-cud")
            .then(pl.lit("Committed use discount: GPU"))
            .otherwise(pl.lit("Free trial"))
            .alias("name"),
            (-(cost * pl.when(kind == "regular-cud").then(0.37).otherwise(1.0)))
            .round(6)
            .alias("amount"),
            pl.when(kind == "regular-cud")
            .then(pl.lit("Committed use discount: GPU"))
            .otherwise(pl.lit("Free trial credit"))
            .alias("full_name"),
            pl.when(kind == "regular-cud")
            .then(pl.lit("CommittedUsageDiscount:GPU"))
            .otherwise(pl.lit("c-0042"))
            .alias("id"),
            pl.when(kind == "regular-cud")
            .then(pl.lit("COMMITTED_USAGE_DISCOUNT"))
            .otherwise(pl.lit("PROMOTION"))
            .alias("type"),
        )
        labels = (
            pl.when(kind.str.starts_with("regular"))
            .then(pl.col("__labels"))
            .otherwise(pl.lit([], dtype=pl.List(entry)))
        )
        resource_name = pl.concat_str(
            pl.col("t0").fill_null("vm"), pl.lit("-"), _hex(pl.col("res"), 51, 6)
        )
        ts = "%Y-%m-%d %H:%M:%S UTC"
        yield frame.select(
            pl.lit("01A2B3-C4D5E6-F7A8B9").alias("billing_account_id"),
            pl.struct(field(0).alias("id"), field(1).alias("description")).alias("service"),
            pl.struct(field(2).alias("id"), field(3).alias("description")).alias("sku"),
            start_time.dt.strftime(ts).alias("usage_start_time"),
            (start_time + pl.duration(hours=1)).dt.strftime(ts).alias("usage_end_time"),
            pl.struct(
                project_id.alias("id"),
                project_number.alias("number"),
                pl.concat_str(pl.lit("Acme "), project_id).alias("name"),
                pl.concat_list(
                    pl.struct(
                        pl.lit("cost-center").alias("key"),
                        pl.col("t3").fill_null("cc-0").alias("value"),
                    )
                ).alias("labels"),
                pl.concat_str(
                    pl.lit("/517265397265/"),
                    (pl.col("project") % 6 + 700000000000).cast(pl.String),
                    pl.lit("/"),
                    project_number,
                    pl.lit("/"),
                ).alias("ancestry_numbers"),
            ).alias("project"),
            labels.alias("labels"),
            pl.when(sku == 0)
            .then(
                pl.concat_list(
                    pl.struct(
                        pl.lit("compute.googleapis.com/machine_spec").alias("key"),
                        pl.lit("a3-highgpu-8g").alias("value"),
                    ),
                    pl.struct(
                        pl.lit("compute.googleapis.com/cores").alias("key"),
                        pl.lit("208").alias("value"),
                    ),
                )
            )
            .otherwise(pl.lit([], dtype=pl.List(entry)))
            .alias("system_labels"),
            pl.struct(
                region.alias("location"),
                country.alias("country"),
                region.alias("region"),
                pl.concat_str(region, pl.lit("-a")).alias("zone"),
            ).alias("location"),
            pl.struct(
                pl.when(kind.str.starts_with("regular")).then(resource_name).alias("name"),
                pl.when(kind.str.starts_with("regular"))
                .then(
                    pl.concat_str(
                        pl.lit("//compute.googleapis.com/projects/"),
                        project_id,
                        pl.lit("/zones/"),
                        region,
                        pl.lit("-a/instances/"),
                        pl.col("res").hash(5).cast(pl.String),
                    )
                )
                .alias("global_name"),
            ).alias("resource"),
            (start_time + pl.duration(hours=4, minutes=12))
            .dt.strftime("%Y-%m-%d %H:%M:%S.%3f UTC")
            .alias("export_time"),
            cost.alias("cost"),
            pl.lit("USD").alias("currency"),
            pl.lit(1.0).alias("currency_conversion_rate"),
            pl.struct(
                (pricing_amount * per_unit).alias("amount"),
                field(4).alias("unit"),
                pricing_amount.alias("amount_in_pricing_units"),
                field(5).alias("pricing_unit"),
            ).alias("usage"),
            pl.when(kind.is_in(["regular-cud", "regular-promo"]))
            .then(pl.concat_list(credit))
            .otherwise(pl.lit([], dtype=pl.List(credit_type)))
            .alias("credits"),
            pl.struct(pl.lit("202610").alias("month")).alias("invoice"),
            pl.when(kind.str.starts_with("regular"))
            .then(pl.lit("regular"))
            .otherwise(kind)
            .alias("cost_type"),
            (cost * 1.1).round(6).alias("cost_at_list"),
            pl.struct(
                price.round(9).cast(pl.String).alias("effective_price"),
                pl.lit("0").alias("tier_start_amount"),
                field(5).alias("unit"),
                pl.lit("1").alias("pricing_unit_quantity"),
            ).alias("price"),
        )


def write_gcp(path: Path, rows: int, fmt: str, seed: int = 7) -> None:
    """A GCP detailed billing export: JSON lines (as BigQuery's JSON export) or Parquet."""
    frames = _gcp_frames(rows, seed)
    if fmt == "ndjson":
        _write_ndjson(path, frames)
    else:
        _write_parquet(path, (_as_bigquery_parquet(f).to_arrow() for f in frames))


def _as_bigquery_parquet(chunk: pl.DataFrame) -> pl.DataFrame:
    """TIMESTAMP as timestamp[us, UTC], NUMERIC as decimal(38, 9), as BigQuery writes Parquet."""
    numeric = pl.Decimal(38, 9)
    price = pl.Struct(
        {
            "effective_price": numeric,
            "tier_start_amount": numeric,
            "unit": pl.String,
            "pricing_unit_quantity": numeric,
        }
    )
    timestamp = pl.Datetime("us", "UTC")
    return chunk.with_columns(
        pl.col("usage_start_time", "usage_end_time", "export_time").str.strptime(
            timestamp, "%Y-%m-%d %H:%M:%S%.f UTC"
        ),
        pl.col("price").cast(price),
    )


# ---------------------------------------------------------------------------------------------
# OCI cost report

_OCI_SKUS = [
    ("COMPUTE", "B93113", "Compute - Standard - E4 - OCPU", "OCPU Per Hour", 0.025),
    ("COMPUTE", "B93114", "Compute - Standard - E4 - Memory", "Gigabyte Per Hour", 0.0015),
    ("COMPUTE", "B98415", "Compute - GPU - H100", "GPU Per Hour", 10.0),
    (
        "BLOCK_STORAGE",
        "B91961",
        "Storage - Block Volume - Storage",
        "Gigabyte Storage Capacity Per Month",
        0.0255,
    ),
    (
        "OBJECTSTORE",
        "B91628",
        "Object Storage - Storage",
        "Gigabyte Storage Capacity Per Month",
        0.0255,
    ),
    ("DATABASE", "B92911", "Oracle Autonomous Database - OCPU", "OCPU Per Hour", 0.1344),
    ("GENERATIVE_AI", "B108077", "OCI Generative AI - Large Cohere", "10,000 Transactions", 0.0219),
    ("NETWORK", "B88327", "Networking - Load Balancer", "Load Balancer Hour", 0.0113),
]
_OCI_REGIONS = [
    ("us-ashburn-1", "iad"),
    ("eu-frankfurt-1", "fra"),
    ("uk-london-1", "lhr"),
    ("ap-tokyo-1", "nrt"),
]
_TENANCY = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"
_OCI_KINDS = [("usage", 0.985), ("correction", 0.01), ("credit", 0.005)]


def oci_resources(rows: int, seed: int) -> pl.DataFrame:
    count = resource_count(rows)
    rng = _rng(seed, 5)
    frame = pl.DataFrame(
        {
            "res": pl.int_range(count, eager=True),
            "sku": rng.integers(0, len(_OCI_SKUS), count),
            "region": _skewed(rng, len(_OCI_REGIONS), count),
            "compartment": _skewed(rng, 80, count),
            "rate_factor": 0.9 + 0.2 * rng.random(count),
        }
    )
    return pl.concat([frame, tag_values(count, seed)], how="horizontal")


def _oci_tag_headers() -> list[str]:
    """``tags/<namespace>.<key>``: cost tracking keys in one namespace, the rest in others."""
    namespaces = {
        "Project": "CostTracking",
        "CostCenter": "CostTracking",
        "Environment": "CostTracking",
        "workload_type": "CostTracking",
        "model": "CostTracking",
        "Team": "CostTracking",
        "CreatedBy": "Oracle-Tags",
        "CreatedAt": "Oracle-Tags",
    }
    return [f"tags/{namespaces.get(d, 'Operations')}.{d}" for d, _, _, _ in TAG_KEYS]


def _oci_frames(rows: int, seed: int) -> Iterator[pl.DataFrame]:
    pool = oci_resources(rows, seed)
    kinds = [k for k, _ in _OCI_KINDS]
    headers = _oci_tag_headers()
    for number, start, size in _chunks(rows):
        d = draws(seed, number, start, size, pool.height, [p for _, p in _OCI_KINDS])
        frame = pl.DataFrame(
            {
                "res": d.resource,
                "hour": d.hour,
                "kind": d.kind,
                "amount": d.amount,
                "jitter": d.jitter,
                "row": d.row,
            }
        ).join(pool, on="res", how="left", maintain_order="left")
        kind = _pick(kinds, pl.col("kind"))
        sku = pl.col("sku")
        field = lambda i: _pick([s[i] for s in _OCI_SKUS], pl.col("sku"))  # noqa: E731
        price = _pick_f([s[4] for s in _OCI_SKUS], sku) * pl.col("rate_factor")
        cost = (
            pl.when(kind == "usage")
            .then(price * pl.col("amount"))
            .when(kind == "correction")
            .then(-price * pl.col("amount") * 0.5)
            .otherwise(-pl.col("jitter") * 5)
        ).round(12)
        start_time = pl.lit(PERIOD_START) + pl.duration(hours=pl.col("hour"))
        region, short = (
            _pick([r[0] for r in _OCI_REGIONS], pl.col("region")),
            _pick([r[1] for r in _OCI_REGIONS], pl.col("region")),
        )
        compartment = pl.concat_str(
            pl.lit("ocid1.compartment.oc1..aaaaaaaa"), _hex(pl.col("compartment"), 61, 52)
        )
        resource = pl.concat_str(
            pl.lit("ocid1."),
            field(0).str.to_lowercase().str.replace("_", ""),
            pl.lit(".oc1."),
            short,
            pl.lit(".anuwcljr"),
            _hex(pl.col("res"), 71, 52),
        )
        values = {
            "lineItem/referenceNo": _hex(pl.col("row"), 81, 32),
            "lineItem/tenantId": pl.lit(_TENANCY),
            "lineItem/intervalUsageStart": start_time.dt.strftime("%Y-%m-%dT%H:%MZ"),
            "lineItem/intervalUsageEnd": (start_time + pl.duration(hours=1)).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "product/service": field(0),
            "product/compartmentId": compartment,
            "product/compartmentName": pl.concat_str(
                pl.lit("compartment-"), pl.col("compartment").cast(pl.String)
            ),
            "product/region": region,
            "product/availabilityDomain": pl.concat_str(short, pl.lit("-ad-1")),
            "product/resourceId": resource,
            "usage/billedQuantity": pl.col("amount"),
            "usage/billedQuantityOverage": pl.lit(None, pl.Float64),
            "cost/subscriptionId": pl.lit(
                "ocid1.organizationssubscription.oc1.iad.amaaaaaa33abj3qa7lv6zso4gq45je75qdvql5fmgrmzlic6nbtm33hlbt5q"
            ),
            "cost/productSku": field(1),
            "product/Description": field(2),
            "cost/unitPrice": price.round(12),
            "cost/unitPriceOverage": pl.lit(None, pl.Float64),
            "cost/myCost": cost,
            "cost/myCostOverage": pl.lit(None, pl.Float64),
            "cost/currencyCode": pl.lit("USD"),
            "cost/billingUnitReadable": field(3),
            "cost/skuUnitDescription": field(3),
            "cost/overageFlag": pl.lit("false"),
            "lineItem/isCorrection": (kind == "correction").cast(pl.String),
            "lineItem/backreferenceNo": pl.when(kind == "correction").then(
                _hex(pl.col("row") - 1, 81, 32)
            ),
        }
        tags = {h: pl.col(f"t{n}") for n, h in enumerate(headers)}
        yield frame.select([e.alias(n) for n, e in (values | tags).items()])


def write_oci(path: Path, rows: int, fmt: str, seed: int = 7) -> None:
    """An OCI cost report (``reports/cost-csv``), CSV.gz: OCI delivers no other form."""
    if fmt != "csv.gz":
        raise ValueError("OCI cost reports are CSV.gz only")
    _write_csv_gz(path, _oci_frames(rows, seed))


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """One benchmark input: a provider's export form, its dataset and how to write it."""

    name: str  # cur2 | cur_legacy | azure_actual | azure_amortized | gcp | oci
    provider: str
    dataset: str  # x_SourceDataset
    formats: tuple[str, ...]
    billing_period: str
    write: Callable[[Path, int, str], None]

    def file_name(self, rows: int, fmt: str) -> str:
        extension = {"csv.gz": "csv.gz", "ndjson": "jsonl", "parquet": "parquet"}[fmt]
        return f"{self.name}-{rows}.{extension}"


EXPORTS = (
    Export("cur2", "aws", "aws_cur2", ("csv.gz", "parquet"), "2026-10", write_cur2),
    Export(
        "cur_legacy", "aws", "aws_cur_legacy", ("csv.gz", "parquet"), "2026-10", write_cur_legacy
    ),
    Export(
        "azure_actual",
        "azure",
        "azure_actual",
        ("csv.gz", "parquet"),
        "2026-10",
        lambda p, r, f: write_azure(p, r, f, amortized=False),
    ),
    Export(
        "azure_amortized",
        "azure",
        "azure_amortized",
        ("csv.gz", "parquet"),
        "2026-10",
        lambda p, r, f: write_azure(p, r, f, amortized=True),
    ),
    Export(
        "gcp", "gcp", "gcp_billing_export_detailed", ("ndjson", "parquet"), "2026-10", write_gcp
    ),
    Export("oci", "oci", "oci_cost", ("csv.gz",), "2026-10", write_oci),
)
