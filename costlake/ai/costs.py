"""AI unit costs: the bill's token cost split across the application's model calls.

The bill is the truth; the request logs say who made which calls; the price catalog only
weights the split and prices calls that no bill line covers. For each day, provider, model and
token kind (input, cache read, cache write, output), the billed cost of the bill's token lines
is split across that day's requests of the model in proportion to each request's catalog cost of
that kind (its token count when the catalog has no price). So the requests of a billed
(day, provider, model) carry exactly the bill's cost, and a request without a bill line (direct
API use, or a cloud that has not billed the day yet) carries its catalog estimate, marked so.
Billed token cost that no logged request can take (an application that does not trace its calls)
stays visible as ``unattributed``, with the bill line's own tags.

Bill and log model names differ (``Claude3Haiku`` on the bill, ``anthropic.claude-3-haiku-
20240307-v1:0`` in the log); both are matched on ``model_key``: the catalog's canonical name
without its date stamp, so dated versions of one model share a key.
"""

from __future__ import annotations

import re

import polars as pl

from costlake.ai.prices import PriceCatalog, canonical_model, priced_requests

TOKEN_KINDS = ("input", "cache_read", "cache_write", "output")
TAG_COLUMNS = ("project", "environment", "workload_type")
COST_KEYS = ("day", "provider", "model", *TAG_COLUMNS, "currency")
_DATE_STAMP = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


def model_key(name: str | None) -> str | None:
    """The name bills and logs are matched on: canonical, without a date stamp."""
    if not name:
        return None
    return _DATE_STAMP.sub("", canonical_model(name)) or None


def with_model_key(frame: pl.LazyFrame, *columns: str) -> pl.LazyFrame:
    """``frame`` with ``model``: the key of the first of ``columns`` that has a name. Keys are
    worked out once per distinct name (a few models, many rows), then joined."""
    names = (
        pl.concat([frame.select(pl.col(c).alias("name")) for c in columns])
        .drop_nulls()
        .unique()
        .collect()
    )
    keys = names.with_columns(
        pl.Series(
            "key",
            [model_key(n) for n in names["name"]],
            dtype=pl.String,
        )
    ).lazy()
    keyed = frame
    for i, column in enumerate(columns):
        keyed = keyed.join(keys.rename({"name": column, "key": f"_key{i}"}), on=column, how="left")
    return keyed.with_columns(
        pl.coalesce([f"_key{i}" for i in range(len(columns))]).alias("model")
    ).drop([f"_key{i}" for i in range(len(columns))])


def _request_tokens(kind: str) -> pl.Expr:
    """A request's tokens of one kind; ``input`` is the uncached input (OpenAI convention)."""
    reads = pl.col("cache_read_tokens").fill_null(0)
    writes = pl.col("cache_write_tokens").fill_null(0)
    return (
        {
            "input": pl.col("input_tokens").fill_null(0) - reads - writes,
            "cache_read": reads,
            "cache_write": writes,
            "output": pl.col("output_tokens").fill_null(0),
        }[kind]
        .cast(pl.Float64)
        .clip(lower_bound=0.0)
    )


def billed_token_cost(lines: pl.LazyFrame) -> pl.LazyFrame:
    """The bill's token lines per (provider, day, model key, token kind, currency) and tags.

    ``lines`` is ``costlake.ai.token_lines.token_lines`` of the lake's FOCUS rows. Cost is
    EffectiveCost (what the tokens cost after discounts, as the other marts count it).
    """
    return (
        with_model_key(lines.rename({"model": "model_billed_name"}), "model_billed_name")
        .group_by(
            pl.col("x_Provider").alias("provider"),
            "day",
            "model",
            pl.col("direction").alias("kind"),
            pl.col("BillingCurrency").alias("currency"),
            *[pl.col(f"x_tag_{tag}").alias(tag) for tag in TAG_COLUMNS],
        )
        .agg(
            pl.col("EffectiveCost").sum().alias("billed"),
            pl.col("quantity")
            .filter(pl.col("quantity_unit") == "tokens")
            .sum()
            .alias("billed_tokens"),
        )
    )


