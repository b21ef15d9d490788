"""A deterministic OCI cost-report stream, laid out as Oracle writes it into the usage bucket.

The demo's OCI side: the tenancy of a small AI company (Acme AI Ltd) that bills in GBP, the
demo's second non-USD billing account. Three compartments in ``uk-london-1``: ``ml-training``
(a BM.GPU.H100.8 node fine-tuning on weekday evenings, its block volume, a dataset bucket),
``ml-inference`` (a VM.GPU.A10.1 serving around the clock, its boot volume, egress, OCI
Generative AI on demand: "Large Cohere" billed per 10,000 characters and Meta Llama 3.3 billed
per million input and output tokens) and ``sandbox`` (a second H100 node researchers borrow on
Tuesday and Thursday afternoons, a scratch bucket, egress), mostly untagged: about a fifth of
the spend carries no tag. One correction gives back 2 of the 8 GPU-hours of an early H100 hour
of the newest period, two days after that hour was billed.

Layout under ``<root>`` (which stands for the usage-report bucket)::

    reports/cost-csv/<16 digits>.csv.gz     one file per daily delivery, names increasing

Files are slices of time, not months: the file closing at 04:00 UTC on day D holds every row
whose interval ended after the previous cut (04:00 on D-1) and at or before that one. So the
file closing on 2026-11-01 holds the last hours of 2026-10-31 and the first of 2026-11-01, and
a reader must take each row's billing period from ``lineItem/intervalUsageStart``. The file
number is a fixed base plus the closing day's ordinal, so a day's file has one name whatever
periods are written.

Rows follow the real sample ``reports_cost-csv_0000000030000269.csv``: its columns in its
order, then ``tags/<namespace>.<key>`` columns, starts written ``2026-11-03T10:00Z`` and ends
``2026-11-03T11:00:00Z``, numbers with 18 decimals, CRLF line ends. Compute and Generative AI
are hourly; storage and egress are one row per day (the sample bills them hourly too: daily
keeps a month near 1,300 rows).

Everything is a pure function of the arguments: gzip headers carry no name and mtime 0,
randomness comes from generators seeded per (seed, day, stream), ids are digests of fixed text,
so two runs write byte-identical files.

Choices the documentation does not pin down (a real report may overrule them): the 04:00 cut;
every file has the same tag columns; free-form tags are ``tags/<key>`` (here ``tags/Owner``);
a row that is not a correction leaves ``lineItem/backreferenceNo`` empty; availability domains
are written short, like the sample's ``sj-1``; SKU numbers and GBP prices are invented, close
to Oracle's USD list prices.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from demo.aws import _Period, _period, _write_csv_gzip

__all__ = ["COST_REPORT_HEADER", "write_demo_oci_export"]

# The real sample's columns in its order, then this tenancy's tag columns.
COST_REPORT_HEADER = (
    "lineItem/referenceNo",
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "product/service",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/availabilityDomain",
    "product/resourceId",
    "usage/billedQuantity",
    "usage/billedQuantityOverage",
    "cost/subscriptionId",
    "cost/productSku",
    "product/Description",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    "cost/myCost",
    "cost/myCostOverage",
    "cost/currencyCode",
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "cost/overageFlag",
    "lineItem/isCorrection",
    "lineItem/backreferenceNo",
    "tags/CostTracking.project",
    "tags/CostTracking.cost_center",
    "tags/CostTracking.environment",
    "tags/CostTracking.workload_type",
    "tags/CostTracking.model",
    "tags/Owner",
)

_REGION = "uk-london-1"
_CURRENCY = "GBP"
_OBJECT_NAMESPACE = "lrk4acmeai7x"
_CUT_HOUR = 4  # UTC hour at which a daily report file closes
_FILE_BASE = 30_000_000  # + the closing day's ordinal: 0000000030739xxx
_PLACES = Decimal("1e-18")


def _digest(text: str, length: int) -> str:
    """A stable lower-case base32 id part (OCIDs look like this)."""
    raw = base64.b32encode(hashlib.sha512(text.encode()).digest()).decode().rstrip("=")
    return raw.lower()[:length]


def _fixed(value: Decimal) -> str:
    """Number text as in the sample: 18 decimals, no exponent."""
    return f"{value.quantize(_PLACES):f}"


@dataclass(frozen=True)
class _Sku:
    """One price-list line: what a cost report repeats on every row of the SKU."""

    number: str
    service: str
    description: str
    readable: str  # cost/billingUnitReadable
    unit: str  # cost/skuUnitDescription
    price: Decimal  # GBP per unit


@dataclass(frozen=True)
class _Resource:
    kind: str  # the OCID's resource type, or "bucket" (written namespace/name)
    name: str
    compartment: str
    tags: dict[str, str] = field(default_factory=dict)
    domain: str = ""


def _gpu(number: str, shape: str, price: str) -> _Sku:
    # The shape in the description is what oci.py reads as x_InstanceType.
    desc = f"Compute - GPU - {shape}"
    return _Sku(number, "COMPUTE", desc, "1 NONE HOURS GPUS", "GPU Per Hour", Decimal(price))


def _genai(number: str, model: str, readable: str, unit: str, price: str) -> _Sku:
    desc = f"OCI Generative AI - {model}"
    return _Sku(number, "GENERATIVE_AI", desc, readable, unit, Decimal(price))


_H100 = _gpu("B98415", "BM.GPU.H100.8", "7.9560")
_A10 = _gpu("B95909", "VM.GPU.A10.1", "1.5912")
_BLOCK = _Sku(
    "B91961",
    "BLOCK_STORAGE",
    "Block Volume - Storage",
    "1 GiB MONTHS STORAGE_SIZE",
    "GB Months",
    Decimal("0.0204"),
)
_VPU = _Sku(
    "B91962",
    "BLOCK_STORAGE",
    "Block Volume - Performance Units",
    "1 GiB MONTHS PERFORMANCE_UNITS",
    "GB Months",
    Decimal("0.00136"),
)
_OBJECT = _Sku(
    "B91628",
    "OBJECTSTORE",
    "Object Storage - Storage",
    "1 GiB MONTHS STORAGE_SIZE",
    "GB Months",
    Decimal("0.0204"),
)
_EGRESS = _Sku(
    "B88327",
    "NETWORK",
    "Outbound Data Transfer Zone 1",
    "1 GiB NONE DATA_TRANSFERRED",
    "GB Of Data Transferred",
    Decimal("0.0068"),
)
# Older on-demand chat models bill per character ("transactions", priced per 10,000); newer
# ones per million tokens. oci.py keeps what is counted: characters stay characters.
_CHARS = "10000 NONE NONE TRANSACTIONS", "10,000 Characters"
_TOKENS = "1000000 NONE NONE TOKENS", "1,000,000 Tokens"
_COHERE = _genai("B108077", "Large Cohere", *_CHARS, "0.0175")
_LLAMA_IN = _genai("B110461", "Meta Llama 3.3 70B - Input Tokens", *_TOKENS, "0.5600")
_LLAMA_OUT = _genai("B110462", "Meta Llama 3.3 70B - Output Tokens", *_TOKENS, "1.6800")

# Defined tags (namespace CostTracking) with the spelling drift of a real tenancy, plus the
# free-form Owner tag. The sandbox is mostly untagged.
_TRAINING_TAGS = {
    "project": "atlas",
    "cost_center": "CC-4100",
    "environment": "prod",
    "workload_type": "training",
    "model": "atlas-13b",
    "Owner": "priya.shah@acme-ai.example",
}
_DATA_TAGS = {
    "project": "Atlas",
    "cost_center": "4100",
    "environment": "production",
    "workload_type": "training",
    "Owner": "Priya.Shah@acme-ai.example",
}
_INFERENCE_TAGS = {
    "project": "atlas",
    "cost_center": "CC-4200",
    "environment": "prod",
    "workload_type": "inference",
    "model": "atlas-13b-instruct",
    "Owner": "ml-platform@acme-ai.example",
}
_SUPPORT_TAGS = {
    "project": "support-bot",
    "cost_center": "CC-4300",
    "environment": "prod",
    "workload_type": "genai",
    "model": "cohere.command-r-plus",
}
_ASSISTANT_TAGS = {
    "project": "atlas",
    "cost_center": "CC-4200",
    "environment": "Prod",
    "workload_type": "inference",
    "model": "meta.llama-3.3-70b-instruct",
}

_TRAIN, _SERVE, _SANDBOX = "ml-training", "ml-inference", "sandbox"
_H100_NODE = _Resource("instance", "bm-h100-train-01", _TRAIN, _TRAINING_TAGS, "lon-1")
_TRAIN_VOLUME = _Resource("volume", "bv-train-data-01", _TRAIN, _DATA_TAGS, "lon-1")
_DATASETS = _Resource("bucket", "atlas-datasets", _TRAIN, _DATA_TAGS)
_A10_VM = _Resource("instance", "vm-a10-serve-01", _SERVE, _INFERENCE_TAGS, "lon-2")
_A10_BOOT = _Resource("bootvolume", "vm-a10-serve-01-boot", _SERVE, _INFERENCE_TAGS, "lon-2")
_A10_VNIC = _Resource("vnic", "vm-a10-serve-01-vnic", _SERVE, _INFERENCE_TAGS)
_COHERE_MODEL = _Resource("generativeaimodel", "cohere.command-r-plus", _SERVE, _SUPPORT_TAGS)
_LLAMA_MODEL = _Resource(
    "generativeaimodel", "meta.llama-3.3-70b-instruct", _SERVE, _ASSISTANT_TAGS
)
_SCRATCH_NODE = _Resource("instance", "bm-h100-scratch", _SANDBOX, domain="lon-1")
_SCRATCH_VNIC = _Resource("vnic", "bm-h100-scratch-vnic", _SANDBOX)
_SCRATCH_BUCKET = _Resource("bucket", "scratch", _SANDBOX, {"Owner": "tom@acme-ai.example"})


@dataclass
class _Line:
    """One report row and the moment OCI writes it (its interval's end, or later)."""

    row: dict[str, str]
    start: datetime
    delivered: datetime


class _OciBill:
    """Builds the rows of some days of the tenancy, in generation order."""

    def __init__(self, tenancy: str, seed: int) -> None:
        self.tenancy = tenancy
        self.seed = seed
        self.subscription = f"ocid1.organizationssubscription.oc1.{_REGION}.{_digest(tenancy, 60)}"
        self.lines: list[_Line] = []

    def _rng(self, day: date, stream: str) -> random.Random:
        return random.Random(f"{self.seed}:{day.isoformat()}:{stream}")

    def _resource_id(self, resource: _Resource) -> str:
        if resource.kind == "bucket":
            return f"{_OBJECT_NAMESPACE}/{resource.name}"
        return f"ocid1.{resource.kind}.oc1.{_REGION}.{_digest(self.tenancy + resource.name, 60)}"

    def _compartment_id(self, name: str) -> str:
        return f"ocid1.compartment.oc1..aaaaaaaa{_digest(self.tenancy + name, 52)}"

    def add(
        self, start: datetime, hours: int, sku: _Sku, resource: _Resource, quantity: Decimal
    ) -> _Line:
        end = start + timedelta(hours=hours)
        key = f"{self.seed}:{self.tenancy}:{resource.name}:{sku.number}:{start.isoformat()}"
        row = dict.fromkeys(COST_REPORT_HEADER, "")
        row.update(
            {
                "lineItem/referenceNo": hashlib.md5(key.encode()).hexdigest(),
                "lineItem/tenantId": self.tenancy,
                "lineItem/intervalUsageStart": start.strftime("%Y-%m-%dT%H:%MZ"),
                "lineItem/intervalUsageEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "product/service": sku.service,
                "product/compartmentId": self._compartment_id(resource.compartment),
                "product/compartmentName": resource.compartment,
                "product/region": _REGION,
                "product/availabilityDomain": resource.domain,
                "product/resourceId": self._resource_id(resource),
                "usage/billedQuantity": _fixed(quantity),
                "cost/subscriptionId": self.subscription,
                "cost/productSku": sku.number,
                "product/Description": sku.description,
                "cost/unitPrice": _fixed(sku.price),
                "cost/myCost": _fixed(quantity.quantize(_PLACES) * sku.price),
                "cost/currencyCode": _CURRENCY,
                "cost/billingUnitReadable": sku.readable,
                "cost/skuUnitDescription": sku.unit,
                "cost/overageFlag": "false",
                "lineItem/isCorrection": "false",
            }
        )
        for tag, value in resource.tags.items():
            row["tags/Owner" if tag == "Owner" else f"tags/CostTracking.{tag}"] = value
        line = _Line(row, start, end)
        self.lines.append(line)
        return line

    def day(self, day: date, days_in_month: int) -> None:
        midnight = datetime.combine(day, time())
        weekday = day.weekday() < 5
        for hour in range(24):  # the A10 serves around the clock
            self.add(midnight + timedelta(hours=hour), 1, _A10, _A10_VM, Decimal(1))
        if weekday:  # fine-tuning on weekday evenings, 8 GPU-hours per hour on the node
            for hour in range(18, 18 + self._rng(day, "h100").randint(3, 6)):
                self.add(midnight + timedelta(hours=hour), 1, _H100, _H100_NODE, Decimal(8))
        if day.weekday() in (1, 3):  # the untagged scratch node, Tuesday and Thursday
            for hour in range(13, 13 + self._rng(day, "scratch").randint(3, 4)):
                self.add(midnight + timedelta(hours=hour), 1, _H100, _SCRATCH_NODE, Decimal(8))
        self._storage(midnight, day, days_in_month)
        if weekday:
            self._generative_ai(midnight, day)

    def _storage(self, midnight: datetime, day: date, days_in_month: int) -> None:
        """Daily rows: a month's GB-months spread evenly over its days, and the day's egress."""
        share = Decimal(1) / Decimal(days_in_month)
        volume_gb, boot_gb = Decimal(2048), Decimal(256)
        self.add(midnight, 24, _BLOCK, _TRAIN_VOLUME, volume_gb * share)
        self.add(midnight, 24, _VPU, _TRAIN_VOLUME, volume_gb * 20 * share)  # 20 VPUs/GB
        self.add(midnight, 24, _BLOCK, _A10_BOOT, boot_gb * share)
        self.add(midnight, 24, _VPU, _A10_BOOT, boot_gb * 10 * share)  # 10 VPUs/GB
        self.add(midnight, 24, _OBJECT, _DATASETS, Decimal(18000 + 150 * day.day) * share)
        self.add(midnight, 24, _OBJECT, _SCRATCH_BUCKET, Decimal(6500) * share)
        rng = self._rng(day, "egress")
        self.add(midnight, 24, _EGRESS, _A10_VNIC, Decimal(rng.randint(400, 900)) / 10)
        self.add(midnight, 24, _EGRESS, _SCRATCH_VNIC, Decimal(rng.randint(20, 150)) / 10)

    def _generative_ai(self, midnight: datetime, day: date) -> None:
        """On-demand calls in office hours: characters for Cohere, tokens for Llama."""
        rng = self._rng(day, "genai")
        for hour in range(9, 18):
            start = midnight + timedelta(hours=hour)
            if rng.random() < 0.25:  # 10,000-character units
                self.add(start, 1, _COHERE, _COHERE_MODEL, Decimal(rng.randint(400, 2600)) / 10)
            if rng.random() < 0.35:  # million-token units
                tokens_in = Decimal(rng.randint(300, 1800)) / 1000
                tokens_out = (tokens_in * Decimal(rng.randint(15, 30)) / 100).quantize(
                    Decimal("0.000001")
                )
                self.add(start, 1, _LLAMA_IN, _LLAMA_MODEL, tokens_in)
                self.add(start, 1, _LLAMA_OUT, _LLAMA_MODEL, tokens_out)

    def correct(self, period: _Period, last_cut: datetime) -> None:
        """Give back 2 of the 8 GPU-hours of the newest period's first H100 hour from its third
        day on (the node was in maintenance), two days after that hour was billed."""
        first = datetime.combine(period.start + timedelta(days=2), time())
        originals = [
            line
            for line in self.lines
            if line.row["product/Description"] == _H100.description
            and line.row["product/compartmentName"] == _TRAIN
            and first <= line.start < datetime.combine(period.end, time())
        ]
        if not originals:
            return
        original = originals[0]
        correction = self.add(original.start, 1, _H100, _H100_NODE, Decimal(-2))
        back = original.row["lineItem/referenceNo"]
        correction.row.update(
            {
                "lineItem/referenceNo": hashlib.md5(f"correction:{back}".encode()).hexdigest(),
                "lineItem/isCorrection": "true",
                "lineItem/backreferenceNo": back,
            }
        )
        correction.delivered = min(original.delivered + timedelta(days=2), last_cut)


def _closing_day(moment: datetime) -> date:
    """The day whose 04:00 cut closes the file a row delivered at ``moment`` goes into."""
    if moment <= datetime.combine(moment.date(), time(_CUT_HOUR)):
        return moment.date()
    return moment.date() + timedelta(days=1)


def write_demo_oci_export(
    root: Path,
    periods: Sequence[str] = ("2026-10", "2026-11"),
    tenancy: str = "ocid1.tenancy.oc1..aaaaaaaacostlakedemo",
    seed: int = 17,
) -> list[Path]:
    """Write the demo tenancy's cost reports under ``root`` (the usage-report bucket).

    Each period holds its days up to its ``through`` day (the newest is month-to-date); rows
    are cut into daily files at 04:00 UTC, so files straddle days and, between two periods that
    follow each other, one file straddles the month edge. Returns the written ``.csv.gz``
    paths in name (= time) order.
    """
    parsed = sorted({_period(label) for label in periods}, key=lambda p: p.start)
    if not parsed:
        raise ValueError("no billing periods given")
    bill = _OciBill(tenancy, seed)
    for p in parsed:
        for day in p.days():
            bill.day(day, p.days_in_month)
    last_cut = datetime.combine(parsed[-1].through + timedelta(days=1), time(_CUT_HOUR))
    bill.correct(parsed[-1], last_cut)

    by_file: dict[date, list[_Line]] = {}
    for line in bill.lines:
        by_file.setdefault(_closing_day(line.delivered), []).append(line)
    folder = Path(root) / "reports" / "cost-csv"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for closing in sorted(by_file):
        path = folder / f"{_FILE_BASE + closing.toordinal():016d}.csv.gz"
        _write_csv_gzip(path, COST_REPORT_HEADER, [line.row for line in by_file[closing]])
        written.append(path)
    return written
