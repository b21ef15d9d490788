"""A deterministic GCP detailed billing export, as ``bq extract`` writes it to JSON lines.

The demo's GCP side: one billing account (USD) paying for three projects of a small AI company.
``atlas-ml-training`` trains on an a3-highgpu-8g VM (8 × H100) in bursts and runs an untagged
a2-highgpu-1g (A100) batch VM; ``atlas-app-prod`` serves from a g2-standard-8 (L4) and an
n2-standard-8 covered by a 1-year committed use discount, and calls Gemini on Vertex AI (2.5 Pro
and Flash billed per token in ``count``, a legacy Gemini 1.0 Pro app billed per character);
``atlas-data`` holds the Cloud Storage buckets, BigQuery and an n2-standard-4 ETL VM earning
sustained use discounts.

Layout under ``<root>`` (standing for the folder the table is extracted to)::

    gcp_billing_export_resource_v1_<ACCOUNT>/invoice_month=YYYYMM/part-000000000000.jsonl
                                                                  part-000000000001.jsonl

One row per SKU, resource, label set and day: the real export writes hourly windows, summed
here per day to keep the demo small. Each invoice month also carries the last two hours of the
previous month's Gemini usage as hourly rows (usage reported after that invoice closed), so
``invoice.month`` differs from the usage month there. Closed months end with a tax row and a
rounding error that brings the invoice to whole cents; from the 12th each month holds a
manual adjustment correcting the previous month.

Credits ride on their rows in ``credits``: committed use discounts cancel the covered N2 usage
(the commitment fee rows carry the cost), the ETL VM earns N2 sustained use increments as the
month goes on, BigQuery's first TiB of analysis each month is free tier, and a $1,500 promotion
granted on 20 October pays for Gemini 2.5 Pro until it is used up. Labels use the mandatory
keys (project, environment, cost_center, workload_type, model, team) with the spellings real
teams drift into (``cost-center``, ``env``, ``prod`` / ``production``; GCP allows only lower
case keys and values); the A100 VM, the checkpoints bucket, BigQuery storage, the commitment
fees and batch Gemini Flash calls carry no labels: about a fifth of the usage cost.

Everything is a pure function of the arguments: numbers come from ``random.Random`` seeded per
(seed, day, stream), so two runs write byte-identical files. Format choices the documentation
does not pin down: every field of the schema is written, nulls as ``null``; TIMESTAMP as
``YYYY-MM-DD HH:MM:SS[.ffffff] UTC``; NUMERIC (``price``) as quoted text; costs carry six
decimals; SKU ids are made up (a digest of the description), service ids are GCP's; the
character SKU's units are spelled ``characters`` / ``1000 characters``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from demo.aws import _Period, _period

__all__ = ["write_demo_gcp_export"]

_GIB = 2**30
_MONTH_SECONDS = 31 * 86400  # GCP's "gibibyte month" is 2^30 bytes for 31 days
_DAY = Decimal(86400) / _MONTH_SECONDS  # one day of storage, in months
_ROWS_PER_PART = 500

_COMPUTE = ("6F81-5844-456A", "Compute Engine")
_STORAGE = ("95FF-2EF5-5EA1", "Cloud Storage")
_BIGQUERY = ("24E6-581D-38E5", "BigQuery")
_VERTEX = ("C7E2-9256-1C43", "Vertex AI")
_US_CENTRAL1 = {"location": "us-central1", "country": "US", "region": "us-central1", "zone": None}
_US_MULTI = {"location": "US", "country": "US", "region": None, "zone": None}


def _digest_id(text: str) -> str:
    """A made-up GCP-style id (``9E2C-7B3D-41AA``) that is the same on every run."""
    h = hashlib.sha256(text.encode()).hexdigest().upper()
    return f"{h[:4]}-{h[4:8]}-{h[8:12]}"


def _kv(labels: str) -> list[dict[str, str]]:
    """``"team=data,env=prod"`` as the export's list of key/value records."""
    pairs = (pair.split("=") for pair in labels.split(",") if pair)
    return [{"key": key, "value": value} for key, value in pairs]


