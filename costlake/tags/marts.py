"""The tag marts: how much cost carries each mandatory tag, and which spend carries none.

Both read one (provider, billing period) of the FOCUS table, whose ``x_tag_<key>`` columns the
ingest filled (``costlake.tags.rules``), and measure cost as ``EffectiveCost``: the amortized cost
that allocation is about (a reservation's cost sits on the usage it covered). Amounts are per
``BillingCurrency``, never added across currencies. Charges that cannot carry a tag (tax,
support, credits, marketplace fees, rounding, commitment fees: ``x_Untaggable``) are counted as
untaggable, apart from the taggable cost that is untagged.
"""

from __future__ import annotations

import polars as pl

from costlake.tags.rules import UNTAGGABLE_COLUMN, TagRules, missing_mandatory, value_column

COST = "EffectiveCost"
COVERAGE_GROUPS = (
    "BillingAccountId",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "BillingCurrency",
)
UNTAGGED_GROUPS = (
    "day",
    "BillingAccountId",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "ResourceId",
    "ResourceName",
    "BillingCurrency",
    "missing_tags",
)


def mandatory_keys(rules: TagRules) -> list[str]:
    """The mandatory tag keys, in configuration order."""
    return [key for key, spec in rules.keys.items() if spec.required]


def _taggable() -> pl.Expr:
    return ~pl.col(UNTAGGABLE_COLUMN).fill_null(False)


def tag_coverage(focus: pl.LazyFrame, rules: TagRules) -> pl.LazyFrame:
    """Per billing account, sub account, service and currency: taggable, untaggable and fully
    tagged cost, and per mandatory key the cost carrying it and its share of the taggable cost
    (``<key>_coverage``; null where there is no taggable cost)."""
    keys = mandatory_keys(rules)
    cost = pl.col(COST)
    complete = pl.all_horizontal([pl.col(value_column(key)).is_not_null() for key in keys])
    totals = [
        cost.filter(_taggable()).sum().alias("taggable_cost"),
        cost.filter(~_taggable()).sum().alias("untaggable_cost"),
        cost.filter(_taggable() & complete).sum().alias("fully_tagged_cost"),
    ] + [
        cost.filter(_taggable() & pl.col(value_column(key)).is_not_null())
        .sum()
        .alias(f"{key}_tagged_cost")
        for key in keys
    ]
    taggable = pl.col("taggable_cost")
    shares = [
        pl.when(taggable != 0)
        .then(pl.col(f"{key}_tagged_cost") / taggable)
        .alias(f"{key}_coverage")
        for key in keys
    ]
    return (
        focus.group_by(COVERAGE_GROUPS)
        .agg(totals)
        .with_columns(shares)
        .sort("BillingCurrency", "taggable_cost", descending=[False, True], nulls_last=True)
    )


def untagged_spend(focus: pl.LazyFrame, rules: TagRules) -> pl.LazyFrame:
    """Taggable cost missing at least one mandatory tag, per day, resource and the keys it
    misses (``missing_tags``, comma-separated), ranked by cost within each currency."""
    return (
        focus.filter(_taggable())
        .with_columns(
            pl.col("ChargePeriodStart").dt.date().alias("day"),
            missing_mandatory(rules).list.join(",").alias("missing_tags"),
        )
        .filter(pl.col("missing_tags") != "")
        .group_by(UNTAGGED_GROUPS)
        .agg(
            pl.col("BilledCost").sum(),
            pl.col(COST).sum(),
            pl.len().alias("rows"),
        )
        .with_columns(
            pl.col(COST)
            .rank("ordinal", descending=True)
            .over("BillingCurrency")
            .cast(pl.Int64)
            .alias("rank")
        )
        .sort("BillingCurrency", "rank")
    )


def untagged_share(coverage: pl.LazyFrame) -> pl.DataFrame:
    """Per currency, from the ``tag_coverage`` mart: taggable cost, the part of it missing a
    mandatory tag (taggable less fully tagged), and that share."""
    return (
        coverage.group_by("BillingCurrency")
        .agg(
            pl.col("taggable_cost").sum(),
            (pl.col("taggable_cost") - pl.col("fully_tagged_cost")).sum().alias("untagged_cost"),
        )
        .with_columns(
            pl.when(pl.col("taggable_cost") != 0)
            .then(pl.col("untagged_cost") / pl.col("taggable_cost"))
            .alias("untagged_share")
        )
        .sort("BillingCurrency")
        .collect()
    )
