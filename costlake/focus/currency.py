"""Currencies: every row keeps its BillingCurrency; conversion only with an explicit rate table.

The lake never adds amounts of different currencies. A user who wants one currency brings a
dated rate table (a CSV, see docs/currency.md); ``with_converted_cost`` then adds ``x_Converted*``
columns that say which currency, rate and rate date were used, and refuses to guess when a rate
is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from costlake.focus import parsing

RATE_COLUMNS = ("date", "from_currency", "to_currency", "rate")
OPTIONAL_RATE_COLUMNS = ("source",)
CURRENCY_CODE = r"[A-Z]{3}"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
# How many problems of a rate file one error message lists (the rest are counted).
MAX_LISTED_PROBLEMS = 10

# The FOCUS cost columns that get a converted twin, and the twin's name.
CONVERTED_COSTS = {
    "BilledCost": "x_ConvertedBilledCost",
    "EffectiveCost": "x_ConvertedEffectiveCost",
    "ListCost": "x_ConvertedListCost",
    "ContractedCost": "x_ConvertedContractedCost",
}
# Every column with_converted_cost adds, in order.
ADDED_COLUMNS = [
    "x_ConvertedCurrency",
    "x_ExchangeRate",
    "x_ExchangeRateDate",
    *CONVERTED_COSTS.values(),
]
# Decimal costs are multiplied by the rate as a Decimal with this many decimals.
RATE_DECIMALS = 12

_DAY = "_ChargeDay"  # working column: the UTC date of ChargePeriodStart


def load_rates(path: Path) -> pl.DataFrame:
    """A user's rate table, checked: bad rows are named (file, row, column), never skipped.

    Columns of the result: ``date`` (Date), ``from_currency``, ``to_currency``, ``rate``
    (Float64, units of to_currency per 1 from_currency) and ``source`` (null when absent),
    sorted by pair and date.
    """
    path = Path(path)
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ValueError(f"{path}: cannot read the rate table: {exc}") from exc

    missing = [name for name in RATE_COLUMNS if name not in raw.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected a header with {', '.join(RATE_COLUMNS)} (and optionally source)"
        )
    if "source" not in raw.columns:
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias("source"))

    # Every value is read as text and stripped, then parsed; a failed parse is a problem.
    text = raw.select(
        [pl.col(name).str.strip_chars() for name in RATE_COLUMNS + OPTIONAL_RATE_COLUMNS]
    )
    parsed = text.with_columns(
        pl.col("date").str.to_date("%Y-%m-%d", strict=False).alias("parsed_date"),
        pl.col("rate").cast(pl.Float64, strict=False).alias("parsed_rate"),
    )

    problems: list[str] = []
    for row, values in enumerate(parsed.iter_rows(named=True), start=1):
        where = f"data row {row} (line {row + 1})"
        date_text = values["date"]
        if values["parsed_date"] is None or not _matches(ISO_DATE, date_text):
            problems.append(f"{where}, column date: {date_text!r} is not a date YYYY-MM-DD")
        for column in ("from_currency", "to_currency"):
            code = values[column]
            if not _matches(CURRENCY_CODE, code):
                problems.append(
                    f"{where}, column {column}: {code!r} is not an ISO 4217 code "
                    "(3 upper-case letters, e.g. USD)"
                )
        if values["from_currency"] == values["to_currency"] and values["from_currency"]:
            problems.append(
                f"{where}, column to_currency: same currency as from_currency "
                f"({values['to_currency']}); a currency needs no rate to itself"
            )
        rate = values["parsed_rate"]
        if rate is None or not (0 < rate < float("inf")):
            problems.append(
                f"{where}, column rate: {values['rate']!r} is not a positive number "
                f"(units of to_currency per 1 from_currency)"
            )

    pair_day = ["parsed_date", "from_currency", "to_currency"]
    duplicated = parsed.with_row_index("row", offset=1).filter(
        pl.all_horizontal(pl.col(pair_day).is_not_null()) & pl.struct(pair_day).is_duplicated()
    )
    for row, day, source, target in duplicated.select("row", *pair_day).iter_rows():
        problems.append(
            f"data row {row} (line {row + 1}): duplicate rate for {source}->{target} "
            f"on {day}; keep one rate per (date, from_currency, to_currency)"
        )

    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        if more:
            listed.append(f"… and {more} more problem(s)")
        raise ValueError(f"{path}: invalid rate table:\n  " + "\n  ".join(listed))

    return parsed.select(
        pl.col("parsed_date").alias("date"),
        "from_currency",
        "to_currency",
        pl.col("parsed_rate").alias("rate"),
        "source",
    ).sort("from_currency", "to_currency", "date")


def iso_4217_codes() -> list[str]:
    """The current ISO 4217 currency codes (``costlake/data/iso4217_currencies.csv``, ISO's
    List one as published in ``iso4217_currencies.meta.json``): a bill's currency must be one."""
    return parsing.data_table("iso4217_currencies.csv")["code"].to_list()


