"""What did each commitment cost, how much of it was used, and what did it save?

Two day-grain marts from a period's FOCUS rows, with the links of ``costlake.commitments.
dataset`` re-derived from the published rows (one rule table serves ingest and marts):

- ``commitment_utilization``: per commitment and day, its cost, the used and unused
  (idle) parts, utilization, the on-demand value of the usage it covered and the savings it
  realized against on demand.
- ``commitment_coverage``: per provider, billing account, sub account and day, the eligible
  usage at on-demand prices, the part commitments covered, coverage, what the eligible usage
  cost (the commitments' idle part included) and the effective savings rate.

``period_utilization`` and ``period_coverage`` sum the day rows to a period (ratios are taken
of the sums, never averaged), and ``commitment_warnings`` says which commitments ran under a
utilization threshold or end soon. Formulas and a worked example: ``docs/commitments.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from costlake.commitments.dataset import (
    COMMITMENT_CATEGORY,
    COMMITMENT_ID,
    COMMITMENT_ROLE,
    COMMITMENT_TYPE,
    COVERED_LIST_COST,
    GCP_CUD_TYPE,
    PROVISIONED_TYPE,
    link_columns,
)

DEFAULT_UTILIZATION_THRESHOLD = 0.90
DEFAULT_EXPIRY_DAYS = 30
# What commitments discount: usage priced by the hour (instance, vCPU, RAM, GPU hours) of a
# compute, database or machine-learning service, on demand or committed; spot is excluded.
ELIGIBLE_CATEGORIES = ("Compute", "Databases", "AI and Machine Learning")

UTILIZATION_KEYS = [
    "x_Provider",
    "BillingAccountId",
    "BillingCurrency",
    "ContractCommitmentId",
    "ContractCommitmentType",
    "ContractCommitmentCategory",
]
COVERAGE_KEYS = ["x_Provider", "BillingAccountId", "SubAccountId", "BillingCurrency"]


def _day() -> pl.Expr:
    return pl.col("ChargePeriodStart").dt.convert_time_zone("UTC").dt.date().alias("day")


def _safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator != 0).then(numerator / denominator)


def _with_figures(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Utilization, savings and rate from the summed money columns of a utilization frame."""
    amortized = pl.col("used_cost") + pl.col("unused_cost")
    return (
        frame.with_columns(
            commitment_cost=pl.when(amortized != 0).then(amortized).otherwise(pl.col("fee_cost")),
        )
        .with_columns(
            utilization=pl.when(amortized > 0).then(pl.col("used_cost") / amortized),
            realized_savings=pl.col("covered_on_demand_cost") - pl.col("commitment_cost"),
        )
        .with_columns(
            savings_rate=_safe_ratio(pl.col("realized_savings"), pl.col("covered_on_demand_cost")),
        )
    )


def commitment_utilization(focus: pl.LazyFrame) -> pl.LazyFrame:
    """Per commitment and day: ``fee_cost`` (its fee rows' BilledCost), ``used_cost`` and
    ``unused_cost`` (EffectiveCost of the usage it covered and of its unused rows),
    ``commitment_cost`` (used + unused where the bill amortizes, else the fee),
    ``utilization`` (used / (used + unused); null where the bill has no amortized view),
    ``covered_on_demand_cost``, ``realized_savings`` (covered on demand − commitment cost) and
    ``savings_rate`` (savings / covered on demand).

    A GCP CUD credit is the discount, not the commitment's applied cost, so it counts only as
    covered value; PTU capacity has no used / unused split in a bill (see ``recommend``).
    """
    rows = link_columns(focus).filter(pl.col(COMMITMENT_ID).is_not_null())
    role = pl.col(COMMITMENT_ROLE)
    amortizes = ~pl.col(COMMITMENT_TYPE).is_in([GCP_CUD_TYPE, PROVISIONED_TYPE])
    daily = (
        rows.with_columns(
            _day(),
            pl.col(COMMITMENT_ID).alias("ContractCommitmentId"),
            pl.col(COMMITMENT_TYPE).alias("ContractCommitmentType"),
            pl.col(COMMITMENT_CATEGORY).alias("ContractCommitmentCategory"),
        )
        .group_by([*UTILIZATION_KEYS, "day"])
        .agg(
            pl.col("BilledCost").filter(role == "fee").sum().alias("fee_cost"),
            pl.col("EffectiveCost").filter((role == "used") & amortizes).sum().alias("used_cost"),
            pl.col("EffectiveCost").filter(role == "unused").sum().alias("unused_cost"),
            pl.col(COVERED_LIST_COST).sum().alias("covered_on_demand_cost"),
        )
    )
    return _with_figures(daily).sort([*UTILIZATION_KEYS, "day"])


def period_utilization(daily: pl.LazyFrame) -> pl.LazyFrame:
    """The utilization mart summed over the period, per commitment."""
    money = ["fee_cost", "used_cost", "unused_cost", "covered_on_demand_cost"]
    summed = daily.group_by(UTILIZATION_KEYS).agg(
        *[pl.col(c).sum() for c in money],
        pl.col("day").min().alias("first_day"),
        pl.col("day").max().alias("last_day"),
    )
    return _with_figures(summed).sort(UTILIZATION_KEYS)


