"""The numbers of each report section, as small frames computed from the marts (pure).

Each function takes the rows of one table (the periods shown) and returns the frame its chart
and table draw; the page prints these frames' values and nothing else, so a test can recompute
any figure from the mart Parquet. Amounts stay per currency: no two currencies are added.
Spend from the ``focus`` table is ``BilledCost`` (the measure the bill reconciles to); the tag
coverage mart is on ``EffectiveCost``, as that mart defines it.
"""

from __future__ import annotations

import polars as pl

from costlake.focus.reconcile import ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE
from costlake.maturity.scorecard import OVERALL
from costlake.tags.keys import MANDATORY_TAG_KEYS

UNTAGGED = "(untagged)"
UNTAGGABLE = "(untaggable)"
TOP_SERVICES = 10
TOP_SAVINGS = 10
REPORT_TAG_KEYS = ("project", "team")


def daily_spend(focus: pl.DataFrame) -> pl.DataFrame:
    """Σ BilledCost per day, provider and currency, over every period shown."""
    return (
        focus.with_columns(day=pl.col("ChargePeriodStart").dt.date())
        .group_by("day", "provider", "BillingCurrency")
        .agg(cost=pl.col("BilledCost").sum())
        .rename({"BillingCurrency": "currency"})
        .sort("currency", "day", "provider")
    )


def period_totals(focus: pl.DataFrame) -> pl.DataFrame:
    """Σ BilledCost per period, provider and currency (the headline figures)."""
    return (
        focus.group_by("billing_period", "provider", "BillingCurrency")
        .agg(cost=pl.col("BilledCost").sum())
        .rename({"BillingCurrency": "currency"})
        .sort("billing_period", "provider", "currency")
    )


def top_services(focus: pl.DataFrame, period: str, previous: str) -> pl.DataFrame:
    """The services costing most in ``period`` per currency, with the change from ``previous``
    (null change: the service is new this period)."""
    spend = (
        focus.filter(pl.col("billing_period").is_in([period, previous]))
        .group_by("ServiceName", "BillingCurrency")
        .agg(
            cost=pl.col("BilledCost").filter(pl.col("billing_period") == period).sum(),
            previous_cost=pl.col("BilledCost").filter(pl.col("billing_period") == previous).sum(),
            seen_before=(pl.col("billing_period") == previous).any(),
        )
        .rename({"BillingCurrency": "currency"})
    )
    return (
        spend.with_columns(
            change=pl.when(pl.col("seen_before")).then(pl.col("cost") - pl.col("previous_cost")),
            change_share=pl.when(pl.col("seen_before") & (pl.col("previous_cost") != 0)).then(
                (pl.col("cost") - pl.col("previous_cost")) / pl.col("previous_cost").abs()
            ),
        )
        .drop("seen_before")
        .sort("cost", descending=True)
        .filter(pl.int_range(pl.len()).over("currency") < TOP_SERVICES)
        .sort("currency", "cost", descending=[False, True])
    )


def tag_spend(focus: pl.DataFrame, key: str, period: str) -> pl.DataFrame:
    """Σ BilledCost per value of tag ``key`` and currency in ``period``; charges that cannot
    carry tags and taggable ones without the tag each get a bar of their own."""
    value = (
        pl.when(pl.col("x_Untaggable").fill_null(False))
        .then(pl.lit(UNTAGGABLE))
        .when(pl.col(f"x_tag_{key}").is_null())
        .then(pl.lit(UNTAGGED))
        .otherwise(pl.col(f"x_tag_{key}"))
    )
    return (
        focus.filter(pl.col("billing_period") == period)
        .group_by(value.alias("value"), pl.col("BillingCurrency").alias("currency"))
        .agg(cost=pl.col("BilledCost").sum())
        .sort("currency", "cost", descending=[False, True])
    )