def costed_requests(
    requests: pl.LazyFrame, billed: pl.LazyFrame, catalog: PriceCatalog
) -> pl.LazyFrame:
    """Every request with its cost: ``billed_cost`` (its share of the bill) when the bill has
    token lines for its (provider, day, model), else ``estimated_cost`` from the catalog.

    Adds ``model`` (the key), ``cost``, ``cost_basis`` (billed | estimated | unpriced),
    ``currency``, ``input_side_cost`` and ``output_cost`` (for cost per 1K tokens), the
    catalog's ``estimated_cost`` and ``catalog_version``.
    """
    priced = with_model_key(
        priced_requests(requests, catalog), "model_responded", "model_requested"
    )
    group = ["provider", "day", "model", "kind", "currency"]
    bill_groups = billed.group_by(group).agg(pl.col("billed").sum())
    bill_keys = bill_groups.select("provider", "day", "model", "currency").unique(
        ["provider", "day", "model"]
    )
    # One row per request and token kind with its weight: the catalog cost of those tokens,
    # or the tokens themselves where the catalog has no price.
    weights = pl.concat(
        [
            priced.select(
                "request_id",
                "provider",
                "day",
                "model",
                pl.lit(kind).alias("kind"),
                pl.coalesce(pl.col(f"estimated_{kind}_cost"), pl.lit(0.0)).alias("cost_weight"),
                _request_tokens(kind).alias("token_weight"),
            )
            for kind in TOKEN_KINDS
        ]
    )
    shares = (
        weights.join(bill_groups, on=["provider", "day", "model", "kind"], how="inner")
        .with_columns(
            pl.when(pl.col("cost_weight").sum().over(group) > 0)
            .then(pl.col("cost_weight") / pl.col("cost_weight").sum().over(group))
            .when(pl.col("token_weight").sum().over(group) > 0)
            .then(pl.col("token_weight") / pl.col("token_weight").sum().over(group))
            .otherwise(None)
            .alias("share")
        )
        .with_columns((pl.col("billed") * pl.col("share")).alias("allocated"))
        .group_by("request_id", "provider", "day", "model")
        .agg(
            pl.col("allocated").sum().alias("billed_cost"),
            pl.col("allocated").filter(pl.col("kind") != "output").sum().alias("billed_input_side"),
            pl.col("allocated").filter(pl.col("kind") == "output").sum().alias("billed_output"),
        )
    )
    estimated_input_side = pl.sum_horizontal(
        *[pl.col(f"estimated_{kind}_cost") for kind in TOKEN_KINDS if kind != "output"]
    )
    return (
        priced.join(bill_keys, on=["provider", "day", "model"], how="left")
        .join(shares, on=["request_id", "provider", "day", "model"], how="left")
        .with_columns(
            pl.when(pl.col("currency").is_not_null())
            .then(pl.lit("billed"))
            .when(pl.col("estimated_cost").is_not_null())
            .then(pl.lit("estimated"))
            .otherwise(pl.lit("unpriced"))
            .alias("cost_basis"),
        )
        .with_columns(
            pl.when(pl.col("cost_basis") == "billed")
            .then(pl.col("billed_cost").fill_null(0.0))
            .otherwise(pl.col("estimated_cost"))
            .alias("cost"),
            pl.when(pl.col("cost_basis") == "billed")
            .then(pl.col("billed_input_side").fill_null(0.0))
            .otherwise(estimated_input_side)
            .alias("input_side_cost"),
            pl.when(pl.col("cost_basis") == "billed")
            .then(pl.col("billed_output").fill_null(0.0))
            .otherwise(pl.col("estimated_output_cost"))
            .alias("output_cost"),
            pl.col("currency").fill_null(pl.lit("USD")),
        )
        .drop("billed_input_side", "billed_output")
    )


def unattributed_cost(billed: pl.LazyFrame, requests: pl.LazyFrame) -> pl.LazyFrame:
    """Billed token cost no logged request could take, per bill group with the bill's tags."""
    weighted = (
        pl.concat(
            [
                requests.filter(_request_tokens(kind) > 0).select(
                    "provider", "day", "model", pl.lit(kind).alias("kind")
                )
                for kind in TOKEN_KINDS
            ]
        )
        .unique()
        .with_columns(pl.lit(True).alias("_taken"))
    )
    return (
        billed.join(weighted, on=["provider", "day", "model", "kind"], how="left")
        .filter(pl.col("_taken").is_null())
        .drop("_taken")
    )


def ai_cost_reconciliation(
    billed: pl.LazyFrame, costed: pl.LazyFrame, unattributed: pl.LazyFrame
) -> pl.LazyFrame:
    """Per provider, model, day and currency: the bill's token cost, what was allocated to
    requests, what stayed unattributed, and the catalog's estimate of the logged requests with
    its drift from the bill (only where the bill is in USD, the catalog's currency)."""
    keys = ["provider", "day", "model", "currency"]
    bill = billed.group_by(keys).agg(pl.col("billed").sum(), pl.col("billed_tokens").sum())
    allocated = (
        costed.filter(pl.col("cost_basis") == "billed")
        .group_by(keys)
        .agg(
            pl.col("cost").sum().alias("allocated"),
            pl.col("estimated_cost").sum().alias("estimated"),
            pl.sum_horizontal(
                pl.col("input_tokens").fill_null(0), pl.col("output_tokens").fill_null(0)
            )
            .sum()
            .cast(pl.Float64)
            .alias("logged_tokens"),
            pl.col("requests").sum(),
        )
    )
    left_over = unattributed.group_by(keys).agg(pl.col("billed").sum().alias("unattributed"))
    return (
        bill.join(allocated, on=keys, how="left")
        .join(left_over, on=keys, how="left")
        .with_columns(
            pl.col("allocated", "unattributed", "logged_tokens").fill_null(0.0),
            pl.col("requests").fill_null(0),
        )
        .with_columns(
            pl.when((pl.col("currency") == "USD") & (pl.col("allocated") > 0))
            .then((pl.col("estimated") - pl.col("allocated")) / pl.col("allocated") * 100)
            .alias("drift_pct"),
        )
        .sort(keys)
    )