def _money(value: Decimal) -> Decimal:
    """Costs carry six decimals ("+ 0" turns a -0 into 0)."""
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP) + 0


@dataclass(frozen=True)
class _Project:
    id: str
    number: str
    name: str
    zone: str  # where its VMs and disks run
    labels: str

    def record(self) -> dict[str, Any]:
        """The row's ``project`` record."""
        return {
            "id": self.id,
            "number": self.number,
            "name": self.name,
            "labels": _kv(self.labels),
            "ancestry_numbers": f"/827364519283/{self.number}/",  # organization / project
        }


_TRAINING = _Project("atlas-ml-training", "412345678901", "ML Training", "us-central1-a", "team=ml")
_APP = _Project("atlas-app-prod", "523456789012", "App Prod", "us-central1-b", "cost_center=cc-41")
_DATA = _Project("atlas-data", "634567890123", "Data Platform", "us-central1-f", "team=data")


@dataclass(frozen=True)
class _Sku:
    """One SKU: its service, units (usage units in one pricing unit) and list price in USD."""

    service: tuple[str, str]
    id: str
    description: str
    unit: str  # usage.unit
    pricing_unit: str  # usage.pricing_unit
    factor: int
    price: Decimal  # USD per pricing unit


_UNITS = {  # the export's spellings: usage.unit, usage.pricing_unit, usage units per pricing unit
    "hours": ("seconds", "hour", 3600),
    "gib_hours": ("byte-seconds", "gibibyte hour", _GIB * 3600),
    "gib_months": ("byte-seconds", "gibibyte month", _GIB * _MONTH_SECONDS),
    "gib": ("bytes", "gibibyte", _GIB),
    "tib": ("bytes", "tebibyte", _GIB * 1024),
    "requests": ("requests", "requests", 1),
    "tokens": ("count", "count", 1),
    "chars": ("characters", "1000 characters", 1000),
}


def _sku(service: tuple[str, str], description: str, kind: str, price: str) -> _Sku:
    return _Sku(service, _digest_id(description), description, *_UNITS[kind], Decimal(price))


_H100 = _sku(_COMPUTE, "Nvidia H100 80GB GPU running in Americas", "hours", "11.06125")
_A3_CORE = _sku(_COMPUTE, "A3 Instance Core running in Americas", "hours", "0.033174")
_A3_RAM = _sku(_COMPUTE, "A3 Instance Ram running in Americas", "gib_hours", "0.004446")
_A100 = _sku(_COMPUTE, "Nvidia Tesla A100 GPU running in Americas", "hours", "2.933908")
_A2_CORE = _sku(_COMPUTE, "A2 Instance Core running in Americas", "hours", "0.031611")
_A2_RAM = _sku(_COMPUTE, "A2 Instance Ram running in Americas", "gib_hours", "0.004237")
_L4 = _sku(_COMPUTE, "Nvidia L4 GPU running in Americas", "hours", "0.560040")
_G2_CORE = _sku(_COMPUTE, "G2 Instance Core running in Americas", "hours", "0.024988")
_G2_RAM = _sku(_COMPUTE, "G2 Instance Ram running in Americas", "gib_hours", "0.002927")
_N2_CORE = _sku(_COMPUTE, "N2 Instance Core running in Americas", "hours", "0.031611")
_N2_RAM = _sku(_COMPUTE, "N2 Instance Ram running in Americas", "gib_hours", "0.004237")
_CUD_CORE = _sku(_COMPUTE, "Commitment v1: N2 Cpu in Americas for 1 Year", "hours", "0.019915")
_CUD_RAM = _sku(_COMPUTE, "Commitment v1: N2 Ram in Americas for 1 Year", "gib_hours", "0.002669")
_PD_SSD = _sku(_COMPUTE, "SSD backed PD Capacity", "gib_months", "0.17")
_GCS = _sku(_STORAGE, "Standard Storage US Multi-region", "gib_months", "0.026")
_GCS_OPS = _sku(_STORAGE, "Multi-Region Standard Class A Operations", "requests", "0.00001")
_EGRESS_NAME = "Download Worldwide Destinations (excluding Asia & Australia)"
_EGRESS = _sku(_STORAGE, _EGRESS_NAME, "gib", "0.12")
_BQ_ANALYSIS = _sku(_BIGQUERY, "Analysis", "tib", "6.25")
_BQ_STORAGE = _sku(_BIGQUERY, "Active Logical Storage", "gib_months", "0.02")
_PRO_IN = _sku(_VERTEX, "Gemini 2.5 Pro Text Input (≤200k)", "tokens", "0.00000125")
_PRO_OUT = _sku(_VERTEX, "Gemini 2.5 Pro Text Output (≤200k)", "tokens", "0.00001")
_FLASH_IN = _sku(_VERTEX, "Gemini 2.5 Flash Text Input", "tokens", "0.0000003")
_FLASH_OUT = _sku(_VERTEX, "Gemini 2.5 Flash Text Output", "tokens", "0.0000025")
_G10_IN = _sku(_VERTEX, "Gemini 1.0 Pro Text Input - Predictions", "chars", "0.000125")
_G10_OUT = _sku(_VERTEX, "Gemini 1.0 Pro Text Output - Predictions", "chars", "0.000375")
_TAX = _Sku(_COMPUTE, _digest_id("Tax"), "Tax", "", "", 1, Decimal(0))

