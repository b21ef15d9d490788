"""Azure Cost Management exports (EA and MCA cost details, FocusCost) to FOCUS rows.

EA files use PascalCase headers (``CostInBillingCurrency``), MCA files camelCase
(``costInBillingCurrency``), and older EA files other names for the same columns (``Cost``,
``BillingCurrency``). Headers are matched case-insensitively and renamed to the EA names
(``AZURE_COLUMNS``, synonyms in ``AZURE_SYNONYMS``), so one set of rules serves them all.

Each export type is a source dataset of its own and ``BilledCost`` is always the export's own
cost column, so the lake reconciles to every file:

- ``azure_actual`` (ActualCost, the invoice basis): ``EffectiveCost`` = the cost, except on
  reservation and savings plan purchases (and their refunds), whose ``EffectiveCost`` is 0.
- ``azure_amortized`` (AmortizedCost): ``EffectiveCost`` = the cost, and so is ``BilledCost``:
  an amortized export is not the invoice (purchases are spread over the usage they cover and
  unused benefit has rows of its own), so its ``BilledCost`` is the amortized cost.

Service, region and unit names come from Microsoft's FinOps toolkit tables (``data/azure_*``).
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import polars as pl

from costlake.focus import parsing
from costlake.focus.schema import (
    RAW_TAGS,
    REJECT_REASON,
    REQUIRED_FOCUS_COLUMNS,
    conform_to_focus,
    focus_polars_schema,
)
from costlake.providers import native_focus, units
from costlake.providers.datasets import SourceDataset, same_names

PROVIDER = "Microsoft"
COST = "CostInBillingCurrency"
CURRENCY = "BillingCurrency"
UNKNOWN_PREFIX = "__azure_"

# Canonical (EA) names; a header matches one of them whatever its case.
AZURE_COLUMNS = (
    "InvoiceId",
    "BillingAccountId",
    "BillingAccountName",
    "BillingProfileId",
    "BillingProfileName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "ProductName",
    "ProductId",
    "PartNumber",
    "MeterId",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "Quantity",
    "EffectivePrice",
    "UnitPrice",
    "PayGPrice",
    COST,
    CURRENCY,
    "PricingCurrency",
    "CostInPricingCurrency",
    "CostInUsd",
    "ExchangeRatePricingToBilling",
    "ResourceLocation",
    "AvailabilityZone",
    "ConsumedService",
    "ResourceId",
    "ResourceName",
    "ResourceGroup",
    "AdditionalInfo",
    "Tags",
    "UnitOfMeasure",
    "ReservationId",
    "ReservationName",
    "PublisherName",
    "PublisherType",
    "ChargeType",
    "Frequency",
    "PricingModel",
    "BenefitId",
    "BenefitName",
)
# Other spellings (lower case) → canonical name. A header that is itself a canonical name wins
# over a synonym: a file with both ``Cost`` and ``CostInBillingCurrency`` keeps the latter.
AZURE_SYNONYMS = {
    "cost": COST,  # EA exports before the 2021 schema
    "pretaxcost": COST,  # EA usage details API v1
    "billingcurrencycode": CURRENCY,  # EA
    "pricingcurrencycode": "PricingCurrency",
    "product": "ProductName",  # EA before the 2021 schema
    "instanceid": "ResourceId",  # EA usage details API v1
    "instancename": "ResourceId",  # MCA before ResourceId
    "resourcegroupname": "ResourceGroup",  # MCA
    "subscriptionguid": "SubscriptionId",  # EA usage details API v1
}
REQUIRED_COLUMNS = (
    "BillingAccountId",
    "BillingPeriodStartDate",
    "Date",
    COST,
    CURRENCY,
)
MONEY_COLUMNS = (
    COST,
    "Quantity",
    "EffectivePrice",
    "UnitPrice",
    "PayGPrice",
    "CostInPricingCurrency",
    "CostInUsd",
    "ExchangeRatePricingToBilling",
)
DATE_COLUMNS = ("BillingPeriodStartDate", "BillingPeriodEndDate", "Date")
# "09/21/2023" (and "9/2/2023") in EA CSVs; ISO dates or times in newer and MCA files.
DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", parsing.ISO_UTC, "%Y-%m-%dT%H:%M:%S%.f")
TEXT_COLUMNS = tuple(c for c in AZURE_COLUMNS if c not in MONEY_COLUMNS + DATE_COLUMNS)

COMMITMENT_MODELS = ("reservation", "savingsplan")

_CANONICAL_BY_LOWER = {c.lower(): c for c in AZURE_COLUMNS}


def cost_details_rename_map(columns: list[str]) -> dict[str, str]:
    """Source header → canonical EA name; unknown headers get a private ``__azure_`` prefix.

    The prefix keeps a column the normalizer does not read from ever reaching the FOCUS table
    under a FOCUS name. A canonical spelling wins over a synonym, and the first synonym that
    claims a name keeps it. Headers that differ only in case or spaces (``Cost`` and ``cost``)
    all map to their name: the ingest refuses such a header as naming a column twice.
    """
    mapping: dict[str, str] = {}
    claimed: dict[str, str] = {}  # canonical name → the lower-case spelling that took it
    for column in columns:
        spelling = column.strip().lower()
        target = _CANONICAL_BY_LOWER.get(spelling)
        if target is not None:
            mapping[column] = target
            claimed.setdefault(target, spelling)
    for column in columns:
        if column in mapping:
            continue
        spelling = column.strip().lower()
        target = AZURE_SYNONYMS.get(spelling)
        if target is not None and claimed.setdefault(target, spelling) == spelling:
            mapping[column] = target
        else:
            mapping[column] = UNKNOWN_PREFIX + column
    return mapping


def missing_required(columns: list[str], source_dataset: str) -> list[str]:
    """Required source columns absent from a file (canonical EA names)."""
    if source_dataset == "azure_focus":
        return [c for c in REQUIRED_FOCUS_COLUMNS if c not in columns]
    present = set(cost_details_rename_map(columns).values())
    return [c for c in REQUIRED_COLUMNS if c not in present]


SERVICE_FIELDS = ("service_name", "service_category", "service_subcategory")


@cache
def _services_by(key: str) -> pl.DataFrame:
    """One service row per ``key`` value of the services table, keyed by column ``key`` (small,
    built once, eagerly).

    By ``service_name`` any row serves (name, category and subcategory agree); by
    ``consumed_service`` the service most of its resource types belong to (ties: first name).
    """
    table = parsing.data_table("azure_services.csv").filter(pl.col(key).is_not_null())
    entries = [(row[key], *(row[f] for f in SERVICE_FIELDS)) for row in table.iter_rows(named=True)]
    rows: dict[str, tuple[str, ...]] = {}
    if key == "consumed_service":
        ordered = sorted(Counter(entries).items(), key=lambda item: (-item[1], item[0]))
        entries = [entry for entry, _ in ordered]
    for value, *fields in entries:
        rows.setdefault(value, tuple(fields))
    return pl.DataFrame(
        [(value, *fields) for value, fields in rows.items()],
        schema=["key", *SERVICE_FIELDS],
        orient="row",
    )


def _service_lookup(frame: pl.DataFrame, keys: dict[str, str], prefix: str) -> pl.LazyFrame:
    return frame.lazy().select(
        *[pl.col(table_key).alias(frame_key) for table_key, frame_key in keys.items()],
        *[pl.col(f).alias(f"{prefix}{f}") for f in SERVICE_FIELDS],
    )


def arm_resource_type(resource_id: pl.Expr) -> pl.Expr:
    """The ARM resource type of a resource id, lower case: ``/subscriptions/…/providers/
    Microsoft.Compute/virtualMachines/vm1/extensions/x`` → ``microsoft.compute/virtualmachines/
    extensions``. Null when the id has no ``/providers/`` part."""
    path = resource_id.str.extract(r"(?i)/providers/(.*)$")
    parts = path.str.strip_chars("/").str.split("/")
    types = parts.list.gather_every(2, offset=1).list.join("/")
    namespace = parts.list.first()
    return (
        pl.when(path.is_not_null() & (parts.list.len() >= 2))
        .then(pl.concat_str([namespace, pl.lit("/"), types]))
        .str.to_lowercase()
    )


def _with_catalogs(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Service, region and unit names from the FinOps toolkit tables, by left joins on keys
    that are unique in each table (so no row is ever doubled). A join keeps the plan
    streaming; ``replace`` on a column would make polars hold it whole."""
    services = parsing.data_table("azure_services.csv").filter(
        pl.col("consumed_service").is_not_null() & pl.col("resource_type").is_not_null()
    )
    exact = _service_lookup(
        services,
        {"consumed_service": "__consumed", "resource_type": "__arm_type"},
        "__exact_",
    )
    by_meter = _service_lookup(
        _services_by("service_name"), {"key": "__meter_category"}, "__meter_"
    )
    by_consumed = _service_lookup(
        _services_by("consumed_service"), {"key": "__consumed"}, "__consumed_"
    )
    regions = (
        parsing.data_table("azure_regions.csv")
        .lazy()
        .select(
            pl.col("original_value").alias("__location"),
            pl.col("region_id").alias("__region_id"),
            pl.col("region_name").alias("__region_name"),
        )
    )
    unit_table = (
        parsing.data_table("azure_pricing_units.csv")
        .lazy()
        .select(
            pl.col("unit_of_measure").alias("__uom"),
            pl.col("pricing_block_size").cast(pl.Float64).alias("__block"),
            pl.col("pricing_unit").alias("__pricing_unit"),
            pl.col("pricing_quantity_scale").cast(pl.Float64).alias("__pricing_scale"),
            pl.col("consumed_unit").alias("__consumed_unit"),
        )
    )
    join = {"how": "left", "maintain_order": "left"}
    return (
        frame.join(exact, on=["__consumed", "__arm_type"], **join)
        .join(by_meter, on="__meter_category", **join)
        .join(by_consumed, on="__consumed", **join)
        .join(regions, on="__location", **join)
        .join(unit_table, on="__uom", **join)
    )


