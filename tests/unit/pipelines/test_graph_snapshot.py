"""A snapshot of the names BI readers and operators depend on: asset keys, the lake table each
one is, check names, jobs, schedules and sensors. A rename fails here first, on purpose: change
the literal below only together with a note in the docs' table contract."""

from assets.lake_tables import LAKE_TABLE
from pipelines.definitions import defs

# asset key → lake folder (the contract with BI readers), written out by hand.
ASSETS = {
    "raw_delivery": "raw",
    "focus": "focus",
    "rejects": "rejects",
    "focus_contract_commitments": "focus_contract_commitments",
    "ingests": "ingests",
    "tag_coverage": "marts/tag_coverage",
    "untagged_spend": "marts/untagged_spend",
    "commitment_utilization": "marts/commitment_utilization",
    "commitment_coverage": "marts/commitment_coverage",
    "llm_requests": "marts/llm_requests",
    "ai_unit_costs": "marts/ai_unit_costs",
    "ai_cost_reconciliation": "marts/ai_cost_reconciliation",
    "model_routing_savings": "marts/model_routing_savings",
    "ai_unrecognised_lines": "marts/ai_unrecognised_lines",
    "ai_failed_calls": "marts/ai_failed_calls",
    "arbitrage": "marts/arbitrage",
    "gpu_samples": "gpu_samples",
    "gpu_busy_hours": "marts/gpu_busy_hours",
    "gpu_utilization": "marts/gpu_utilization",
    "gpu_cost_allocation": "marts/gpu_cost_allocation",
    "gpu_rightsizing": "marts/gpu_rightsizing",
    "anomaly_scores": "marts/anomaly_scores",
    "anomaly_events": "marts/anomaly_events",
    "anomaly_contributions": "marts/anomaly_contributions",
    "budgets": "marts/budgets",
    "forecasts": "marts/forecasts",
    "maturity_scorecard": "marts/maturity_scorecard",
    "report": "reports",
}
# The budget checks are one per configured budget: these are the embedded default's two.
CHECKS = [
    "ai_cost_reconciliation:ai_cost_reconciles",
    "ai_failed_calls:ai_wasted_share",
    "ai_unrecognised_lines:ai_lines_recognised",
    "anomaly_events:no_new_anomalies",
    "budgets:budget_model_atlas_13b",
    "budgets:budget_team_platform",
    "commitment_utilization:commitments_used_and_not_expiring",
    "focus:amounts_are_finite",
    "focus:no_duplicate_line_items",
    "focus:reconciles_to_bill",
    "focus:schema_is_focus",
    "gpu_samples:telemetry_parses",
    "gpu_utilization:telemetry_maps_to_bills",
    "llm_requests:request_logs_parse",
    "tag_coverage:untagged_share_under_threshold",
]


def test_asset_keys_and_their_lake_tables_are_the_published_ones():
    graph = defs.resolve_asset_graph()
    found = {
        key.to_user_string(): graph.get(key).metadata.get(LAKE_TABLE)
        for key in graph.get_all_asset_keys()
    }
    assert found == ASSETS


def test_check_names_are_the_published_ones():
    graph = defs.resolve_asset_graph()
    assert sorted(key.to_user_string() for key in graph.asset_check_keys) == CHECKS


def test_jobs_schedules_and_sensors_are_the_documented_ones():
    assert sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")) == [
        "nightly",
        "period_marts",
    ]
    assert [s.name for s in defs.schedules] == ["nightly_schedule"]
    assert sorted(s.name for s in defs.sensors) == [
        "aws_new_deliveries",
        "azure_new_deliveries",
        "gcp_new_deliveries",
        "oci_new_deliveries",
        "period_marts_after_focus",
    ]
