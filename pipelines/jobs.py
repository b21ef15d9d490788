"""The jobs: the nightly run of one (billing period, provider), and the period marts.

Dagster is the one sequencer. The nightly job lands a partition's delivery, builds its FOCUS
tables and, only if their blocking checks passed, its tag and commitment marts. The period marts
(AI, GPU, anomalies, budgets, arbitrage, the maturity scorecard, the report) span the providers:
their automation condition (``pipelines.policies``) requests a period once one of its focus
partitions was updated and every one passed its blocking checks; ``period_marts`` is the job
those requests run in, the report last (it depends on the marts it shows).
"""

from dagster import AssetSelection, define_asset_job

from assets.ai import ai_marts, arbitrage_mart
from assets.anomalies import anomaly_marts
from assets.billing import focus, raw_delivery
from assets.budgets import budget_marts
from assets.commitments import commitment_marts
from assets.gpu import gpu_marts
from assets.maturity import maturity_scorecard_mart
from assets.partitions import billing_partitions, period_partitions
from assets.report import report
from assets.tags import tag_marts
from pipelines.policies import RUN_RETRIES

NIGHTLY_ASSETS = (raw_delivery, focus, tag_marts, commitment_marts)
PERIOD_MARTS = (
    ai_marts,
    gpu_marts,
    anomaly_marts,
    budget_marts,
    arbitrage_mart,
    maturity_scorecard_mart,
    report,
)

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*NIGHTLY_ASSETS),
    partitions_def=billing_partitions,
    run_tags=RUN_RETRIES,
    description="Land a partition's delivery, build its FOCUS tables, tag and commitment marts.",
)

period_marts_job = define_asset_job(
    "period_marts",
    selection=AssetSelection.assets(*PERIOD_MARTS),
    partitions_def=period_partitions,
    run_tags=RUN_RETRIES,
    description="The marts that span the providers (AI unit costs, GPU utilization, "
    "anomalies, budgets and forecasts, arbitrage, the maturity scorecard) and the period's "
    "report page: the partitions the marts' automation condition finds due.",
)
