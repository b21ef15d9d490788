"""The month-end report page of each billing period, written into the lake after the period
marts it reads."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.lake_tables import LAKE_TABLE
from assets.partitions import period_partitions
from assets.period_inputs import focus_of_period
from assets.resources import CostlakeResource
from costlake.report.page import report_html
from costlake.report.tables import REPORT_TABLE, read_report_inputs, write_report


@asset(
    name="report",
    partitions_def=period_partitions,
    group_name="marts",
    # Last of the period marts: after every one it reads, and after the scorecard and
    # arbitrage, so a period's page is built once its marts are.
    deps=[
        focus_of_period,
        "ai_unit_costs",
        "model_routing_savings",
        "gpu_utilization",
        "anomaly_events",
        "anomaly_contributions",
        "budgets",
        "forecasts",
        "arbitrage",
        "maturity_scorecard",
    ],
    kinds={"html"},
    metadata={LAKE_TABLE: REPORT_TABLE},
    description=(
        "One self-contained HTML page of the period (and the two before it): spend per day, "
        "top services, tags, AI unit costs, GPU idle cost, anomalies, budgets, reconciliation."
    ),
)
def report(context: AssetExecutionContext, costlake: CostlakeResource) -> MaterializeResult:
    billing_period = context.partition_key
    lake = costlake.lake()
    inputs = read_report_inputs(lake, billing_period)
    relative = write_report(lake, billing_period, report_html(inputs))
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(lake.path(relative)),
            "tables_read": MetadataValue.md(
                "\n".join(f"- {name}" for name in sorted(inputs.tables)) or "none"
            ),
        }
    )