def azure_tags(tags: pl.Expr) -> pl.Expr:
    """Tags JSON from Azure's ``Tags`` text, which comes without its outer braces
    (``"env": "prod","team": "ops"``); text already in braces is kept as it is.

    Only string operations and a JSON path match, so the plan keeps streaming. The match of
    ``$`` is null exactly when the text is not valid JSON; it returns the object re-encoded
    compactly. An empty object becomes null.
    """
    text = tags.str.strip_chars()
    wrapped = (
        pl.when(text.str.starts_with("{"))
        .then(text)
        .otherwise(pl.concat_str([pl.lit("{"), text, pl.lit("}")]))
    )
    parsed = wrapped.str.json_path_match("$")
    return pl.when(parsed.str.starts_with("{") & (parsed != "{}")).then(parsed)


def _tags_are_bad(tags: pl.Expr) -> pl.Expr:
    """Tags text present but not JSON object members (an empty ``{}`` is fine)."""
    text = tags.str.strip_chars()
    wrapped = (
        pl.when(text.str.starts_with("{"))
        .then(text)
        .otherwise(pl.concat_str([pl.lit("{"), text, pl.lit("}")]))
    )
    return text.is_not_null() & ~wrapped.str.json_path_match("$").str.starts_with("{").fill_null(
        False
    )


