"""Budgets and forecasts of each billing period: spend to date, month-end forecast, alerts."""

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
from assets.period_inputs import period_focus, period_table
from assets.resources import CostlakeResource
from costlake.alerts import Alert
from costlake.anomalies.marts import data_horizon
from costlake.budgets.marts import (
    BUDGETS_SCHEMA,
    budget_alerts,
    budget_forecasts,
    evaluate_budgets,
    service_forecasts,
)
from costlake.config import load_settings
from costlake.focus.currency import load_rates

BUDGET_TABLES = ("marts/budgets", "marts/forecasts")


def check_name(budget: str) -> str:
    """The asset check of one budget."""
    return f"budget_{budget}"


def _configured_budgets() -> list[str]:
    """The budgets named in the settings when definitions load: one asset check each."""
    return [budget.name for budget in load_settings().budgets]


CHECKED = _configured_budgets()


def _table(budgets: pl.DataFrame) -> str:
    header = (
        "| budget | period | actual | forecast | amount | used | status | crossed |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"
    )
    rows = [
        f"| {r['budget']} | {r['period']} | {r['actual']:,.2f} | {r['forecast']:,.2f} | "
        f"{r['amount']:,.2f} {r['currency']} | {r['pct_used']:.0f} % | {r['status']} | "
        f"{r['crossed'] or '-'} |"
        for r in budgets.iter_rows(named=True)
    ]
    return "\n".join([header, *rows]) if rows else "no budgets configured"


@multi_asset(
    name="budget_marts",
    specs=[
        period_table(
            BUDGET_TABLES[0],
            "Each budget over the month, quarter or year holding the period: spend to date in "
            "its currency, forecast at the period's end with an 80 % interval, share used, "
            "thresholds crossed and status.",
        ),
        period_table(
            BUDGET_TABLES[1],
            "Month-end and quarter-end forecasts per provider x service (in its "
            "BillingCurrency) and per budget.",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            check_name(name),
            asset="budgets",
            description=f"Warns when budget {name} crossed a threshold (actual or forecast).",
        )
        for name in CHECKED
    ],
)
def budget_marts(context: AssetExecutionContext, costlake: CostlakeResource):
    billing_period = context.partition_key
    settings = costlake.settings()
    lake = costlake.lake()
    try:
        focus = lake.scan("focus")  # the forecast needs the weeks before the period too
    except FileNotFoundError:
        focus = period_focus(lake, billing_period)  # an empty frame of the schema
    horizon = data_horizon(focus)
    rates = load_rates(settings.exchange_rates) if settings.exchange_rates else None
    if horizon is None:
        context.log.info("no FOCUS rows in the lake yet: no spend to compare")
        budgets, drivers = pl.DataFrame(schema=BUDGETS_SCHEMA), {}
        forecasts = budget_forecasts(budgets)
    else:
        budgets, drivers = evaluate_budgets(focus, settings.budgets, rates, billing_period, horizon)
        forecasts = pl.concat(
            [budget_forecasts(budgets), service_forecasts(focus, billing_period, horizon)]
        )
    with lake.staged_period(None, billing_period, BUDGET_TABLES) as staged:
        for table, frame in zip(BUDGET_TABLES, (budgets, forecasts), strict=True):
            frame.write_parquet(staged.part_path(table, 0), compression="zstd")

    metadata = {
        "as_of": str(horizon),
        "budgets": MetadataValue.md(_table(budgets)),
        "at_risk": budgets.filter(pl.col("status").is_in(["at_risk", "over"])).height,
    }
    # The same outbox and webhook as the anomalies' (one webhook setting for every kind).
    alerts = [Alert(**fields) for fields in budget_alerts(budgets, drivers)]
    metadata["crossings"] = len(alerts)
    if alerts:  # with none to add, the delivery is left to the other producers' steps
        metadata.update(announce(context, lake, alerts, settings.anomalies.webhook_url_env))
    # Every declared check answers: a budget added to the settings since the definitions
    # loaded waits for the next load; one removed since passes with no data.
    rows = {row["budget"]: row for row in budgets.iter_rows(named=True)}
    no_data = {"pct_used": 0.0, "pct_forecast": 0.0, "crossed": "", "status": "no_data"}
    checks = [
        AssetCheckResult(
            check_name=check_name(name),
            asset_key="budgets",
            passed=not row["crossed"],
            severity=AssetCheckSeverity.WARN,
            metadata={
                "pct_used": row["pct_used"],
                "pct_forecast": row["pct_forecast"],
                "crossed": row["crossed"] or "none",
                "status": row["status"],
            },
        )
        for name in CHECKED
        for row in [rows.get(name, no_data)]
    ]
    yield MaterializeResult(asset_key="budgets", metadata=metadata, check_results=checks)
    yield MaterializeResult(asset_key="forecasts", metadata={"rows": forecasts.height})
