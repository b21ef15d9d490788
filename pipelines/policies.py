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

# A period mart partition depends on the focus partitions of its period, one per provider.
# A provider without a source never materializes its partition (missing), which must not hold
# the marts back; a partition whose last materialization failed a blocking check (money,
# schema) does, so the marts keep the version built from data that passed.
_FOCUS_PASSED = (
    AutomationCondition.all_deps_match(
        AutomationCondition.missing()
        | AutomationCondition.all_checks_match(
            AutomationCondition.check_passed(), blocking_only=True
        )
    )
    .allow(AssetSelection.assets("focus"))
    .with_label("every focus of the period passed its blocking checks")
)

MARTS_AFTER_FOCUS = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & _FOCUS_PASSED
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after focus passed")
