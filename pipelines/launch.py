"""Launch a night from a shell: the nightly job per (period, provider), then the period marts
that Dagster's own automation condition finds due.

``costlake run`` and ``costlake demo`` do not decide what runs after what. They launch the same
runs the nightly schedule requests (one per partition, side by side with ``workers`` > 1), then
evaluate the marts' automation condition (``pipelines.policies.MARTS_AFTER_FOCUS``) against the
instance, as the daemon's sensor does, and run the mart partitions it requests. Its cursor is
kept in the instance, so a night launched from a shell and one launched by the daemon see the
same history. Every run goes through ``execute_job`` with the job's executor: in-process (the
default: one process, least memory) or multiprocess (each step its own process); with
``workers`` > 1 the nightly runs go side by side, each in a process of its own. The period
marts' runs go oldest period first, one at a time (a period's marts read the earlier periods'),
so a night's tables are the same however many workers built them.

A failed run is an outcome, never an exception: every partition runs, and each outcome says
what failed and why.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Literal

from dagster import (
    DagsterEventType,
    DagsterInstance,
    deserialize_value,
    evaluate_automation_conditions,
    execute_job,
    reconstructable,
    serialize_value,
)

from assets.partitions import billing_partitions, partition_key, period_partitions
from pipelines.definitions import MARTS, defs, nightly, period_marts

Executor = Literal["in_process", "multiprocess"]
# The checks whose failure makes a night fail: the blocking ones (the lake's audit) and the AI
# marts' reconciliation; the others (untagged share, parse warnings) warn.
_GRAPH = defs.resolve_asset_graph()
INTEGRITY_CHECKS = frozenset(
    {key.name for key in _GRAPH.asset_check_keys if _GRAPH.get(key).blocking}
    | {"ai_cost_reconciles"}
)
# Where the CLI keeps the cursor of its evaluations of the marts' automation condition.
AUTOMATION_CURSOR = "costlake/marts_automation_cursor"
# Evaluations of the marts' condition in one night: one finds the periods due, the next takes in
# the marts built (and finds none due unless a focus changed meanwhile).
MAX_ROUNDS = 3
# Dagster's console logger: quiet (each run's outcome is told once, without a stack trace), or
# at INFO for progress and warnings.
LOG_LEVELS = {False: "CRITICAL", True: "INFO"}


@dataclass(frozen=True)
class RunOutcome:
    """What one run did: its label (``aws 2026-11``, ``marts 2026-11``) and its verdict."""

    label: str
    run_id: str
    success: bool
    failed_checks: tuple[str, ...] = ()
    warned_checks: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """The run succeeded and no integrity check failed."""
        return self.success and not self.failed_checks


@dataclass
class Night:
    """Every run of a night, and the periods whose marts were not rebuilt, with the reason."""

    runs: list[RunOutcome] = field(default_factory=list)
    marts_kept: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every run succeeded and no integrity check failed."""
        return all(r.ok for r in self.runs)


def run_config(executor: Executor, verbose: bool = False) -> dict:
    """The run config of one run on ``executor``, Dagster's log on the console if ``verbose``."""
    return {
        "loggers": {"console": {"config": {"log_level": LOG_LEVELS[verbose]}}},
        "execution": {"config": {executor: {}}},
    }


def _outcome(label: str, result) -> RunOutcome:
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        and not e.asset_check_evaluation_data.passed
    ]
    errors = [
        _message(e.step_failure_data)
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error is not None
    ]
    if not result.success and not errors:  # a run that failed outside any step
        errors = [e.message for e in result.all_events if e.is_run_failure and e.message]
    return RunOutcome(
        label=label,
        run_id=result.run_id,
        success=result.success,
        failed_checks=tuple(c.check_name for c in checks if c.check_name in INTEGRITY_CHECKS),
        warned_checks=tuple(c.check_name for c in checks if c.check_name not in INTEGRITY_CHECKS),
        errors=tuple(dict.fromkeys(errors)),
    )