def _matches(pattern: str, value: str | None) -> bool:
    """Whether a (possibly null) text value matches a regular expression whole."""
    return value is not None and re.fullmatch(pattern, value) is not None


def _rate_per_currency_day(focus: pl.LazyFrame, rates: pl.DataFrame, target: str) -> pl.DataFrame:
    """The rate of each distinct (BillingCurrency, charge day) of ``focus``: a small table.

    Only the distinct keys are as-of joined (and so sorted), not the rows: the big frame stays
    in its order and streams through a plain left join afterwards. Rows already in ``target``
    get rate 1 and no rate date; a key without a rate on or before its day gets null.
    """
    if not _matches(CURRENCY_CODE, target):
        raise ValueError(f"target currency {target!r} is not an ISO 4217 code (e.g. USD)")
    keys = (
        focus.select(
            pl.col("BillingCurrency"),
            pl.col("ChargePeriodStart").dt.date().alias(_DAY),
        )
        .unique()
        .collect()
    )
    pair_rates = (
        rates.filter(pl.col("to_currency") == target)
        .select(
            pl.col("from_currency").alias("BillingCurrency"),
            pl.col("date").alias("x_ExchangeRateDate"),
            pl.col("rate").alias("x_ExchangeRate"),
        )
        .sort("BillingCurrency", "x_ExchangeRateDate")
    )
    foreign = keys.filter(pl.col("BillingCurrency") != target).sort("BillingCurrency", _DAY)
    # Both sides are sorted by (currency, day) just above, so polars' own check (which
    # cannot see inside "by" groups and only warns) is turned off.
    found = foreign.join_asof(
        pair_rates,
        left_on=_DAY,
        right_on="x_ExchangeRateDate",
        by="BillingCurrency",
        strategy="backward",
        check_sortedness=False,
    )
    same = keys.filter(pl.col("BillingCurrency") == target).select(
        "BillingCurrency",
        _DAY,
        pl.lit(None, dtype=pl.Date).alias("x_ExchangeRateDate"),
        pl.lit(1.0).alias("x_ExchangeRate"),
    )
    # Keys with a null currency match neither filter: kept, with no rate, so they are reported.
    unknown = keys.filter(pl.col("BillingCurrency").is_null()).select(
        "BillingCurrency",
        _DAY,
        pl.lit(None, dtype=pl.Date).alias("x_ExchangeRateDate"),
        pl.lit(None, dtype=pl.Float64).alias("x_ExchangeRate"),
    )
    return pl.concat([found.select(same.columns), same, unknown], how="vertical_relaxed")


def _missing_from(per_day: pl.DataFrame) -> pl.DataFrame:
    """The keys of a per-(currency, day) rate table that have no rate, per currency."""
    return (
        per_day.filter(pl.col("x_ExchangeRate").is_null())
        .group_by("BillingCurrency")
        .agg(
            pl.col(_DAY).min().alias("first_date_without_rate"),
            pl.len().alias("days"),
        )
        .sort("BillingCurrency", nulls_last=True)
    )