def eligible_usage() -> pl.Expr:
    """Usage a commitment could discount (``ELIGIBLE_CATEGORIES``, priced in hours, on demand or
    committed), not an unused-commitment row and not AI capacity; over linked FOCUS rows."""
    unit = pl.col("PricingUnit").fill_null("")
    return (
        (pl.col("ChargeCategory") == "Usage")
        & pl.col("ServiceCategory").is_in(ELIGIBLE_CATEGORIES)
        & unit.str.ends_with("Hours")
        & pl.col("PricingCategory").is_in(["Standard", "Committed"])
        & (pl.col(COMMITMENT_ROLE).fill_null("") != "unused")
        & (pl.col(COMMITMENT_TYPE).fill_null("") != PROVISIONED_TYPE)
    ).fill_null(False)


def commitment_coverage(focus: pl.LazyFrame) -> pl.LazyFrame:
    """Per provider, billing account, sub account and day: ``eligible_on_demand_cost`` (list
    cost of the eligible usage), ``covered_on_demand_cost`` (the part commitments covered),
    ``coverage`` (covered / eligible), ``eligible_cost`` (what that usage cost, with the
    commitments' unused part and, where the bill has no amortized view, their fees; for GCP
    also the CUD credits) and
    ``effective_savings_rate`` (1 − eligible cost / eligible on demand)."""
    rows = link_columns(focus).with_columns(_day())
    role = pl.col(COMMITMENT_ROLE).fill_null("")
    kind = pl.col(COMMITMENT_TYPE).fill_null("")
    eligible = eligible_usage()
    # Money that belongs to eligible usage though the row itself is not eligible usage: the
    # unused commitment, GCP's CUD credits (the discount) and CUD fees (the commitment).
    attached_effective = ~eligible & (
        (role == "unused") | ((kind == GCP_CUD_TYPE) & (role == "used"))
    )
    # A bill with no amortized view (GCP; Azure's actual export, where covered usage costs 0)
    # charges the commitment only on its fee rows.
    no_amortized_view = (kind == GCP_CUD_TYPE) | (pl.col("x_SourceDataset") == "azure_actual")
    attached_fee = no_amortized_view & (role == "fee")
    daily = rows.group_by([*COVERAGE_KEYS, "day"]).agg(
        pl.col("ListCost").filter(eligible).sum().alias("eligible_on_demand_cost"),
        pl.col(COVERED_LIST_COST)
        .filter(kind != PROVISIONED_TYPE)
        .sum()
        .alias("covered_on_demand_cost"),
        (
            pl.col("EffectiveCost").filter(eligible | attached_effective).sum()
            + pl.col("BilledCost").filter(attached_fee).sum()
        ).alias("eligible_cost"),
    )
    return (
        _coverage_figures(daily)
        .filter((pl.col("eligible_on_demand_cost") != 0) | (pl.col("eligible_cost") != 0))
        .sort([*COVERAGE_KEYS, "day"])
    )


def _coverage_figures(frame: pl.LazyFrame) -> pl.LazyFrame:
    eligible = pl.col("eligible_on_demand_cost")
    return frame.with_columns(
        coverage=_safe_ratio(pl.col("covered_on_demand_cost"), eligible),
        effective_savings_rate=_safe_ratio(eligible - pl.col("eligible_cost"), eligible),
    )


def period_coverage(daily: pl.LazyFrame) -> pl.LazyFrame:
    """The coverage mart summed over the period, per provider and account."""
    money = ["eligible_on_demand_cost", "covered_on_demand_cost", "eligible_cost"]
    summed = daily.group_by(COVERAGE_KEYS).agg(*[pl.col(c).sum() for c in money])
    return _coverage_figures(summed).sort(COVERAGE_KEYS)


@dataclass(frozen=True)
class CommitmentWarning:
    """A commitment that needs a look: under-used, or ending soon."""

    commitment_id: str
    provider: str
    kind: str  # "utilization" | "expiry"
    message: str


def commitment_warnings(
    period: pl.DataFrame,
    commitments: pl.DataFrame,
    as_of: datetime,
    threshold: float = DEFAULT_UTILIZATION_THRESHOLD,
    expiry_days: int = DEFAULT_EXPIRY_DAYS,
) -> list[CommitmentWarning]:
    """Commitments of a period whose utilization is under ``threshold`` (``period``: the
    output of ``period_utilization``), or whose term ends within ``expiry_days`` of
    ``as_of`` (``commitments``: Contract Commitment rows)."""
    warnings = []
    low = period.filter(pl.col("utilization") < threshold)
    for row in low.iter_rows(named=True):
        warnings.append(
            CommitmentWarning(
                row["ContractCommitmentId"],
                row["x_Provider"],
                "utilization",
                f"{row['ContractCommitmentId']}: utilization {row['utilization']:.1%} under "
                f"{threshold:.0%}; unused {row['unused_cost']:,.2f} {row['BillingCurrency']}",
            )
        )
    horizon = as_of + timedelta(days=expiry_days)
    ends = (
        commitments.filter(pl.col("ContractCommitmentPeriodEnd").is_not_null())
        .group_by("ContractCommitmentId", "x_Provider")
        .agg(pl.col("ContractCommitmentPeriodEnd").max())
        .filter(
            (pl.col("ContractCommitmentPeriodEnd") >= as_of)
            & (pl.col("ContractCommitmentPeriodEnd") <= horizon)
        )
        .sort("ContractCommitmentId")
    )
    for commitment_id, provider, end in ends.iter_rows():
        days = (end - as_of).days
        warnings.append(
            CommitmentWarning(
                commitment_id,
                provider,
                "expiry",
                f"{commitment_id}: ends {end:%Y-%m-%d}, in {days} day(s)",
            )
        )
    return warnings
