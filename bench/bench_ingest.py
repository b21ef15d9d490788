"""Benchmark: costlake's full normalization of export files against a bare polars convert.

For each provider's export form and file format (``real_exports.EXPORTS``: CUR 2.0, legacy CUR,
Azure actual and amortized, GCP, OCI; CSV.gz, Parquet, JSON lines) and row count, the same file
is timed two ways, each in a fresh child process whose peak RSS (``VmHWM``) is its own:

- **bare**: a polars streaming convert: scan, select the ~30 source columns FOCUS is built from,
  rename them, cast money to Float64 and times to UTC timestamps, sink Parquet (zstd);
- **costlake**: ``costlake.focus.single_file.normalize_file``, what ``costlake normalize FILE LAKE
  --dataset D`` runs: FOCUS columns, tags, rejects and the bill's totals, written to a lake.

The two alternate (bare, costlake, bare, costlake, ...) ``--repeat`` times, and the script
prints the median of the per-pair ratios, so a load change on the shared machine hits both
sides of a pair. Each costlake run also checks the money: Σ BilledCost in the lake against the
bill's own total, summed by a separate plain scan of the file (the cost column; for GCP cost
plus every credit's amount). Usage::

    .venv/bin/python bench/bench_ingest.py --rows 1000000 5000000
    .venv/bin/python bench/bench_ingest.py --rows 1000000 --exports cur2 gcp --formats parquet

Generated inputs are kept in the repository's ``bench-data/`` (or ``--workdir``) and reused
when their row count matches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from real_exports import EXPORTS, Export

FORMATS = ("csv.gz", "parquet", "ndjson")
REPOSITORY = Path(__file__).resolve().parent.parent
UTC_US = pl.Datetime("us", "UTC")

# Per export form: source column → (FOCUS-ish name, kind) for the bare convert. Kinds: "s" text,
# "f" number, "t" timestamp (format for text), "m" kept as it is (maps, JSON, nested records).
_CUR2 = {
    "bill_billing_period_start_date": ("BillingPeriodStart", "t"),
    "bill_billing_period_end_date": ("BillingPeriodEnd", "t"),
    "bill_payer_account_id": ("BillingAccountId", "s"),
    "bill_payer_account_name": ("BillingAccountName", "s"),
    "bill_invoice_id": ("InvoiceId", "s"),
    "line_item_usage_account_id": ("SubAccountId", "s"),
    "line_item_usage_account_name": ("SubAccountName", "s"),
    "line_item_line_item_type": ("ChargeCategory", "s"),
    "line_item_usage_start_date": ("ChargePeriodStart", "t"),
    "line_item_usage_end_date": ("ChargePeriodEnd", "t"),
    "line_item_product_code": ("ServiceName", "s"),
    "line_item_usage_type": ("x_UsageType", "s"),
    "line_item_operation": ("x_Operation", "s"),
    "line_item_availability_zone": ("AvailabilityZone", "s"),
    "line_item_resource_id": ("ResourceId", "s"),
    "line_item_usage_amount": ("ConsumedQuantity", "f"),
    "line_item_currency_code": ("BillingCurrency", "s"),
    "line_item_unblended_rate": ("ContractedUnitPrice", "f"),
    "line_item_unblended_cost": ("BilledCost", "f"),
    "line_item_line_item_description": ("ChargeDescription", "s"),
    "line_item_legal_entity": ("InvoiceIssuerName", "s"),
    "pricing_public_on_demand_cost": ("ListCost", "f"),
    "pricing_public_on_demand_rate": ("ListUnitPrice", "f"),
    "pricing_unit": ("PricingUnit", "s"),
    "pricing_term": ("PricingCategory", "s"),
    "product_region_code": ("RegionId", "s"),
    "product_instance_type": ("x_InstanceType", "s"),
    "product_sku": ("SkuId", "s"),
    "reservation_effective_cost": ("x_ReservationEffectiveCost", "f"),
    "reservation_reservation_a_r_n": ("CommitmentDiscountId", "s"),
    "savings_plan_savings_plan_effective_cost": ("x_SavingsPlanEffectiveCost", "f"),
    "savings_plan_savings_plan_a_r_n": ("x_SavingsPlanId", "s"),
    "resource_tags": ("Tags", "m"),
    "product": ("x_Product", "m"),
}


def _legacy_header(name: str) -> str:
    from real_exports import _legacy_header as header

    return header(name)


_AZURE = {
    "BillingAccountId": ("BillingAccountId", "s"),
    "BillingAccountName": ("BillingAccountName", "s"),
    "BillingPeriodStartDate": ("BillingPeriodStart", "t%m/%d/%Y"),
    "BillingPeriodEndDate": ("BillingPeriodEnd", "t%m/%d/%Y"),
    "SubscriptionId": ("SubAccountId", "s"),
    "SubscriptionName": ("SubAccountName", "s"),
    "Date": ("ChargePeriodStart", "t%m/%d/%Y"),
    "MeterCategory": ("ServiceName", "s"),
    "MeterSubCategory": ("x_MeterSubCategory", "s"),
    "MeterName": ("x_MeterName", "s"),
    "MeterId": ("SkuId", "s"),
    "ProductName": ("x_ProductName", "s"),
    "Quantity": ("ConsumedQuantity", "f"),
    "EffectivePrice": ("ContractedUnitPrice", "f"),
    "UnitPrice": ("x_UnitPrice", "f"),
    "PayGPrice": ("ListUnitPrice", "f"),
    "CostInBillingCurrency": ("BilledCost", "f"),
    "BillingCurrencyCode": ("BillingCurrency", "s"),
    "ResourceLocation": ("RegionId", "s"),
    "ResourceId": ("ResourceId", "s"),
    "ResourceName": ("ResourceName", "s"),
    "ResourceGroup": ("x_ResourceGroup", "s"),
    "UnitOfMeasure": ("PricingUnit", "s"),
    "ChargeType": ("ChargeCategory", "s"),
    "PricingModel": ("PricingCategory", "s"),
    "PublisherName": ("PublisherName", "s"),
    "ReservationId": ("CommitmentDiscountId", "s"),
    "benefitId": ("x_BenefitId", "s"),
    "CostInUsd": ("x_CostInUsd", "f"),
    "ExchangeRatePricingToBilling": ("x_ExchangeRate", "f"),
    "Tags": ("Tags", "m"),
    "AdditionalInfo": ("x_AdditionalInfo", "m"),
}
_GCP = {
    "billing_account_id": ("BillingAccountId", "s"),
    "service": ("x_Service", "m"),
    "sku": ("x_Sku", "m"),
    "usage_start_time": ("ChargePeriodStart", "t%Y-%m-%d %H:%M:%S UTC"),
    "usage_end_time": ("ChargePeriodEnd", "t%Y-%m-%d %H:%M:%S UTC"),
    "project": ("x_Project", "m"),
    "labels": ("Tags", "m"),
    "location": ("x_Location", "m"),
    "resource": ("x_Resource", "m"),
    "cost": ("BilledCost", "f"),
    "currency": ("BillingCurrency", "s"),
    "usage": ("x_Usage", "m"),
    "credits": ("x_Credits", "m"),
    "invoice": ("x_Invoice", "m"),
    "cost_type": ("ChargeCategory", "s"),
    "cost_at_list": ("ListCost", "f"),
}
_OCI = {
    "lineItem/referenceNo": ("x_ReferenceNo", "s"),
    "lineItem/tenantId": ("BillingAccountId", "s"),
    "lineItem/intervalUsageStart": ("ChargePeriodStart", "t%Y-%m-%dT%H:%MZ"),
    "lineItem/intervalUsageEnd": ("ChargePeriodEnd", "t%Y-%m-%dT%H:%M:%SZ"),
    "product/service": ("ServiceName", "s"),
    "product/compartmentId": ("SubAccountId", "s"),
    "product/compartmentName": ("SubAccountName", "s"),
    "product/region": ("RegionId", "s"),
    "product/availabilityDomain": ("AvailabilityZone", "s"),
    "product/resourceId": ("ResourceId", "s"),
    "usage/billedQuantity": ("ConsumedQuantity", "f"),
    "cost/subscriptionId": ("x_SubscriptionId", "s"),
    "cost/productSku": ("SkuId", "s"),
    "product/Description": ("ChargeDescription", "s"),
    "cost/unitPrice": ("ContractedUnitPrice", "f"),
    "cost/myCost": ("BilledCost", "f"),
    "cost/currencyCode": ("BillingCurrency", "s"),
    "cost/skuUnitDescription": ("PricingUnit", "s"),
    "lineItem/isCorrection": ("x_IsCorrection", "s"),
    "lineItem/backreferenceNo": ("x_BackReferenceNo", "s"),
    "tags/CostTracking.Project": ("x_tag_project", "s"),
    "tags/CostTracking.CostCenter": ("x_tag_cost_center", "s"),
    "tags/CostTracking.Environment": ("x_tag_environment", "s"),
    "tags/CostTracking.Team": ("x_tag_team", "s"),
    "tags/CostTracking.workload_type": ("x_tag_workload_type", "s"),
    "tags/CostTracking.model": ("x_tag_model", "s"),
    "tags/Operations.Owner": ("x_tag_owner", "s"),
    "tags/Operations.BudgetCode": ("x_tag_budget_code", "s"),
}
# The bill's own total: the cost column (GCP: plus the credits), summed by a plain scan.
_COST = {
    "cur2": "line_item_unblended_cost",
    "azure_actual": "CostInBillingCurrency",
    "azure_amortized": "CostInBillingCurrency",
    "gcp": "cost",
    "oci": "cost/myCost",
}


def bare_columns(export: Export, fmt: str) -> dict[str, tuple[str, str]]:
    """The bare convert's source columns for an export form and format."""
    if export.name == "cur2":
        return _CUR2
    if export.name == "cur_legacy":
        dropped = (
            "resource_tags",
            "product",
            "bill_payer_account_name",
            "line_item_usage_account_name",
        )
        columns = {k: v for k, v in _CUR2.items() if k not in dropped}
        columns["product_product_name"] = ("x_ProductName", "s")
        for key in ("Project", "Environment", "CostCenter", "Team"):
            columns[f"resource_tags_user_{_snake(key)}"] = (f"x_tag_{_snake(key)}", "s")
        if fmt == "csv.gz":  # the CSV's tag headers keep the user's spelling
            keys = ("Project", "Environment", "CostCenter", "Team")
            columns = {
                (f"resource_tags_user_{k}" if c == f"resource_tags_user_{_snake(k)}" else c): v
                for c, v in columns.items()
                for k in keys
                if c == f"resource_tags_user_{_snake(k)}" or not c.startswith("resource_tags_user_")
            }
        return columns
    if export.name.startswith("azure"):
        return _AZURE
    return _GCP if export.name == "gcp" else _OCI


