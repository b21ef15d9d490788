"""A deterministic Azure Cost Management export (EA, ActualCost), laid out as Azure writes it.

The demo's Azure side: one EA enrollment that bills in EUR (the demo's non-USD billing
account), with two subscriptions running an ND H100 v5 training VM, NC A100 v4 inference VMs
(one on a monthly-paid reservation, one on demand), managed disks, blob storage, bandwidth and
Azure OpenAI tokens. Rows follow the EA cost-details schema of Microsoft's anonymous sample
export (PascalCase headers, ``MM/DD/YYYY`` dates, a UTF-8 BOM, ``Tags`` as JSON members without
their outer braces) so ``costlake.providers.azure`` reads them as it reads a real file.

Layout under ``<root>`` (which stands for the storage container)::

    <container_path>/<yyyyMMdd-yyyyMMdd>/<export>/<yyyyMMddHHmm>/<runId>/part_0_0001.csv.gz
                                                                        part_1_0001.csv.gz
                                                                        manifest.json

One run per month; the newest month also keeps an older month-to-date run (two days fewer)
whose manifest has an older ``runInfo.submittedTime``: a reader must take the newest run.

Everything is a pure function of the arguments: gzip headers carry no name and mtime 0,
randomness comes from generators seeded per (seed, day, stream), ids are uuid5 of fixed text,
so two runs write byte-identical files.

Format choices that Microsoft's documentation does not pin down (a real export may overrule
them): every part file repeats the header and the BOM; rows are shuffled across parts; the
manifest's ``blobName`` is relative to the container; ``endDate`` is the last day delivered.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from demo.aws import DEMO_TODAY, _num, _Period, _period, _write_csv_gzip

__all__ = ["EA_COLUMNS", "demo_azure_rows", "write_demo_azure_export"]

# The header of Microsoft's anonymous EA cost-details sample, in its order.
EA_COLUMNS = (
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
)

_ID_NAMESPACE = uuid.UUID("0e7f3b52-8c1d-4a6e-9f20-3d5b7a9c1e44")
_COST_PLACES = Decimal("1e-10")
_QTY_PLACES = Decimal("1e-8")
_CURRENCY = "EUR"
_ENROLLMENT = "74125896"
_ENROLLMENT_NAME = "Acme AI GmbH"
_DEPARTMENT = ("Machine Learning", "301")  # EA department → InvoiceSection name and id
_OWNER = "ml-platform@acme-ai.example"
_OFFER = "MS-AZR-0017P"
_LOCATION = "swedencentral"
_METER_REGION = "SE Central"
_DATA_VERSION = "2023-12-01-preview"
_API_VERSION = "2023-07-01-preview"
_MANIFEST_VERSION = "2024-04-01"
_STORAGE_ACCOUNT_ID = (
    "/subscriptions/{sub}/resourceGroups/rg-finops/providers/Microsoft.Storage/"
    "storageAccounts/stacmecostexports"
)


def _guid(text: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, text))


@dataclass(frozen=True)
class _Subscription:
    name: str
    cost_center: str

    @property
    def id(self) -> str:
        return _guid(f"subscription:{self.name}")


_PROD = _Subscription("atlas-production", "CC-4100")
_RESEARCH = _Subscription("atlas-research", "CC-4200")


@dataclass(frozen=True)
class _Meter:
    """What the EA price sheet says about one meter (prices in EUR per ``unit`` block)."""

    category: str
    subcategory: str
    name: str
    unit: str
    product: str
    part_number: str
    family: str
    consumed_service: str
    payg: Decimal
    price: Decimal  # the enrollment's negotiated price (UnitPrice)
    region: str = _METER_REGION

    @property
    def id(self) -> str:
        return _guid(f"meter:{self.product}")


@dataclass(frozen=True)
class _Resource:
    subscription: _Subscription
    group: str
    provider: str  # e.g. "Microsoft.Compute/virtualMachines"
    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription.id}/resourceGroups/{self.group}/providers/"
            f"{self.provider}/{self.name}"
        )


def _vm_meter(sub: str, name: str, size: str, payg: str, price: str, part: str) -> _Meter:
    return _Meter(
        category="Virtual Machines",
        subcategory=sub,
        name=name,
        unit="1 Hour",
        product=f"Virtual Machines {sub} - {name} - SE Central",
        part_number=part,
        family="Compute",
        consumed_service="Microsoft.Compute",
        payg=Decimal(payg),
        price=Decimal(price),
    )


_H100 = _vm_meter(
    "NDsr H100 v5 Series",
    "ND96isr H100 v5",
    "Standard_ND96isr_H100_v5",
    "91.6",
    "87.02",
    "AAK-31407",
)
_A100 = _vm_meter(
    "NCadsA100v4 Series",
    "NC24ads A100 v4",
    "Standard_NC24ads_A100_v4",
    "3.4376",
    "3.2657",
    "AAF-62310",
)
_P30 = _Meter(
    "Storage",
    "Premium SSD Managed Disks",
    "P30 LRS Disk",
    "1/Month",
    "Premium SSD Managed Disks - P30 LRS - SE Central",
    "AAD-10632",
    "Storage",
    "Microsoft.Compute",
    Decimal("122.35"),
    Decimal("122.35"),
)
_P40 = _Meter(
    "Storage",
    "Premium SSD Managed Disks",
    "P40 LRS Disk",
    "1/Month",
    "Premium SSD Managed Disks - P40 LRS - SE Central",
    "AAD-10633",
    "Storage",
    "Microsoft.Compute",
    Decimal("235.93"),
    Decimal("235.93"),
)
_HOT_STORED = _Meter(
    "Storage",
    "Tiered Block Blob",
    "Hot LRS Data Stored",
    "1 GB/Month",
    "Tiered Block Blob - Hot LRS - Data Stored - SE Central",
    "AAD-34251",
    "Storage",
    "Microsoft.Storage",
    Decimal("0.0184"),
    Decimal("0.0184"),
)
_HOT_WRITES = _Meter(
    "Storage",
    "Tiered Block Blob",
    "Hot LRS Write Operations",
    "10K",
    "Tiered Block Blob - Hot LRS - Write Operations - SE Central",
    "AAD-34256",
    "Storage",
    "Microsoft.Storage",
    Decimal("0.0497"),
    Decimal("0.0497"),
)
_EGRESS = _Meter(
    "Bandwidth",
    "",
    "Standard Data Transfer Out",
    "1 GB",
    "Rtn Preference: MGN - Standard Data Transfer Out - Zone 1",
    "AAA-95632",
    "Networking",
    "Microsoft.Compute",
    Decimal("0.0805"),
    Decimal("0.0805"),
    region="Zone 1",
)


def _openai_meter(direction: str, payg: str, part: str) -> _Meter:
    return _Meter(
        "Cognitive Services",
        "Azure OpenAI",
        f"gpt 4o 0513 {direction} global Tokens",
        "1K",
        f"Azure OpenAI - gpt 4o 0513 {direction} global Tokens - SE Central",
        part,
        "AI + Machine Learning",
        "Microsoft.CognitiveServices",
        Decimal(payg),
        Decimal(payg),
    )


_GPT_IN = _openai_meter("Input", "0.00232", "AAH-51402")
_GPT_OUT = _openai_meter("Output", "0.00928", "AAH-51403")

# Tag spellings differ between the subscriptions on purpose (Project/project,
# Environment/env): the lake's tag cleaning should fold them.
_PROD_TAGS = {"project": "atlas", "env": "prod"}
_RESEARCH_TAGS = {"Project": "Atlas", "Environment": "research"}

_VM = "Microsoft.Compute/virtualMachines"
_DISK = "Microsoft.Compute/disks"
_H100_VM = _Resource(_RESEARCH, "rg-atlas-training", _VM, "vm-h100-train-01", _RESEARCH_TAGS)
_H100_DISK = _Resource(
    _RESEARCH, "rg-atlas-training", _DISK, "vm-h100-train-01_OsDisk_1", _RESEARCH_TAGS
)
_A100_VM = _Resource(
    _PROD, "rg-atlas-inference", _VM, "vm-a100-infer-01", {**_PROD_TAGS, "team": "inference"}
)
_A100_DISK = _Resource(_PROD, "rg-atlas-inference", _DISK, "vm-a100-infer-01_OsDisk_1", _PROD_TAGS)
# Untagged: an on-demand batch VM someone started by hand, its scratch disk and storage.
_BATCH_VM = _Resource(_RESEARCH, "rg-scratch", _VM, "vm-a100-batch-02")
_BATCH_DISK = _Resource(_RESEARCH, "rg-scratch", _DISK, "vm-a100-batch-02-scratch")
_SCRATCH_STORAGE = _Resource(
    _RESEARCH, "rg-scratch", "Microsoft.Storage/storageAccounts", "stresearchscratch"
)
_DATA_STORAGE = _Resource(
    _PROD, "rg-atlas-data", "Microsoft.Storage/storageAccounts", "statlasdata", _PROD_TAGS
)
_OPENAI = _Resource(
    _PROD,
    "rg-atlas-ai",
    "Microsoft.CognitiveServices/accounts",
    "oai-atlas-swc",
    {**_PROD_TAGS, "team": "ml-platform"},
)

# The reservation: one NC24ads A100 v4, 1 year, paid monthly on its purchase anniversary.
_RI_ORDER = _guid("reservation-order:nc24ads-a100-v4")
_RI_ID = _guid("reservation:nc24ads-a100-v4")
_RI_NAME = "VM_RI_03-03-2026_09-12"
_RI_BENEFIT = f"/providers/Microsoft.Capacity/reservationOrders/{_RI_ORDER}/reservations/{_RI_ID}"
_RI_ORDER_NAME = "Reserved VM Instance, Standard_NC24ads_A100_v4, SE Central, 1 Year"
_RI_MONTHLY = Decimal("1492.8")
_RI_DAY = 3
_SLA_CREDIT = Decimal("-150")  # closed months: an SLA credit for an H100 outage (invented)


@dataclass(frozen=True)
class _Run:
    """One export run: which days it holds and when Azure submitted it."""

    period: _Period
    through: date
    submitted: datetime
    time_frame: str
    seed: int

    @property
    def run_id(self) -> str:
        return _guid(f"run:{self.seed}:{self.period.label}:{self.through.isoformat()}")


class _AzureBill:
    """Builds one run's rows for one period, as ``dict``s of EA column → text."""

    def __init__(self, period: _Period, through: date, seed: int) -> None:
        self.period = period
        self.through = through
        self.seed = seed
        self.rows: list[dict[str, str]] = []

    def _rng(self, day: date, stream: str) -> random.Random:
        # Per (seed, day, stream): a day's numbers are the same in every run that holds it.
        return random.Random(f"{self.seed}:{day.isoformat()}:{stream}")

    def _row(
        self,
        day: date,
        meter: _Meter | None,
        resource: _Resource | None,
        quantity: Decimal | None,
        cost: Decimal,
        **extra: str,
    ) -> None:
        sub = resource.subscription if resource else _PROD
        row = dict.fromkeys(EA_COLUMNS, "")
        row.update(
            InvoiceSectionName=_DEPARTMENT[0],
            AccountName="ML Platform",
            AccountOwnerId=_OWNER,
            SubscriptionId=sub.id,
            SubscriptionName=sub.name,
            Date=_us_date(day),
            CostInBillingCurrency=_num(_round(cost, _COST_PLACES)),
            CostCenter=sub.cost_center,
            OfferId=_OFFER,
            PublisherType="Azure",
            PublisherName="Microsoft",
            ChargeType="Usage",
            Frequency="UsageBased",
            PricingModel="OnDemand",
            BillingAccountId=_ENROLLMENT,
            BillingAccountName=_ENROLLMENT_NAME,
            BillingCurrencyCode=_CURRENCY,
            BillingPeriodStartDate=_us_date(self.period.start),
            BillingPeriodEndDate=_us_date(self.period.end - timedelta(days=1)),
            BillingProfileId=_ENROLLMENT,
            BillingProfileName=_ENROLLMENT_NAME,
            InvoiceSectionId=_DEPARTMENT[1],
            IsAzureCreditEligible="True",
        )
        if resource is not None:
            row.update(
                ResourceGroup=resource.group,
                ResourceLocation=_LOCATION,
                ResourceId=resource.id,
                ResourceName=resource.name,
                Tags=_tags(resource.tags),
            )
        if meter is not None:
            row.update(
                ProductName=meter.product,
                MeterCategory=meter.category,
                MeterSubCategory=meter.subcategory,
                MeterId=meter.id,
                MeterName=meter.name,
                MeterRegion=meter.region,
                UnitOfMeasure=meter.unit,
                Quantity=_num(quantity),
                EffectivePrice=_num(meter.price),
                ConsumedService=meter.consumed_service,
                UnitPrice=_num(meter.price),
                PartNumber=meter.part_number,
                PayGPrice=_num(meter.payg),
                ServiceFamily=meter.family,
            )
        row.update(extra)
        self.rows.append(row)

    def _usage(self, day: date, meter: _Meter, resource: _Resource, quantity: Decimal) -> None:
        quantity = _round(quantity, _QTY_PLACES)
        self._row(day, meter, resource, quantity, quantity * meter.price)

    def build(self) -> list[dict[str, str]]:
        days = self.period.days(self.through)
        for day in days:
            self._compute(day)
            self._storage(day)
            self._openai(day)
        self._monthly()
        return self.rows

    def _vm(self, day: date, meter: _Meter, vm: _Resource, size: str, hours: Decimal) -> None:
        info = {"UsageType": "ComputeHR", "ImageType": "Canonical", "ServiceType": size}
        info.update(
            VMName=vm.name, VCPUs=96 if "ND96" in size else 24, ConsumedQuantity=float(hours)
        )
        self._usage(day, meter, vm, hours)
        self.rows[-1].update(AdditionalInfo=_json(info), ServiceInfo2="Canonical")

    def _compute(self, day: date) -> None:
        # The H100 trains in bursts: a few hours on about one day in four.
        rng = self._rng(day, "h100")
        if rng.random() < 0.25:
            hours = Decimal(rng.randint(4, 14)) / 4
            self._vm(day, _H100, _H100_VM, "Standard_ND96isr_H100_v5", hours)
            self._usage(day, _EGRESS, _H100_VM, Decimal(rng.randint(20, 90)) / 10)
        # The reserved inference VM runs all day; the reservation covers it (cost 0 here).
        info = {
            "UsageType": "ComputeHR",
            "ImageType": "Canonical",
            "ServiceType": "Standard_NC24ads_A100_v4",
            "VMName": _A100_VM.name,
            "VCPUs": 24,
            "ConsumedQuantity": 24,
            "ReservationOrderId": _RI_ORDER,
            "ReservationId": _RI_ID,
            "ConsumptionMeter": _A100.id,
        }
        self._row(
            day,
            _A100,
            _A100_VM,
            Decimal(24),
            Decimal(0),
            EffectivePrice="0",
            PricingModel="Reservation",
            ReservationId=_RI_ID,
            ReservationName=_RI_NAME,
            ProductOrderId=_RI_ORDER,
            ProductOrderName=_RI_ORDER_NAME,
            Term="12",
            AdditionalInfo=_json(info),
            ServiceInfo2="Canonical",
            benefitId=_RI_BENEFIT,
            benefitName=_RI_NAME,
        )
        rng = self._rng(day, "egress")
        self._usage(day, _EGRESS, _A100_VM, Decimal(rng.randint(250, 450)) / 10)
        # An untagged on-demand batch VM, on about one day in four.
        rng = self._rng(day, "batch")
        if rng.random() < 0.25:
            hours = Decimal(rng.randint(12, 44)) / 4
            self._vm(day, _A100, _BATCH_VM, "Standard_NC24ads_A100_v4", hours)
        share = Decimal(1) / Decimal(self.period.days_in_month)
        self._usage(day, _P30, _H100_DISK, share)
        self._usage(day, _P30, _A100_DISK, share)
        self._usage(day, _P40, _BATCH_DISK, share)

    def _storage(self, day: date) -> None:
        rng = self._rng(day, "storage")
        share = Decimal(1) / Decimal(self.period.days_in_month)
        grown = Decimal(4200 + 12 * day.day)  # GB, growing through the month
        self._usage(day, _HOT_STORED, _DATA_STORAGE, grown * share)
        self._usage(day, _HOT_WRITES, _DATA_STORAGE, Decimal(rng.randint(180, 320)) / 10)
        self._usage(day, _HOT_STORED, _SCRATCH_STORAGE, Decimal(9000) * share)

    def _openai(self, day: date) -> None:
        rng = self._rng(day, "openai")
        weekend = day.weekday() >= 5
        base = 1800 if weekend else 3600
        tokens_in = (
            Decimal(int(base * rng.uniform(0.8, 1.25))) + Decimal(rng.randint(0, 999)) / 1000
        )
        tokens_out = _round(tokens_in * Decimal(rng.uniform(0.16, 0.24)), Decimal("0.001"))
        self._usage(day, _GPT_IN, _OPENAI, tokens_in)
        self._usage(day, _GPT_OUT, _OPENAI, tokens_out)

    def _monthly(self) -> None:
        purchase_day = self.period.start.replace(day=_RI_DAY)
        if purchase_day <= self.through:
            reservation = (
                f"/providers/Microsoft.Capacity/reservationOrders/{_RI_ORDER}/reservations/"
            )
            self._row(
                purchase_day,
                _A100,
                None,
                Decimal(1),
                _RI_MONTHLY,
                ProductName="Virtual Machines NCadsA100v4 Series - NC24ads A100 v4 - SE Central",
                EffectivePrice=_num(_RI_MONTHLY),
                UnitPrice=_num(_RI_MONTHLY),
                PayGPrice="0",
                ConsumedService="Microsoft.Capacity",
                ResourceLocation=_LOCATION,
                ResourceId=reservation,
                ReservationId=_RI_ORDER,
                ReservationName=_RI_NAME,
                ProductOrderId=_RI_ORDER,
                ProductOrderName=_RI_ORDER_NAME,
                Term="12",
                ChargeType="Purchase",
                Frequency="Recurring",
                PricingModel="Reservation",
                benefitId=reservation,
                benefitName=_RI_NAME,
            )
        last = self.period.end - timedelta(days=1)
        if self.period.closed and self.through == last:
            self._row(
                last,
                None,
                None,
                None,
                _SLA_CREDIT,
                ProductName="Service Level Agreement credit - Virtual Machines",
                ChargeType="Credit",
                Frequency="OneTime",
                PricingModel="",
                PublisherName="",
            )


