"""Raw deliveries and the FOCUS tables, per (billing period, provider) partition.

One asset per lake table: ``raw_delivery`` (``raw/``) lands the partition's provider's newest
delivery, and one computation, the ``focus`` multi-asset, yields the three tables of a period
that are published together: ``focus``, ``rejects``, ``focus_contract_commitments`` and
``ingests``.
"""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.lake_tables import LAKE_TABLE, table_spec
from assets.partitions import billing_partitions
from assets.resources import CostlakeResource
from connectors.exports.landing import landed_delivery
from connectors.sources import deliveries_by_period, describe, land_from
from costlake.config import ExportSource
from costlake.focus.audit import FINITE, RECONCILES, SCHEMA, AuditOutcome
from costlake.focus.deliveries import Delivery, DeliveryError
from costlake.focus.ingest import IngestReport, combined_delivery_id, ingest_deliveries
from costlake.focus.lake import AuditFailed, partition_dir
from costlake.focus.lock import LockBusy, LockLost
from costlake.focus.schema import CONTRACT_COMMITMENT_TABLE
from costlake.focus.summary import cost_by_category_markdown


def partition_of(context: AssetExecutionContext) -> tuple[str, str]:
    """(billing period, provider) of the run's partition."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    return keys["billing_period"], keys["provider"]


def _raw_folder(provider: str, billing_period: str) -> str:
    """The lake folder of a partition's raw landings (on a remote lake too: a step in another
    process or container finds them there)."""
    return partition_dir("raw", provider, billing_period)


# The record of which landed folders (one per source) make up the period's newest deliveries.
LANDED_RECORD = "landed.json"


def _period_deliveries(
    resource: CostlakeResource, provider: str, billing_period: str
) -> list[tuple[ExportSource, Delivery]]:
    """The period's newest delivery from each of the provider's configured export locations."""
    sources = resource.settings().sources(provider)
    found = deliveries_by_period(provider, sources, resource.lake()).get(billing_period)
    if not found:
        places = ", ".join(describe(s) for s in sources) or f"no {provider} source"
        raise Failure(f"no {provider} delivery for billing period {billing_period} in {places}")
    return found


@asset(
    key="raw_delivery",
    partitions_def=billing_partitions,
    group_name="billing",
    kinds={"python"},
    metadata={LAKE_TABLE: "raw"},
    description=(
        "The newest complete delivery of the partition's provider and period from each "
        "configured source, landed unchanged under raw/."
    ),
)
def raw_delivery(context: AssetExecutionContext, costlake: CostlakeResource) -> MaterializeResult:
    billing_period, provider = partition_of(context)
    lake = costlake.lake()
    with lake.worked_on_locally(_raw_folder(provider, billing_period)) as folder:
        landed = []
        try:
            found = _period_deliveries(costlake, provider, billing_period)
            for source, delivery in found:
                target = land_from(source, delivery, folder / source.name)
                landed.append(target.relative_to(folder).as_posix())
        except DeliveryError as exc:
            raise Failure(str(exc)) from exc
        (folder / LANDED_RECORD).write_text(json.dumps(landed, indent=2))
    deliveries = [delivery for _, delivery in found]
    return MaterializeResult(
        metadata={
            "delivery_id": combined_delivery_id(deliveries),
            "sources": ", ".join(source.name for source, _ in found),
            "source_dataset": ", ".join(sorted({d.source_dataset for d in deliveries})),
            "manifests": ", ".join(d.manifest_path for d in deliveries),
            "files": sum(len(d.files) for d in deliveries),
            "bytes": sum(f.size or 0 for d in deliveries for f in d.files),
        }
    )


def _landed(folder: Path) -> list[tuple[Delivery, Path]]:
    """The deliveries the last landing of the period recorded in ``folder``, one per source,
    with their folders (older landings stay until these are ingested)."""
    record = folder / LANDED_RECORD
    if not record.exists():
        raise Failure(f"nothing landed in {folder}: materialize raw_delivery first")
    landed = []
    for relative in json.loads(record.read_text()):
        delivery = landed_delivery(folder / relative)
        if delivery is None:
            raise Failure(f"{folder / relative}: the landing record names an incomplete landing")
        landed.append((delivery, folder / relative))
    return landed


def _drop_superseded(folder: Path, kept: list[Path]) -> None:
    """Once the period's deliveries are published, the raw copies they superseded can go (not
    before: a failed audit keeps the previous version, and its raw delivery with it)."""
    kept_sources = {path.parent for path in kept}
    for child in folder.iterdir():
        if child.is_dir() and child not in kept_sources:
            shutil.rmtree(child)
    for source_folder in kept_sources:
        for child in source_folder.iterdir():
            if child not in kept:
                shutil.rmtree(child)


def _check_metadata(outcome: AuditOutcome, report: IngestReport | None) -> dict:
    metadata = {"summary": MetadataValue.md("\n".join(f"- {line}" for line in outcome.lines))}
    if outcome.check == RECONCILES and report is not None:
        metadata["rejected_rows"] = report.rows_rejected
    return metadata


def _check_results(
    outcomes: tuple[AuditOutcome, ...], report: IngestReport | None
) -> list[AssetCheckResult]:
    """A staged version's audit as the asset's check results: those of the published version,
    or of one whose failed audit stopped the publish (so the UI shows which check failed and
    why although nothing was materialized)."""
    return [
        AssetCheckResult(
            check_name=outcome.check,
            asset_key="focus",
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata=_check_metadata(outcome, report),
        )
        for outcome in outcomes
    ]


def _audit_spec(name: str, description: str) -> AssetCheckSpec:
    # Partitioned like focus, so each (period, provider)'s verdict is its own: the period
    # marts' automation condition reads it (pipelines.policies).
    return AssetCheckSpec(
        name,
        asset="focus",
        partitions_def=billing_partitions,
        blocking=True,
        description=description,
    )


def _period_table(table: str, description: str) -> AssetSpec:
    return table_spec(table, description, [raw_delivery], billing_partitions, "billing")


def _duplicates_check(report: IngestReport) -> AssetCheckResult:
    """A warning, not a failure: a bill may repeat a line item (the lake keeps every row)."""
    return AssetCheckResult(
        check_name="no_duplicate_line_items",
        asset_key="focus",
        passed=report.duplicate_rows == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"duplicate_rows": report.duplicate_rows},
    )


@multi_asset(
    name="focus",
    specs=[
        _period_table(
            "focus",
            "The bill as FOCUS 1.3 rows (plus x_ lineage), one period replaced whole: written "
            "aside, audited there, and published only when the audit passes.",
        ),
        _period_table(
            CONTRACT_COMMITMENT_TABLE,
            "The FOCUS Contract Commitment rows the period's cost rows link to, one per "
            "commitment: written in the same staging as focus and published with it.",
        ),
        _period_table(
            "rejects", "The bill's rows that could not be normalized, each with its reason."
        ),
        _period_table(
            "ingests", "The ingest record: which delivery the period holds, and its bill totals."
        ),
    ],
    check_specs=[
        _audit_spec(RECONCILES, "Σ BilledCost per currency equals the bill's own cost column."),
        _audit_spec(SCHEMA, "Every file has the FOCUS table's columns and types."),
        _audit_spec(FINITE, "No NaN or infinite value in any money or quantity column."),
        AssetCheckSpec(
            "no_duplicate_line_items",
            asset="focus",
            partitions_def=billing_partitions,
            description="No row of a delivery file repeats another exactly (kept if one does).",
        ),
    ],
)
def focus(
    context: AssetExecutionContext, costlake: CostlakeResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    billing_period, provider = partition_of(context)
    lake = costlake.lake()
    try:
        # One run of the period at a time, from reading the landing record to dropping the raw
        # deliveries the published version superseded.
        with (
            lake.period_lock(provider, billing_period, run=context.run_id),
            lake.worked_on_locally(_raw_folder(provider, billing_period)) as folder,
        ):
            landed = _landed(folder)
            report = ingest_deliveries(landed, lake, context.log.info, costlake.tag_rules())
            _drop_superseded(folder, [path for _, path in landed])
    except AuditFailed as exc:
        # The check results are yielded (events logged then raised would never be emitted),
        # then the run fails with the reason.
        yield from _check_results(exc.outcomes, exc.report)
        yield _duplicates_check(exc.report)
        raise Failure(str(exc), metadata={"failed_version": exc.kept_at}) from exc
    except (DeliveryError, LockBusy, LockLost) as exc:
        raise Failure(f"{provider} {billing_period}: {exc}") from exc
    if report.rows_rejected:
        context.log.warning(
            f"{report.rows_rejected} row(s) rejected: see rejects/{provider}/{billing_period}"
        )
    written = lake.scan_partition("focus", provider, billing_period)
    yield MaterializeResult(asset_key="rejects", metadata={"rows_rejected": report.rows_rejected})
    yield MaterializeResult(asset_key=CONTRACT_COMMITMENT_TABLE)
    yield MaterializeResult(asset_key="ingests", metadata={"delivery_id": report.delivery_id})
    yield MaterializeResult(
        asset_key="focus",
        metadata={
            "delivery_id": report.delivery_id,
            "source_dataset": report.source_dataset,
            "rows_read": report.rows_read,
            "rows_written": report.rows_written,
            "rows_rejected": report.rows_rejected,
            "duplicate_rows": report.duplicate_rows,
            "summary": MetadataValue.md(cost_by_category_markdown(written, report)),
        },
        check_results=[*_check_results(report.audit, report), _duplicates_check(report)],
    )
