"""AWS bills (legacy CUR, CUR 2.0, AWS FOCUS export) to FOCUS rows.

All three forms are renamed to CUR 2.0's snake_case names first (legacy ``lineItem/UnblendedCost``
becomes ``line_item_unblended_cost``), so one set of rules serves them. The money rules follow
AWS's own amortization (the CUR query library): see ``effective_cost``.
"""

from __future__ import annotations

import re

import polars as pl

from costlake.focus import parsing
from costlake.focus.schema import (
    CHARGE_CATEGORIES,
    COMMITMENT_END,
    COMMITMENT_START,
    RAW_COST,
    RAW_TAGS,
    REJECT_REASON,
    REQUIRED_FOCUS_COLUMNS,
    ROW_HASH,
    conform_to_focus,
    focus_polars_schema,
)
from costlake.providers import native_focus, units
from costlake.providers.datasets import SourceDataset, same_names

PROVIDER = "AWS"

# Columns without which a CUR file cannot be turned into FOCUS rows.
REQUIRED_CUR_COLUMNS = (
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_currency_code",
    "line_item_unblended_cost",
)

CUR_MONEY_COLUMNS = (
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_usage_amount",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
)
CUR_TIME_COLUMNS = (
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
)
CUR_TEXT_COLUMNS = (
    "bill_invoice_id",
    "bill_billing_entity",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_availability_zone",
    "line_item_resource_id",
    "line_item_currency_code",
    "line_item_line_item_description",
    "line_item_legal_entity",
    "product_product_name",
    "product_region_code",
    "product_location",
    "product_instance_type",
    "product_gpu",
    "product_product_family",
    "product_sku",
    "pricing_currency",
    "pricing_rate_code",
    "pricing_rate_id",
    "pricing_term",
    "pricing_unit",
    "reservation_reservation_a_r_n",
    "savings_plan_savings_plan_a_r_n",
)

# FOCUS 1.3 Contract Commitment (issue 20): the term of the reservation or savings plan a row
# belongs to, read into the commitment table (working columns, not written to focus).
CUR_COMMITMENT_TERM_COLUMNS = (
    "reservation_start_time",
    "reservation_end_time",
    "savings_plan_start_time",
    "savings_plan_end_time",
)

CHARGE_CATEGORY_BY_LINE_ITEM_TYPE = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "BundledDiscount": "Credit",
    "RiVolumeDiscount": "Credit",
    "Discount": "Credit",
}
SAVINGS_PLAN_TYPES = (
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee",
)


