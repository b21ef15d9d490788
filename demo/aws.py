"""Deterministic AWS CUR 2.0 (Data Exports) deliveries, laid out exactly as AWS writes the bucket.

Two generators share one column contract (``CUR2_COLUMNS``) and one layout:

* ``write_demo_aws_export`` writes the project's demo data: a small AI company's bill (GPU
  instances on a Savings Plan, a Reserved Instance, S3, data transfer, Bedrock tokens, support,
  tax, a credit and a refund) whose rows follow AWS's line-item semantics closely enough that
  amortisation, tag cleaning and invoice reconciliation can be checked by hand.
* ``write_synthetic_cur2_export`` writes millions of plausible mixed rows for the benchmark,
  generated vectorised and chunk by chunk so memory stays bounded.

Layout under ``<root>/<prefix>/<export>/`` (``root`` stands for the bucket)::

    data/BILLING_PERIOD=YYYY-MM/<executionId>/<export>-00001.csv.gz   (… -0000N)
    metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json            (names the files above)

The newest demo period also keeps a stale, superseded execution folder that no manifest names,
as AWS leaves them behind with the "create new" delivery option: readers must follow the
manifest, never list the data folder.

Everything is a pure function of the arguments: gzip headers carry no name and mtime 0,
randomness comes from seeded generators and execution ids are uuid5 of seed and period, so
two runs write byte-identical files. Nothing here touches the network or Dagster.

Format choices that the AWS documentation does not pin down (flagged so a real file can
overrule them): map columns are JSON object text in CSV (``{}`` for an empty tag map, empty
for an absent ``discount``); rates and reservation / Savings Plan start and end times are
strings, as in the CUR 2.0 table dictionary; Parquet timestamps are naive millisecond UTC.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from demo.ai import support_bot_tokens

__all__ = [
    "CUR2_ARROW_SCHEMA",
    "CUR2_COLUMNS",
    "CUR2_COLUMN_NAMES",
    "DEMO_TODAY",
    "demo_rows",
    "write_demo_aws_export",
    "write_synthetic_cur2_export",
]

# The demo's "now": November 2026 is month-to-date through 2026-11-25, October is closed.
DEMO_TODAY = date(2026, 11, 26)

# (name, manifest type) in file order: the subset of the fixed CUR 2.0 schema costlake reads.
CUR2_COLUMNS: list[tuple[str, str]] = [
    ("identity_line_item_id", "string"),
    ("identity_time_interval", "string"),
    ("bill_invoice_id", "string"),
    ("bill_invoicing_entity", "string"),
    ("bill_billing_entity", "string"),
    ("bill_bill_type", "string"),
    ("bill_payer_account_id", "string"),
    ("bill_payer_account_name", "string"),
    ("bill_billing_period_start_date", "timestamp"),
    ("bill_billing_period_end_date", "timestamp"),
    ("line_item_usage_account_id", "string"),
    ("line_item_usage_account_name", "string"),
    ("line_item_line_item_type", "string"),
    ("line_item_usage_start_date", "timestamp"),
    ("line_item_usage_end_date", "timestamp"),
    ("line_item_product_code", "string"),
    ("line_item_usage_type", "string"),
    ("line_item_operation", "string"),
    ("line_item_availability_zone", "string"),
    ("line_item_resource_id", "string"),
    ("line_item_usage_amount", "double"),
    ("line_item_normalization_factor", "double"),
    ("line_item_normalized_usage_amount", "double"),
    ("line_item_currency_code", "string"),
    ("line_item_unblended_rate", "string"),
    ("line_item_unblended_cost", "double"),
    ("line_item_blended_rate", "string"),
    ("line_item_blended_cost", "double"),
    ("line_item_line_item_description", "string"),
    ("line_item_tax_type", "string"),
    ("line_item_legal_entity", "string"),
    ("product", "map<string,string>"),
    ("product_servicecode", "string"),
    ("product_product_family", "string"),
    ("product_instance_type", "string"),
    ("product_region_code", "string"),
    ("product_location", "string"),
    ("product_sku", "string"),
    ("pricing_currency", "string"),
    ("pricing_public_on_demand_cost", "double"),
    ("pricing_public_on_demand_rate", "string"),
    ("pricing_term", "string"),
    ("pricing_unit", "string"),
    ("pricing_purchase_option", "string"),
    ("reservation_reservation_a_r_n", "string"),
    ("reservation_effective_cost", "double"),
    ("reservation_amortized_upfront_cost_for_usage", "double"),
    ("reservation_recurring_fee_for_usage", "double"),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", "double"),
    ("reservation_unused_recurring_fee", "double"),
    ("reservation_unused_quantity", "double"),
    ("reservation_start_time", "string"),
    ("reservation_end_time", "string"),
    ("savings_plan_savings_plan_a_r_n", "string"),
    ("savings_plan_savings_plan_effective_cost", "double"),
    ("savings_plan_savings_plan_rate", "double"),
    ("savings_plan_total_commitment_to_date", "double"),
    ("savings_plan_used_commitment", "double"),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", "double"),
    ("savings_plan_recurring_commitment_for_billing_period", "double"),
    ("savings_plan_offering_type", "string"),
    ("savings_plan_start_time", "string"),
    ("savings_plan_end_time", "string"),
    ("resource_tags", "map<string,string>"),
    ("cost_category", "map<string,string>"),
    ("discount", "map<string,string>"),
]
CUR2_COLUMN_NAMES: list[str] = [name for name, _ in CUR2_COLUMNS]
_MAP_COLUMNS = [name for name, kind in CUR2_COLUMNS if kind.startswith("map")]

# ---------------------------------------------------------------------------------------------
# Shared helpers: periods, layout, manifest, number and time formats.
# ---------------------------------------------------------------------------------------------

_TEN_PLACES = Decimal("1e-10")
_CENT = Decimal("0.01")
_ID_NAMESPACE = uuid.UUID("5b0c7c1e-3f2a-4c55-9d7e-6c0f5f1a2b3c")
_PAYER_ID = "111122223333"
_PAYER_NAME = "Acme AI"
_AWS_INC = "Amazon Web Services, Inc."
_US_EAST_1 = ("us-east-1", "US East (N. Virginia)", "USE1")
_US_WEST_2 = ("us-west-2", "US West (Oregon)", "USW2")


@dataclass(frozen=True)
class _Period:
    """One billing period and how much of it a delivery made on ``DEMO_TODAY`` covers."""

    label: str  # YYYY-MM
    start: date
    end: date  # first day of the next month: AWS's exclusive period end
    through: date  # last usage day in the delivery (inclusive)

    @property
    def closed(self) -> bool:
        return self.through == self.end - timedelta(days=1)

    @property
    def days_in_month(self) -> int:
        return (self.end - self.start).days

    def days(self, through: date | None = None) -> list[date]:
        last = through or self.through
        return [self.start + timedelta(days=i) for i in range((last - self.start).days + 1)]


def _period(label: str, today: date = DEMO_TODAY) -> _Period:
    try:
        year, month = (int(part) for part in label.split("-"))
        start = date(year, month, 1)
    except ValueError as exc:
        raise ValueError(f"billing period {label!r} is not YYYY-MM") from exc
    end = date(year + month // 12, month % 12 + 1, 1)
    if start >= today:
        raise ValueError(f"billing period {label} has not started on {today.isoformat()}")
    through = min(end, today) - timedelta(days=1)
    return _Period(f"{year:04d}-{month:02d}", start, end, through)


def _iso(moment: date | datetime) -> str:
    """CUR 2.0 CSV timestamp text, e.g. ``2026-11-03T00:00:00.000Z``."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _compact(day: date) -> str:
    """Manifest ``billingPeriod`` form, e.g. ``20261101T000000.000Z``."""
    return day.strftime("%Y%m%dT000000.000Z")


def _execution_id(seed: int, export_name: str, period: str, through: date) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{seed}:{export_name}:{period}:{through.isoformat()}"))


def _gzip_bytes_writer(path: Path, level: int = 6) -> gzip.GzipFile:
    """A gzip stream whose header holds no file name and mtime 0, so output is reproducible."""
    return gzip.GzipFile(
        filename="", mode="wb", fileobj=path.open("wb"), mtime=0, compresslevel=level
    )


def _close_gzip(stream: gzip.GzipFile) -> None:
    raw = stream.fileobj
    stream.close()
    if raw is not None:
        raw.close()