def missing_rates(focus: pl.LazyFrame, rates: pl.DataFrame, target: str) -> pl.DataFrame:
    """Which currencies have no rate to ``target``, and from which day on: what to add.

    One row per BillingCurrency lacking a rate for some row: ``first_date_without_rate`` (the
    earliest ChargePeriodStart date, UTC, with no rate dated on or before it) and ``days``
    (how many distinct charge days lack one). Empty when every row can be converted.
    """
    return _missing_from(_rate_per_currency_day(focus, rates, target))


def describe_missing(missing: pl.DataFrame, target: str) -> str:
    """One readable sentence per missing currency, for error messages."""
    lines = []
    for currency, first_day, days in missing.iter_rows():
        if currency is None:
            lines.append(f"rows without a BillingCurrency cannot be converted to {target}")
        elif first_day is None:
            lines.append(f"{currency} rows without a ChargePeriodStart have no dated rate")
        else:
            lines.append(
                f"no {currency}->{target} rate dated on or before {first_day} "
                f"({days} charge day(s) without a rate)"
            )
    return "; ".join(lines)


def with_converted_cost(focus: pl.LazyFrame, rates: pl.DataFrame, target: str) -> pl.LazyFrame:
    """``focus`` with its costs converted to ``target`` by the dated rates, every row kept.

    Adds ``x_ConvertedCurrency`` (= target), ``x_ExchangeRate``, ``x_ExchangeRateDate`` (the
    date of the rate used; null for rows already in ``target``, which use rate 1) and
    ``x_ConvertedBilledCost``, ``x_ConvertedEffectiveCost``, ``x_ConvertedListCost``,
    ``x_ConvertedContractedCost``. A row's rate is the newest (BillingCurrency -> target) rate
    dated on or before its ChargePeriodStart's UTC date. The original columns, BillingCurrency
    included, are untouched.

    Raises ``ValueError`` naming currency and date when some row has no rate, rather than
    producing null converted costs. This check reads the two key columns once (a cheap
    aggregate); the conversion itself stays lazy.
    """
    # A frame converted before is converted afresh, not joined twice.
    focus = focus.drop(ADDED_COLUMNS, strict=False)
    per_day = _rate_per_currency_day(focus, rates, target)
    missing = _missing_from(per_day)
    if missing.height:
        raise ValueError(f"cannot convert to {target}: {describe_missing(missing, target)}")

    schema = focus.collect_schema()
    converted = []
    for cost, name in CONVERTED_COSTS.items():
        if isinstance(schema[cost], pl.Decimal):
            # Decimal stays Decimal: the rate becomes a Decimal, not the cost a float.
            rate = pl.col("x_ExchangeRate").cast(pl.Decimal(38, RATE_DECIMALS))
        else:
            rate = pl.col("x_ExchangeRate")
        converted.append((pl.col(cost) * rate).alias(name))

    return (
        focus.with_columns(pl.col("ChargePeriodStart").dt.date().alias(_DAY))
        # Keys are unique in per_day, so the left join neither drops nor repeats a row.
        .join(
            per_day.lazy(),
            on=["BillingCurrency", _DAY],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        .with_columns(pl.lit(target).alias("x_ConvertedCurrency"), *converted)
        .drop(_DAY)
        .select(*schema.names(), *ADDED_COLUMNS)
    )


def cost_by_currency(
    focus: pl.LazyFrame,
    group_by: list[str],
    costs: tuple[str, ...] = ("BilledCost", "EffectiveCost"),
) -> pl.DataFrame:
    """Rows and Σ of ``costs`` per ``group_by`` and BillingCurrency, sorted.

    BillingCurrency is always one of the keys, so two currencies are never summed together.
    """
    keys = [name for name in group_by if name != "BillingCurrency"] + ["BillingCurrency"]
    return (
        focus.group_by(keys)
        .agg(pl.len().alias("rows"), *[pl.col(cost).sum() for cost in costs])
        .sort(keys, nulls_last=True)
        .collect()
    )
