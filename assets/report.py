"""The month-end report page of each billing period, written into the lake after the period
marts it reads."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.ai import ai_unit_costs_mart
from assets.anomalies import anomalies_mart
from assets.budgets import budget_marts
from assets.gpu import gpu_utilization_mart
from assets.partitions import period_partitions
from assets.resources import CostlakeResource
from costlake.report.page import report_html
from costlake.report.tables import read_report_inputs, write_report


@asset(
    name="report",
    partitions_def=period_partitions,
    group_name="report",
    deps=[ai_unit_costs_mart, gpu_utilization_mart, anomalies_mart, budget_marts],
    kinds={"html"},
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