_MACHINES = {  # what each SKU bills per hour of a machine type: GPUs, vCPUs, GiB of RAM
    "a3-highgpu-8g": {_H100: 8, _A3_CORE: 208, _A3_RAM: 1872},
    "a2-highgpu-1g": {_A100: 1, _A2_CORE: 12, _A2_RAM: 85},
    "g2-standard-8": {_L4: 1, _G2_CORE: 8, _G2_RAM: 32},
    "n2-standard-8": {_N2_CORE: 8, _N2_RAM: 32},
    "n2-standard-4": {_N2_CORE: 4, _N2_RAM: 16},
}


@dataclass(frozen=True)
class _Vm:
    project: _Project
    name: str
    machine: str
    labels: str

    @property
    def sizes(self) -> dict[_Sku, int]:
        return _MACHINES[self.machine]

    @property
    def system_labels(self) -> str:
        *_, cores, ram_gib = self.sizes.values()
        key = "compute.googleapis.com"  # memory in MiB
        return (
            f"{key}/machine_spec={self.machine},{key}/cores={cores},{key}/memory={ram_gib * 1024}"
        )


# Labels ("key=value,…") use the mandatory keys project, environment, cost_center,
# workload_type, model and team, with the drift of real teams (env, cost-center, production).
_ATLAS = "project=atlas,environment=prod"
_TRAINING_TAGS = "project=atlas,env=research,cost_center=cc-42,workload_type=training,team=ml"
_SERVING_TAGS = "project=atlas,environment=production,cost-center=cc-41,team=platform"
_TRAINER = _Vm(_TRAINING, "atlas-trainer-01", "a3-highgpu-8g", f"{_TRAINING_TAGS},model=atlas-7b")
_BATCH = _Vm(_TRAINING, "eval-a100-tmp", "a2-highgpu-1g", "")  # someone's untagged experiment
_INFERENCE_TAGS = f"{_SERVING_TAGS},workload_type=inference,model=atlas-7b"
_INFERENCE = _Vm(_APP, "atlas-infer-l4-01", "g2-standard-8", _INFERENCE_TAGS)
_API_TAGS = f"{_ATLAS},cost_center=cc-41,workload_type=serving,team=platform"
_API = _Vm(_APP, "atlas-api-01", "n2-standard-8", _API_TAGS)
_ETL = _Vm(_DATA, "atlas-etl-01", "n2-standard-4", f"{_ATLAS},cost-center=cc-43,team=data")
_DATASETS = f"{_ATLAS},cost_center=cc-43,team=data"
_BQ_JOBS = "team=data,workload_type=analytics"
_APP_TAGS = "project=atlas,environment=production,cost_center=cc-41,workload_type=inference"
_PRO_TAGS = f"{_APP_TAGS},team=app,model=gemini-2.5-pro"
_FLASH_TAGS = f"{_APP_TAGS},team=app,model=gemini-2.5-flash"
_LEGACY_TAGS = "env=prod,team=support,model=gemini-1.0-pro"