def _write_csv_gzip(
    path: Path, header: Sequence[str], rows: Iterable[dict[str, str]], encoding: str = "utf-8"
) -> None:
    """A gzip CSV as Azure and OCI write theirs: CRLF line ends, the header once, and (for
    byte-identical reruns) no name or time in the gzip header. ``utf-8-sig`` adds Azure's BOM."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[c] for c in header])
    stream = _gzip_bytes_writer(path)
    try:
        stream.write(text.getvalue().encode(encoding))
    finally:
        _close_gzip(stream)


def _write_manifest(
    *,
    root: Path,
    bucket: str,
    prefix: str,
    export_name: str,
    period: _Period,
    execution_id: str,
    file_names: list[str],
    created_at: datetime,
) -> Path:
    """Write the manifest last, as AWS does, naming exactly this execution's data files."""
    base = f"{prefix}/{export_name}" if prefix else export_name
    data_dir = f"{base}/data/BILLING_PERIOD={period.label}/{execution_id}"
    manifest = {
        "executionId": execution_id,
        "exportArn": (
            f"arn:aws:bcm-data-exports:us-east-1:{_PAYER_ID}:export/{export_name}-"
            f"{uuid.uuid5(_ID_NAMESPACE, export_name)}"
        ),
        "exportName": export_name,
        "bucket": bucket,
        "billingPeriod": {"start": _compact(period.start), "end": _compact(period.end)},
        "dataFiles": [f"s3://{bucket}/{data_dir}/{name}" for name in file_names],
        "columns": [{"name": name, "type": kind} for name, kind in CUR2_COLUMNS],
        "createdAt": created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    path = (
        root / base / "metadata" / f"BILLING_PERIOD={period.label}" / f"{export_name}-Manifest.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _data_dir(root: Path, prefix: str, export_name: str, period: str, execution_id: str) -> Path:
    base = root / prefix / export_name if prefix else root / export_name
    path = base / "data" / f"BILLING_PERIOD={period}" / execution_id
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# Demo export: hand-checkable line items with exact decimal arithmetic.
# ---------------------------------------------------------------------------------------------


def _q(value: Decimal) -> Decimal:
    """Costs and quantities carry at most 10 decimal places, as in AWS's files."""
    return value.quantize(_TEN_PLACES, rounding=ROUND_HALF_UP) + 0  # "+ 0" drops a -0


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP) + 0


def _num(value: Decimal | int | None) -> str:
    """Plain decimal text without exponent or trailing zeros (``1320.96``, ``636``, ``0``)."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class _Sku:
    """What AWS's price list says about one usage type: the product half of a line item."""

    product_code: str
    service_name: str
    usage_type: str
    operation: str
    unit: str
    rate: Decimal  # public on-demand rate per ``unit``
    family: str | None = None
    instance_type: str | None = None
    region: tuple[str, str, str] = _US_EAST_1
    attributes: tuple[tuple[str, str], ...] = ()
    description: str = ""
    billing_entity: str = "AWS"
    legal_entity: str = _AWS_INC
    servicecode: str | None = None
    normalization_factor: Decimal | None = None

    @property
    def sku(self) -> str:
        digest = hashlib.sha256(f"{self.product_code}|{self.usage_type}".encode()).digest()
        return base64.b32encode(digest).decode()[:16]

    def product_map(self) -> dict[str, str]:
        values = {
            "product_name": self.service_name,
            "servicecode": self.servicecode or self.product_code,
            "region": self.region[0],
        }
        if self.family:
            values["product_family"] = self.family
        if self.instance_type:
            values["instance_type"] = self.instance_type
        values.update(self.attributes)
        return values


def _ec2(
    instance: str, rate: str, factor: int, attrs: dict[str, str], *, spot: bool = False
) -> _Sku:
    kind = "SpotUsage" if spot else "BoxUsage"
    return _Sku(
        product_code="AmazonEC2",
        service_name="Amazon Elastic Compute Cloud",
        usage_type=f"USE1-{kind}:{instance}",
        operation="RunInstances:SV001" if spot else "RunInstances",
        unit="Hrs",
        rate=Decimal(rate),
        family="Compute Instance",
        instance_type=instance,
        attributes=tuple(attrs.items()),
        description=(
            f"${rate} per On Demand Linux {instance} Instance Hour"
            if not spot
            else f"Linux/UNIX (Amazon VPC), Spot Instance-hour in US East (N. Virginia) "
            f"for {instance}"
        ),
        normalization_factor=Decimal(factor),
    )


# Demo list prices (USD): plausible public rates, fixed here so every figure can be recomputed
# by hand. They are not a claim about today's AWS price list.
_P5 = _ec2(
    "p5.48xlarge",
    "55.04",
    384,
    {
        "vcpu": "192",
        "memory": "2048 GiB",
        "gpu": "8",
        "gpu_memory": "640 GB",
        "physical_processor": "AMD EPYC 7R13 Processor",
        "operating_system": "Linux",
    },
)
_G5_12 = _ec2(
    "g5.12xlarge",
    "5.672",
    96,
    {
        "vcpu": "48",
        "memory": "192 GiB",
        "gpu": "4",
        "gpu_memory": "96 GB",
        "operating_system": "Linux",
    },
)
_G5_2_SPOT = _ec2(
    "g5.2xlarge",
    "1.212",
    16,
    {
        "vcpu": "8",
        "memory": "32 GiB",
        "gpu": "1",
        "gpu_memory": "24 GB",
        "operating_system": "Linux",
    },
    spot=True,
)
_R6I = _ec2(
    "r6i.2xlarge", "0.504", 16, {"vcpu": "8", "memory": "64 GiB", "operating_system": "Linux"}
)


def _ri_applied_description(sku: _Sku) -> str:
    return f"Linux/UNIX (Amazon VPC), {sku.instance_type} reserved instance applied"


_RI_FEE = _Sku(
    product_code="AmazonEC2",
    service_name="Amazon Elastic Compute Cloud",
    usage_type="USE1-HeavyUsage:r6i.2xlarge",
    operation="RunInstances",
    unit="Hrs",
    rate=Decimal("0.15"),
    family="Compute Instance",
    instance_type="r6i.2xlarge",
    attributes=(("vcpu", "8"), ("memory", "64 GiB"), ("operating_system", "Linux")),
    description="USD 0.15 hourly fee per Linux/UNIX (Amazon VPC), r6i.2xlarge instance",
    normalization_factor=Decimal(16),
)
_SP_FEE = _Sku(
    product_code="ComputeSavingsPlans",
    service_name="Savings Plans for AWS Compute usage",
    usage_type="ComputeSP:3yrNoUpfront",
    operation="",
    unit="Hrs",
    rate=Decimal("26.5"),  # hourly commitment
    family="Savings Plan",
    description="3 year No Upfront Compute Savings Plan",
)
_EBS_GP3 = _Sku(
    "AmazonEC2",
    "Amazon Elastic Compute Cloud",
    "USE1-EBS:VolumeUsage.gp3",
    "CreateVolume-Gp3",
    "GB-Mo",
    Decimal("0.08"),
    family="Storage",
    attributes=(("volume_api_name", "gp3"),),
    description="$0.08 per GB-month of General Purpose (gp3) provisioned storage - US East "
    "(Northern Virginia)",
)
_NAT_HOURS = _Sku(
    "AmazonEC2",
    "Amazon Elastic Compute Cloud",
    "USE1-NatGateway-Hours",
    "NatGateway",
    "Hrs",
    Decimal("0.045"),
    family="NAT Gateway",
    description="$0.045 per NAT Gateway Hour",
)
_NAT_BYTES = _Sku(
    "AmazonEC2",
    "Amazon Elastic Compute Cloud",
    "USE1-NatGateway-Bytes",
    "NatGateway",
    "GB",
    Decimal("0.045"),
    family="NAT Gateway",
    description="$0.045 per GB Data Processed by NAT Gateways",
)


def _s3(region: tuple[str, str, str], usage: str, op: str, unit: str, rate: str, desc: str) -> _Sku:
    return _Sku(
        "AmazonS3",
        "Amazon Simple Storage Service",
        f"{region[2]}-{usage}",
        op,
        unit,
        Decimal(rate),
        family="Storage" if "Storage" in usage else "API Request",
        region=region,
        description=desc,
    )


_S3_STORAGE_E = _s3(
    _US_EAST_1,
    "TimedStorage-ByteHrs",
    "StandardStorage",
    "GB-Mo",
    "0.023",
    "$0.023 per GB - first 50 TB / month of storage used",
)
_S3_STORAGE_W = _s3(
    _US_WEST_2,
    "TimedStorage-ByteHrs",
    "StandardStorage",
    "GB-Mo",
    "0.023",
    "$0.023 per GB - first 50 TB / month of storage used",
)
# S3 request prices are quoted per 1,000 requests but billed per request: the pricing unit
# is "Requests" and the rate is the per-request price.
_S3_PUT = _s3(
    _US_EAST_1,
    "Requests-Tier1",
    "PutObject",
    "Requests",
    "0.000005",
    "$0.005 per 1,000 PUT, COPY, POST, or LIST requests",
)
_S3_GET = _s3(
    _US_EAST_1,
    "Requests-Tier2",
    "GetObject",
    "Requests",
    "0.0000004",
    "$0.0004 per 10,000 GET and all other requests",
)


def _dt(usage: str, op: str, rate: str, desc: str) -> _Sku:
    return _Sku(
        "AWSDataTransfer",
        "AWS Data Transfer",
        usage,
        op,
        "GB",
        Decimal(rate),
        family="Data Transfer",
        description=desc,
    )


_DT_OUT = _dt(
    "USE1-DataTransfer-Out-Bytes",
    "RunInstances",
    "0.09",
    "$0.090 per GB - first 10 TB / month data transfer out beyond the global free tier",
)
_DT_INTER_REGION = _dt(
    "USE1-USW2-AWS-Out-Bytes",
    "PutObjectForRepl",
    "0.02",
    "$0.02 per GB - US East (Northern Virginia) data transfer to US West (Oregon)",
)
_DT_REGIONAL = _dt(
    "USE1-DataTransfer-Regional-Bytes",
    "InterZone-In",
    "0.01",
    "$0.010 per GB - regional data transfer - in/out/between EC2 AZs or using elastic IPs or ELB",
)


def _bedrock(model: str, direction: str, rate: str) -> _Sku:
    # First-party Bedrock models are priced per 1,000 tokens: usage amounts are in thousands.
    return _Sku(
        "AmazonBedrock",
        "Amazon Bedrock",
        f"USE1-{model}-{direction}-tokens",
        "InvokeModelInference",
        "1K tokens",
        Decimal(rate),
        family="Amazon Bedrock",
        attributes=(("model", model), ("inference_type", f"{direction} tokens")),
        description=f"${rate} per 1K {direction} tokens for {model} in US East (N. Virginia)",
    )


_NOVA_IN = _bedrock("NovaLite", "input", "0.00006")
_NOVA_OUT = _bedrock("NovaLite", "output", "0.00024")
_HAIKU_IN = _bedrock("Claude3Haiku", "input", "0.00025")
_HAIKU_OUT = _bedrock("Claude3Haiku", "output", "0.00125")

_CLAUDE_NAME = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"


def _claude(meter: str, rate: str, label: str) -> _Sku:
    # Anthropic models are sold through AWS Marketplace and priced per million tokens: usage
    # amounts here are in millions of tokens (pricing unit "1M tokens"). Product code and
    # servicecode follow provider_notes.md (unverified against a real CUR).
    return _Sku(
        "AmazonBedrockFoundationModels",
        _CLAUDE_NAME,
        f"USE1-MP:USE1_{meter}-Units",
        "Usage",
        "1M tokens",
        Decimal(rate),
        family=None,
        attributes=(("model", "claude-sonnet-4-5"),),
        description=f"${rate} per 1M {label} for {_CLAUDE_NAME}",
        billing_entity="AWS Marketplace",
        legal_entity="Anthropic, PBC",
    )


_CLAUDE_IN = _claude("InputTokenCount", "3", "input tokens")
_CLAUDE_OUT = _claude("OutputTokenCount", "15", "output tokens")
_CLAUDE_CACHE_READ = _claude("CacheReadInputTokenCount", "0.3", "cache read input tokens")
_CLAUDE_CACHE_WRITE = _claude("CacheWriteInputTokenCount", "3.75", "cache write input tokens")

_SUPPORT = _Sku(
    "AWSSupportBusiness",
    "AWS Support (Business)",
    "Dollar",
    "",
    "Dollar",
    Decimal(1),
    description="AWS Support (Business)",
)

_ACCOUNTS = {
    "payer": (_PAYER_ID, _PAYER_NAME),
    "ml": ("444455556666", "ml-research"),
    "inf": ("777788889999", "prod-inference"),
    "plat": ("222233334444", "shared-platform"),
}
_COST_CATEGORY = {
    "payer": {"business_unit": "Corporate"},
    "ml": {"business_unit": "Research"},
    "inf": {"business_unit": "Product"},
    "plat": {"business_unit": "Platform"},
}

# The Compute Savings Plan belongs to ml-research, and RI/SP discount sharing is switched off
# for prod-inference, so the plan can only cover ml-research's p5 (spot is never eligible).
# It is sized for one p5 running every hour: $26.50/h at the plan rate, $636 a day; hours the
# p5 is down leave commitment unused.
_SP_RATE = Decimal("26.5")
_SP_HOURLY_COMMITMENT = Decimal("26.5")
_SP_ARN = "arn:aws:savingsplans::444455556666:savingsplan/8c1d5e7a-2b44-4f0e-9d3c-5a6b7c8d9e01"
_SP_START = "2026-02-01T00:00:00.000Z"
_SP_END = "2029-01-31T23:59:59.000Z"
# Two r6i.2xlarge Partial Upfront standard RIs (1 year) in shared-platform: $1,314 upfront each
# amortises to $0.15/h, plus a $0.15/h recurring fee, so an RI hour costs $0.30 effective.
_RI_COUNT = 2
_RI_UPFRONT_HOURLY = Decimal("0.15")
_RI_RECURRING_HOURLY = Decimal("0.15")
_RI_ARN = (
    "arn:aws:ec2:us-east-1:222233334444:reserved-instances/3f1e9a52-7c6d-4b8e-a1f0-2d4c6e8a0b13"
)
_RI_START = "2026-03-01T00:00:00.000Z"
_RI_END = "2027-03-01T00:00:00.000Z"
_TAX_RATE = Decimal("0.06")  # state sales tax on AWS charges, invented for the demo
_CREDIT = Decimal("-2500")  # monthly startup-programme credit, applied to prod-inference EC2
_REFUND = Decimal("-84.6")  # closed months only: a duplicated data-transfer charge refunded

# Tags as users really write them: keys and values in competing spellings, some resources only
# partly tagged, some not at all (an autoscaling group that does not propagate tags, spot batch
# jobs, NAT gateways, the DR replica, ad-hoc Bedrock calls without an inference profile).
_TAGS: dict[str, dict[str, str]] = {
    "p5": {
        "user_project": "atlas",
        "user_environment": "prod",
        "user_team": "ml-research",
        "user_cost_center": "CC-4100",
        "user_workload_type": "training",
        "user_model": "atlas-13b",
        "user_owner": "dana.k@acme.ai",
    },
    "g5-a": {
        "user_Project": "Atlas",
        "user_Environment": "Production",
        "user_CostCenter": "4200",
        "user_workload_type": "inference",
        "user_model": "atlas-13b-instruct",
        "user_team": "serving",
    },
    "r6i-a": {
        "user_project": "platform",
        "user_env": "prd",
        "user_team": "platform",
        "user_cost_center": "CC-1000",
        "user_owner": "ops@acme.ai",
    },
    "r6i-b": {"user_environment": "stg", "user_team": "platform"},
    "vol-g5-a": {"user_Project": "Atlas", "user_Environment": "Production"},
    "vol-r6i": {"user_team": "platform", "user_env": "staging"},
    "s3-train": {"user_project": "atlas", "user_environment": "dev", "user_team": "ml-research"},
    "s3-logs": {"user_team": "platform", "user_env": "prod"},
    "nova": {
        "user_project": "helpdesk-bot",
        "user_environment": "staging",
        "user_workload_type": "genai",
        "user_model": "nova-lite",
        "user_owner": "sam.r@acme.ai",
    },
    "haiku": {
        "user_project": "support-bot",
        "user_environment": "prod",
        "user_cost_center": "CC-2300",
        "user_workload_type": "inference",
        "user_model": "claude-3-haiku",
        "user_team": "support",
    },
    "claude": {
        "user_Project": "search-assistant",
        "user_env": "prod",
        "user_model": "claude-sonnet-4-5",
        "user_team": "search",
        "user_workload_type": "genai",
    },
}

_RES = {
    "p5": "i-0a7f3c9e21b845d60",
    "g5-a": "i-03be8d2f6a1c79e45",
    "g5-b": "i-0c6e1a9d3f52b8071",
    "spot": "i-0f2d7b4e9c1a36852",
    "r6i-a": "i-05a9c3e7f1d24b689",
    "r6i-b": "i-0d8b2f6a4c9e13570",
    "vol-p5": "vol-0e4a8c2f6b1d9357a",
    "vol-g5-a": "vol-09c7e3a1f5d2b8046",
    "vol-r6i-a": "vol-0b5d1f9e3a7c2648e",
    "vol-r6i-b": "vol-02f8a6c4e1b9d7353",
    "nat-a": "arn:aws:ec2:us-east-1:222233334444:natgateway/nat-0a1b2c3d4e5f60718",
    "nat-b": "arn:aws:ec2:us-east-1:222233334444:natgateway/nat-0f9e8d7c6b5a40312",
    "s3-train": "acme-atlas-training-data",
    "s3-logs": "acme-platform-logs",
    "s3-replica": "acme-dr-replica-usw2",
    "nova": "arn:aws:bedrock:us-east-1:777788889999:application-inference-profile/hx7k2m9q4w1z",
    "claude": "arn:aws:bedrock:us-east-1:777788889999:application-inference-profile/pq3n8v5t2r6y",
    "haiku": "arn:aws:bedrock:us-east-1:777788889999:application-inference-profile/sb4h9k2c7m1x",
}


class _DemoBill:
    """Builds one delivery's rows for one period, as ``dict``s of typed values."""

    def __init__(self, period: _Period, through: date, seed: int) -> None:
        self.period = period
        self.through = through
        self.seed = seed
        self.rows: list[dict[str, Any]] = []
        final = period.closed and through == period.through
        self.invoice = {
            "AWS": self._digits("invoice-aws") if final else None,
            "AWS Marketplace": self._digits("invoice-mp") if final else None,
        }

    def _rng(self, stream: str) -> random.Random:
        # One generator per (seed, period, stream): a period's numbers do not depend on which
        # other periods are generated or on the order rows are built in.
        return random.Random(f"{self.seed}:{self.period.label}:{stream}")

    def _digits(self, key: str) -> str:
        digest = hashlib.sha256(f"{self.seed}:{self.period.label}:{key}".encode()).hexdigest()
        return str(int(digest[:15], 16))[:10]

    def _line_item_id(self, key: str) -> str:
        # Not stable across deliveries, like AWS's: the through-date is part of the hash.
        text = f"{self.seed}:{self.period.label}:{self.through}:{key}"
        return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower()[:52]

    def add(
        self,
        *,
        key: str,
        account: str,
        line_type: str,
        sku: _Sku | None,
        start: date,
        end: date,
        amount: Decimal | None,
        rate: Decimal | None,
        cost: Decimal,
        tags: dict[str, str] | None = None,
        resource: str | None = None,
        az: str | None = None,
        public_cost: Decimal | None = None,
        public_rate: Decimal | None = None,
        term: str | None = None,
        description: str | None = None,
        billing_entity: str | None = None,
        bill_type: str = "Anniversary",
        **extra: Any,
    ) -> dict[str, Any]:
        account_id, account_name = _ACCOUNTS[account]
        entity = billing_entity or (sku.billing_entity if sku else "AWS")
        # Tax, credits and refunds name the product they apply to, but no usage of it.
        priced = sku if line_type not in ("Tax", "Credit", "Refund") else None
        factor = priced.normalization_factor if priced else None
        row: dict[str, Any] = dict.fromkeys(CUR2_COLUMN_NAMES)
        row.update(
            identity_line_item_id=self._line_item_id(key),
            identity_time_interval=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T00:00:00Z",
            bill_invoice_id=self.invoice[entity],
            bill_invoicing_entity=_AWS_INC,
            bill_billing_entity=entity,
            bill_bill_type=bill_type,
            bill_payer_account_id=_PAYER_ID,
            bill_payer_account_name=_PAYER_NAME,
            bill_billing_period_start_date=self.period.start,
            bill_billing_period_end_date=self.period.end,
            line_item_usage_account_id=account_id,
            line_item_usage_account_name=account_name,
            line_item_line_item_type=line_type,
            line_item_usage_start_date=start,
            line_item_usage_end_date=end,
            line_item_product_code=sku.product_code if sku else None,
            line_item_usage_type=priced.usage_type if priced else None,
            line_item_operation=(priced.operation or None) if priced else None,
            line_item_availability_zone=az,
            line_item_resource_id=resource,
            line_item_usage_amount=amount,
            line_item_normalization_factor=factor,
            line_item_normalized_usage_amount=(
                _q(amount * factor) if factor is not None and amount is not None else None
            ),
            line_item_currency_code="USD",
            line_item_unblended_rate=rate,
            line_item_unblended_cost=cost,
            # One organisation, one RI pool: blended figures equal unblended ones here.
            line_item_blended_rate=rate,
            line_item_blended_cost=cost,
            line_item_line_item_description=description or (sku.description if sku else None),
            line_item_legal_entity=sku.legal_entity if sku else _AWS_INC,
            pricing_currency="USD",
            pricing_public_on_demand_cost=public_cost,
            pricing_public_on_demand_rate=public_rate,
            pricing_term=term,
            pricing_unit=priced.unit if priced else None,
            resource_tags=dict(tags or {}),
            cost_category=_COST_CATEGORY[account],
            discount=None,
        )
        if priced:
            row.update(
                product=sku.product_map(),
                product_servicecode=sku.servicecode or sku.product_code,
                product_product_family=sku.family,
                product_instance_type=sku.instance_type,
                product_region_code=sku.region[0],
                product_location=sku.region[1],
                product_sku=sku.sku,
            )
        elif sku:
            row.update(
                product={
                    "product_name": sku.service_name,
                    "servicecode": sku.servicecode or sku.product_code,
                },
                product_servicecode=sku.servicecode or sku.product_code,
            )
        unknown = set(extra) - set(row)
        if unknown:
            raise KeyError(f"not CUR 2.0 columns: {sorted(unknown)}")
        row.update(extra)
        self.rows.append(row)
        return row

    # -- usage -----------------------------------------------------------------------------

    def usage(
        self, key: str, account: str, sku: _Sku, day: date, amount: Decimal, **kw: Any
    ) -> dict[str, Any]:
        """An on-demand Usage row: unblended = public on-demand = amount x list rate."""
        amount = _q(amount)
        cost = _q(amount * sku.rate)
        return self.add(
            key=key,
            account=account,
            line_type="Usage",
            sku=sku,
            start=day,
            end=day + timedelta(days=1),
            amount=amount,
            rate=sku.rate,
            cost=cost,
            public_cost=cost,
            public_rate=sku.rate,
            term=kw.pop("term", "OnDemand"),
            **kw,
        )

    def build(self) -> list[dict[str, Any]]:
        days = self.period.days(self.through)
        self._compute(days)
        self._storage_and_network(days)
        self._bedrock(days)
        self._monthly(days)
        return self.rows

    def _compute(self, days: list[date]) -> None:
        # p5 maintenance windows: a host replacement leaves 2 random days short of 24 hours.
        rng = self._rng("p5-downtime")
        short_days = {d: rng.choice((17, 19, 20, 22)) for d in rng.sample(days, min(2, len(days)))}
        spot_rng, g5_rng, ri_rng = self._rng("spot"), self._rng("g5-b"), self._rng("r6i-b")
        ri_stopped = set(ri_rng.sample(days, min(3, len(days))))
        ri_partial = ri_rng.choice(days)
        for day in days:
            nxt = day + timedelta(days=1)
            tag = day.isoformat()
            # -- p5.48xlarge under the Compute Savings Plan --------------------------------
            hours = Decimal(short_days.get(day, 24))
            od_cost = _q(hours * _P5.rate)
            sp_cost = _q(hours * _SP_RATE)
            sp_common = dict(
                savings_plan_savings_plan_a_r_n=_SP_ARN,
                savings_plan_offering_type="ComputeSavingsPlans",
                savings_plan_start_time=_SP_START,
                savings_plan_end_time=_SP_END,
            )
            self.add(
                key=f"p5-covered-{tag}",
                account="ml",
                line_type="SavingsPlanCoveredUsage",
                sku=_P5,
                start=day,
                end=nxt,
                amount=hours,
                rate=_P5.rate,
                cost=od_cost,
                tags=_TAGS["p5"],
                resource=_RES["p5"],
                az="us-east-1a",
                public_cost=od_cost,
                public_rate=_P5.rate,
                term="OnDemand",
                savings_plan_savings_plan_effective_cost=sp_cost,
                savings_plan_savings_plan_rate=_SP_RATE,
                **sp_common,
            )
            self.add(
                key=f"p5-negation-{tag}",
                account="ml",
                line_type="SavingsPlanNegation",
                sku=_P5,
                start=day,
                end=nxt,
                amount=hours,
                rate=-_P5.rate,
                cost=-od_cost,
                tags=_TAGS["p5"],
                resource=_RES["p5"],
                az="us-east-1a",
                public_cost=Decimal(0),
                public_rate=Decimal(0),
                term="OnDemand",
                description=f"SavingsPlanNegation used by AccountId : 444455556666 and "
                f"UsageSku : {_P5.sku}",
                savings_plan_savings_plan_effective_cost=Decimal(0),
                **sp_common,
            )
            commitment = _q(24 * _SP_HOURLY_COMMITMENT)
            self.add(
                key=f"sp-fee-{tag}",
                account="ml",
                line_type="SavingsPlanRecurringFee",
                sku=_SP_FEE,
                start=day,
                end=nxt,
                amount=Decimal(24),
                rate=_SP_HOURLY_COMMITMENT,
                cost=commitment,
                public_cost=Decimal(0),
                public_rate=Decimal(0),
                resource=_SP_ARN,
                savings_plan_total_commitment_to_date=commitment,
                savings_plan_used_commitment=sp_cost,
                savings_plan_amortized_upfront_commitment_for_billing_period=Decimal(0),
                savings_plan_recurring_commitment_for_billing_period=commitment,
                **sp_common,
            )
            # -- g5.12xlarge inference: one all day on weekdays and 10 h at weekends, a second
            # (autoscaled) one on weekdays only --------------------------------------------
            self.usage(
                f"g5a-{tag}",
                "inf",
                _G5_12,
                day,
                Decimal(24 if day.weekday() < 5 else 10),
                tags=_TAGS["g5-a"],
                resource=_RES["g5-a"],
                az="us-east-1b",
            )
            if day.weekday() < 5:
                self.usage(
                    f"g5b-{tag}",
                    "inf",
                    _G5_12,
                    day,
                    Decimal(g5_rng.randint(10, 16)),
                    resource=_RES["g5-b"],
                    az="us-east-1c",
                )
            # -- g5.2xlarge spot for evaluation batches, some days ------------------------
            if spot_rng.random() < 0.45:
                spot_hours = Decimal(spot_rng.randint(4, 20))
                spot_rate = Decimal(spot_rng.randint(4400, 5200)) / 10000
                cost = _q(spot_hours * spot_rate)
                self.add(
                    key=f"spot-{tag}",
                    account="ml",
                    line_type="Usage",
                    sku=_G5_2_SPOT,
                    start=day,
                    end=nxt,
                    amount=spot_hours,
                    rate=spot_rate,
                    cost=cost,
                    resource=_RES["spot"],
                    az="us-east-1d",
                    term="Spot",
                    public_cost=_q(spot_hours * _G5_2_SPOT.rate),
                    public_rate=_G5_2_SPOT.rate,
                )
            # -- r6i.2xlarge database hosts covered by the RIs ----------------------------
            ri_hours = {"r6i-a": Decimal(24)}
            if day not in ri_stopped:
                ri_hours["r6i-b"] = Decimal(9) if day == ri_partial else Decimal(24)
            for name, h in ri_hours.items():
                self.add(
                    key=f"{name}-{tag}",
                    account="plat",
                    line_type="DiscountedUsage",
                    description=_ri_applied_description(_R6I),
                    sku=_R6I,
                    start=day,
                    end=nxt,
                    amount=h,
                    rate=Decimal(0),
                    cost=Decimal(0),
                    tags=_TAGS[name],
                    resource=_RES[name],
                    az="us-east-1a",
                    public_cost=_q(h * _R6I.rate),
                    public_rate=_R6I.rate,
                    term="Reserved",
                    pricing_purchase_option="Partial Upfront",
                    reservation_reservation_a_r_n=_RI_ARN,
                    reservation_effective_cost=_q(h * (_RI_UPFRONT_HOURLY + _RI_RECURRING_HOURLY)),
                    reservation_amortized_upfront_cost_for_usage=_q(h * _RI_UPFRONT_HOURLY),
                    reservation_recurring_fee_for_usage=_q(h * _RI_RECURRING_HOURLY),
                    reservation_start_time=_RI_START,
                    reservation_end_time=_RI_END,
                )

    def _storage_and_network(self, days: list[date]) -> None:
        month_days = Decimal(self.period.days_in_month)
        volumes = [
            ("vol-p5", "ml", Decimal(8000), None, "us-east-1a"),
            ("vol-g5-a", "inf", Decimal(500), _TAGS["vol-g5-a"], "us-east-1b"),
            ("vol-r6i-a", "plat", Decimal(1000), _TAGS["vol-r6i"], "us-east-1a"),
            ("vol-r6i-b", "plat", Decimal(1000), _TAGS["vol-r6i"], "us-east-1a"),
        ]
        # Storage GB per bucket on the 1st, growing by a fixed amount per day.
        buckets = [
            ("s3-train", "ml", _S3_STORAGE_E, Decimal(20480), Decimal(40), _TAGS["s3-train"]),
            ("s3-logs", "plat", _S3_STORAGE_E, Decimal(6144), Decimal(25), _TAGS["s3-logs"]),
            ("s3-replica", "plat", _S3_STORAGE_W, Decimal(6144), Decimal(25), None),
        ]
        rng = self._rng("network")
        for i, day in enumerate(days):
            tag = day.isoformat()
            # A daily storage row is that day's share of the month: GB x 1/days-in-month.
            for name, account, size, tags, az in volumes:
                self.usage(
                    f"{name}-{tag}",
                    account,
                    _EBS_GP3,
                    day,
                    size / month_days,
                    tags=tags,
                    resource=_RES[name],
                    az=az,
                )
            for name, account, sku, base, growth, tags in buckets:
                gb = base + growth * (self.period.start.day - 1 + i)
                self.usage(
                    f"{name}-storage-{tag}",
                    account,
                    sku,
                    day,
                    gb / month_days,
                    tags=tags,
                    resource=_RES[name],
                )
            for name, account in (("s3-train", "ml"), ("s3-logs", "plat")):
                tags = _TAGS[name]
                self.usage(
                    f"{name}-put-{tag}",
                    account,
                    _S3_PUT,
                    day,
                    Decimal(rng.randint(300_000, 2_400_000)),
                    tags=tags,
                    resource=_RES[name],
                )
                self.usage(
                    f"{name}-get-{tag}",
                    account,
                    _S3_GET,
                    day,
                    Decimal(rng.randint(2_000_000, 30_000_000)),
                    tags=tags,
                    resource=_RES[name],
                )
            self.usage(
                f"dt-out-{tag}",
                "inf",
                _DT_OUT,
                day,
                Decimal(rng.randint(80_000, 160_000)) / 1000,
                tags=_TAGS["g5-a"],
                resource=_RES["g5-a"],
            )
            self.usage(
                f"dt-repl-{tag}",
                "plat",
                _DT_INTER_REGION,
                day,
                Decimal(rng.randint(150_000, 250_000)) / 1000,
                tags=_TAGS["s3-logs"],
                resource=_RES["s3-logs"],
            )
            self.usage(
                f"dt-az-{tag}",
                "plat",
                _DT_REGIONAL,
                day,
                Decimal(rng.randint(40_000, 90_000)) / 1000,
                tags=_TAGS["r6i-a"],
                resource=_RES["r6i-a"],
            )
            for nat in ("nat-a", "nat-b"):
                self.usage(
                    f"{nat}-hours-{tag}", "plat", _NAT_HOURS, day, Decimal(24), resource=_RES[nat]
                )
                self.usage(
                    f"{nat}-bytes-{tag}",
                    "plat",
                    _NAT_BYTES,
                    day,
                    Decimal(rng.randint(250_000, 600_000)) / 1000,
                    resource=_RES[nat],
                )

    def _bedrock(self, days: list[date]) -> None:
        rng = self._rng("bedrock")
        for day in days:
            tag = day.isoformat()
            weekday = day.weekday() < 5
            # Nova Lite in thousands of tokens (unit "1K tokens"): 180-260 M input a day.
            nova = {"tags": _TAGS["nova"], "resource": _RES["nova"]}
            self.usage(
                f"nova-in-{tag}",
                "inf",
                _NOVA_IN,
                day,
                Decimal(rng.randint(180_000, 260_000)),
                **nova,
            )
            self.usage(
                f"nova-out-{tag}",
                "inf",
                _NOVA_OUT,
                day,
                Decimal(rng.randint(30_000, 50_000)),
                **nova,
            )
            # Claude 3 Haiku behind the support bot, in thousands of tokens: exactly the tokens
            # of the calls its request logs record (demo.ai).
            haiku_in, haiku_out = support_bot_tokens(day, self.seed)
            for sku, tokens in ((_HAIKU_IN, haiku_in), (_HAIKU_OUT, haiku_out)):
                self.usage(
                    f"haiku-{sku.usage_type}-{tag}",
                    "inf",
                    sku,
                    day,
                    Decimal(tokens) / 1000,
                    tags=_TAGS["haiku"],
                    resource=_RES["haiku"],
                )
            # Claude in millions of tokens (unit "1M tokens"), through a tagged application
            # inference profile in prod-inference ...
            for sku, low, high in (
                (_CLAUDE_IN, 7_000, 12_000),
                (_CLAUDE_OUT, 700, 1_300),
                (_CLAUDE_CACHE_READ, 25_000, 50_000),
                (_CLAUDE_CACHE_WRITE, 1_200, 2_400),
            ):
                self.usage(
                    f"claude-{sku.usage_type}-{tag}",
                    "inf",
                    sku,
                    day,
                    Decimal(rng.randint(low, high)) / 1000,
                    tags=_TAGS["claude"],
                    resource=_RES["claude"],
                )
            # ... and ad hoc on weekdays from ml-research by model id: no resource, no tags.
            if weekday:
                for sku, low, high in ((_CLAUDE_IN, 10_000, 17_000), (_CLAUDE_OUT, 1_500, 2_900)):
                    self.usage(
                        f"claude-adhoc-{sku.usage_type}-{tag}",
                        "ml",
                        sku,
                        day,
                        Decimal(rng.randint(low, high)) / 1000,
                    )

    def _monthly(self, days: list[date]) -> None:
        p = self.period
        # RIFee: the month's recurring fee for every reserved hour, dated from the 1st. Unused
        # hours count only hours already elapsed in a month-to-date delivery.
        month_hours = Decimal(24 * p.days_in_month * _RI_COUNT)
        elapsed_hours = Decimal(24 * len(days) * _RI_COUNT)
        used = sum(
            (
                r["line_item_usage_amount"]
                for r in self.rows
                if r["line_item_line_item_type"] == "DiscountedUsage"
            ),
            Decimal(0),
        )
        unused = elapsed_hours - used
        self.add(
            key="ri-fee",
            account="plat",
            line_type="RIFee",
            sku=_RI_FEE,
            start=p.start,
            end=p.end,
            amount=month_hours,
            rate=_RI_RECURRING_HOURLY,
            cost=_q(month_hours * _RI_RECURRING_HOURLY),
            public_cost=Decimal(0),
            public_rate=Decimal(0),
            term="Reserved",
            pricing_purchase_option="Partial Upfront",
            reservation_reservation_a_r_n=_RI_ARN,
            reservation_unused_quantity=unused,
            reservation_unused_amortized_upfront_fee_for_billing_period=_q(
                unused * _RI_UPFRONT_HOURLY
            ),
            reservation_unused_recurring_fee=_q(unused * _RI_RECURRING_HOURLY),
            reservation_start_time=_RI_START,
            reservation_end_time=_RI_END,
        )
        # Business support: the greater of $100 or 10% of the first $10K and 7% of the next
        # $70K of the month's AWS charges (Marketplace excluded).
        base = sum(
            (r["line_item_unblended_cost"] for r in self.rows if r["bill_billing_entity"] == "AWS"),
            Decimal(0),
        )
        fee = _cents(
            max(
                Decimal(100),
                Decimal("0.10") * min(base, Decimal(10_000))
                + Decimal("0.07") * min(max(base - 10_000, Decimal(0)), Decimal(70_000)),
            )
        )
        self.add(
            key="support",
            account="payer",
            line_type="Fee",
            sku=_SUPPORT,
            start=p.start,
            end=p.end,
            amount=fee,
            rate=Decimal(1),
            cost=fee,
            public_cost=fee,
            public_rate=Decimal(1),
        )
        # Sales tax per (account, product, seller): 6% of that group's charges, in cents.
        groups: dict[tuple[str, str, str], Decimal] = {}
        skus: dict[str, _Sku] = {}
        account_key = {v[0]: k for k, v in _ACCOUNTS.items()}
        for r in self.rows:
            group = (
                account_key[r["line_item_usage_account_id"]],
                r["line_item_product_code"],
                r["bill_billing_entity"],
            )
            groups[group] = groups.get(group, Decimal(0)) + r["line_item_unblended_cost"]
        for sku in (_P5, _SP_FEE, _S3_PUT, _DT_OUT, _NOVA_IN, _CLAUDE_IN, _SUPPORT):
            skus[sku.product_code] = sku
        for (account, code, entity), amount in sorted(groups.items()):
            tax = _cents(amount * _TAX_RATE)
            if tax == 0:
                continue
            self.add(
                key=f"tax-{account}-{code}-{entity}",
                account=account,
                line_type="Tax",
                sku=skus[code],
                start=p.start,
                end=p.end,
                amount=None,
                rate=None,
                cost=tax,
                billing_entity=entity,
                line_item_tax_type="USSalesTax",
                description="Tax for product code " + code,
            )
        self.add(
            key="credit",
            account="inf",
            line_type="Credit",
            sku=_G5_12,
            start=p.start,
            end=p.end,
            amount=Decimal(0),
            rate=None,
            cost=_CREDIT,
            description="AWS Activate Credits",
        )
        if p.closed:  # a late refund, delivered after the month closed
            self.add(
                key="refund",
                account="inf",
                line_type="Refund",
                sku=_DT_OUT,
                start=p.start,
                end=p.end,
                amount=Decimal(0),
                rate=None,
                cost=_REFUND,
                bill_type="Refund",
                description="Refund for duplicated data transfer charges (case 17654321092)",
            )


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, Decimal | int):
        return _num(value)
    if isinstance(value, date):
        return _iso(value)
    return str(value)


