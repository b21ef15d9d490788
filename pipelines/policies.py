"""The policies every asset and job shares, set once here and applied at the root of ``defs``.

- Freshness: each table is refreshed by the nightly run; a day and a half without a new
  materialization warns, two days fail (a schedule or sensor that stopped, a night that failed).
- Retries: a run whose process died (a node drained, a pod evicted, out of memory) is launched
  again, twice at most, by the instance's run retries (``run_retries`` in ``dagster.yaml``, see
  docs/operations.md). A run that failed on its data (a money check, a bad delivery) is not:
  the same delivery gives the same verdict, and the run says why.
- Automation: the period marts run after ``focus``, and only once its blocking checks passed.
"""

from datetime import timedelta

from dagster import AssetSelection, AutomationCondition, FreshnessPolicy

FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=48), warn_window=timedelta(hours=36)
)
RUN_RETRIES = {"dagster/max_retries": "2", "dagster/retry_on_asset_or_op_failure": "false"}

# A period mart partition depends on the focus partitions of its period, one per provider. It
# waits while any of them failed a blocking check (money, schema, finite amounts) on its latest
# evaluation, so the marts keep the version built from data that passed. A provider without a
# source, or whose delivery has not come yet, holds nothing back: it has no failed check.
# (The checks are partitioned like focus, so each partition's verdict is its own.)
_A_FOCUS_FAILED = (
    AutomationCondition.any_deps_match(
        AutomationCondition.any_checks_match(AutomationCondition.check_failed(), blocking_only=True)
    )
    .allow(AssetSelection.assets("focus"))
    .with_label("a focus of the period failed a blocking check")
)

MARTS_AFTER_FOCUS = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~_A_FOCUS_FAILED
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after focus passed")