def cost_details_tags_problem(tags: pl.Expr) -> pl.Expr:
    """The reject reason of a cost-details ``Tags`` text that is not JSON object members."""
    return pl.when(_tags_are_bad(tags)).then(pl.lit("Tags is not a list of JSON object members"))


def _lower(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase()


def cost_details_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS rows (plus ``x_RejectReason``) from EA or MCA cost-details rows renamed by
    ``cost_details_rename_map``; actual and amortized exports alike (see the module doc)."""
    schema = raw.collect_schema()
    absent = [c for c in AZURE_COLUMNS if c not in schema]
    frame = raw.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in absent])
    schema = frame.collect_schema()
    text = {c: parsing.text(c, schema[c]) for c in TEXT_COLUMNS}
    frame = frame.with_columns(
        __consumed=_lower(text["ConsumedService"]),
        __arm_type=arm_resource_type(text["ResourceId"]),
        __meter_category=text["MeterCategory"],
        __location=_lower(text["ResourceLocation"]),
        __uom=text["UnitOfMeasure"],
    )
    frame = _with_catalogs(frame)
    schema = frame.collect_schema()

    money = {c: parsing.number(c, schema[c]) for c in MONEY_COLUMNS}
    dates = {c: parsing.timestamp(c, schema[c], DATE_FORMATS) for c in DATE_COLUMNS}
    checks = [(parsing.is_bad(c, money[c]), f"{c} is not a number") for c in MONEY_COLUMNS]
    checks += [
        (parsing.is_bad(c, dates[c]), f"{c} is not a MM/DD/YYYY or ISO-8601 date")
        for c in DATE_COLUMNS
    ]
    checks += [
        (money[COST].is_null(), f"{COST} is empty"),
        (text[CURRENCY].is_null(), f"{CURRENCY} is empty"),
        (text["BillingAccountId"].is_null(), "BillingAccountId is empty"),
        (dates["Date"].is_null(), "Date is empty"),
        (dates["BillingPeriodStartDate"].is_null(), "BillingPeriodStartDate is empty"),
    ]  # and Tags, checked once per distinct value (``cost_details_tags_problem``)

    cost = money[COST]
    currency = text[CURRENCY].str.to_uppercase()
    charge_type = _lower(text["ChargeType"])
    pricing_model = _lower(text["PricingModel"])
    is_commitment = pricing_model.is_in(COMMITMENT_MODELS)
    is_unused = charge_type.is_in(["unusedreservation", "unusedsavingsplan"])
    category = (
        pl.when(charge_type.is_in(["usage", "unusedreservation", "unusedsavingsplan"]))
        .then(pl.lit("Usage"))
        .when(charge_type.is_in(["purchase", "refund"]))
        .then(pl.lit("Purchase"))
        .when(charge_type == "tax")
        .then(pl.lit("Tax"))
        .when(charge_type == "credit")
        .then(pl.lit("Credit"))
        .when(charge_type.is_null())
        .then(pl.lit("Usage"))
        .otherwise(pl.lit("Adjustment"))
    )
    is_usage = category == "Usage"
    is_tax = category == "Tax"
    # A reservation or savings plan purchase covers future usage: FOCUS wants its
    # EffectiveCost 0 (the amortized export spreads it over the usage rows instead).
    commitment_purchase = (category == "Purchase") & is_commitment
    effective = pl.when(commitment_purchase).then(pl.lit(0.0)).otherwise(cost)

    billing_start = dates["BillingPeriodStartDate"]
    charge_start = dates["Date"]
    # Azure writes inclusive last days; FOCUS periods end exclusively.
    billing_end = pl.coalesce(
        dates["BillingPeriodEndDate"].dt.offset_by("1d"), billing_start.dt.offset_by("1mo")
    )

    benefit_id = pl.coalesce(text["BenefitId"], text["ReservationId"])
    commitment_id = pl.when(is_commitment | is_unused).then(benefit_id)
    is_savings_plan = (pricing_model == "savingsplan") | (charge_type == "unusedsavingsplan")
    has_commitment = commitment_id.is_not_null()

    # Units: Azure's Quantity counts pricing blocks ("10K", "100 Hours"); UnitPrice is per block.
    meter = text["MeterName"]
    is_token_meter = meter.str.contains(r"(?i)\btokens?\b")
    block = pl.col("__block").fill_null(1.0)
    block_text = block.cast(pl.Int64).cast(pl.String)
    unit_text = text["UnitOfMeasure"]
    fallback_unit = units.focus_unit(unit_text)
    pricing_unit = (
        pl.when(unit_text.is_null())
        .then(None)
        .when(is_token_meter & (block > 1))
        .then(pl.concat_str([block_text, pl.lit(" Tokens")]))
        .when(is_token_meter)
        .then(pl.lit("Tokens"))
        .otherwise(pl.coalesce(pl.col("__pricing_unit"), fallback_unit))
    )
    consumed_unit = (
        pl.when(unit_text.is_null())
        .then(None)
        .when(is_token_meter)
        .then(pl.lit("Tokens"))
        .otherwise(pl.coalesce(pl.col("__consumed_unit"), fallback_unit))
    )
    scale = pl.when(is_token_meter).then(pl.lit(1.0)).otherwise(pl.col("__pricing_scale"))
    scale = scale.fill_null(1.0)
    quantity = money["Quantity"]
    # MCA prices are in the pricing currency (USD); EA prices are in the billing currency.
    rate = money["ExchangeRatePricingToBilling"].fill_null(1.0)
    pricing_currency = pl.coalesce(text["PricingCurrency"].str.to_uppercase(), currency)
    contracted_block_price = money["UnitPrice"]
    list_block_price = pl.coalesce(
        pl.when(money["PayGPrice"] > 0).then(money["PayGPrice"]), contracted_block_price
    )

    def unit_price(block_price: pl.Expr, in_billing_currency: bool) -> pl.Expr:
        price = block_price / scale * (rate if in_billing_currency else 1.0)
        return pl.when(~is_tax & (price >= 0)).then(price)

    list_cost = pl.coalesce(list_block_price * quantity * rate, cost)
    contracted_cost = pl.coalesce(contracted_block_price * quantity * rate, cost)
    pc_effective = pl.coalesce(
        pl.when(commitment_purchase).then(pl.lit(0.0)).otherwise(money["CostInPricingCurrency"]),
        effective / rate,
    )

    service_name = pl.coalesce(
        pl.col("__exact_service_name"),
        pl.col("__meter_service_name"),
        pl.col("__consumed_service_name"),
    )
    openai = text["MeterSubCategory"].str.contains(r"(?i)openai") | text[
        "MeterCategory"
    ].str.contains(r"(?i)openai")
    genai = is_token_meter | openai
    service_category = (
        pl.when(genai)
        .then(pl.lit("AI and Machine Learning"))
        .otherwise(
            pl.coalesce(
                pl.col("__exact_service_category"),
                pl.col("__meter_service_category"),
                pl.col("__consumed_service_category"),
                pl.lit("Other"),
            )
        )
    )
    service_subcategory = (
        pl.when(genai)
        .then(pl.lit("Generative AI"))
        .otherwise(
            pl.coalesce(
                pl.col("__exact_service_subcategory"),
                pl.col("__meter_service_subcategory"),
                pl.col("__consumed_service_subcategory"),
                pl.lit("Other (Other)"),
            )
        )
    )
    location = text["ResourceLocation"]
    region_id = pl.coalesce(
        pl.col("__region_id"), _lower(location).str.replace_all(" ", "", literal=True)
    )
    resource_id = text["ResourceId"]
    # MCA invoices per billing profile, EA per enrollment (whose profile id is the same).
    account_id = pl.coalesce(text["BillingProfileId"], text["BillingAccountId"])
    account_name = pl.coalesce(text["BillingProfileName"], text["BillingAccountName"], account_id)
    account_type = (
        pl.when(text["BillingProfileId"].is_null())
        .then(pl.lit("Billing Account"))
        .when(text["BillingProfileId"] == text["BillingAccountId"])
        .then(pl.lit("Billing Account"))
        .otherwise(pl.lit("Billing Profile"))
    )
    marketplace = _lower(text["PublisherType"]) == "marketplace"
    publisher = pl.when(marketplace).then(text["PublisherName"])
    frequency = _lower(text["Frequency"])
    # MCA names its SKU by ProductId, EA by PartNumber; a file with neither by its meter.
    sku_id = pl.when(~is_tax).then(
        pl.coalesce(text["ProductId"], text["PartNumber"], text["MeterId"])
    )
    subscription = text["SubscriptionId"]

    focus = frame.with_columns(
        BilledCost=cost,
        EffectiveCost=effective,
        ListCost=list_cost,
        ContractedCost=contracted_cost,
        ListUnitPrice=unit_price(list_block_price, True),
        ContractedUnitPrice=unit_price(contracted_block_price, True),
        PricingCurrencyListUnitPrice=unit_price(list_block_price, False),
        PricingCurrencyContractedUnitPrice=unit_price(contracted_block_price, False),
        PricingCurrencyEffectiveCost=pc_effective,
        PricingCurrency=pricing_currency,
        BillingAccountId=account_id,
        BillingAccountName=account_name,
        BillingAccountType=account_type,
        BillingCurrency=currency,
        BillingPeriodStart=billing_start,
        BillingPeriodEnd=billing_end,
        ChargePeriodStart=charge_start,
        ChargePeriodEnd=charge_start.dt.offset_by("1d"),
        ChargeCategory=category,
        ChargeClass=pl.when((charge_type == "refund") | (charge_start < billing_start)).then(
            pl.lit("Correction")
        ),
        ChargeDescription=text["ProductName"],
        ChargeFrequency=pl.when(frequency == "recurring")
        .then(pl.lit("Recurring"))
        .when(frequency == "onetime")
        .then(pl.lit("One-Time"))
        .when(frequency == "usagebased")
        .then(pl.lit("Usage-Based"))
        .when(is_usage)
        .then(pl.lit("Usage-Based"))
        .otherwise(pl.lit("One-Time")),
        CommitmentDiscountId=commitment_id,
        CommitmentDiscountName=pl.when(has_commitment).then(
            pl.coalesce(text["BenefitName"], text["ReservationName"], commitment_id)
        ),
        CommitmentDiscountType=pl.when(has_commitment & is_savings_plan)
        .then(pl.lit("Savings Plan"))
        .when(has_commitment)
        .then(pl.lit("Reservation")),
        CommitmentDiscountCategory=pl.when(has_commitment & is_savings_plan)
        .then(pl.lit("Spend"))
        .when(has_commitment)
        .then(pl.lit("Usage")),
        CommitmentDiscountStatus=pl.when(is_usage & has_commitment & is_unused)
        .then(pl.lit("Unused"))
        .when(is_usage & has_commitment)
        .then(pl.lit("Used")),
        PricingCategory=pl.when(~is_usage)
        .then(None)
        .when(has_commitment)
        .then(pl.lit("Committed"))
        .when(pricing_model == "spot")
        .then(pl.lit("Dynamic"))
        .otherwise(pl.lit("Standard")),
        PricingQuantity=pl.when(~is_tax & pricing_unit.is_not_null()).then(quantity * scale),
        PricingUnit=pl.when(~is_tax).then(pricing_unit),
        # FOCUS: nothing is consumed on an unused-commitment row.
        ConsumedQuantity=pl.when(is_usage & ~is_unused & consumed_unit.is_not_null()).then(
            quantity * pl.when(is_token_meter | pl.col("__block").is_not_null()).then(block)
        ),
        ConsumedUnit=pl.when(is_usage & ~is_unused).then(consumed_unit),
        InvoiceId=text["InvoiceId"],
        InvoiceIssuerName=pl.lit(PROVIDER),
        ProviderName=pl.lit(PROVIDER),
        PublisherName=pl.coalesce(publisher, pl.lit(PROVIDER)),
        ServiceProviderName=pl.coalesce(publisher, pl.lit(PROVIDER)),
        HostProviderName=pl.lit(PROVIDER),
        ServiceName=pl.when(openai)
        .then(pl.lit("Azure OpenAI"))
        .otherwise(
            pl.coalesce(
                service_name, text["MeterCategory"], text["ConsumedService"], pl.lit("Azure")
            )
        ),
        ServiceCategory=service_category,
        ServiceSubcategory=service_subcategory,
        RegionId=region_id,
        RegionName=pl.when(region_id.is_not_null()).then(
            pl.coalesce(pl.col("__region_name"), location)
        ),
        AvailabilityZone=text["AvailabilityZone"],
        ResourceId=resource_id,
        ResourceName=text["ResourceName"],
        ResourceType=pl.when(resource_id.is_not_null()).then(
            pl.coalesce(pl.col("__arm_type"), pl.lit("Resource"))
        ),
        SkuId=sku_id,
        # A meter is priced under several part numbers: the pair names one price of one SKU.
        SkuPriceId=pl.when(~is_tax).then(
            pl.when(text["MeterId"].is_null() | (sku_id == text["MeterId"]))
            .then(sku_id)
            .otherwise(pl.concat_str([sku_id, text["MeterId"]], separator="_"))
        ),
        SkuMeter=pl.when(sku_id.is_not_null()).then(meter),
        SubAccountId=subscription,
        SubAccountName=pl.coalesce(text["SubscriptionName"], subscription),
        SubAccountType=pl.when(subscription.is_not_null()).then(pl.lit("Subscription")),
        Tags=azure_tags(text["Tags"]),
        **{RAW_TAGS: text["Tags"]},
        x_LineItemType=text["ChargeType"],
        x_ProductCode=text["MeterCategory"],
        x_UsageType=meter,
        x_Operation=text["MeterSubCategory"],
        x_InstanceType=text["AdditionalInfo"].str.extract(r'"ServiceType"\s*:\s*"([^"]+)"'),
        x_CostInUsd=money["CostInUsd"],
        x_ExchangeRatePricingToBilling=money["ExchangeRatePricingToBilling"],
        **{REJECT_REASON: parsing.reject_reason(checks)},
    )
    return conform_to_focus(focus)


FOCUS_TIME_FORMATS = (parsing.ISO_UTC, "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")


def focus_export_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Check and pass through Azure's own FOCUS export (FocusCost, FOCUS 1.0 to 1.2).

    Values are kept; the shared repair (``native_focus``) fills what every 1.0 export leaves
    out, and Azure's own rows here: account types, ServiceSubcategory (from the services table,
    else "Other (<category>)"), FOCUS units ("GB/Month" → "GB-Months"), resource types from
    the ARM id, and the columns FOCUS wants null on non-usage and tax rows. Microsoft's ``x_``
    columns are not in costlake's contract and are dropped.
    """
    contract = focus_polars_schema()
    frame = native_focus.with_contract_columns(raw, contract)
    by_name = _service_lookup(_services_by("service_name"), {"key": "__service"}, "__named_")
    frame = frame.with_columns(__service=pl.col("ServiceName").cast(pl.String)).join(
        by_name, on="__service", how="left", maintain_order="left"
    )
    parsed, checks = native_focus.parsed_columns(
        frame.collect_schema(), contract, FOCUS_TIME_FORMATS
    )
    checks += native_focus.required_checks(parsed)
    tags = parsed["Tags"]
    checks.append((_tags_are_bad(tags), "Tags is not a JSON object"))

    category = parsed["ChargeCategory"]
    is_usage = category == "Usage"
    is_tax = category == "Tax"
    service_category = pl.coalesce(
        parsed["ServiceCategory"], pl.col("__named_service_category"), pl.lit("Other")
    )
    subcategory = pl.coalesce(
        parsed["ServiceSubcategory"],
        pl.when(pl.col("__named_service_category") == service_category).then(
            pl.col("__named_service_subcategory")
        ),
        pl.concat_str([pl.lit("Other ("), service_category, pl.lit(")")]),
    )
    pricing_unit = pl.when(~is_tax).then(focus_unit_text(parsed["PricingUnit"]))
    consumed_unit = pl.when(is_usage).then(focus_unit_text(parsed["ConsumedUnit"]))
    account = parsed["BillingAccountId"]
    sub_account = parsed["SubAccountId"]
    region = parsed["RegionId"]
    azure_repairs = {
        "PricingQuantity": pl.when(pricing_unit.is_not_null()).then(parsed["PricingQuantity"]),
        "PricingUnit": pricing_unit,
        "ConsumedQuantity": pl.when(consumed_unit.is_not_null()).then(parsed["ConsumedQuantity"]),
        "ConsumedUnit": consumed_unit,
        "BillingAccountType": pl.coalesce(
            parsed["BillingAccountType"],
            pl.when(account.is_not_null()).then(pl.lit("Billing Account")),
        ),
        "SubAccountType": pl.coalesce(
            parsed["SubAccountType"],
            pl.when(sub_account.is_not_null()).then(pl.lit("Subscription")),
        ),
        "RegionName": pl.when(region.is_not_null()).then(pl.coalesce(parsed["RegionName"], region)),
        "ResourceType": pl.when(parsed["ResourceId"].is_not_null()).then(
            pl.coalesce(
                parsed["ResourceType"], arm_resource_type(parsed["ResourceId"]), pl.lit("Resource")
            )
        ),
        "ServiceCategory": service_category,
        "ServiceSubcategory": subcategory,
        "Tags": azure_tags(tags),
    }
    repairs = {**native_focus.shared_repairs(parsed, PROVIDER), **azure_repairs}
    return native_focus.native_focus_rows(frame, parsed, checks, repairs)


DATA_SIZE_UNITS = "b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|KiB|MiB|GiB|TiB|PiB|EiB"


def focus_unit_text(unit: pl.Expr) -> pl.Expr:
    """A unit as Microsoft's FOCUS export writes it, in FOCUS Unit Format: stored data per
    month "GB/Month" → "GB-Months" and "GB Hours" → "GB-Hours" (the rules that built
    ``azure_pricing_units.csv``); other units pass through."""
    months = unit.str.replace(rf"(?i)^({DATA_SIZE_UNITS})\s*/\s*month$", "${1}-Months")
    return months.str.replace(r"^([A-Za-z][A-Za-z0-9]*) (Hours|Seconds|Minutes|Days)$", "$1-$2")


SOURCE_DATASETS: dict[str, SourceDataset] = {
    name: SourceDataset(
        provider="azure",
        rename=cost_details_rename_map,
        required=lambda columns, name=name: missing_required(columns, name),
        normalize=cost_details_to_focus,
        cost_column=COST,
        currency_column=CURRENCY,
        tags_from_raw=lambda dtype: azure_tags(pl.col(RAW_TAGS)),
        tags_problem=cost_details_tags_problem,
    )
    for name in ("azure_actual", "azure_amortized")
}
SOURCE_DATASETS["azure_focus"] = SourceDataset(
    provider="azure",
    rename=same_names,
    required=lambda columns: missing_required(columns, "azure_focus"),
    normalize=focus_export_to_focus,
    cost_column="BilledCost",
    currency_column="BillingCurrency",
)