def _snake(word: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", word).lower()


def canonical_cur_name(header: str) -> str:
    """CUR 2.0 / Athena name of a legacy ``category/Name`` header (``lineItem/UsageType`` →
    ``line_item_usage_type``); snake_case names pass through lower-cased."""
    if "/" not in header:
        return header.strip().lower()
    category, _, name = header.strip().partition("/")
    return f"{_snake(category)}_{_snake(name)}"


def tag_key(header: str) -> str | None:
    """The user's tag key for a legacy tag column, or None when the column is not a tag.

    ``resourceTags/user:Project`` → ``Project`` (case kept, as the user set it);
    ``resourceTags/aws:createdBy`` keeps its provider prefix; Athena's
    ``resource_tags_user_project`` → ``project``.
    """
    if header.startswith("resourceTags/"):
        key = header.removeprefix("resourceTags/")
        return key.removeprefix("user:")
    if header.startswith("resource_tags_"):
        key = header.removeprefix("resource_tags_")
        return key.removeprefix("user_")
    return None


def cur_rename_map(columns: list[str]) -> dict[str, str]:
    """Source column → canonical name; tag columns become ``__tag__<key>``."""
    mapping = {}
    for column in columns:
        key = tag_key(column)
        mapping[column] = (
            parsing.TAG_PREFIX + key if key is not None else canonical_cur_name(column)
        )
    return mapping


def missing_required(columns: list[str], source_dataset: str) -> list[str]:
    """Required source columns absent from a file (names in the file's own convention)."""
    if source_dataset == "aws_focus":
        return [c for c in REQUIRED_FOCUS_COLUMNS if c not in columns]
    present = set(cur_rename_map(columns).values())  # one rename of the header, not one per column
    return [c for c in REQUIRED_CUR_COLUMNS if c not in present]


def _with_catalogs(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Service and region names from the shipped tables, joined by product and region code.

    A join keeps the plan streaming; ``replace`` on a column would make polars hold it whole.
    """
    services = (
        parsing.data_table("aws_services.csv")
        .lazy()
        .select(
            pl.col("product_code").alias("line_item_product_code"),
            pl.col("service_name").alias("__service_name"),
            pl.col("service_category").alias("__service_category"),
            pl.col("service_subcategory").alias("__service_subcategory"),
            pl.when(pl.col("resource_type") != "")
            .then(pl.col("resource_type"))
            .alias("__resource_type"),
        )
    )
    regions = (
        parsing.data_table("aws_regions.csv")
        .lazy()
        .select(
            pl.col("region_id").alias("product_region_code"),
            pl.col("region_name").alias("__region_name"),
        )
    )
    return frame.join(
        services, on="line_item_product_code", how="left", maintain_order="left"
    ).join(regions, on="product_region_code", how="left", maintain_order="left")


ENTRY = pl.Struct({"key": pl.String, "value": pl.String})


def _entries(name: str, dtype: pl.DataType) -> pl.Expr:
    """A Parquet MAP column as a list of {key, value} structs, whatever polars read it as."""
    col = pl.col(name)
    return col if isinstance(dtype, pl.List) else col.cast(pl.List(ENTRY))


def _map_value(name: str, dtype: pl.DataType, key: str) -> pl.Expr:
    """One key of a CUR 2.0 map column (Parquet MAP or CSV JSON text)."""
    if dtype == pl.String:
        # A regex is twice as fast as a JSON path here; escaped quotes stay escaped.
        return pl.col(name).str.extract(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)"')
    if isinstance(dtype, pl.Map):
        return pl.col(name).map.get(key)
    return (
        _entries(name, dtype)
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
        )
        .list.first()
    )


def _tags_from_map(name: str, dtype: pl.DataType) -> pl.Expr:
    """Tags JSON from CUR 2.0 ``resource_tags``: ``user_`` prefix dropped, empty map → null.

    Both forms are rewritten as text in one pass, which is several times faster than building
    each key and value per row. Keys follow ``{`` or ``,`` and values follow ``:``, so values
    that happen to start with "user_" are left alone; JSON escapes every quote inside a string,
    so the patterns can only match structure.
    """
    if dtype == pl.String:  # CSV: JSON object text
        text = pl.col(name).str.replace_many(
            ['{"user_', ',"user_', ', "user_'], ['{"', ',"', ', "'], leftmost=True
        )
        return pl.when(text.str.strip_chars(" ") != "{}").then(text)
    # Parquet MAP: encoded as {"t":[{"key":…,"value":…},…]}, then reshaped into {key: value}.
    entries = _entries(name, dtype)
    text = pl.struct(entries.alias("t")).struct.json_encode()
    text = text.str.replace_many(
        [
            '{"t":[{"key":"user_',
            '{"t":[{"key":',
            '},{"key":"user_',
            '},{"key":',
            ',"value":',
            "}]}",
        ],
        ['{"', "{", ',"', ",", ":", "}"],
        leftmost=True,
    )
    return pl.when(entries.list.len() > 0).then(text)


def cur_tags_from_raw(dtype: pl.DataType) -> pl.Expr:
    """``Tags`` from ``RAW_TAGS`` as ``cur_to_focus`` carries it: CUR 2.0's ``resource_tags``
    (JSON text or MAP), or a struct of the legacy ``__tag__<key>`` columns."""
    if isinstance(dtype, pl.Struct) or dtype == pl.Null:
        return parsing.tags_from_raw_columns(dtype)
    return _tags_from_map(RAW_TAGS, dtype)


def effective_cost(line_type: pl.Expr, unblended: pl.Expr, money: dict[str, pl.Expr]) -> pl.Expr:
    """Amortized cost of one CUR row, per line item type (AWS CUR query library rules)."""
    has_ri_arn = pl.col("reservation_reservation_a_r_n").is_not_null()
    return (
        pl.when(line_type == "SavingsPlanCoveredUsage")
        .then(money["savings_plan_savings_plan_effective_cost"])
        .when(line_type == "SavingsPlanRecurringFee")
        .then(
            money["savings_plan_total_commitment_to_date"] - money["savings_plan_used_commitment"]
        )
        .when(line_type.is_in(["SavingsPlanNegation", "SavingsPlanUpfrontFee"]))
        .then(pl.lit(0.0))
        .when(line_type == "DiscountedUsage")
        .then(money["reservation_effective_cost"])
        .when(line_type == "RIFee")
        .then(
            money["reservation_unused_amortized_upfront_fee_for_billing_period"].fill_null(0.0)
            + money["reservation_unused_recurring_fee"].fill_null(0.0)
        )
        .when((line_type == "Fee") & has_ri_arn)
        .then(pl.lit(0.0))
        .otherwise(unblended)
    )


def cur_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS rows (plus ``x_RejectReason``) from CUR rows already renamed to canonical names.

    ``raw`` also carries the lineage columns ``x_Provider`` … ``x_SourceRow``. A row whose money or
    time does not parse keeps its place and gets a reason; the caller moves it to rejects.
    """
    schema = raw.collect_schema()
    wanted = (
        *CUR_MONEY_COLUMNS,
        *CUR_TIME_COLUMNS,
        *CUR_TEXT_COLUMNS,
        *CUR_COMMITMENT_TERM_COLUMNS,
    )
    absent = [c for c in wanted if c not in schema]
    frame = raw.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in absent])
    frame = _with_catalogs(frame)
    schema = frame.collect_schema()

    money = {c: parsing.number(c, schema[c]) for c in CUR_MONEY_COLUMNS}
    times = {c: parsing.timestamp(c, schema[c], (parsing.ISO_UTC,)) for c in CUR_TIME_COLUMNS}
    text = {c: parsing.text(c, schema[c]) for c in CUR_TEXT_COLUMNS}

    checks = [(parsing.is_bad(c, money[c]), f"{c} is not a number") for c in CUR_MONEY_COLUMNS]
    checks += [(times[c].is_null(), f"{c} is not an ISO-8601 timestamp") for c in CUR_TIME_COLUMNS]
    checks += [
        (money["line_item_unblended_cost"].is_null(), "line_item_unblended_cost is empty"),
        (text["line_item_currency_code"].is_null(), "line_item_currency_code is empty"),
    ]

    tag_columns = [c for c in schema if c.startswith(parsing.TAG_PREFIX)]
    if "resource_tags" in schema:
        tags = _tags_from_map("resource_tags", schema["resource_tags"])
        raw_tags = pl.col("resource_tags")
    else:
        tags = parsing.tags_from_columns(tag_columns)
        raw_tags = parsing.raw_tag_columns(tag_columns)
    if "product_product_name" not in raw.collect_schema() and "product" in schema:
        product_name = _map_value("product", schema["product"], "product_name")
    else:
        product_name = text["product_product_name"]
    # The bill's own GPU count (legacy product/gpu, CUR 2.0 product key "gpu"): it wins over
    # the GPU catalog.
    if "product_gpu" not in raw.collect_schema() and "product" in schema:
        gpu_count = _map_value("product", schema["product"], "gpu")
    else:
        gpu_count = text["product_gpu"]
    gpu_count = gpu_count.cast(pl.Float64, strict=False)

    line_type = text["line_item_line_item_type"]
    code = text["line_item_product_code"]
    unblended = money["line_item_unblended_cost"]
    usage_amount = money["line_item_usage_amount"]
    unit = text["pricing_unit"]
    # A Fee without a reservation ARN (AWS Support, priced as a share of the month's usage) is
    # a service consumed, not a purchase that covers future charges: Usage, billed monthly.
    is_service_fee = (line_type == "Fee") & text["reservation_reservation_a_r_n"].is_null()
    category = pl.when(is_service_fee).then(pl.lit("Usage"))
    for focus_category in CHARGE_CATEGORIES:
        types = [t for t, c in CHARGE_CATEGORY_BY_LINE_ITEM_TYPE.items() if c == focus_category]
        if types:
            category = category.when(line_type.is_in(types)).then(pl.lit(focus_category))
    category = category.otherwise(pl.lit("Adjustment"))
    is_usage = category == "Usage"
    is_sp = line_type.is_in(SAVINGS_PLAN_TYPES)
    is_ri = line_type.is_in(["DiscountedUsage", "RIFee"]) | (
        (line_type == "Fee") & text["reservation_reservation_a_r_n"].is_not_null()
    )
    commitment_id = (
        pl.when(is_sp)
        .then(text["savings_plan_savings_plan_a_r_n"])
        .when(is_ri)
        .then(text["reservation_reservation_a_r_n"])
    )
    is_tax = category == "Tax"
    effective = effective_cost(line_type, unblended, money)
    checks.append(
        (
            effective.is_null(),
            "EffectiveCost is empty: the amortized-cost column of this line item type has no value",
        )
    )
    list_unit_price = pl.when(~is_tax).then(money["pricing_public_on_demand_rate"])
    # A unit price is never negative: negation rows carry their sign in the cost only.
    rate = money["line_item_unblended_rate"]
    contracted_unit_price = pl.when(~is_tax & (rate >= 0)).then(rate)
    region = text["product_region_code"]
    focus_unit = units.focus_unit(unit)
    spot = (text["pricing_term"] == "Spot") | text["line_item_usage_type"].str.contains("SpotUsage")
    marketplace = text["bill_billing_entity"] == "AWS Marketplace"
    publisher = pl.when(marketplace).then(text["line_item_legal_entity"]).otherwise(None)

    focus = frame.with_columns(
        BilledCost=unblended,
        EffectiveCost=effective,
        ListCost=pl.coalesce(money["pricing_public_on_demand_cost"], unblended),
        ContractedCost=unblended,
        ListUnitPrice=list_unit_price,
        ContractedUnitPrice=contracted_unit_price,
        BillingAccountId=text["bill_payer_account_id"],
        # Legacy CUR has no account names: the id stands in, so the name is never empty.
        BillingAccountName=pl.coalesce(
            text["bill_payer_account_name"], text["bill_payer_account_id"]
        ),
        BillingAccountType=pl.lit("Payer Account"),
        BillingCurrency=text["line_item_currency_code"],
        BillingPeriodStart=times["bill_billing_period_start_date"],
        BillingPeriodEnd=times["bill_billing_period_end_date"],
        ChargePeriodStart=times["line_item_usage_start_date"],
        ChargePeriodEnd=times["line_item_usage_end_date"],
        ChargeCategory=category,
        ChargeClass=pl.when(
            times["line_item_usage_start_date"] < times["bill_billing_period_start_date"]
        ).then(pl.lit("Correction")),
        ChargeDescription=text["line_item_line_item_description"],
        ChargeFrequency=pl.when(
            line_type.is_in(["RIFee", "SavingsPlanRecurringFee"]) | is_service_fee
        )
        .then(pl.lit("Recurring"))
        .when(is_usage)
        .then(pl.lit("Usage-Based"))
        .otherwise(pl.lit("One-Time")),
        CommitmentDiscountId=commitment_id,
        CommitmentDiscountName=commitment_id.str.split("/").list.last(),
        CommitmentDiscountType=pl.when(is_sp)
        .then(pl.lit("Savings Plan"))
        .when(is_ri)
        .then(pl.lit("Reserved Instance")),
        CommitmentDiscountCategory=pl.when(is_sp)
        .then(pl.lit("Spend"))
        .when(is_ri)
        .then(pl.lit("Usage")),
        CommitmentDiscountStatus=pl.when(is_usage & commitment_id.is_not_null()).then(
            pl.lit("Used")
        ),
        PricingCategory=pl.when(~is_usage)
        .then(None)
        .when(commitment_id.is_not_null())
        .then(pl.lit("Committed"))
        .when(spot)
        .then(pl.lit("Dynamic"))
        .otherwise(pl.lit("Standard")),
        PricingCurrency=pl.coalesce(text["pricing_currency"], text["line_item_currency_code"]),
        PricingCurrencyEffectiveCost=effective,
        PricingCurrencyListUnitPrice=list_unit_price,
        PricingCurrencyContractedUnitPrice=contracted_unit_price,
        PricingQuantity=pl.when(~is_tax & unit.is_not_null()).then(usage_amount),
        PricingUnit=pl.when(~is_tax).then(focus_unit),
        ConsumedQuantity=pl.when(is_usage & unit.is_not_null()).then(usage_amount),
        ConsumedUnit=pl.when(is_usage).then(focus_unit),
        InvoiceId=text["bill_invoice_id"],
        InvoiceIssuerName=pl.lit(PROVIDER),
        ProviderName=pl.lit(PROVIDER),
        PublisherName=pl.coalesce(publisher, pl.lit(PROVIDER)),
        ServiceProviderName=pl.coalesce(publisher, pl.lit(PROVIDER)),
        HostProviderName=pl.lit(PROVIDER),
        ServiceName=pl.coalesce(product_name, pl.col("__service_name"), code),
        ServiceCategory=pl.col("__service_category").fill_null("Other"),
        ServiceSubcategory=pl.col("__service_subcategory").fill_null("Other (Other)"),
        RegionId=region,
        RegionName=pl.when(region.is_not_null()).then(
            pl.coalesce(
                text["product_location"],
                pl.col("__region_name"),
                region,
            )
        ),
        AvailabilityZone=text["line_item_availability_zone"],
        ResourceId=text["line_item_resource_id"],
        ResourceType=pl.when(text["line_item_resource_id"].is_not_null()).then(
            pl.coalesce(
                text["product_product_family"], pl.col("__resource_type"), pl.lit("Resource")
            )
        ),
        SkuId=pl.when(~is_tax).then(text["product_sku"]),
        # The rate code (SKU.offer term.rate) names its SKU, so each price id has one parent SKU.
        SkuPriceId=pl.when(~is_tax).then(
            pl.coalesce(text["pricing_rate_code"], text["pricing_rate_id"])
        ),
        SkuMeter=pl.when(~is_tax & text["product_sku"].is_not_null()).then(
            text["line_item_usage_type"]
        ),
        SubAccountId=text["line_item_usage_account_id"],
        SubAccountName=pl.coalesce(
            text["line_item_usage_account_name"], text["line_item_usage_account_id"]
        ),
        SubAccountType=pl.when(text["line_item_usage_account_id"].is_not_null()).then(
            pl.lit("Linked Account")
        ),
        Tags=tags,
        **{RAW_TAGS: raw_tags},
        x_LineItemType=line_type,
        x_ProductCode=code,
        x_UsageType=text["line_item_usage_type"],
        x_Operation=text["line_item_operation"],
        x_InstanceType=text["product_instance_type"],
        x_GpuCount=gpu_count,
        **_commitment_term(schema, is_sp, is_ri),
        **{REJECT_REASON: parsing.reject_reason(checks)},
    )
    return conform_to_focus(focus)


def _commitment_term(schema: pl.Schema, is_sp: pl.Expr, is_ri: pl.Expr) -> dict[str, pl.Expr]:
    """FOCUS 1.3 Contract Commitment (issue 20): the term of the row's savings plan or
    reservation, as the bill states it; null where the source leaves it out (a term time that
    does not parse is null too: it is not money, so it never rejects the row)."""

    def term(column: str) -> pl.Expr:
        dtype = schema[column]
        if not (dtype in (pl.String, pl.Date) or isinstance(dtype, pl.Datetime)):
            return pl.lit(None, dtype=parsing.UTC_MICROS)  # an all-null Parquet column
        return parsing.timestamp(column, dtype, (parsing.ISO_UTC,))

    return {
        COMMITMENT_START: pl.when(is_sp)
        .then(term("savings_plan_start_time"))
        .when(is_ri)
        .then(term("reservation_start_time")),
        COMMITMENT_END: pl.when(is_sp)
        .then(term("savings_plan_end_time"))
        .when(is_ri)
        .then(term("reservation_end_time")),
    }


def split_unused_commitment(focus: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS's commitment model: a fee row's unused part becomes a row of its own.

    An RIFee or SavingsPlanRecurringFee row is a Purchase whose EffectiveCost must be 0 (its
    cost is amortized into the usage it covers); what was not used is an extra Usage row right
    after it, with CommitmentDiscountStatus "Unused", BilledCost 0 and EffectiveCost = the
    unused amount. The sums of BilledCost and EffectiveCost over the period are unchanged.
    Rows are doubled with ``explode`` so the plan keeps streaming and keeps the source order.
    """
    fee = (
        pl.col("x_LineItemType").is_in(["RIFee", "SavingsPlanRecurringFee"])
        & pl.col(REJECT_REASON).is_null()
    )
    variants = (
        pl.when(fee & (pl.col("EffectiveCost") != 0))
        .then(pl.lit([False, True]))
        .otherwise(pl.lit([False]))
    )
    unused = pl.col("__unused")

    def unused_or(value: pl.Expr | float | str, column: str) -> pl.Expr:
        return pl.when(unused).then(value).otherwise(pl.col(column)).alias(column)

    purchase = fee & ~unused
    return (
        focus.with_columns(variants.alias("__unused"))
        .explode("__unused")
        .with_columns(
            unused_or(pl.lit("Usage"), "ChargeCategory"),
            unused_or(pl.lit("Usage-Based"), "ChargeFrequency"),
            unused_or(pl.lit("Unused"), "CommitmentDiscountStatus"),
            unused_or(pl.lit("Committed"), "PricingCategory"),
            unused_or(pl.lit(0.0), "BilledCost"),
            unused_or(pl.lit(0.0), "ListCost"),
            unused_or(pl.lit(0.0), "ContractedCost"),
            unused_or(pl.lit(None, dtype=pl.Float64), "ConsumedQuantity"),
            unused_or(pl.lit(None, dtype=pl.String), "ConsumedUnit"),
            # Not a source row: the bill's own cost is counted once, on the fee row, and the
            # row is hashed once, as the fee row.
            pl.when(unused).then(None).otherwise(pl.col(RAW_COST)).alias(RAW_COST),
            pl.when(unused).then(None).otherwise(pl.col(ROW_HASH)).alias(ROW_HASH),
            pl.when(purchase).then(0.0).otherwise(pl.col("EffectiveCost")).alias("EffectiveCost"),
            pl.when(purchase)
            .then(0.0)
            .otherwise(pl.col("PricingCurrencyEffectiveCost"))
            .alias("PricingCurrencyEffectiveCost"),
        )
        .drop("__unused")
    )


# AWS FOCUS export extension columns → costlake's.
AWS_FOCUS_EXTENSIONS = {
    "x_UsageType": "x_UsageType",
    "x_Operation": "x_Operation",
    "x_ServiceCode": "x_ProductCode",
}


def focus_export_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Check and pass through AWS's own FOCUS export: types enforced, bad values rejected.

    Values are kept; the shared repair (``native_focus``) fills what a 1.0 export leaves out,
    and AWS's own here: Tags from a Parquet map, and the columns that allow no null which the
    CUR mapping fills too (account type, charge frequency, service category and subcategory).
    """
    contract = focus_polars_schema()
    renamed = raw.rename(
        {k: v for k, v in AWS_FOCUS_EXTENSIONS.items() if k in raw.collect_schema()}
    )
    tags_type = renamed.collect_schema().get("Tags", pl.String)
    frame = native_focus.with_contract_columns(renamed, contract)
    parsed, checks = native_focus.parsed_columns(frame.collect_schema(), contract, extensions=True)
    if tags_type != pl.String:
        parsed["Tags"] = _tags_from_map("Tags", tags_type)
    checks += native_focus.required_checks(
        parsed, ("BilledCost", "BillingPeriodStart", "ChargePeriodStart", "BillingCurrency")
    )
    category = parsed["ChargeCategory"]
    service_category = pl.coalesce(parsed["ServiceCategory"], pl.lit("Other"))
    aws_repairs = {
        "BillingAccountType": pl.coalesce(parsed["BillingAccountType"], pl.lit("Payer Account")),
        "ChargeFrequency": native_focus.charge_frequency(
            parsed["ChargeFrequency"],
            pl.when(category == "Usage").then(pl.lit("Usage-Based")).otherwise(pl.lit("One-Time")),
        ),
        "ServiceCategory": service_category,
        "ServiceSubcategory": pl.coalesce(
            parsed["ServiceSubcategory"], pl.format("Other ({})", service_category)
        ),
        # The export's own product code, not its service name.
        "x_ProductCode": parsed.get("x_ProductCode", parsed["ServiceName"]),
    }
    repairs = {**native_focus.shared_repairs(parsed, PROVIDER), **aws_repairs}
    return native_focus.native_focus_rows(frame, parsed, checks, repairs)


SOURCE_DATASETS = {
    name: SourceDataset(
        provider="aws",
        rename=cur_rename_map,
        required=lambda columns, name=name: missing_required(columns, name),
        normalize=cur_to_focus,
        expand=split_unused_commitment,
        cost_column="line_item_unblended_cost",
        currency_column="line_item_currency_code",
        tags_from_raw=cur_tags_from_raw,
    )
    for name in ("aws_cur_legacy", "aws_cur2")
}
SOURCE_DATASETS["aws_focus"] = SourceDataset(
    provider="aws",
    rename=same_names,
    required=lambda columns: missing_required(columns, "aws_focus"),
    normalize=focus_export_to_focus,
    cost_column="BilledCost",
    currency_column="BillingCurrency",
)