_SUD_INCREMENTS = (Decimal("0"), Decimal("0.1387"), Decimal("0.2773"), Decimal("0.416"))  # N2
_FREE_TIB = Decimal(1)  # BigQuery's free analysis per month
_PROMOTION_START = date(2026, 10, 20)
_PROMOTION_BUDGET = Decimal("1500")
_TAX_RATE = Decimal("0.0625")  # a state sales tax on the production project's Compute Engine
_LATE_HOURS = 2


@dataclass(frozen=True)
class _Use:
    """Usage of one SKU in one window, on one invoice month (``invoice`` = its first day)."""

    sku: _Sku | None
    quantity: Decimal | None  # in pricing units
    start: datetime
    end: datetime
    invoice: date
    labels: str = ""


def _cost(sku: _Sku, quantity: Decimal) -> Decimal:
    return _money(quantity * sku.price)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _ts(moment: datetime) -> str:
    """BigQuery's text for a TIMESTAMP: ``2026-10-03 05:00:00 UTC``, microseconds if any."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")
    return text + " UTC"


def _resource(name: str, path: str) -> dict[str, str]:
    return {"name": name, "global_name": f"//{path}"}


def _credit(kind: str, name: str, amount: Decimal, credit_id: str = "") -> dict[str, Any]:
    """A ``credits`` entry; its id names the credit type unless it is a promotion's own."""
    credit_id = credit_id or name.replace(" ", "")
    return {"name": name, "amount": amount, "full_name": name, "id": credit_id, "type": kind}


def _net(rows: list[dict[str, Any]]) -> Decimal:
    return sum(r["cost"] + sum(c["amount"] for c in r["credits"]) for r in rows)


