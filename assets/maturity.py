"""The FinOps maturity scorecard of each billing period, from the tables the lake holds."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.lake_tables import LAKE_TABLE
from assets.partitions import period_partitions
from assets.period_inputs import focus_of_period, period_focus, period_mart
from assets.resources import CostlakeResource
from costlake.maturity.scorecard import OVERALL, load_thresholds, maturity_scorecard
from costlake.tags.marts import mandatory_keys

SCORECARD_TABLES = ("marts/maturity_scorecard",)
# Marts of the period read when present; marts/forecasts is read whole (earlier periods'
# forecasts against their final actuals).
PERIOD_MARTS = (
    "marts/ai_unit_costs",
    "marts/gpu_cost_allocation",
    "marts/model_routing_savings",
    "marts/budgets",
    "marts/anomaly_events",
    "marts/commitment_utilization",
)


@asset(
    name="maturity_scorecard",
    partitions_def=period_partitions,
    group_name="marts",
    # After the marts of the period it reads, when they are in the same run; the others
    # (commitments, per provider) are read by name when the lake has them.
    deps=[
        focus_of_period,
        "ai_unit_costs",
        "model_routing_savings",
        "gpu_cost_allocation",
        "anomaly_events",
        "budgets",
        "forecasts",
    ],
    kinds={"polars", "parquet"},
    metadata={LAKE_TABLE: SCORECARD_TABLES[0]},
    description=(
        "FinOps maturity per project (crawl, walk, run, fly) with the evidence of each "
        "criterion and the next step; criteria whose marts are not in the lake say so."
    ),
)
def maturity_scorecard_mart(
    context: AssetExecutionContext, costlake: CostlakeResource
) -> MaterializeResult:
    billing_period = context.partition_key
    lake = costlake.lake()
    tables: dict[str, pl.LazyFrame] = {"focus": period_focus(lake, billing_period)}
    for table in PERIOD_MARTS:
        found = period_mart(lake, table, billing_period)
        if found is not None:
            tables[table] = found
    if lake.files("marts/forecasts"):
        tables["marts/forecasts"] = lake.scan("marts/forecasts").filter(
            pl.col("billing_period") <= billing_period
        )
    context.log.info(f"scorecard inputs: {', '.join(sorted(tables))}")
    card = maturity_scorecard(tables, load_thresholds(), mandatory_keys(costlake.tag_rules()))
    with lake.staged_period(None, billing_period, SCORECARD_TABLES) as staged:
        card.write_parquet(staged.part_path("marts/maturity_scorecard", 0), compression="zstd")
    overall = card.filter(pl.col("criterion") == OVERALL)
    return MaterializeResult(
        metadata={
            "projects": overall.height,
            "inputs": MetadataValue.md("\n".join(f"- {t}" for t in sorted(tables))),
            "levels": MetadataValue.md(
                "\n".join(
                    f"- {r['project']}: {r['level']} (next: {r['next_step'] or 'none'})"
                    for r in overall.head(10).iter_rows(named=True)
                )
                or "no projects"
            ),
        }
    )
