"""Cost anomalies of each billing period as events: scored, explained, compared with the last
run, alerted once per event (and once more if it escalates)."""

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

from assets.alerts import announce
from assets.period_inputs import SHOWN, period_days, period_focus, period_mart, period_table
from assets.resources import CostlakeResource
from costlake.anomalies.alerts import event_alerts, top_contributors
from costlake.anomalies.marts import (
    CHANGES_SCHEMA,
    EVENTS_SCHEMA,
    SCORES_SCHEMA,
    data_horizon,
    period_anomalies,
)

ANOMALY_TABLES = ("marts/anomaly_scores", "marts/anomaly_events", "marts/anomaly_contributions")


def _markdown(found: pl.DataFrame, contributions: pl.DataFrame) -> str:
    header = (
        "| start | series | days | actual | expected | excess | severity | state | change "
        "| moved by |\n| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |"
    )
    rows = []
    for row in found.filter(pl.col("state") != "cleared").head(SHOWN).iter_rows(named=True):
        moved = ", ".join(
            f"{value} ({amount:+,.2f})"
            for _, value, amount in top_contributors(contributions, row["event_id"])
        )
        mark = " (provisional)" if row["provisional"] else ""
        expected = "" if row["expected"] is None else f"{row['expected']:,.2f}"
        rows.append(
            f"| {row['start']}{mark} | {row['series']} | {row['days']} | {row['actual']:,.2f} | "
            f"{expected} | {row['excess']:+,.2f} | {row['severity']} | {row['state']} | "
            f"{row['status_change']} | {moved} |"
        )
    return "\n".join([header, *rows]) if rows else "no anomalies"


@multi_asset(
    name="anomaly_marts",
    group_name="marts",
    specs=[
        period_table(
            "marts/anomaly_scores",
            "Every series-day of the period scored against the baseline that follows the series.",
        ),
        period_table(
            "marts/anomaly_events",
            "Cost anomaly events of the period per grouping (provider x account x service, "
            "project, model), new services, regions and models, and jumps in the untagged share, "
            "compared with the previous run.",
            "anomaly_scores",
        ),
        period_table(
            "marts/anomaly_contributions",
            "The child values that moved each event, adding up to its excess.",
            "anomaly_events",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "no_new_anomalies",
            asset="anomaly_events",
            description="Warns when this run found anomaly events the previous run had not.",
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
    previous_events = period_mart(lake, "marts/anomaly_events", billing_period)
    previous = (
        previous_events.select(list(EVENTS_SCHEMA)).cast(EVENTS_SCHEMA).collect()
        if previous_events is not None
        else None
    )
    if as_of is None:
        found = None
        context.log.info("no FOCUS rows in the lake yet: nothing to score")
    else:
        found = period_anomalies(
            focus, first, after, as_of, config.detector, config.groupings, previous
        )
    scores = found.scores if found else pl.DataFrame(schema=SCORES_SCHEMA)
    events = found.events if found else pl.DataFrame(schema=EVENTS_SCHEMA | CHANGES_SCHEMA)
    contributions = found.contributions if found else pl.DataFrame()
    with lake.staged_period(None, billing_period, ANOMALY_TABLES) as staged:
        for table, frame in zip(ANOMALY_TABLES, (scores, events, contributions), strict=True):
            frame.write_parquet(staged.part_path(table, 0), compression="zstd")

    changes = events.group_by("status_change").len()
    fresh = events.filter(pl.col("status_change") == "new").height
    metadata = {
        "as_of": str(as_of),
        "series_days_scored": scores.height,
        "anomaly_days": scores.filter(pl.col("status") == "anomaly").height,
        "events": events.filter(pl.col("state") != "cleared").height,
        "open_events": events.filter(pl.col("state") == "open").height,
        "insufficient_history": scores.filter(pl.col("status") == "insufficient_history")
        .select("series")
        .n_unique(),
        "status_changes": MetadataValue.md(
            "\n".join(f"- {c}: {n}" for c, n in changes.sort("status_change").iter_rows()) or "none"
        ),
        "top_events": MetadataValue.md(_markdown(events, contributions)),
    }
    # The event -> alert mapping is one swappable call; delivery is the same for every kind.
    alerts = event_alerts(events, contributions, billing_period)
    metadata.update(announce(context, lake, alerts, config.webhook_url_env))
    yield MaterializeResult(asset_key="anomaly_scores", metadata={"rows": scores.height})
    yield MaterializeResult(
        asset_key="anomaly_events",
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="no_new_anomalies",
                asset_key="anomaly_events",
                passed=fresh == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"new_events": fresh},
            )
        ],
    )
    yield MaterializeResult(
        asset_key="anomaly_contributions", metadata={"rows": contributions.height}
    )
