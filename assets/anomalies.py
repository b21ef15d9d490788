"""Cost anomalies of each billing period: scored, explained, compared with the last run, alerted."""

from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.period_inputs import SHOWN, period_days, period_focus, period_table
from assets.resources import CostlakeResource
from connectors.webhook import Alert, send_alerts, webhook_url_from_env
from costlake.anomalies.marts import SCORES_SCHEMA, data_horizon, period_anomalies
from costlake.focus.lake import partition_dir

ANOMALY_TABLES = ("marts/anomaly_scores", "marts/anomalies", "marts/anomaly_contributions")
# Alerts sent are remembered here, so a re-run never repeats one.
ALERT_LEDGER = Path(".costlake/alerts-sent.json")
NEW = ("new", "changed", "confirmed")


def _top_contributors(contributions: pl.DataFrame, anomaly: str) -> list[tuple[str, str, float]]:
    """The three values that moved an anomaly most, over all its dimensions."""
    rows = (
        contributions.filter((pl.col("anomaly_id") == anomaly) & (pl.col("value") != "(other)"))
        .sort(pl.col("contribution").abs(), descending=True)
        .unique(["value"], keep="first", maintain_order=True)
        .head(3)
    )
    return [(d, v, c) for d, v, c in rows.select("dimension", "value", "contribution").iter_rows()]


def _markdown(anomalies: pl.DataFrame, contributions: pl.DataFrame) -> str:
    header = (
        "| day | series | actual | expected | severity | change | moved by |\n"
        "| --- | --- | ---: | ---: | --- | --- | --- |"
    )
    rows = []
    for row in anomalies.filter(pl.col("status") == "anomaly").head(SHOWN).iter_rows(named=True):
        moved = ", ".join(
            f"{value} ({amount:+,.2f})"
            for _, value, amount in _top_contributors(contributions, row["anomaly_id"])
        )
        mark = " (provisional)" if row["provisional"] else ""
        rows.append(
            f"| {row['day']}{mark} | {row['series']} | {row['actual']:,.2f} | "
            f"{row['expected']:,.2f} | {row['severity']} | {row['status_change']} | {moved} |"
        )
    return "\n".join([header, *rows]) if rows else "no anomalies"


def alerts_of(anomalies: pl.DataFrame, contributions: pl.DataFrame) -> list[Alert]:
    """One alert per current anomaly (the webhook's ledger sends each id once)."""
    return [
        Alert(
            anomaly_id=row["anomaly_id"],
            title=f"{row['kind']}: {row['series']}",
            day=row["day"],
            currency=row["currency"],
            actual=row["actual"],
            expected=row["expected"],
            lower=row["lower"],
            upper=row["upper"],
            severity=row["severity"],
            provisional=row["provisional"],
            contributors=tuple(_top_contributors(contributions, row["anomaly_id"])),
        )
        for row in anomalies.filter(pl.col("status") == "anomaly").iter_rows(named=True)
    ]


@multi_asset(
    name="anomaly_marts",
    group_name="marts",
    specs=[
        period_table(
            "marts/anomaly_scores",
            "Every series-day of the period scored against its same-weekday baseline.",
        ),
        period_table(
            "marts/anomalies",
            "Daily cost anomalies of the period per grouping (provider x account x service, "
            "project, model), new services, regions and models, and jumps in the untagged share, "
            "compared with the previous run.",
            "anomaly_scores",
        ),
        period_table(
            "marts/anomaly_contributions",
            "The child values that moved each anomaly, adding up to its delta.",
            "anomalies",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "no_new_anomalies",
            asset="anomalies",
            description="Warns when this run found anomalies the previous run had not.",
        )
    ],
)
def anomaly_marts(context: AssetExecutionContext, costlake: CostlakeResource):
    billing_period = context.partition_key
    first, after = period_days(billing_period)
    lake = costlake.lake()
    config = costlake.settings().anomalies
    try:
        focus = lake.scan("focus")  # the baseline needs the weeks before the period too
    except FileNotFoundError:
        focus = period_focus(lake, billing_period)  # an empty frame of the schema
    as_of = data_horizon(focus)
    previous_files = lake.files(partition_dir("marts/anomaly_scores", None, billing_period))
    previous = pl.read_parquet(previous_files[0]).cast(SCORES_SCHEMA) if previous_files else None
    if as_of is None:
        found = None
        context.log.info("no FOCUS rows in the lake yet: nothing to score")
    else:
        found = period_anomalies(
            focus, first, after, as_of, config.detector, config.groupings, previous
        )
    scores = found.scores if found else pl.DataFrame(schema=SCORES_SCHEMA)
    anomalies = found.anomalies if found else scores.with_columns(status_change=pl.lit(None))
    contributions = found.contributions if found else pl.DataFrame()
    with lake.staged_period(None, billing_period, ANOMALY_TABLES) as staged:
        for table, frame in zip(ANOMALY_TABLES, (scores, anomalies, contributions), strict=True):
            frame.write_parquet(staged.part_path(table, 0), compression="zstd")

    changes = anomalies.group_by("status_change").len()
    fresh = anomalies.filter(pl.col("status_change") == "new").height
    metadata = {
        "as_of": str(as_of),
        "series_days_scored": scores.height,
        "anomalies": anomalies.filter(pl.col("status") == "anomaly").height,
        "insufficient_history": scores.filter(pl.col("status") == "insufficient_history")
        .select("series")
        .n_unique(),
        "status_changes": MetadataValue.md(
            "\n".join(f"- {c}: {n}" for c, n in changes.sort("status_change").iter_rows()) or "none"
        ),
        "top_anomalies": MetadataValue.md(_markdown(anomalies, contributions)),
    }
    if config.webhook_url_env:
        url = webhook_url_from_env(config.webhook_url_env)
        if url is None:
            context.log.warning(f"alerts: ${config.webhook_url_env} is not set; none sent")
        else:
            sent = send_alerts(url, alerts_of(anomalies, contributions), ALERT_LEDGER)
            metadata["alerts"] = (
                f"sent {sent.sent}, already sent {sent.skipped_already_sent}, failed {sent.failed}"
            )
            if sent.failed:
                context.log.warning(f"alerts: {sent.failed} not delivered: {sent.error}")
    yield MaterializeResult(asset_key="anomaly_scores", metadata={"rows": scores.height})
    yield MaterializeResult(
        asset_key="anomalies",
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="no_new_anomalies",
                asset_key="anomalies",
                passed=fresh == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"new_anomalies": fresh},
            )
        ],
    )
    yield MaterializeResult(
        asset_key="anomaly_contributions", metadata={"rows": contributions.height}
    )