class _GcpBill:
    """Builds one invoice month's rows as dicts shaped like the export's JSON (money Decimal)."""

    def __init__(self, period: _Period, account: str, seed: int) -> None:
        self.period = period
        self.account = account
        self.seed = seed
        self.rows: list[dict[str, Any]] = []

    def _rng(self, day: date, stream: str) -> random.Random:
        # Per (seed, day, stream): a day's numbers are the same whichever months are written.
        return random.Random(f"{self.seed}:{day.isoformat()}:{stream}")

    def _row(
        self,
        project: _Project | None,
        use: _Use,
        cost: Decimal | None = None,
        *,
        credits: Sequence[dict[str, Any]] = (),
        vm: _Vm | None = None,
        resource: dict[str, str] | None = None,
        location: dict[str, Any] | None = None,
        cost_type: str = "regular",
        exported: datetime | None = None,
        adjustment: dict[str, str] | None = None,
    ) -> None:
        sku = use.sku
        cost = _cost(sku, use.quantity) if cost is None else cost
        rng = random.Random(f"{self.seed}:{use.start.isoformat()}:{len(self.rows)}:export")
        delay = timedelta(hours=rng.randint(2, 8), minutes=rng.randint(0, 59))
        exported = (exported or use.end + delay).replace(microsecond=rng.randint(0, 999999))
        usage = dict.fromkeys(("amount", "unit", "amount_in_pricing_units", "pricing_unit"))
        price = None
        if sku is not None and use.quantity is not None:
            usage = {
                "amount": (use.quantity * sku.factor).to_integral_value(),  # whole bytes, seconds
                "unit": sku.unit,
                "amount_in_pricing_units": use.quantity,
                "pricing_unit": sku.pricing_unit,
            }
            price = {
                "effective_price": format(sku.price.normalize(), "f"),
                "tier_start_amount": "0",
                "unit": sku.pricing_unit,
                "pricing_unit_quantity": "1",
            }
        if vm is not None:
            zone = vm.project.zone
            number = int(hashlib.sha256(vm.name.encode()).hexdigest()[:15], 16)
            path = f"projects/{vm.project.id}/zones/{zone}/instances/{number}"
            resource = _resource(vm.name, f"compute.googleapis.com/{path}")
            location = {**_US_CENTRAL1, "zone": zone}
        service = sku.service if sku else (None, None)
        self.rows.append(
            {
                "billing_account_id": self.account,
                "service": {"id": service[0], "description": service[1]},
                "sku": {"id": sku and sku.id, "description": sku and sku.description},
                "usage_start_time": _ts(use.start),
                "usage_end_time": _ts(use.end),
                "project": project and project.record(),
                "labels": _kv(use.labels),
                "system_labels": _kv(vm.system_labels if vm else ""),
                "location": location,
                "resource": resource or {"name": None, "global_name": None},
                "export_time": _ts(exported),
                "cost": cost,
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": usage,
                "credits": list(credits),
                "invoice": {"month": use.invoice.strftime("%Y%m")},
                "cost_type": cost_type,
                "cost_at_list": cost if cost_type == "regular" else None,
                "price": price,
                "adjustment_info": adjustment,
                "transaction_type": "GOOGLE",
                "seller_name": "Google LLC",
            }
        )

    def _day(self, day: date, sku: _Sku, quantity: Decimal, labels: str = "") -> _Use:
        """A whole day's usage on this invoice."""
        start = _midnight(day)
        return _Use(sku, quantity, start, start + timedelta(days=1), self.period.start, labels)

    def build(self) -> list[dict[str, Any]]:
        """The month's rows: late hours of last month first, then day by day, then closing."""
        self._gemini(self.period.start - timedelta(days=1))
        free_tib = _FREE_TIB
        for index, day in enumerate(self.period.days()):
            quarter = min(4 * index // self.period.days_in_month, 3)
            self._compute(day, _SUD_INCREMENTS[quarter])
            self._storage(day)
            free_tib = self._bigquery(day, free_tib)
            self._gemini(day)
        if self.period.through.day >= 12:
            self._adjustment()
        if self.period.closed:
            self._tax_and_rounding()
        return self.rows

    def _vm(self, vm: _Vm, day: date, hours: Decimal, sud: Decimal = Decimal(0)) -> None:
        """One row per SKU of the VM; ``sud`` is the sustained use increment earned now."""
        for sku, size in vm.sizes.items():
            use = self._day(day, sku, size * hours, vm.labels)
            cost = _cost(sku, use.quantity)
            credits = []
            if vm is _API:  # the commitment covers the whole VM
                name = f"Committed Usage Discount: {'CPU' if sku is _N2_CORE else 'RAM'}"
                credits = [_credit("COMMITTED_USAGE_DISCOUNT", name, -cost)]
            elif sud:
                amount = -_money(cost * sud)
                credits = [_credit("SUSTAINED_USAGE_DISCOUNT", "Sustained Usage Discount", amount)]
            self._row(vm.project, use, cost, credits=credits, vm=vm)

    def _compute(self, day: date, sud: Decimal) -> None:
        rng = self._rng(day, "trainer")
        if rng.random() < 0.55:  # training runs in bursts of 6 to 20 hours
            self._vm(_TRAINER, day, Decimal(rng.randint(24, 80)) / 4)
        zone = _TRAINING.zone
        disk = _resource(
            "atlas-data",
            f"compute.googleapis.com/projects/{_TRAINING.id}/zones/{zone}/disks/atlas-data",
        )
        use = self._day(day, _PD_SSD, 2048 * _DAY, _TRAINER.labels)
        self._row(_TRAINING, use, resource=disk, location={**_US_CENTRAL1, "zone": zone})
        rng = self._rng(day, "batch")
        if rng.random() < 0.4:
            self._vm(_BATCH, day, Decimal(rng.randint(32, 96)) / 4)
        self._vm(_INFERENCE, day, Decimal(24))
        self._vm(_API, day, Decimal(24))
        commitment = _resource(
            "api-n2-1y",
            f"compute.googleapis.com/projects/{_APP.id}/regions/us-central1/commitments/api-n2-1y",
        )
        for sku, size in ((_CUD_CORE, 8), (_CUD_RAM, 32)):  # the fee, unlabeled
            use = self._day(day, sku, Decimal(size * 24))
            self._row(_APP, use, resource=commitment, location=_US_CENTRAL1)
        self._vm(_ETL, day, Decimal(24), sud)

    def _storage(self, day: date) -> None:
        rng = self._rng(day, "storage")
        gib = 40 * day.day  # both buckets grow through the month
        for bucket, sku, quantity, labels in [
            ("atlas-datasets", _GCS, (40960 + gib) * _DAY, _DATASETS),
            ("atlas-ckpt", _GCS, (76800 + gib) * _DAY, ""),  # checkpoints, unlabeled
            ("atlas-datasets", _GCS_OPS, Decimal(rng.randint(150, 450) * 1000), _DATASETS),
            ("atlas-datasets", _EGRESS, Decimal(rng.randint(400, 1500)) / 10, _DATASETS),
        ]:
            resource = _resource(bucket, f"storage.googleapis.com/projects/_/buckets/{bucket}")
            use = self._day(day, sku, quantity, labels)
            self._row(_DATA, use, resource=resource, location=_US_MULTI)

    def _bigquery(self, day: date, free_tib: Decimal) -> Decimal:
        """A day's queries and storage; the month's first TiB of queries is free tier."""
        rng = self._rng(day, "bigquery")
        tib = Decimal(rng.randint(10, 60) if day.weekday() >= 5 else rng.randint(80, 260)) / 100
        credits = []
        if free_tib > 0:
            free = min(tib, free_tib)
            credits = [_credit("FREE_TIER", "Free Tier", -_cost(_BQ_ANALYSIS, free))]
            free_tib -= free
        queries = self._day(day, _BQ_ANALYSIS, tib, _BQ_JOBS)
        self._row(_DATA, queries, credits=credits, location=_US_MULTI)
        self._row(_DATA, self._day(day, _BQ_STORAGE, 14336 * _DAY), location=_US_MULTI)
        return free_tib

    def _gemini_uses(self, day: date) -> list[_Use]:
        """A day's Gemini usage; a month's last day leaves its last hours to the next invoice."""
        rng = self._rng(day, "gemini")
        scale = Decimal("0.55") if day.weekday() >= 5 else Decimal(1)
        daily = [
            (_PRO_IN, rng.randint(40, 70) * 10**6, _PRO_TAGS),
            (_PRO_OUT, rng.randint(4, 7) * 10**6, _PRO_TAGS),
            (_FLASH_IN, rng.randint(150, 250) * 10**6, _FLASH_TAGS),
            (_FLASH_OUT, rng.randint(15, 25) * 10**6, _FLASH_TAGS),
            (_FLASH_IN, rng.randint(250, 350) * 10**6, ""),  # batch scripts, unlabeled
            (_FLASH_OUT, rng.randint(25, 35) * 10**6, ""),
            (_G10_IN, rng.randint(100, 140) * 1000, _LEGACY_TAGS),  # thousands of characters
            (_G10_OUT, rng.randint(30, 50) * 1000, _LEGACY_TAGS),
        ]
        start, end = _midnight(day), _midnight(day + timedelta(days=1))
        month, next_month = day.replace(day=1), end.date().replace(day=1)
        uses = []
        for sku, amount, labels in daily:
            quantity = (amount * scale).to_integral_value()
            if month == next_month:
                uses.append(_Use(sku, quantity, start, end, month, labels))
                continue
            hourly = (quantity / 24).to_integral_value()
            cut = end - timedelta(hours=_LATE_HOURS)
            uses.append(_Use(sku, quantity - hourly * _LATE_HOURS, start, cut, month, labels))
            for hour in range(_LATE_HOURS):
                begin = cut + timedelta(hours=hour)
                late = _Use(sku, hourly, begin, begin + timedelta(hours=1), next_month, labels)
                uses.append(late)
        return uses

    def _promotion_left(self, day: date) -> Decimal:
        """What is left of the Gemini 2.5 Pro promotion when ``day`` starts."""
        left = _PROMOTION_BUDGET
        current = _PROMOTION_START
        while current < day:
            for use in self._gemini_uses(current):
                if use.sku in (_PRO_IN, _PRO_OUT):
                    left -= min(left, _cost(use.sku, use.quantity))
            current += timedelta(days=1)
        return left

    def _gemini(self, day: date) -> None:
        """The day's Gemini rows that belong on this invoice, with the promotion's credits."""
        left = self._promotion_left(day) if day >= _PROMOTION_START else Decimal(0)
        for use in self._gemini_uses(day):
            cost = _cost(use.sku, use.quantity)
            credits = []
            if use.sku in (_PRO_IN, _PRO_OUT) and left > 0:
                amount = min(left, cost)
                left -= amount
                name = "Vertex AI Gemini 2.5 Pro promotional credit"
                credits = [_credit("PROMOTION", name, -amount, _digest_id("promotion").lower())]
            if use.invoice != self.period.start:
                continue
            exported = None
            if use.invoice != use.start.date().replace(day=1):  # reported after its month closed
                exported = _midnight(use.invoice) + timedelta(hours=5)
            self._row(_APP, use, cost, credits=credits, location=_US_CENTRAL1, exported=exported)

    def _adjustment(self) -> None:
        """A manual correction, on this invoice, of A100 hours billed twice last month."""
        previous = (self.period.start - timedelta(days=1)).replace(day=1)
        rng = random.Random(f"{self.seed}:{self.period.label}:adjustment")
        use = self._day(previous + timedelta(days=rng.randint(3, 20)), _A100, Decimal(0))
        refund = -_cost(_A100, Decimal(rng.randint(4, 12)))
        info = {
            "id": _digest_id(f"adjustment:{self.period.label}"),
            "description": "Billing correction: A100 GPU hours counted twice",
            "mode": "MANUAL_ADJUSTMENT",
            "type": "GENERAL_ADJUSTMENT",
        }
        exported = _midnight(self.period.start.replace(day=12))
        kind = "adjustment"
        self._row(
            _TRAINING, use, refund, vm=_BATCH, cost_type=kind, exported=exported, adjustment=info
        )

    def _tax_and_rounding(self) -> None:
        """Tax at month close, then the rounding error that makes the invoice whole cents."""
        start = _midnight(self.period.start) + timedelta(hours=7)  # invoice months are Pacific
        end = _midnight(self.period.end) + timedelta(hours=7)
        closed = end + timedelta(days=1)
        taxed = [
            r
            for r in self.rows
            if r["project"] == _APP.record() and r["service"]["id"] == _COMPUTE[0]
        ]
        tax = (_net(taxed) * _TAX_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        self._row(
            _APP,
            _Use(_TAX, None, start, end, self.period.start),
            tax,
            cost_type="tax",
            exported=closed,
        )
        total = _net(self.rows)
        rounding = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) - total
        if rounding:
            use = _Use(None, None, start, end, self.period.start)
            self._row(None, use, rounding, cost_type="rounding_error", exported=closed)


def _write_parts(folder: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """``bq extract`` shards: up to ``_ROWS_PER_PART`` rows each, numbered from zero."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = max(1, -(-len(rows) // _ROWS_PER_PART))
    per_part = -(-len(rows) // parts)
    paths = []
    for part in range(parts):
        lines = [
            json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=float) + "\n"
            for row in rows[part * per_part : (part + 1) * per_part]
        ]
        path = folder / f"part-{part:012d}.jsonl"
        path.write_bytes("".join(lines).encode("utf-8"))
        paths.append(path)
    return paths


def write_demo_gcp_export(
    root: Path,
    periods: Sequence[str] = ("2026-10", "2026-11"),
    account: str = "01A2B3-C4D5E6-F7A8B9",
    seed: int = 13,
) -> list[Path]:
    """Write the demo detailed export's invoice months under ``root``; return the part files.

    Each month is as complete as on ``DEMO_TODAY`` (the newest is month-to-date). Paths come
    oldest month first, parts in order.
    """
    table = Path(root) / f"gcp_billing_export_resource_v1_{account.replace('-', '_')}"
    parsed = sorted({_period(label) for label in periods}, key=lambda p: p.start)
    if not parsed:
        raise ValueError("no billing periods given")
    paths = []
    for p in parsed:
        rows = _GcpBill(p, account, seed).build()
        paths += _write_parts(table / f"invoice_month={p.start:%Y%m}", rows)
    return paths