def _write_demo_files(
    rows: list[dict[str, Any]], out_dir: Path, export_name: str, files: int, seed: str
) -> list[str]:
    """Shuffle (AWS's files follow no order) and split rows into ``files`` gzip CSV parts."""
    ordered = sorted(rows, key=lambda r: r["identity_line_item_id"])
    random.Random(seed).shuffle(ordered)
    names = []
    per_file = -(-len(ordered) // files)
    for part in range(files):
        name = f"{export_name}-{part + 1:05d}.csv.gz"
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CUR2_COLUMN_NAMES)
        for row in ordered[part * per_file : (part + 1) * per_file]:
            writer.writerow([_csv_cell(row[n]) for n in CUR2_COLUMN_NAMES])
        stream = _gzip_bytes_writer(out_dir / name)
        try:
            stream.write(text.getvalue().encode("utf-8"))
        finally:
            _close_gzip(stream)
        names.append(name)
    return names


def demo_days(periods: Sequence[str]) -> list[date]:
    """Every usage day the demo's deliveries of ``periods`` cover."""
    return [day for label in periods for day in _period(label).days()]


def demo_rows(period: str, seed: int = 7, through: date | None = None) -> list[dict[str, Any]]:
    """The demo's line items for one period as typed values (Decimal, date, dict), for tests
    and notebooks that want the numbers without parsing the files back."""
    p = _period(period)
    return _DemoBill(p, through or p.through, seed).build()