def _round(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP) + 0


def _us_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def _tags(tags: dict[str, str]) -> str:
    """Azure's Tags text: JSON object members without the braces (``"a": "b","c": "d"``)."""
    return ",".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in tags.items())


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def demo_azure_rows(
    period: str, seed: int = 11, through: date | None = None
) -> list[dict[str, str]]:
    """One run's rows for ``period`` as EA column → CSV text, in generation order."""
    p = _period(period)
    return _AzureBill(p, through or p.through, seed).build()


def _compact(day: date) -> str:
    return day.strftime("%Y%m%d")


def _iso_day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _submitted_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # 7 fractional digits, as Azure


def _runs(p: _Period, latest: bool, seed: int) -> list[_Run]:
    """The runs kept for one period: the newest, plus an older one for the latest period."""
    rng = random.Random(f"{seed}:{p.label}:runs")
    runs = []
    stale = max(p.start, p.through - timedelta(days=2))
    if latest and stale < p.through:
        moment = datetime.combine(stale + timedelta(days=1), datetime.min.time())
        moment += timedelta(hours=3, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        runs.append(
            _Run(p, stale, moment.replace(microsecond=rng.randint(0, 999999)), "MonthToDate", seed)
        )
    if p.closed:
        day = min(p.end + timedelta(days=4), DEMO_TODAY)
        frame = "TheLastMonth"
    else:
        day = p.through + timedelta(days=1)
        frame = "MonthToDate"
    moment = datetime.combine(day, datetime.min.time())
    moment += timedelta(hours=4, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
    runs.append(_Run(p, p.through, moment.replace(microsecond=rng.randint(0, 999999)), frame, seed))
    return runs


def _write_run(
    root: Path, container_path: str, export_name: str, run: _Run, seed: int, parts: int
) -> Path:
    p = run.period
    last = p.end - timedelta(days=1)
    relative = "/".join(
        (
            container_path.strip("/"),
            f"{_compact(p.start)}-{_compact(last)}",
            export_name,
            run.submitted.strftime("%Y%m%d%H%M"),
            run.run_id,
        )
    )
    folder = root / relative
    folder.mkdir(parents=True, exist_ok=True)
    rows = _AzureBill(p, run.through, seed).build()
    random.Random(f"{seed}:{p.label}:{run.through}:order").shuffle(rows)
    per_part = -(-len(rows) // parts)
    blobs = []
    for part in range(parts):
        chunk = rows[part * per_part : (part + 1) * per_part]
        name = f"part_{part}_0001.csv.gz"
        _write_csv_gzip(folder / name, EA_COLUMNS, chunk, encoding="utf-8-sig")
        size = (folder / name).stat().st_size
        blobs.append(
            {"blobName": f"{relative}/{name}", "byteCount": size, "dataRowCount": len(chunk)}
        )
    enrollment_scope = f"/providers/Microsoft.Billing/billingAccounts/{_ENROLLMENT}"
    manifest = {
        "manifestVersion": _MANIFEST_VERSION,
        "dataFormat": "Csv",
        "byteCount": sum(b["byteCount"] for b in blobs),
        "blobCount": len(blobs),
        "dataRowCount": len(rows),
        "exportConfig": {
            "exportName": export_name,
            "resourceId": (
                f"{enrollment_scope}/providers/Microsoft.CostManagement/exports/{export_name}"
            ),
            "dataVersion": _DATA_VERSION,
            "apiVersion": _API_VERSION,
            "type": "ActualCost",
            "timeFrame": run.time_frame,
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "CreateNewReport",
            "fileFormat": "Csv",
            "compressionMode": "gzip",
            "containerUri": _STORAGE_ACCOUNT_ID.format(sub=_PROD.id),
            "rootFolderPath": container_path.strip("/"),
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": _submitted_text(run.submitted),
            "runId": run.run_id,
            "startDate": _iso_day(p.start),
            "endDate": _iso_day(run.through),
        },
        "blobs": blobs,
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def write_demo_azure_export(
    root: Path,
    periods: Sequence[str] = ("2026-10", "2026-11"),
    container_path: str = "exports/costlake",
    export_name: str = "costlake-actual",
    seed: int = 11,
) -> list[Path]:
    """Write the demo EA ActualCost export under ``root`` (the storage container).

    Each period gets one run (two ``csv.gz`` parts and a ``manifest.json`` naming them); the
    newest period also gets an older month-to-date run with two days fewer and an older
    ``submittedTime``. Returns the manifest paths, oldest period first and, within the newest
    period, the superseded run before the current one.
    """
    root = Path(root)
    parsed = sorted({_period(label) for label in periods}, key=lambda p: p.start)
    if not parsed:
        raise ValueError("no billing periods given")
    manifests = []
    for p in parsed:
        for run in _runs(p, p is parsed[-1], seed):
            manifests.append(_write_run(root, container_path, export_name, run, seed, 2))
    return manifests