def _snake(name: str) -> str:
    from real_exports import _snake as snake

    return snake(name)


def _cast(name: str, kind: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if kind == "f":
        return col.cast(pl.Float64, strict=False)
    if kind.startswith("t"):
        if dtype == pl.String:
            fmt = kind[1:] or "%Y-%m-%dT%H:%M:%S%.fZ"
            return col.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone(
                "UTC"
            )
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        return col.cast(UTC_US)
    if kind == "s":
        return col.cast(pl.String)
    return col


def bare_convert(export: Export, fmt: str, source: Path, target: Path) -> int:
    """The baseline: scan, select, rename, cast, sink Parquet zstd. Returns the rows written."""
    from costlake.providers.gcp import GCP_EXPORT_SCHEMA

    if fmt == "parquet":
        scan = pl.scan_parquet(source)
    elif fmt == "ndjson":
        scan = pl.scan_ndjson(source, schema=GCP_EXPORT_SCHEMA)
    else:
        scan = pl.scan_csv(source, infer_schema=False)
    schema = scan.collect_schema()
    columns = bare_columns(export, fmt)
    if export.name == "cur_legacy" and fmt == "csv.gz":  # lineItem/UnblendedCost, ... by name
        from costlake.providers.aws import cur_rename_map

        header = {canonical: name for name, canonical in cur_rename_map(schema.names()).items()}
        columns = {
            header[c.replace("resource_tags_user_", "__tag__")]: v for c, v in columns.items()
        }
    plan = scan.select(
        _cast(name, kind, schema[name]).alias(focus) for name, (focus, kind) in columns.items()
    )
    plan.sink_parquet(target, compression="zstd", engine="streaming")
    return pl.scan_parquet(target).select(pl.len()).collect().item()


def bill_total(export: Export, fmt: str, source: Path) -> float:
    """Σ the bill's cost column (GCP: cost + Σ credits.amount), by a plain scan of the file."""
    from costlake.providers.gcp import GCP_EXPORT_SCHEMA

    if export.name == "cur_legacy":
        column = "lineItem/UnblendedCost" if fmt == "csv.gz" else "line_item_unblended_cost"
    else:
        column = _COST[export.name]
    if fmt == "parquet":
        scan = pl.scan_parquet(source)
    elif fmt == "ndjson":
        scan = pl.scan_ndjson(source, schema=GCP_EXPORT_SCHEMA)
    else:
        scan = pl.scan_csv(source, infer_schema=False)
    total = pl.col(column).cast(pl.Float64).sum()
    if export.name == "gcp":
        total = (
            total
            + pl.col("credits").list.eval(pl.element().struct.field("amount")).list.sum().sum()
        )
    return scan.select(total).collect(engine="streaming").item()


def measure(kind: str, name: str, fmt: str, source: Path, workdir: Path) -> dict:
    """In the child: one bare convert or one costlake normalization of ``source``."""
    export = next(e for e in EXPORTS if e.name == name)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    if kind == "bare":
        start = time.perf_counter()
        rows = bare_convert(export, fmt, source, workdir / "bare.parquet")
        return {
            "seconds": time.perf_counter() - start,
            "rows": rows,
            "peak_rss_mib": peak_rss_mib(),
        }
    from costlake.focus.lake import Lake
    from costlake.focus.single_file import normalize_file

    start = time.perf_counter()
    report = normalize_file(source, Lake(workdir), export.dataset, export.billing_period)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    lake_total = (
        pl.scan_parquet(f"{workdir}/**/focus/**/*.parquet")
        .select(pl.col("BilledCost").sum())
        .collect()
        .item()
    )
    return {
        "seconds": seconds,
        "rows": report.rows_read,
        "peak_rss_mib": peak,
        "rejected": report.rows_rejected,
        "lake_total": lake_total,
        "bill_totals": report.bill_totals,
        "file_total": bill_total(export, fmt, source),
    }


def peak_rss_mib() -> float:
    """This process's peak RSS since it started: ``VmHWM``, not ``ru_maxrss``.

    On Linux a child's ``ru_maxrss`` keeps the parent's peak from before ``exec`` (the parent's
    address space under ``vfork``), so it showed the generator's memory after a generation.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_input(workdir: Path, export: Export, fmt: str, rows: int) -> Path:
    """The input file for (export, format, rows), generated once."""
    path = workdir / "inputs" / export.file_name(rows, fmt)
    marker = path.with_name(path.name + ".complete")
    if not marker.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        export.write(path, rows, fmt)
        marker.write_text("ok")
        elapsed = time.perf_counter() - started
        size = path.stat().st_size / 2**20
        print(f"generated {path.name} ({size:,.0f} MiB) in {elapsed:.0f} s", flush=True)
    return path


def _child(kind: str, export: Export, fmt: str, source: Path, workdir: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        export.name,
        fmt,
        str(source),
        str(workdir),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{kind} {export.name} {fmt} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--exports", nargs="+", choices=[e.name for e in EXPORTS], default=[e.name for e in EXPORTS]
    )
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--repeat", type=int, default=3, help="bare/costlake pairs per file")
    parser.add_argument(
        "--workdir", type=Path, default=REPOSITORY / "bench-data", help="inputs and outputs"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, name, fmt, source, workdir = args.child
        print(json.dumps(measure(kind, name, fmt, Path(source), Path(workdir))))
        return
    exports = [e for e in EXPORTS if e.name in args.exports]
    todo = [
        (rows, e, f) for rows in args.rows for e in exports for f in e.formats if f in args.formats
    ]
    sources = {(rows, e.name, f): ensure_input(args.workdir, e, f, rows) for rows, e, f in todo}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    header = (
        f"{'export':16} {'format':8} {'rows':>10} {'MiB':>6} {'bare s':>7} {'costlake s':>10} "
        f"{'ratio':>6} {'bare MiB':>8} {'costlake MiB':>12} {'rejected':>8} {'Δ money':>9} "
        f"{'load':>5}"
    )
    print(header, flush=True)
    for rows, export, fmt in todo:
        source = sources[rows, export.name, fmt]
        bare, ours, ratios, loads = [], [], [], []
        for _ in range(args.repeat):
            loads.append(os.getloadavg()[0])
            bare.append(_child("bare", export, fmt, source, args.workdir / "out"))
            ours.append(_child("costlake", export, fmt, source, args.workdir / "out"))
            ratios.append(ours[-1]["seconds"] / bare[-1]["seconds"])
        last = ours[-1]
        money = max(abs(r["lake_total"] - r["file_total"]) for r in ours)
        totals = sum(last["bill_totals"].values())
        money = max(money, abs(totals - last["file_total"]))
        print(
            f"{export.name:16} {fmt:8} {last['rows']:>10,} {source.stat().st_size / 2**20:>6,.0f} "
            f"{statistics.median(r['seconds'] for r in bare):>7.1f} "
            f"{statistics.median(r['seconds'] for r in ours):>10.1f} "
            f"{statistics.median(ratios):>6.2f} {max(r['peak_rss_mib'] for r in bare):>8,.0f} "
            f"{max(r['peak_rss_mib'] for r in ours):>12,.0f} {last['rejected']:>8,} "
            f"{money:>9.1e} {statistics.median(loads):>5.1f}",
            flush=True,
        )
    shutil.rmtree(args.workdir / "out", ignore_errors=True)


if __name__ == "__main__":
    main()