def tag_coverage(coverage: pl.DataFrame, period: str) -> pl.DataFrame:
    """Per provider and currency: taggable and untaggable EffectiveCost and the share of the
    taggable cost carrying each mandatory key (from ``marts/tag_coverage``)."""
    keys = [k for k in MANDATORY_TAG_KEYS if f"{k}_tagged_cost" in coverage.columns]
    return (
        coverage.filter(pl.col("billing_period") == period)
        .group_by("provider", pl.col("BillingCurrency").alias("currency"))
        .agg(
            pl.col("taggable_cost", "untaggable_cost", "fully_tagged_cost").sum(),
            *(pl.col(f"{k}_tagged_cost").sum() for k in keys),
        )
        .with_columns(
            (pl.col(f"{k}_tagged_cost") / pl.col("taggable_cost")).alias(f"{k}_coverage")
            for k in ("fully", *keys)
        )
        .sort("provider", "currency")
    )


def ai_unit_costs(ai: pl.DataFrame, period: str) -> pl.DataFrame:
    """Per model and currency in ``period``: cost, tokens, cost per 1M tokens, cost per query
    and cache hit rate (cached / input tokens), from ``marts/ai_unit_costs``."""
    return (
        ai.filter(pl.col("billing_period") == period)
        .group_by("model", "currency")
        .agg(pl.col("cost", "input_tokens", "cached_tokens", "output_tokens", "queries").sum())
        .with_columns(tokens=pl.col("input_tokens") + pl.col("output_tokens"))
        .with_columns(
            cost_per_1m_tokens=pl.when(pl.col("tokens") > 0).then(
                pl.col("cost") / pl.col("tokens") * 1_000_000
            ),
            cost_per_query=pl.when(pl.col("queries") > 0).then(pl.col("cost") / pl.col("queries")),
            cache_hit_rate=pl.when(pl.col("input_tokens") > 0).then(
                pl.col("cached_tokens") / pl.col("input_tokens")
            ),
        )
        .sort("currency", "cost", descending=[False, True])
    )


def routing_savings(routing: pl.DataFrame, period: str) -> pl.DataFrame:
    """Rows of ``marts/model_routing_savings`` in ``period`` that would save something, most
    first: the model, the cheapest capable one and the monthly saving."""
    return (
        routing.filter((pl.col("billing_period") == period) & (pl.col("saving") > 0))
        .select(
            "workload_type",
            "model",
            "cheapest_capable_model",
            "currency",
            "cost",
            "saving",
            "monthly_saving",
            "saving_share",
        )
        .sort("monthly_saving", descending=True)
    )


def gpu_busy_idle(gpu: pl.DataFrame, period: str) -> pl.DataFrame:
    """Per GPU type and currency in ``period``: the GPU cost split into busy, idle and
    unmonitored (no telemetry), from ``marts/gpu_utilization``."""
    return (
        gpu.filter(pl.col("billing_period") == period)
        .with_columns(gpu_model=pl.col("gpu_model").fill_null("(unknown GPU)"))
        .group_by("gpu_model", "currency")
        .agg(pl.col("gpu_cost", "busy_cost", "idle_cost", "unmonitored_cost", "gpu_hours").sum())
        .sort("currency", "gpu_cost", descending=[False, True])
    )


def anomaly_events(
    events: pl.DataFrame, contributions: pl.DataFrame | None, period: str
) -> pl.DataFrame:
    """The period's cost anomaly events that have not cleared, each with what moved it most
    (the top contribution of each dimension)."""
    found = events.filter(
        (pl.col("billing_period") == period) & (pl.col("state") != "cleared")
    ).sort("excess", descending=True)
    if contributions is None or not contributions.height:
        return found.with_columns(explanation=pl.lit(""))
    moved = (
        contributions.filter((pl.col("billing_period") == period) & (pl.col("rank") == 1))
        .sort("event_id", "contribution", descending=[False, True])
        .group_by("event_id", maintain_order=True)
        .agg(
            explanation=pl.format(
                "{} {} ({})",
                pl.col("dimension"),
                pl.col("value"),
                pl.col("contribution").round(2).cast(pl.String),
            )
            .head(2)
            .str.join("; ")
        )
    )
    return found.join(moved, on="event_id", how="left").with_columns(
        pl.col("explanation").fill_null("")
    )


