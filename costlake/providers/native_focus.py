"""The repair of a provider's own FOCUS export, shared by AWS, Azure and OCI.

A native FOCUS export already has FOCUS's columns; what differs between providers is only how an
older version (1.0) spells or leaves out what the lake's FOCUS version requires. So the work is
the same everywhere and is written once here: every contract column present is parsed by its
type, with a reject reason when a value does not parse; the columns every export must fill are
checked; and the gaps every 1.0 export leaves the same way are filled (pricing currency, cost
columns, unit prices, charge frequency, pricing category, SKUs on tax rows, account names,
provider names). Each provider module adds only its own repairs (units, service tables, account
types, regions) as a dict of expressions that wins over these.
"""

from __future__ import annotations

import polars as pl

from costlake.focus import parsing
from costlake.focus.schema import CHARGE_CATEGORIES, REJECT_REASON, conform_to_focus

# What a native export must fill on every row (a row without one is rejected).
REQUIRED = (
    "BilledCost",
    "EffectiveCost",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "BillingCurrency",
    "BillingAccountId",
    "ServiceName",
)
# The columns of costlake's lineage: never taken from an export.
LINEAGE_PREFIXES = ("x_Source", "x_Provider")


def focus_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """An export column as text; the literal ``NULL`` and the quoted empty string ``""`` that
    FOCUS CSVs write (the CSV reader keeps a quoted empty field as "") are nulls."""
    col = parsing.text(name, dtype)
    return pl.when(~col.is_in(["NULL", ""])).then(col)


def with_contract_columns(raw: pl.LazyFrame, contract: pl.Schema) -> pl.LazyFrame:
    """The export with every FOCUS column of ``contract``: text cleaned, an absent column null.

    A provider's own ``x_`` columns are not costlake's and are left as they are (and dropped
    when the rows are conformed to the lake's schema).
    """
    schema = raw.collect_schema()
    cleaned = {
        name: focus_text(name, dtype) if dtype == pl.String else pl.col(name)
        for name, dtype in schema.items()
        if name in contract and not name.startswith("x_")
    }
    absent = [c for c in contract if c not in schema and not c.startswith("x_")]
    return raw.with_columns(**cleaned).with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in absent]
    )


def parsed_columns(
    schema: pl.Schema,
    contract: pl.Schema,
    time_formats: tuple[str, ...] = parsing.TIMESTAMP_FORMATS,
    extensions: bool = False,
) -> tuple[dict[str, pl.Expr], list[tuple[pl.Expr, str]]]:
    """Every contract column present in ``schema`` parsed to its lake type, and one check per
    number or timestamp that does not parse. ``extensions``: parse costlake's ``x_`` columns
    the export carries too (AWS's FOCUS export has them under costlake's names)."""
    parsed: dict[str, pl.Expr] = {}
    checks: list[tuple[pl.Expr, str]] = []
    for name, dtype in contract.items():
        if name not in schema or name.startswith(LINEAGE_PREFIXES):
            continue
        if name.startswith("x_") and not extensions:
            continue
        if dtype == pl.Float64:
            parsed[name] = parsing.number(name, schema[name])
            checks.append((parsing.is_bad(name, parsed[name]), f"{name} is not a number"))
        elif isinstance(dtype, pl.Datetime):
            parsed[name] = parsing.timestamp(name, schema[name], time_formats)
            message = f"{name} is not an ISO-8601 timestamp"
            checks.append((parsing.is_bad(name, parsed[name]), message))
        elif dtype == pl.String:
            parsed[name] = parsing.text(name, schema[name])
    return parsed, checks


def required_checks(
    parsed: dict[str, pl.Expr], required: tuple[str, ...] = REQUIRED
) -> list[tuple[pl.Expr, str]]:
    """An empty required column, or a charge category FOCUS does not have, rejects the row."""
    checks = [(parsed[name].is_null(), f"{name} is empty") for name in required]
    category = parsed["ChargeCategory"]
    checks.append(
        (~category.is_in(CHARGE_CATEGORIES), "ChargeCategory is not a FOCUS charge category")
    )
    return checks


