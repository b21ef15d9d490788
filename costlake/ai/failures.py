"""What failed and retried model calls cost: the ``ai_failed_calls`` mart.

A failed call is one the log marks ``status = error`` (OTel span status ``ERROR`` or an
``error.type`` attribute, LiteLLM ``status = failure``; OpenAI usage buckets are all ``ok``). A
retry is a call that follows a failed call of the same model in the same trace (LiteLLM records
without a trace id carry their request id as the trace, so a retry there needs the same request
id); a *retried* call is a failed call that such a retry followed. Every retried call is a failed
one, so the money wasted is the cost of the failed calls.

Cost comes from ``costlake.ai.costs.costed_requests``: a call's share of the bill's token lines
where the bill covers its (day, provider, model), else its catalog estimate. So the wasted cost
of billed calls is in the invoice's own dollars; a failed call that billed no tokens (a throttled
call refused before the model ran) costs nothing, as on the bill.

Per day, provider, model, team and currency:

* ``calls`` = Σ requests, ``failed_calls`` = Σ requests of failed calls;
* ``retries`` = calls after a failure of their trace and model, ``retried_calls`` = failed calls
  a retry followed;
* ``error_types``: the failed calls' distinct ``error_type`` values (OTel ``error.type``);
* ``wasted_tokens`` = input + output tokens of failed calls, ``wasted_cost`` = their cost
  (``wasted_billed_cost`` the part that is a share of the bill);
* ``wasted_share`` = wasted_cost / cost, ``api_efficiency`` = (calls − failed_calls) / calls.
"""

from __future__ import annotations

import polars as pl

FAILURE_KEYS = ("day", "provider", "model", "team", "currency")
# The wasted share above which the ``ai_wasted_share`` check warns, unless configured.
DEFAULT_WASTED_SHARE_WARN = 0.05


def _failed() -> pl.Expr:
    return (pl.col("status") == "error").fill_null(False)


def with_retries(costed: pl.LazyFrame) -> pl.LazyFrame:
    """``costed`` with ``failed`` (bool), ``retry`` (the call follows a failed call of its trace
    and model) and ``retried`` (a failed call a later call of its trace and model followed)."""
    attempts = ["trace_id", "model"]
    order = ["start_time", "request_id"]
    failed_before = _failed().cast(pl.Int64).cum_sum().over(
        attempts, order_by=order
    ) - _failed().cast(pl.Int64)
    calls_after = pl.len().over(attempts) - pl.int_range(pl.len()).over(attempts, order_by=order)
    return costed.with_columns(
        _failed().alias("failed"),
        (pl.col("trace_id").is_not_null() & (failed_before > 0)).alias("retry"),
        (pl.col("trace_id").is_not_null() & _failed() & (calls_after > 1)).alias("retried"),
    )


def failed_call_costs(costed: pl.LazyFrame) -> pl.LazyFrame:
    """The ``ai_failed_calls`` mart of a period's costed requests (see the module docstring)."""
    calls = pl.col("requests").fill_null(1)
    tokens = pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)
    failed = pl.col("failed")
    return (
        with_retries(costed)
        .group_by(FAILURE_KEYS)
        .agg(
            calls.sum().alias("calls"),
            calls.filter(failed).sum().alias("failed_calls"),
            calls.filter(pl.col("retry")).sum().alias("retries"),
            calls.filter(pl.col("retried")).sum().alias("retried_calls"),
            tokens.sum().alias("tokens"),
            tokens.filter(failed).sum().alias("wasted_tokens"),
            pl.col("error_type")
            .filter(failed)
            .drop_nulls()
            .unique()
            .sort()
            .str.join(", ")
            .alias("error_types"),
            pl.col("cost").fill_null(0.0).sum().alias("cost"),
            pl.col("cost").filter(failed).fill_null(0.0).sum().alias("wasted_cost"),
            pl.col("cost")
            .filter(failed & (pl.col("cost_basis") == "billed"))
            .fill_null(0.0)
            .sum()
            .alias("wasted_billed_cost"),
        )
        .with_columns(
            pl.when(pl.col("cost") > 0)
            .then(pl.col("wasted_cost") / pl.col("cost"))
            .alias("wasted_share"),
            pl.when(pl.col("calls") > 0)
            .then((pl.col("calls") - pl.col("failed_calls")) / pl.col("calls"))
            .alias("api_efficiency"),
        )
        .sort(FAILURE_KEYS, nulls_last=True)
    )


def wasted_share_over(mart: pl.DataFrame, level: float) -> pl.DataFrame:
    """Per provider, model and currency of the period: the wasted share, where it passes
    ``level`` (the ``ai_wasted_share`` check's rows)."""
    return (
        mart.group_by("provider", "model", "currency")
        .agg(pl.col("cost", "wasted_cost", "calls", "failed_calls").sum())
        .with_columns(
            pl.when(pl.col("cost") > 0)
            .then(pl.col("wasted_cost") / pl.col("cost"))
            .alias("wasted_share")
        )
        .filter(pl.col("wasted_share") > level)
        .sort("wasted_cost", descending=True)
    )