def reconciliation(ingests: tuple[dict, ...], focus: pl.DataFrame | None) -> pl.DataFrame:
    """Per provider, period and currency: the bill's total (from the ingest record) against
    Σ BilledCost in the lake, and whether they agree by the money rule."""
    bill = pl.DataFrame(
        [
            {
                "provider": record["provider"],
                "billing_period": record["billing_period"],
                "currency": currency,
                "bill_total": float(total),
                "rows_rejected": int(record.get("rows_rejected", 0)),
            }
            for record in ingests
            for currency, total in record.get("bill_totals", {}).items()
        ],
        schema={
            "provider": pl.String,
            "billing_period": pl.String,
            "currency": pl.String,
            "bill_total": pl.Float64,
            "rows_rejected": pl.Int64,
        },
    )
    lake = (
        focus.group_by(
            "provider", "billing_period", pl.col("BillingCurrency").alias("currency")
        ).agg(lake_total=pl.col("BilledCost").sum())
        if focus is not None
        else pl.DataFrame(
            schema={
                "provider": pl.String,
                "billing_period": pl.String,
                "currency": pl.String,
                "lake_total": pl.Float64,
            }
        )
    )
    joined = bill.join(
        lake, on=["provider", "billing_period", "currency"], how="full", coalesce=True
    )
    # The money rule of costlake.focus.reconcile, as one expression over the few rows.
    allowed = pl.max_horizontal(
        pl.lit(ABSOLUTE_TOLERANCE), RELATIVE_TOLERANCE * pl.col("bill_total").abs()
    )
    difference = pl.col("lake_total") - pl.col("bill_total")
    return joined.with_columns(
        difference=difference,
        status=pl.when(difference.abs() <= allowed)
        .then(pl.lit("ok"))
        .otherwise(pl.lit("mismatch")),
    ).sort("billing_period", "provider", "currency")


def budgets(budget_rows: pl.DataFrame, period: str) -> pl.DataFrame:
    """The budgets computed for ``period`` (``marts/budgets``): amount, actual, forecast."""
    return budget_rows.filter(pl.col("billing_period") == period).sort("budget")


def forecasts(forecast_rows: pl.DataFrame, period: str) -> pl.DataFrame:
    """The month-end forecasts of ``period`` per provider and service (``marts/forecasts``)."""
    return (
        forecast_rows.filter(
            (pl.col("billing_period") == period) & (pl.col("scope") == "provider_service")
        )
        .sort("forecast", descending=True)
        .head(TOP_SERVICES)
    )


def arbitrage(rows: pl.DataFrame, period: str) -> pl.DataFrame:
    """The largest savings of ``period`` per currency (``marts/arbitrage``): the model or GPU
    type, where it ran, the cheapest other host or region the catalogs offer, the catalog's date
    and whether its price is a list or a negotiated one."""
    return (
        rows.filter(
            (pl.col("billing_period") == period)
            & pl.col("alternative_provider").is_not_null()
            & (pl.col("saving") > 0)
        )
        .sort("saving", descending=True)
        .filter(pl.int_range(pl.len()).over("currency") < TOP_SAVINGS)
        .sort("currency", "saving", descending=[False, True])
    )


def maturity(card: pl.DataFrame, period: str) -> pl.DataFrame:
    """The scorecard of ``period`` (``marts/maturity_scorecard``) per project, the ``overall``
    row first and then the criteria in the mart's (the thresholds table's) order."""
    return (
        card.filter(pl.col("billing_period") == period)
        .with_row_index("order")
        .sort("project", pl.col("criterion") != OVERALL, "order")
        .drop("order")
    )