def write_demo_aws_export(
    root: Path,
    periods: Sequence[str] = ("2026-10", "2026-11"),
    export_name: str = "costlake-demo",
    prefix: str = "cur2",
    bucket: str = "demo-billing-bucket",
    seed: int = 7,
) -> list[Path]:
    """Write the demo CUR 2.0 export under ``root`` (the bucket), one delivery per period.

    Each period gets its newest execution folder (two or more ``csv.gz`` parts) and a manifest
    naming exactly those parts; the newest period also keeps an older, smaller execution
    (through two days earlier) that no manifest names, so readers are tested on ignoring it.
    Returns the manifest paths in period order.
    """
    root = Path(root)
    parsed = sorted({_period(label) for label in periods}, key=lambda p: p.start)
    if not parsed:
        raise ValueError("no billing periods given")
    manifests = []
    for p in parsed:
        if p is parsed[-1]:
            stale_through = max(p.start, p.through - timedelta(days=2))
            stale_id = _execution_id(seed, export_name, p.label, stale_through)
            stale_rows = _DemoBill(p, stale_through, seed).build()
            _write_demo_files(
                stale_rows,
                _data_dir(root, prefix, export_name, p.label, stale_id),
                export_name,
                2,
                f"{seed}:{p.label}:stale",
            )
        rows = _DemoBill(p, p.through, seed).build()
        execution_id = _execution_id(seed, export_name, p.label, p.through)
        files = max(2, -(-len(rows) // 600))
        names = _write_demo_files(
            rows,
            _data_dir(root, prefix, export_name, p.label, execution_id),
            export_name,
            files,
            f"{seed}:{p.label}",
        )
        created = datetime.combine(
            min(p.end + timedelta(days=13), DEMO_TODAY), datetime.min.time()
        ) + timedelta(hours=4, minutes=37, seconds=12)
        manifests.append(
            _write_manifest(
                root=root,
                bucket=bucket,
                prefix=prefix,
                export_name=export_name,
                period=p,
                execution_id=execution_id,
                file_names=names,
                created_at=created,
            )
        )
    return manifests


# ---------------------------------------------------------------------------------------------
# Synthetic export for the benchmark: vectorised, written chunk by chunk.
# ---------------------------------------------------------------------------------------------

_MASK32 = 0xFFFFFFFF
_CHUNK_ROWS = 250_000
_RESOURCES_PER_TEMPLATE = 500
_SYN_ACCOUNTS = 24
_TAG_VARIANTS = 64

# Line-item kinds of the synthetic rows, driving the per-kind cost formulas.
_K_USAGE, _K_SPOT, _K_RI, _K_SP, _K_NEG, _K_SP_FEE, _K_RI_FEE, _K_TAX, _K_CREDIT = range(9)
_KIND_TYPE = {
    _K_USAGE: "Usage",
    _K_SPOT: "Usage",
    _K_RI: "DiscountedUsage",
    _K_SP: "SavingsPlanCoveredUsage",
    _K_NEG: "SavingsPlanNegation",
    _K_SP_FEE: "SavingsPlanRecurringFee",
    _K_RI_FEE: "RIFee",
    _K_TAX: "Tax",
    _K_CREDIT: "Credit",
}

_M6I = _ec2(
    "m6i.xlarge", "0.192", 8, {"vcpu": "4", "memory": "16 GiB", "operating_system": "Linux"}
)
_C6I = _ec2(
    "c6i.2xlarge", "0.34", 16, {"vcpu": "8", "memory": "16 GiB", "operating_system": "Linux"}
)
_RDS = _Sku(
    "AmazonRDS",
    "Amazon Relational Database Service",
    "USE1-InstanceUsage:db.r6g.xlarge",
    "CreateDBInstance:0014",
    "Hrs",
    Decimal("0.519"),
    family="Database Instance",
    instance_type="db.r6g.xlarge",
    attributes=(("database_engine", "PostgreSQL"),),
    description="$0.519 per RDS db.r6g.xlarge instance hour (or partial hour) running PostgreSQL",
)
_LAMBDA = _Sku(
    "AWSLambda",
    "AWS Lambda",
    "USE1-Lambda-GB-Second",
    "Invoke",
    "Lambda-GB-Second",
    Decimal("0.0000166667"),
    family="Serverless",
    description="AWS Lambda - Total Compute - US East (Northern Virginia)",
)
_CLOUDWATCH = _Sku(
    "AmazonCloudWatch",
    "AmazonCloudWatch",
    "USE1-CW:MetricMonitorUsage",
    "MetricStorage",
    "Metrics",
    Decimal("0.3"),
    family="Metric",
    description="$0.30 per metric-month - first 10,000 metrics",
)
_SAGEMAKER = _Sku(
    "AmazonSageMaker",
    "Amazon SageMaker",
    "USE1-Host:ml.g5.2xlarge",
    "RunInstance",
    "Hrs",
    Decimal("1.515"),
    family="ML Instance",
    instance_type="ml.g5.2xlarge",
    attributes=(("gpu", "1"), ("gpu_memory", "24 GB"), ("vcpu", "8")),
    description="$1.515 per Hosting ml.g5.2xlarge hour in US East (N. Virginia)",
)


@dataclass(frozen=True)
class _Template:
    """One kind of synthetic line item: its SKU, how often it occurs, its usage range."""

    sku: _Sku
    kind: int
    weight: int  # share of non-Savings-Plan rows, out of 1024
    low: float
    high: float
    integer: bool = False
    resource: str | None = None  # resource id prefix; None: the row has no resource
    az: bool = False


_TEMPLATES: list[_Template] = [
    _Template(_M6I, _K_USAGE, 142, 1, 25, True, "i-0", True),
    _Template(_C6I, _K_USAGE, 120, 1, 25, True, "i-0", True),
    _Template(_G5_12, _K_USAGE, 60, 1, 25, True, "i-0", True),
    _Template(_P5, _K_USAGE, 8, 1, 25, True, "i-0", True),
    _Template(_G5_2_SPOT, _K_SPOT, 30, 1, 25, True, "i-0", True),
    _Template(_R6I, _K_RI, 60, 1, 25, True, "i-0", True),
    _Template(_RDS, _K_USAGE, 40, 1, 25, True, "arn:aws:rds:us-east-1:db:pg-", True),
    _Template(_EBS_GP3, _K_USAGE, 120, 0.1, 300, False, "vol-0", True),
    _Template(_S3_STORAGE_E, _K_USAGE, 45, 0.01, 900, False, "acme-bucket-"),
    _Template(_S3_STORAGE_W, _K_USAGE, 15, 0.01, 900, False, "acme-dr-bucket-"),
    _Template(_S3_PUT, _K_USAGE, 40, 1000, 5_000_000, True, "acme-bucket-"),
    _Template(_S3_GET, _K_USAGE, 40, 1000, 30_000_000, True, "acme-bucket-"),
    _Template(_DT_OUT, _K_USAGE, 40, 0.001, 500, False, "i-0"),
    _Template(_DT_REGIONAL, _K_USAGE, 30, 0.001, 200, False, "i-0"),
    _Template(_DT_INTER_REGION, _K_USAGE, 10, 0.001, 300, False, "acme-bucket-"),
    _Template(_NAT_HOURS, _K_USAGE, 20, 24, 25, True, "nat-0"),
    _Template(_NAT_BYTES, _K_USAGE, 20, 0.01, 600, False, "nat-0"),
    _Template(
        _LAMBDA, _K_USAGE, 40, 100, 2_000_000, False, "arn:aws:lambda:us-east-1:function:fn-"
    ),
    _Template(_CLOUDWATCH, _K_USAGE, 30, 0.03, 10, False),
    _Template(_NOVA_IN, _K_USAGE, 20, 10, 50_000, False, "arn:aws:bedrock:aip/"),
    _Template(_NOVA_OUT, _K_USAGE, 20, 1, 10_000, False, "arn:aws:bedrock:aip/"),
    _Template(_CLAUDE_IN, _K_USAGE, 15, 0.001, 20, False, "arn:aws:bedrock:aip/"),
    _Template(_CLAUDE_OUT, _K_USAGE, 15, 0.001, 3, False, "arn:aws:bedrock:aip/"),
    _Template(_CLAUDE_CACHE_READ, _K_USAGE, 10, 0.001, 60, False, "arn:aws:bedrock:aip/"),
    _Template(_SAGEMAKER, _K_USAGE, 20, 1, 25, True, "arn:aws:sagemaker:endpoint/ep-", True),
    _Template(_SP_FEE, _K_SP_FEE, 6, 24, 25, True),
    _Template(_RI_FEE, _K_RI_FEE, 2, 720, 721, True),
    _Template(_CLOUDWATCH, _K_TAX, 4, 0.01, 80),
    _Template(_M6I, _K_CREDIT, 2, 1, 500),
    # Savings Plan pairs (covered usage + negation) are drawn apart: weight 0 here.
    _Template(_P5, _K_SP, 0, 1, 25, True, "i-0", True),
    _Template(_G5_12, _K_SP, 0, 1, 25, True, "i-0", True),
]
_SP_TEMPLATES = [i for i, t in enumerate(_TEMPLATES) if t.kind == _K_SP]
_SP_PAIR_SHARE = 0.06  # of row pairs
_SYN_SP_RATE_FACTOR = 0.55  # plan rate as a share of the on-demand rate


def _mix32(x: pl.Expr) -> pl.Expr:
    """murmur3's 32-bit finaliser on UInt64 lanes: every product stays below 2**64, so it is
    exact and identical on every platform (numpy is not a project dependency)."""
    x = x & _MASK32
    x = x ^ (x // 65536)
    x = (x * 0x85EBCA6B) & _MASK32
    x = x ^ (x // 8192)
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x // 65536)


def _uniform(key: pl.Expr, stream: int, seed: int) -> pl.Expr:
    """A uniform [0, 1) draw per key, independent per (stream, seed)."""
    salt = pl.lit((seed * 0x9E3779B1 + stream * 0x85EBCA77 + 0x165667B1) & _MASK32, pl.UInt64)
    return _mix32(_mix32(key) ^ salt).cast(pl.Float64) / 4294967296.0


def _pick(values: Sequence[Any], index: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(pl.Series(values=list(values), dtype=dtype)).gather(index)


class _SyntheticPools:
    """Everything that is a small lookup table rather than a per-row draw: template attributes,
    resources (with their account and tags), tag and cost-category maps, day strings."""

    def __init__(self, period: _Period, seed: int) -> None:
        rng = random.Random(f"synthetic:{seed}")
        self.period = period
        self.days = period.days()
        self.accounts = [
            (f"{100000000000 + 37 * 1009 * (i + 1) + i:012d}", f"acct-{name}-{i:02d}")
            for i, name in enumerate(
                ["ml", "inference", "platform", "data", "web", "mobile", "search", "ads"] * 3
            )
        ]
        # Tag maps: variant 0 is "untagged"; the others mix key and value spellings.
        spellings = {
            "project": ["user_project", "user_Project"],
            "env": ["user_environment", "user_Environment", "user_env"],
            "cost": ["user_cost_center", "user_CostCenter"],
        }
        envs = ["prod", "Production", "prd", "staging", "stg", "dev"]
        projects = ["atlas", "Atlas", "helpdesk-bot", "search-assistant", "platform", "ads-ranker"]
        self.tags: list[dict[str, str]] = [{}]
        for _ in range(_TAG_VARIANTS - 1):
            tags = {rng.choice(spellings["project"]): rng.choice(projects)}
            if rng.random() < 0.8:
                tags[rng.choice(spellings["env"])] = rng.choice(envs)
            if rng.random() < 0.6:
                tags[rng.choice(spellings["cost"])] = rng.choice(["CC-1000", "CC-4100", "4200"])
            for key, values in (
                ("user_team", ["ml-research", "serving", "platform", "search"]),
                ("user_workload_type", ["training", "inference", "batch", "genai"]),
                ("user_model", ["atlas-13b", "nova-lite", "claude-sonnet-4-5"]),
                ("user_owner", ["dana.k@acme.ai", "sam.r@acme.ai", "ops@acme.ai"]),
            ):
                if rng.random() < 0.4:
                    tags[key] = rng.choice(values)
            self.tags.append(tags)
        self.cost_categories = [
            {"business_unit": ["Research", "Product", "Platform", "Corporate"][i % 4]}
            for i in range(_SYN_ACCOUNTS)
        ]
        # Resources: per template, a pool with a stable id, account and tag variant.
        self.resource_ids: list[str | None] = []
        self.resource_accounts: list[int] = []
        self.resource_tags: list[int] = []
        self.resource_azs: list[str | None] = []
        for t_index, template in enumerate(_TEMPLATES):
            for r in range(_RESOURCES_PER_TEMPLATE):
                digest = hashlib.sha256(f"{seed}:{t_index}:{r}".encode()).hexdigest()
                if template.resource is None:
                    self.resource_ids.append(None)
                elif template.resource.startswith(("i-0", "vol-0", "nat-0")):
                    self.resource_ids.append(template.resource + digest[:16])
                else:
                    self.resource_ids.append(f"{template.resource}{digest[:8]}")
                self.resource_accounts.append(rng.randrange(_SYN_ACCOUNTS))
                taggable = template.resource is not None and template.kind not in (
                    _K_SP_FEE,
                    _K_RI_FEE,
                    _K_TAX,
                    _K_CREDIT,
                )
                untagged = not taggable or rng.random() < 0.2
                self.resource_tags.append(0 if untagged else rng.randrange(1, _TAG_VARIANTS))
                az = f"us-east-1{'abcdef'[rng.randrange(6)]}" if template.az else None
                self.resource_azs.append(az)
        lut: list[int] = []
        for t_index, template in enumerate(_TEMPLATES):
            lut += [t_index] * template.weight
        if len(lut) != 1024:
            raise AssertionError(f"template weights sum to {len(lut)}, expected 1024")
        self.lut = lut

    def template_column(self, attribute: str) -> list[Any]:
        out = []
        for t in _TEMPLATES:
            sku = t.sku
            value = {
                "product_code": sku.product_code,
                "usage_type": sku.usage_type if t.kind not in (_K_TAX, _K_CREDIT) else None,
                "operation": (sku.operation or None) if t.kind not in (_K_TAX, _K_CREDIT) else None,
                "unit": sku.unit if t.kind not in (_K_TAX, _K_CREDIT) else None,
                "family": sku.family,
                "instance_type": sku.instance_type,
                "region": sku.region[0],
                "location": sku.region[1],
                "sku": sku.sku,
                "servicecode": sku.servicecode or sku.product_code,
                "billing_entity": sku.billing_entity,
                "legal_entity": sku.legal_entity,
                "description": {
                    _K_TAX: "Tax for product code " + sku.product_code,
                    _K_CREDIT: "AWS Activate Credits",
                    _K_RI: _ri_applied_description(sku),
                }.get(t.kind, sku.description),
                "rate": float(sku.rate),
                "rate_text": _num(sku.rate),
                "factor": float(sku.normalization_factor)
                if sku.normalization_factor is not None
                else None,
                "kind": t.kind,
                "low": float(t.low),
                "high": float(t.high),
                "integer": t.integer,
                "term": {
                    _K_SPOT: "Spot",
                    _K_RI: "Reserved",
                    _K_RI_FEE: "Reserved",
                    _K_SP_FEE: None,
                    _K_TAX: None,
                    _K_CREDIT: None,
                }.get(t.kind, "OnDemand"),
                "purchase_option": "Partial Upfront" if t.kind in (_K_RI, _K_RI_FEE) else None,
            }[attribute]
            out.append(value)
        return out


def _synthetic_chunk(
    pools: _SyntheticPools, offset: int, n: int, seed: int, total: int
) -> pl.DataFrame:
    """Rows ``offset .. offset+n`` as typed columns plus lookup indexes for the
    map columns and the day. Rows come in pairs: a Savings Plan pair is a covered row and its
    exact negation; other pairs are two independent rows."""
    frame = pl.DataFrame({"i": pl.int_range(offset, offset + n, dtype=pl.UInt64, eager=True)})
    i = pl.col("i")
    pair = i // 2
    # A pair cut off by the end of the export is no Savings Plan pair: no orphan rows.
    is_sp = (_uniform(pair, 1, seed) < _SP_PAIR_SHARE) & (pair * 2 + 1 < total)
    # Draws of a Savings Plan pair use the pair as key, so both rows agree; pair keys live in
    # [2**31, 2**32) and row keys below 2**31, so the two never share draws.
    key = pl.when(is_sp).then(pair + (1 << 31)).otherwise(i)
    lut_index = (_uniform(i, 2, seed) * 1024).cast(pl.UInt32)
    sp_template = _pick(
        _SP_TEMPLATES, (_uniform(pair, 3, seed) * len(_SP_TEMPLATES)).cast(pl.UInt32), pl.UInt32
    )
    template = pl.when(is_sp).then(sp_template).otherwise(_pick(pools.lut, lut_index, pl.UInt32))
    frame = frame.with_columns(
        is_sp.alias("_sp"),
        key.alias("_key"),
        template.alias("_t"),
        ((i % 2 == 1) & is_sp).alias("_neg"),
    )
    key, t = pl.col("_key"), pl.col("_t")

    def col(attribute: str, dtype: pl.DataType) -> pl.Expr:
        return _pick(pools.template_column(attribute), t, dtype)

    kind = pl.when(pl.col("_neg")).then(pl.lit(_K_NEG)).otherwise(col("kind", pl.Int32))
    resource = t.cast(pl.UInt64) * _RESOURCES_PER_TEMPLATE + (
        _uniform(key, 4, seed) * _RESOURCES_PER_TEMPLATE
    ).cast(pl.UInt64)
    frame = frame.with_columns(
        kind.alias("_kind"),
        resource.alias("_res"),
        (_uniform(key, 5, seed) * len(pools.days)).cast(pl.UInt32).alias("_day"),
        _uniform(key, 6, seed).alias("_u_amount"),
        _uniform(key, 7, seed).alias("_u_price"),
    )
    k, res, u = pl.col("_kind"), pl.col("_res"), pl.col("_u_amount")
    low, high = col("low", pl.Float64), col("high", pl.Float64)
    raw = low + (high - low) * u
    amount = pl.when(col("integer", pl.Boolean)).then(raw.floor()).otherwise(raw.round(4))
    od_rate = col("rate", pl.Float64)
    rate = (
        pl.when(k == _K_SPOT)
        .then((od_rate * (0.33 + 0.1 * pl.col("_u_price"))).round(4))
        .when(k.is_in([_K_RI]))
        .then(pl.lit(0.0))
        .when(k == _K_NEG)
        .then(-od_rate)
        .when(k.is_in([_K_TAX, _K_CREDIT]))
        .then(pl.lit(None, pl.Float64))
        .otherwise(od_rate)
    )
    frame = frame.with_columns(
        pl.when(k.is_in([_K_TAX, _K_CREDIT])).then(None).otherwise(amount).alias("_amount"),
        rate.alias("_rate"),
        pl.when(k == _K_TAX)
        .then(amount)
        .when(k == _K_CREDIT)
        .then(-amount)
        .otherwise((amount * rate).round(10))
        .alias("_cost"),
        od_rate.alias("_od_rate"),
    )
    amount, rate, cost, od = pl.col("_amount"), pl.col("_rate"), pl.col("_cost"), pl.col("_od_rate")
    usage_like = k.is_in([_K_USAGE, _K_SPOT, _K_RI, _K_SP])
    zero_od = k.is_in([_K_NEG, _K_SP_FEE, _K_RI_FEE])
    sp_rate = (od * _SYN_SP_RATE_FACTOR).round(4)
    ri_rate = od * 0.6
    entity = col("billing_entity", pl.String)
    invoice = (
        pl.when(entity == "AWS")
        .then(pl.lit(f"{seed:04d}{pools.period.label[2:4]}0001"))
        .otherwise(pl.lit(f"{seed:04d}{pools.period.label[2:4]}0002"))
        if pools.period.closed
        else pl.lit(None, pl.String)
    )
    account = _pick(pools.resource_accounts, res, pl.UInt32)
    f64 = pl.lit(None, pl.Float64)
    s = pl.lit(None, pl.String)
    # Rates are text columns: spell them as plain decimals, never 5e-06.
    od_text = col("rate_text", pl.String)
    rate_text = (
        pl.when(k == _K_SPOT)
        .then(rate.cast(pl.String))
        .when(k == _K_RI)
        .then(pl.lit("0"))
        .when(k == _K_NEG)
        .then(pl.lit("-") + od_text)
        .when(k.is_in([_K_TAX, _K_CREDIT]))
        .then(s)
        .otherwise(od_text)
    )
    # 52 lower-case characters like AWS's ids: five hashed 10-digit blocks spelt in letters.
    line_item_id = pl.concat_str(
        [
            _mix32(d ^ pl.lit((j * 0x27D4EB2F + seed) & _MASK32, pl.UInt64))
            .cast(pl.String)
            .str.zfill(10)
            for j, d in enumerate([pl.col("i"), pl.col("i") + 1, pl.col("i") + 2, key, res])
        ]
        + [pl.lit("qa")],
    ).str.replace_many([str(x) for x in range(10)], list("wzhyjknpmr"))
    neg = pl.col("_neg")
    account_ids = [a for a, _ in pools.accounts]
    account_names = [n for _, n in pools.accounts]
    return frame.select(
        line_item_id.alias("identity_line_item_id"),
        pl.col("_day"),
        invoice.alias("bill_invoice_id"),
        pl.lit(_AWS_INC).alias("bill_invoicing_entity"),
        entity.alias("bill_billing_entity"),
        pl.lit("Anniversary").alias("bill_bill_type"),
        pl.lit(_PAYER_ID).alias("bill_payer_account_id"),
        pl.lit(_PAYER_NAME).alias("bill_payer_account_name"),
        _pick(account_ids, account, pl.String).alias("line_item_usage_account_id"),
        _pick(account_names, account, pl.String).alias("line_item_usage_account_name"),
        _pick([_KIND_TYPE[x] for x in range(9)], k, pl.String).alias("line_item_line_item_type"),
        col("product_code", pl.String).alias("line_item_product_code"),
        col("usage_type", pl.String).alias("line_item_usage_type"),
        col("operation", pl.String).alias("line_item_operation"),
        _pick(pools.resource_azs, res, pl.String).alias("line_item_availability_zone"),
        _pick(pools.resource_ids, res, pl.String).alias("line_item_resource_id"),
        amount.alias("line_item_usage_amount"),
        col("factor", pl.Float64).alias("line_item_normalization_factor"),
        (amount * col("factor", pl.Float64)).alias("line_item_normalized_usage_amount"),
        pl.lit("USD").alias("line_item_currency_code"),
        rate_text.alias("line_item_unblended_rate"),
        cost.alias("line_item_unblended_cost"),
        rate_text.alias("line_item_blended_rate"),
        cost.alias("line_item_blended_cost"),
        pl.when(neg)
        .then(
            pl.lit("SavingsPlanNegation used by AccountId : ")
            + _pick(account_ids, account, pl.String)
            + pl.lit(" and UsageSku : ")
            + col("sku", pl.String)
        )
        .otherwise(col("description", pl.String))
        .alias("line_item_line_item_description"),
        pl.when(k == _K_TAX).then(pl.lit("USSalesTax")).otherwise(s).alias("line_item_tax_type"),
        col("legal_entity", pl.String).alias("line_item_legal_entity"),
        t.alias("_product"),
        col("servicecode", pl.String).alias("product_servicecode"),
        col("family", pl.String).alias("product_product_family"),
        col("instance_type", pl.String).alias("product_instance_type"),
        col("region", pl.String).alias("product_region_code"),
        col("location", pl.String).alias("product_location"),
        col("sku", pl.String).alias("product_sku"),
        pl.lit("USD").alias("pricing_currency"),
        pl.when(usage_like)
        .then((amount * od).round(10))
        .when(zero_od)
        .then(0.0)
        .otherwise(f64)
        .alias("pricing_public_on_demand_cost"),
        pl.when(usage_like)
        .then(od_text)
        .when(zero_od)
        .then(pl.lit("0"))
        .otherwise(s)
        .alias("pricing_public_on_demand_rate"),
        pl.when(neg)
        .then(pl.lit("OnDemand"))
        .otherwise(col("term", pl.String))
        .alias("pricing_term"),
        col("unit", pl.String).alias("pricing_unit"),
        col("purchase_option", pl.String).alias("pricing_purchase_option"),
        pl.when(k.is_in([_K_RI, _K_RI_FEE]))
        .then(pl.lit(_RI_ARN))
        .otherwise(s)
        .alias("reservation_reservation_a_r_n"),
        pl.when(k == _K_RI)
        .then((amount * ri_rate).round(10))
        .otherwise(f64)
        .alias("reservation_effective_cost"),
        pl.when(k == _K_RI)
        .then((amount * ri_rate * 0.5).round(10))
        .otherwise(f64)
        .alias("reservation_amortized_upfront_cost_for_usage"),
        pl.when(k == _K_RI)
        .then((amount * ri_rate * 0.5).round(10))
        .otherwise(f64)
        .alias("reservation_recurring_fee_for_usage"),
        pl.when(k == _K_RI_FEE)
        .then((amount * od * 0.1 * u).round(10))
        .otherwise(f64)
        .alias("reservation_unused_amortized_upfront_fee_for_billing_period"),
        pl.when(k == _K_RI_FEE)
        .then((amount * od * 0.1 * u).round(10))
        .otherwise(f64)
        .alias("reservation_unused_recurring_fee"),
        pl.when(k == _K_RI_FEE)
        .then((amount * 0.1 * u).round(4))
        .otherwise(f64)
        .alias("reservation_unused_quantity"),
        pl.when(k.is_in([_K_RI, _K_RI_FEE]))
        .then(pl.lit(_RI_START))
        .otherwise(s)
        .alias("reservation_start_time"),
        pl.when(k.is_in([_K_RI, _K_RI_FEE]))
        .then(pl.lit(_RI_END))
        .otherwise(s)
        .alias("reservation_end_time"),
        pl.when(k.is_in([_K_SP, _K_NEG, _K_SP_FEE]))
        .then(pl.lit(_SP_ARN))
        .otherwise(s)
        .alias("savings_plan_savings_plan_a_r_n"),
        pl.when(k == _K_SP)
        .then((amount * sp_rate).round(10))
        .when(k == _K_NEG)
        .then(0.0)
        .otherwise(f64)
        .alias("savings_plan_savings_plan_effective_cost"),
        pl.when(k == _K_SP).then(sp_rate).otherwise(f64).alias("savings_plan_savings_plan_rate"),
        pl.when(k == _K_SP_FEE)
        .then(cost)
        .otherwise(f64)
        .alias("savings_plan_total_commitment_to_date"),
        pl.when(k == _K_SP_FEE)
        .then((cost * (0.8 + 0.2 * u)).round(10))
        .otherwise(f64)
        .alias("savings_plan_used_commitment"),
        pl.when(k == _K_SP_FEE)
        .then(0.0)
        .otherwise(f64)
        .alias("savings_plan_amortized_upfront_commitment_for_billing_period"),
        pl.when(k == _K_SP_FEE)
        .then(cost)
        .otherwise(f64)
        .alias("savings_plan_recurring_commitment_for_billing_period"),
        pl.when(k.is_in([_K_SP, _K_NEG, _K_SP_FEE]))
        .then(pl.lit("ComputeSavingsPlans"))
        .otherwise(s)
        .alias("savings_plan_offering_type"),
        pl.when(k.is_in([_K_SP, _K_NEG, _K_SP_FEE]))
        .then(pl.lit(_SP_START))
        .otherwise(s)
        .alias("savings_plan_start_time"),
        pl.when(k.is_in([_K_SP, _K_NEG, _K_SP_FEE]))
        .then(pl.lit(_SP_END))
        .otherwise(s)
        .alias("savings_plan_end_time"),
        _pick(pools.resource_tags, res, pl.UInt32).alias("_tags"),
        account.alias("_account"),
    )


def _arrow_type(kind: str) -> pa.DataType:
    return {
        "string": pa.string(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms"),
        "map<string,string>": pa.map_(pa.string(), pa.string()),
    }[kind]


CUR2_ARROW_SCHEMA = pa.schema([pa.field(n, _arrow_type(k)) for n, k in CUR2_COLUMNS])


def _json_maps(maps: Sequence[dict[str, str]]) -> list[str]:
    return [json.dumps(m, separators=(",", ":"), sort_keys=True) for m in maps]


def _csv_frame(chunk: pl.DataFrame, pools: _SyntheticPools) -> pl.DataFrame:
    """The chunk as CUR 2.0 CSV text: ISO timestamps, JSON maps, plain numbers."""
    starts = [_iso(d) for d in pools.days]
    ends = [_iso(d + timedelta(days=1)) for d in pools.days]
    intervals = [
        f"{d.isoformat()}T00:00:00Z/{(d + timedelta(days=1)).isoformat()}T00:00:00Z"
        for d in pools.days
    ]
    day = pl.col("_day")
    special = {
        "identity_time_interval": _pick(intervals, day, pl.String),
        "bill_billing_period_start_date": pl.lit(_iso(pools.period.start)),
        "bill_billing_period_end_date": pl.lit(_iso(pools.period.end)),
        "line_item_usage_start_date": _pick(starts, day, pl.String),
        "line_item_usage_end_date": _pick(ends, day, pl.String),
        "product": _pick(
            _json_maps([t.sku.product_map() for t in _TEMPLATES]), pl.col("_product"), pl.String
        ),
        "resource_tags": _pick(_json_maps(pools.tags), pl.col("_tags"), pl.String),
        "cost_category": _pick(_json_maps(pools.cost_categories), pl.col("_account"), pl.String),
        "discount": pl.lit(None, pl.String),
    }
    return chunk.select([special.get(n, pl.col(n)).alias(n) for n in CUR2_COLUMN_NAMES])


def _arrow_table(chunk: pl.DataFrame, pools: _SyntheticPools) -> pa.Table:
    """The chunk as a Parquet-ready Arrow table with true MAP<string,string> columns."""
    intervals = [
        f"{d.isoformat()}T00:00:00Z/{(d + timedelta(days=1)).isoformat()}T00:00:00Z"
        for d in pools.days
    ]
    first = datetime.combine(pools.days[0], datetime.min.time())
    usage_start = pl.lit(first) + pl.duration(days=pl.col("_day"))
    special = {
        "identity_time_interval": _pick(intervals, pl.col("_day"), pl.String),
        "bill_billing_period_start_date": pl.lit(
            datetime.combine(pools.period.start, datetime.min.time())
        ),
        "bill_billing_period_end_date": pl.lit(
            datetime.combine(pools.period.end, datetime.min.time())
        ),
        "line_item_usage_start_date": usage_start,
        "line_item_usage_end_date": usage_start + pl.duration(days=1),
    }
    plain = [n for n in CUR2_COLUMN_NAMES if n not in _MAP_COLUMNS]
    table = chunk.select(
        [special.get(n, pl.col(n)).alias(n) for n in plain],
    ).to_arrow()
    map_type = pa.map_(pa.string(), pa.string())
    pools_arrow = {
        "product": (
            pa.array([list(t.sku.product_map().items()) for t in _TEMPLATES], map_type),
            "_product",
        ),
        "resource_tags": (pa.array([list(m.items()) for m in pools.tags], map_type), "_tags"),
        "cost_category": (
            pa.array([list(m.items()) for m in pools.cost_categories], map_type),
            "_account",
        ),
    }
    arrays = []
    for field in CUR2_ARROW_SCHEMA:
        if field.name == "discount":
            arrays.append(pa.nulls(chunk.height, map_type))
        elif field.name in pools_arrow:
            pool, index = pools_arrow[field.name]
            arrays.append(pool.take(chunk[index].to_arrow()))
        else:
            arrays.append(table.column(field.name).cast(field.type))
    return pa.Table.from_arrays(arrays, schema=CUR2_ARROW_SCHEMA)


def write_synthetic_cur2_export(
    root: Path,
    n_rows: int,
    fmt: Literal["csv.gz", "parquet"],
    period: str = "2026-11",
    export_name: str = "bench",
    files: int = 4,
    seed: int = 1,
) -> Path:
    """Write a CUR 2.0 delivery of ``n_rows`` plausible line items for benchmarks.

    Same layout (prefix ``cur2``) and columns as the demo. Rows are generated vectorised in
    chunks of 250,000 and streamed out (gzip CSV, or Parquet row groups with real MAP columns),
    so memory stays bounded whatever ``n_rows`` is (about 1 GB peak). Savings Plan rows come as
    covered-usage / negation pairs with exactly opposite costs. Returns the manifest path.
    """
    if n_rows < 1 or files < 1:
        raise ValueError("n_rows and files must be positive")
    if fmt not in ("csv.gz", "parquet"):
        raise ValueError(f"unknown format {fmt!r}: expected 'csv.gz' or 'parquet'")
    if n_rows >= 1 << 31:
        raise ValueError("n_rows must stay below 2**31 (row keys are hashed as 32-bit)")
    root = Path(root)
    p = _period(period)
    pools = _SyntheticPools(p, seed)
    execution_id = str(
        uuid.uuid5(
            _ID_NAMESPACE, f"synthetic:{seed}:{export_name}:{p.label}:{n_rows}:{fmt}:{files}"
        )
    )
    out_dir = _data_dir(root, "cur2", export_name, p.label, execution_id)
    suffix = "csv.gz" if fmt == "csv.gz" else "snappy.parquet"
    per_file = -(-n_rows // files)
    names = []
    for part in range(files):
        begin, stop = part * per_file, min(n_rows, (part + 1) * per_file)
        if begin >= stop:
            break
        name = f"{export_name}-{part + 1:05d}.{suffix}"
        names.append(name)
        chunks = _chunk_ranges(begin, stop)
        if fmt == "parquet":
            with pq.ParquetWriter(out_dir / name, CUR2_ARROW_SCHEMA, compression="snappy") as w:
                for offset, size in chunks:
                    chunk = _synthetic_chunk(pools, offset, size, seed, n_rows)
                    w.write_table(_arrow_table(chunk, pools))
            continue
        stream = _gzip_bytes_writer(out_dir / name)
        try:
            for j, (offset, size) in enumerate(chunks):
                frame = _csv_frame(_synthetic_chunk(pools, offset, size, seed, n_rows), pools)
                buffer = io.BytesIO()
                frame.write_csv(buffer, include_header=j == 0, float_scientific=False)
                del frame
                stream.write(buffer.getbuffer())
        finally:
            _close_gzip(stream)
    created = datetime.combine(
        min(p.end + timedelta(days=13), DEMO_TODAY), datetime.min.time()
    ) + timedelta(hours=4, minutes=37, seconds=12)
    return _write_manifest(
        root=root,
        bucket="bench-billing-bucket",
        prefix="cur2",
        export_name=export_name,
        period=p,
        execution_id=execution_id,
        file_names=names,
        created_at=created,
    )


def _chunk_ranges(begin: int, stop: int) -> Iterator[tuple[int, int]]:
    for offset in range(begin, stop, _CHUNK_ROWS):
        yield offset, min(_CHUNK_ROWS, stop - offset)