def _message(failure) -> str:
    """What a step failure says: a ``Failure``'s own description, else the message of the
    error the step's code raised (not Dagster's "Error occurred while executing op" around
    it), without its exception class."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return failure.user_failure_data.description.strip()
    error = failure.error
    if error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    return re.sub(r"^[\w.]+(Error|Exception|Failure): ", "", error.message.strip())


def _run(
    job: Callable, tags: dict[str, str], label: str, instance, executor, verbose
) -> RunOutcome:
    result = execute_job(
        reconstructable(job),
        instance=instance,
        run_config=run_config(executor, verbose),
        tags=tags,
        raise_on_error=False,
    )
    return _outcome(label, result)


JOBS = {"nightly": nightly, "period_marts": period_marts}


def _label(key) -> str:
    """``aws 2026-11`` for the partition key of (2026-11, aws)."""
    dimensions = key.keys_by_dimension
    return f"{dimensions['provider']} {dimensions['billing_period']}"


def _run_in_worker(
    ref, job: str, tags: dict[str, str], label: str, executor, verbose
) -> RunOutcome:
    """One run in a worker process, on the instance ``ref`` points at."""
    with DagsterInstance.from_ref(ref) as instance:
        return _run(JOBS[job], tags, label, instance, executor, verbose)


def _load_cursor(instance: DagsterInstance):
    """The cursor of the last evaluation (an ``AssetDaemonCursor``), or None before the first."""
    stored = instance.run_storage.get_cursor_values({AUTOMATION_CURSOR}).get(AUTOMATION_CURSOR)
    return deserialize_value(stored) if stored else None


def due_mart_periods(instance: DagsterInstance) -> list[str]:
    """The period partitions whose marts the automation condition requests now (its cursor
    moves on, as a sensor tick's does)."""
    cursor = _load_cursor(instance)
    result = evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=MARTS, cursor=cursor
    )
    instance.run_storage.set_cursor_values({AUTOMATION_CURSOR: serialize_value(result.cursor)})
    due: set[str] = set()
    for key in MARTS.resolve(_GRAPH):
        due |= {p for p in result.get_requested_partitions(key) if p}
    return sorted(due)


def run_night(
    instance: DagsterInstance,
    periods: Iterable[str],
    providers: Iterable[str],
    workers: int = 1,
    executor: Executor = "in_process",
    on_run: Callable[[RunOutcome], None] = lambda _: None,
    verbose: bool = False,
) -> Night:
    """The nightly job on every (period, provider), ``workers`` at a time, then the period marts
    the automation condition finds due; ``on_run`` hears of each run as it ends, and
    ``verbose`` shows Dagster's own log."""
    periods, providers = sorted(periods), list(providers)
    if _load_cursor(instance) is None:
        due_mart_periods(instance)  # a first evaluation only starts the condition's history
    night = Night()

    def launch(requests: list[tuple[str, dict[str, str], str]]) -> list[RunOutcome]:
        outcomes = []
        if workers <= 1:
            for job, tags, label in requests:
                outcomes.append(_run(JOBS[job], tags, label, instance, executor, verbose))
                on_run(outcomes[-1])
            return outcomes
        # Runs side by side each in a process of its own, as a run launcher starts them:
        # Dagster sets up a run's logging per process, which threads would share and deadlock.
        spawn = multiprocessing.get_context("spawn")
        ref = instance.get_ref()
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
            running = [
                pool.submit(_run_in_worker, ref, job, tags, label, executor, verbose)
                for job, tags, label in requests
            ]
            for done in as_completed(running):
                on_run(done.result())
        return [future.result() for future in running]

    night.runs += launch(
        [
            ("nightly", billing_partitions.get_tags_for_partition_key(key), _label(key))
            for key in (partition_key(p, provider) for p in periods for provider in providers)
        ]
    )
    # As the daemon's sensor does tick after tick: evaluate, run what is due, and evaluate again
    # (which also takes in the marts just built) until nothing is due.
    built: set[str] = set()
    for _ in range(MAX_ROUNDS):
        due = due_mart_periods(instance)
        if not due:
            break
        # Oldest period first, one at a time: a period's marts read those of the periods
        # before it (the scorecard's forecast accuracy, the report's two earlier periods), so
        # side by side they would read them half-built or not yet built.
        for p in due:
            tags = period_partitions.get_tags_for_partition_key(p)
            night.runs += launch([("period_marts", tags, f"marts {p}")])
        built |= set(due)
    for period in periods:
        if period not in built:
            night.marts_kept[period] = _why_kept(night.runs, period)
    return night


def _why_kept(runs: list[RunOutcome], period: str) -> str:
    failed = [r for r in runs if r.label.endswith(f" {period}") and not r.ok]
    if failed:
        reasons = "; ".join(
            f"{r.label}: {', '.join(r.failed_checks) or 'run failed'}" for r in failed
        )
        return f"not rebuilt, they keep their last good version ({reasons})"
    return "not rebuilt: no focus partition of the period was updated"