def ai_unit_costs(costed: pl.LazyFrame, unattributed: pl.LazyFrame) -> pl.LazyFrame:
    """The ``ai_unit_costs`` mart: per day, provider, model, project, environment,
    workload_type and currency, cost and tokens with the unit costs derived from them."""
    kind_tokens = {
        kind: pl.col("billed_tokens").filter(pl.col("kind") == kind) for kind in TOKEN_KINDS
    }
    from_requests = costed.select(
        *COST_KEYS,
        "cost",
        pl.when(pl.col("cost_basis") == "billed").then(pl.col("cost")).alias("billed_cost"),
        pl.when(pl.col("cost_basis") != "billed").then(pl.col("cost")).alias("estimated_cost"),
        pl.lit(None, pl.Float64).alias("unattributed_cost"),
        "input_side_cost",
        "output_cost",
        pl.col("input_tokens").cast(pl.Float64),
        pl.col("cache_read_tokens").cast(pl.Float64),
        pl.col("output_tokens").cast(pl.Float64),
        pl.col("requests").cast(pl.Int64),
        (pl.col("status") == "error").cast(pl.Int64).mul(pl.col("requests")).alias("failed"),
        "trace_id",
        "user_id",
        "catalog_version",
    )
    from_bill = (
        unattributed.group_by(COST_KEYS)
        .agg(
            pl.col("billed").sum().alias("cost"),
            pl.col("billed").filter(pl.col("kind") != "output").sum().alias("input_side_cost"),
            pl.col("billed").filter(pl.col("kind") == "output").sum().alias("output_cost"),
            pl.sum_horizontal(*[kind_tokens[k].sum() for k in TOKEN_KINDS if k != "output"]).alias(
                "input_tokens"
            ),
            kind_tokens["cache_read"].sum().alias("cache_read_tokens"),
            kind_tokens["output"].sum().alias("output_tokens"),
        )
        .select(
            *COST_KEYS,
            "cost",
            pl.lit(None, pl.Float64).alias("billed_cost"),
            pl.lit(None, pl.Float64).alias("estimated_cost"),
            pl.col("cost").alias("unattributed_cost"),
            "input_side_cost",
            "output_cost",
            "input_tokens",
            "cache_read_tokens",
            "output_tokens",
            pl.lit(0, pl.Int64).alias("requests"),
            pl.lit(0, pl.Int64).alias("failed"),
            pl.lit(None, pl.String).alias("trace_id"),
            pl.lit(None, pl.String).alias("user_id"),
            pl.lit(None, pl.String).alias("catalog_version"),
        )
    )
    per_query_tokens = pl.col("input_tokens") + pl.col("output_tokens")
    return (
        pl.concat([from_requests, from_bill])
        .group_by(COST_KEYS)
        .agg(
            pl.col("cost").sum(),
            pl.col("billed_cost").sum(),
            pl.col("estimated_cost").sum(),
            pl.col("unattributed_cost").sum(),
            pl.col("input_side_cost").sum(),
            pl.col("output_cost").sum(),
            pl.col("input_tokens").sum(),
            pl.col("cache_read_tokens").sum().alias("cached_tokens"),
            pl.col("output_tokens").sum(),
            pl.col("requests").sum(),
            # A query is a trace: an agent's five calls count once. Calls without a trace
            # (usage-API buckets) count as one query each.
            (
                pl.col("trace_id").drop_nulls().n_unique()
                + pl.col("requests").filter(pl.col("trace_id").is_null()).sum()
            ).alias("queries"),
            pl.col("user_id").drop_nulls().n_unique().alias("users"),
            pl.col("failed").sum(),
            pl.col("catalog_version").drop_nulls().first(),
        )
        .with_columns(
            _ratio(pl.col("input_side_cost") * 1000, pl.col("input_tokens")).alias(
                "cost_per_1k_input_tokens"
            ),
            _ratio(pl.col("output_cost") * 1000, pl.col("output_tokens")).alias(
                "cost_per_1k_output_tokens"
            ),
            _ratio(pl.col("cost"), pl.col("queries")).alias("cost_per_query"),
            _ratio(per_query_tokens, pl.col("queries")).alias("tokens_per_query"),
            _ratio(pl.col("cost"), pl.col("users")).alias("cost_per_user"),
            _ratio(pl.col("cached_tokens"), pl.col("input_tokens")).alias("cache_hit_rate"),
            _ratio(pl.col("failed"), pl.col("requests")).alias("failed_share"),
        )
        .drop("failed")
        .sort(COST_KEYS, nulls_last=True)
    )


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator``, null where the denominator is 0 or missing."""
    return pl.when(denominator > 0).then(numerator / denominator)
