"""The jobs: the nightly run of one (billing period, provider), and the period marts.

Dagster is the one sequencer. The nightly job lands a partition's delivery, builds its FOCUS
tables and, only if their blocking checks passed, its tag marts. The period marts (AI, GPU,
anomalies) span the providers: their automation condition (``pipelines.policies``) requests a
period once one of its focus partitions was updated and every one passed its blocking checks;
``period_marts`` is the job those requests run in.
"""

from dagster import AssetSelection, define_asset_job

from assets.ai import ai_marts
from assets.anomalies import anomaly_marts
from assets.billing import focus, raw_delivery
from assets.gpu import gpu_marts
from assets.partitions import billing_partitions, period_partitions
from assets.tags import tag_marts
from pipelines.policies import RUN_RETRIES

NIGHTLY_ASSETS = (raw_delivery, focus, tag_marts)
PERIOD_MARTS = (ai_marts, gpu_marts, anomaly_marts)

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.assets(*NIGHTLY_ASSETS),
    partitions_def=billing_partitions,
    run_tags=RUN_RETRIES,
    description="Land a partition's delivery, build its FOCUS tables and tag marts.",
)

period_marts_job = define_asset_job(
    "period_marts",
    selection=AssetSelection.assets(*PERIOD_MARTS),
    partitions_def=period_partitions,
    run_tags=RUN_RETRIES,
    description="The marts that span the providers (AI unit costs, GPU utilization, "
    "anomalies) of one period: the partitions the marts' automation condition finds due.",
)