def charge_frequency(frequency: pl.Expr, default: pl.Expr) -> pl.Expr:
    """FOCUS's spelling of a charge frequency in any case; ``default`` where it is empty."""
    lowered = frequency.str.to_lowercase()
    return (
        pl.when(lowered == "usage-based")
        .then(pl.lit("Usage-Based"))
        .when(lowered == "one-time")
        .then(pl.lit("One-Time"))
        .when(lowered == "recurring")
        .then(pl.lit("Recurring"))
        .otherwise(pl.coalesce(frequency, default))
    )


def shared_repairs(parsed: dict[str, pl.Expr], provider: str) -> dict[str, pl.Expr]:
    """What every FOCUS 1.0 export leaves out the same way, filled; values given are kept.

    Costs a 1.0 export leaves empty are its billed cost, prices are in the billing currency,
    unit prices are never negative and, like SKUs, never on tax rows, and the provider names
    are the provider's own.
    """
    category = parsed["ChargeCategory"]
    is_usage = category == "Usage"
    is_tax = category == "Tax"
    billed = parsed["BilledCost"]
    currency = parsed["BillingCurrency"].str.to_uppercase()

    def nonnegative(name: str) -> pl.Expr:
        return pl.when(~is_tax & (parsed[name] >= 0)).then(parsed[name])

    def not_on_tax(name: str) -> pl.Expr:
        return pl.when(~is_tax).then(parsed[name])

    return {
        "BillingCurrency": currency,
        "PricingCurrency": pl.coalesce(parsed["PricingCurrency"].str.to_uppercase(), currency),
        "ContractedCost": pl.coalesce(parsed["ContractedCost"], billed),
        "ListCost": pl.coalesce(parsed["ListCost"], billed),
        "PricingCurrencyEffectiveCost": pl.coalesce(
            parsed["PricingCurrencyEffectiveCost"], parsed["EffectiveCost"]
        ),
        "ListUnitPrice": nonnegative("ListUnitPrice"),
        "ContractedUnitPrice": nonnegative("ContractedUnitPrice"),
        "PricingCurrencyListUnitPrice": pl.coalesce(
            nonnegative("PricingCurrencyListUnitPrice"), nonnegative("ListUnitPrice")
        ),
        "PricingCurrencyContractedUnitPrice": pl.coalesce(
            nonnegative("PricingCurrencyContractedUnitPrice"), nonnegative("ContractedUnitPrice")
        ),
        "ChargeFrequency": charge_frequency(parsed["ChargeFrequency"], pl.lit("Usage-Based")),
        "PricingCategory": pl.when(is_tax)
        .then(None)
        .otherwise(
            pl.coalesce(parsed["PricingCategory"], pl.when(is_usage).then(pl.lit("Standard")))
        ),
        "SkuId": not_on_tax("SkuId"),
        "SkuPriceId": not_on_tax("SkuPriceId"),
        # A FOCUS 1.0 export may have no SkuMeter: the charge description stands in.
        "SkuMeter": pl.when(~is_tax & parsed["SkuId"].is_not_null()).then(
            pl.coalesce(parsed["SkuMeter"], parsed["ChargeDescription"])
        ),
        "BillingAccountName": pl.coalesce(parsed["BillingAccountName"], parsed["BillingAccountId"]),
        "SubAccountName": pl.coalesce(parsed["SubAccountName"], parsed["SubAccountId"]),
        "InvoiceIssuerName": pl.coalesce(parsed["InvoiceIssuerName"], pl.lit(provider)),
        "ProviderName": pl.coalesce(parsed["ProviderName"], pl.lit(provider)),
        "PublisherName": pl.coalesce(parsed["PublisherName"], pl.lit(provider)),
        "ServiceProviderName": pl.coalesce(
            parsed["ServiceProviderName"], parsed["ProviderName"], pl.lit(provider)
        ),
        "HostProviderName": pl.coalesce(parsed["HostProviderName"], pl.lit(provider)),
        "x_ProductCode": parsed["ServiceName"],
    }


def native_focus_rows(
    frame: pl.LazyFrame,
    parsed: dict[str, pl.Expr],
    checks: list[tuple[pl.Expr, str]],
    repairs: dict[str, pl.Expr],
) -> pl.LazyFrame:
    """The export's rows in the lake's schema: parsed values, then the repairs, with the reason
    of the first failed check (or null) as ``x_RejectReason``."""
    focus = frame.with_columns(
        **{**parsed, **repairs}, **{REJECT_REASON: parsing.reject_reason(checks)}
    )
    return conform_to_focus(focus)
