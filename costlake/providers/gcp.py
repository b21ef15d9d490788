"""GCP Cloud Billing export (BigQuery schema, standard and detailed) to FOCUS rows.

A delivery is the export table written out as Parquet (nested structs and lists, as BigQuery's
export gives them) or as newline-delimited JSON read with ``GCP_EXPORT_SCHEMA``. Nested fields are
read elementwise (``struct.field``), so the plan streams.

Money: a row's ``cost`` is its BilledCost, before credits. Each entry of its ``credits`` list
becomes a FOCUS row of its own (ChargeCategory "Credit", BilledCost = the credit's amount), so the
lake's Σ BilledCost is the bill's net cost, Σ cost + Σ credits.amount.
"""

from __future__ import annotations

import polars as pl

from costlake.focus import parsing
from costlake.focus.schema import RAW_COST, RAW_TAGS, REJECT_REASON, ROW_HASH, conform_to_focus
from costlake.providers.datasets import SourceDataset, same_names

PROVIDER = "Google Cloud"
VERTEX_AI_SERVICE_ID = "C7E2-9256-1C43"

# Top-level columns without which an export cannot become FOCUS rows (or cannot reconcile:
# without ``credits`` the net cost would be silently wrong).
REQUIRED_COLUMNS = (
    "billing_account_id",
    "service",
    "sku",
    "usage_start_time",
    "usage_end_time",
    "invoice",
    "cost",
    "currency",
    "credits",
)
REQUIRED_DETAILED_COLUMNS = (*REQUIRED_COLUMNS, "resource")

COST_TYPES = {
    "regular": "Usage",
    "tax": "Tax",
    "adjustment": "Adjustment",
    "rounding_error": "Adjustment",
}

_KEY_VALUE = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))

# The export's schema for newline-delimited JSON files (``pl.scan_ndjson(path,
# schema=GCP_EXPORT_SCHEMA)``). BigQuery's JSON export writes TIMESTAMP as text
# ("2026-11-03 00:00:00 UTC") and NUMERIC as quoted text, so both stay text here and are parsed
# (with rejects) in the normalizer; FLOAT64 is a JSON number.
GCP_EXPORT_SCHEMA = pl.Schema(
    {
        "billing_account_id": pl.String,
        "service": pl.Struct({"id": pl.String, "description": pl.String}),
        "sku": pl.Struct({"id": pl.String, "description": pl.String}),
        "usage_start_time": pl.String,
        "usage_end_time": pl.String,
        "project": pl.Struct(
            {
                "id": pl.String,
                "number": pl.String,
                "name": pl.String,
                "labels": _KEY_VALUE,
                "ancestry_numbers": pl.String,
            }
        ),
        "labels": _KEY_VALUE,
        "system_labels": _KEY_VALUE,
        "location": pl.Struct(
            {
                "location": pl.String,
                "country": pl.String,
                "region": pl.String,
                "zone": pl.String,
            }
        ),
        "resource": pl.Struct({"name": pl.String, "global_name": pl.String}),
        "export_time": pl.String,
        "cost": pl.Float64,
        "currency": pl.String,
        "currency_conversion_rate": pl.Float64,
        "usage": pl.Struct(
            {
                "amount": pl.Float64,
                "unit": pl.String,
                "amount_in_pricing_units": pl.Float64,
                "pricing_unit": pl.String,
            }
        ),
        "credits": pl.List(
            pl.Struct(
                {
                    "name": pl.String,
                    "amount": pl.Float64,
                    "full_name": pl.String,
                    "id": pl.String,
                    "type": pl.String,
                }
            )
        ),
        "invoice": pl.Struct({"month": pl.String}),
        "cost_type": pl.String,
        "cost_at_list": pl.Float64,
        "price": pl.Struct(
            {
                "effective_price": pl.String,
                "tier_start_amount": pl.String,
                "unit": pl.String,
                "pricing_unit_quantity": pl.String,
            }
        ),
        "transaction_type": pl.String,
        "seller_name": pl.String,
    }
)

# BigQuery's text form of a TIMESTAMP (JSON export) and ISO-8601 with Z.
TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S%.f UTC", parsing.ISO_UTC)

# GCP unit spellings (usage.unit, usage.pricing_unit) in FOCUS Unit Format. A unit is never
# inferred from a SKU's description: "count" stays a count even on a token SKU.
GCP_UNITS = {
    "seconds": "Seconds",
    "second": "Seconds",
    "minute": "Minutes",
    "minutes": "Minutes",
    "hour": "Hours",
    "hours": "Hours",
    "day": "Days",
    "month": "Months",
    "year": "Years",
    "byte": "Bytes",
    "bytes": "Bytes",
    "byte-seconds": "Byte-Seconds",
    "kibibyte": "KiB",
    "mebibyte": "MiB",
    "gibibyte": "GiB",
    "tebibyte": "TiB",
    "pebibyte": "PiB",
    "gibibyte hour": "GiB-Hours",
    "gibibyte month": "GiB-Months",
    "tebibyte month": "TiB-Months",
    "count": "Count",
    "request": "Requests",
    "requests": "Requests",
    "token": "Tokens",
    "tokens": "Tokens",
    "1000 tokens": "1000 Tokens",
    "1k tokens": "1000 Tokens",
    "1m tokens": "1000000 Tokens",
    "character": "Characters",
    "characters": "Characters",
    "1000 characters": "1000 Characters",
    "1k characters": "1000 Characters",
}

# Vertex AI SKUs that sell generative models (the rest of Vertex AI is machine learning).
GENERATIVE_SKU_PATTERN = (
    r"(?i)\b(gemini|palm|imagen|veo|chirp|codey|claude|llama|mistral|embeddings?)\b"
    r"|text (input|output)"
)
SPOT_SKU_PATTERN = r"(?i)\b(spot|preemptible)\b"
MACHINE_SPEC_KEY = "compute.googleapis.com/machine_spec"


def missing_required(columns: list[str], required: tuple[str, ...] = REQUIRED_COLUMNS) -> list[str]:
    """Required top-level columns absent from a file."""
    return [c for c in required if c not in columns]


def _field(schema: pl.Schema, column: str, name: str) -> pl.Expr:
    """``column.name`` of a struct column, or a null when the export lacks it.

    Exports differ (standard vs detailed, older vs newer fields), so an absent field is a
    null rather than an error; required top-level columns are checked before reading.
    """
    dtype = schema.get(column)
    if isinstance(dtype, pl.Struct) and name in {f.name for f in dtype.fields}:
        return pl.col(column).struct.field(name)
    return pl.lit(None)


def _text(expr: pl.Expr) -> pl.Expr:
    """Text with empty strings as nulls (nested strings escape the reader's clean-up)."""
    text = expr.cast(pl.String)
    return pl.when(text != "").then(text)


# Symbols in GCP SKU descriptions ("Gemini 2.5 Pro Text Input (≤200k)") and their ASCII forms.
ASCII_SYMBOLS = {"≤": "<=", "≥": ">=", "×": "x", "–": "-", "—": "-", "’": "'", "“": '"', "”": '"'}


def _ascii(text: pl.Expr) -> pl.Expr:
    """Text in ASCII, as FOCUS's StringHandling asks: accents dropped, "≤" → "<=".

    Elementwise (Unicode decomposition, then a regex), so it streams.
    """
    plain = text.str.normalize("NFKD").str.replace_all(r"\p{M}", "")
    return plain.str.replace_many(list(ASCII_SYMBOLS), list(ASCII_SYMBOLS.values()))


def _entries(schema: pl.Schema, column: str) -> pl.Expr:
    """A key/value list column (labels) as ``List(Struct{key, value})`` in that field order."""
    return _key_values(pl.col(column), schema.get(column))


def _key_values(labels: pl.Expr, dtype: pl.DataType | None) -> pl.Expr:
    """A key/value list as ``List(Struct{key, value})``; null when the export lacks it."""
    if dtype == _KEY_VALUE:
        return labels
    if not isinstance(dtype, pl.List):
        return pl.lit(None, dtype=_KEY_VALUE)
    element = pl.element().struct
    return labels.list.eval(
        pl.struct(
            element.field("key").cast(pl.String).alias("key"),
            element.field("value").cast(pl.String).alias("value"),
        )
    )


def _tags_from_labels(labels: pl.Expr) -> pl.Expr:
    """Tags JSON object from a labels list: ``[{key, value}, …]`` → ``{key: value, …}``.

    The list is JSON-encoded in one call and reshaped as text, with no per-row Python. JSON
    escapes every quote inside a string, so the patterns can only match structure. An empty
    or null list gives null, not "{}".
    """
    text = pl.struct(labels.alias("t")).struct.json_encode()
    text = text.str.replace_many(
        ['{"t":[{"key":', '},{"key":', ',"value":', "}]}"],
        ["{", ",", ":", "}"],
        leftmost=True,
    )
    return pl.when(labels.list.len() > 0).then(text)


def _project_labels(schema: pl.Schema) -> pl.Expr:
    """``project.labels`` as a key/value list (null when the export lacks it)."""
    project = schema.get("project")
    fields = {f.name: f.dtype for f in project.fields} if isinstance(project, pl.Struct) else {}
    return _key_values(pl.col("project").struct.field("labels"), fields.get("labels"))


def _label_value(labels: pl.Expr, key: str) -> pl.Expr:
    """The value of one key in a labels list, or null."""
    element = pl.element().struct
    return labels.list.eval(element.field("value").filter(element.field("key") == key)).list.first()


def _focus_unit(unit: pl.Expr) -> pl.Expr:
    """A GCP unit in FOCUS Unit Format where known; others pass through as written."""
    lower = unit.str.to_lowercase()
    chain = pl.when(pl.lit(False)).then(unit)
    for gcp_unit, focus in GCP_UNITS.items():
        chain = chain.when(lower == gcp_unit).then(pl.lit(focus))
    return chain.otherwise(unit)


def _with_catalogs(frame: pl.LazyFrame, service: pl.Expr, region: pl.Expr) -> pl.LazyFrame:
    """Service categories and region names from the shipped tables, by left join (streams)."""
    services = (
        parsing.data_table("gcp_services.csv")
        .lazy()
        .select(
            pl.col("service_description").alias("__service_key"),
            pl.col("service_category").alias("__service_category"),
            pl.col("service_subcategory").alias("__service_subcategory"),
        )
    )
    regions = (
        parsing.data_table("gcp_regions.csv")
        .lazy()
        .select(
            pl.col("region_id").alias("__region_key"),
            pl.col("region_name").alias("__region_name"),
        )
    )
    return (
        frame.with_columns(service.alias("__service_key"), region.alias("__region_key"))
        .join(services, on="__service_key", how="left", maintain_order="left")
        .join(regions, on="__region_key", how="left", maintain_order="left")
    )


def _number(schema: pl.Schema, name: str) -> pl.Expr:
    """A money column as Float64, or null when the export lacks it."""
    if name not in schema:
        return pl.lit(None, dtype=pl.Float64)
    return parsing.number(name, schema[name])


def billing_export_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS rows (plus ``x_RejectReason``) from GCP billing export rows.

    ``raw`` carries the export's own columns and the ingest's lineage and working columns.
    One row per source row, its credits kept aside for ``with_credit_rows``, which makes each
    a Credit row of its own.
    """
    schema = raw.collect_schema()
    service_id = _text(_field(schema, "service", "id"))
    service_name = _text(_field(schema, "service", "description"))
    sku_id = _text(_field(schema, "sku", "id"))
    sku_name = _ascii(_text(_field(schema, "sku", "description")))
    region = _text(_field(schema, "location", "region"))
    frame = _with_catalogs(raw, service_name, region)

    project_id = _text(_field(schema, "project", "id"))
    project_name = _text(_field(schema, "project", "name"))
    month = _text(_field(schema, "invoice", "month"))
    usage_amount = _field(schema, "usage", "amount").cast(pl.Float64)
    usage_unit = _text(_field(schema, "usage", "unit"))
    pricing_amount = _field(schema, "usage", "amount_in_pricing_units").cast(pl.Float64)
    pricing_unit = _text(_field(schema, "usage", "pricing_unit"))
    resource_name = _text(_field(schema, "resource", "name"))
    resource_id = pl.coalesce(_text(_field(schema, "resource", "global_name")), resource_name)
    cost = _number(schema, "cost")
    cost_at_list = _number(schema, "cost_at_list")
    currency = parsing.text("currency", schema["currency"]).str.to_uppercase()
    account = parsing.text("billing_account_id", schema["billing_account_id"])
    cost_type = (
        parsing.text("cost_type", schema["cost_type"])
        if "cost_type" in schema
        else pl.lit("regular")
    )
    start = parsing.timestamp("usage_start_time", schema["usage_start_time"], TIMESTAMP_FORMATS)
    end = parsing.timestamp("usage_end_time", schema["usage_end_time"], TIMESTAMP_FORMATS)
    period_start = (
        pl.when(month.str.contains(r"^\d{4}(0[1-9]|1[0-2])$"))
        .then(month + "01")
        .str.to_datetime("%Y%m%d", time_unit="us", time_zone="UTC", strict=False)
    )

    checks = [
        (period_start.is_null(), "invoice.month is not a YYYYMM month"),
        (start.is_null(), "usage_start_time is not a timestamp"),
        (end.is_null(), "usage_end_time is not a timestamp"),
        (parsing.is_bad("cost", cost), "cost is not a number"),
        (cost.is_null(), "cost is empty"),
        (currency.is_null(), "currency is empty"),
        (account.is_null(), "billing_account_id is empty"),
        (
            ~cost_type.is_in(list(COST_TYPES)),
            "cost_type is not regular, tax, adjustment or rounding_error",
        ),
    ]
    keys = _entries(schema, "labels").list.eval(pl.element().struct.field("key").is_null())
    checks.append((keys.list.any().fill_null(False), "labels has an entry without a key"))
    if "cost_at_list" in schema:
        checks.append(
            (parsing.is_bad("cost_at_list", cost_at_list), "cost_at_list is not a number")
        )

    # Rows without a SKU (rounding errors) are described by their cost type.
    description_of_type = (
        pl.when(cost_type == "rounding_error")
        .then(pl.lit("Rounding error"))
        .when(cost_type == "tax")
        .then(pl.lit("Tax"))
        .when(cost_type == "adjustment")
        .then(pl.lit("Adjustment"))
    )
    category = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for gcp_type, focus_category in COST_TYPES.items():
        category = category.when(cost_type == gcp_type).then(pl.lit(focus_category))
    category = category.otherwise(pl.lit("Adjustment"))
    is_usage = category == "Usage"
    is_tax = category == "Tax"
    priced = ~is_tax & pricing_unit.is_not_null() & pricing_amount.is_not_null()
    pricing_quantity = pl.when(priced).then(pricing_amount)
    list_cost = pl.coalesce(cost_at_list, cost)
    # GCP gives no unit price per row: the row's own average (cost / quantity), so that
    # price × PricingQuantity is the cost as FOCUS requires. Never negative, never ÷ 0.
    has_quantity = priced & (pricing_amount > 0)
    list_unit_price = pl.when(has_quantity & (list_cost >= 0)).then(list_cost / pricing_amount)
    contracted_unit_price = pl.when(has_quantity & (cost >= 0)).then(cost / pricing_amount)
    is_vertex = (service_id == VERTEX_AI_SERVICE_ID) | (service_name == "Vertex AI")
    generative = is_vertex & sku_name.str.contains(GENERATIVE_SKU_PATTERN)
    system_labels = _entries(schema, "system_labels")
    no_sku = is_tax | sku_id.is_null()
    consumed = is_usage & usage_amount.is_not_null() & usage_unit.is_not_null()

    focus = frame.with_columns(
        BilledCost=cost,
        EffectiveCost=cost,
        ListCost=list_cost,
        ContractedCost=cost,
        ListUnitPrice=list_unit_price,
        ContractedUnitPrice=contracted_unit_price,
        BillingAccountId=account,
        # The export has no billing account name: the id stands in, so the name is never empty.
        BillingAccountName=account,
        BillingAccountType=pl.when(account.is_not_null()).then(pl.lit("Billing Account")),
        BillingCurrency=currency,
        BillingPeriodStart=period_start,
        BillingPeriodEnd=period_start.dt.offset_by("1mo"),
        ChargePeriodStart=start,
        ChargePeriodEnd=end,
        ChargeCategory=category,
        # An adjustment of usage from before this invoice's month corrects an earlier bill.
        # Late usage of the previous month on this invoice is a regular charge, not a correction.
        ChargeClass=pl.when((cost_type == "adjustment") & (start < period_start)).then(
            pl.lit("Correction")
        ),
        ChargeDescription=pl.coalesce(sku_name, service_name, description_of_type),
        ChargeFrequency=pl.when(is_usage).then(pl.lit("Usage-Based")).otherwise(pl.lit("One-Time")),
        PricingCategory=pl.when(~is_usage)
        .then(None)
        .when(sku_name.str.contains(SPOT_SKU_PATTERN))
        .then(pl.lit("Dynamic"))
        .otherwise(pl.lit("Standard")),
        PricingCurrency=currency,
        PricingCurrencyEffectiveCost=cost,
        PricingCurrencyListUnitPrice=list_unit_price,
        PricingCurrencyContractedUnitPrice=contracted_unit_price,
        PricingQuantity=pricing_quantity,
        PricingUnit=pl.when(priced).then(_focus_unit(pricing_unit)),
        ConsumedQuantity=pl.when(consumed).then(usage_amount),
        ConsumedUnit=pl.when(consumed).then(_focus_unit(usage_unit)),
        InvoiceIssuerName=pl.lit(PROVIDER),
        ProviderName=pl.lit(PROVIDER),
        PublisherName=pl.lit(PROVIDER),
        ServiceProviderName=pl.lit(PROVIDER),
        HostProviderName=pl.lit(PROVIDER),
        ServiceName=pl.coalesce(service_name, service_id, pl.lit(PROVIDER)),
        ServiceCategory=pl.when(generative)
        .then(pl.lit("AI and Machine Learning"))
        .otherwise(pl.col("__service_category").fill_null("Other")),
        ServiceSubcategory=pl.when(generative)
        .then(pl.lit("Generative AI"))
        .otherwise(pl.col("__service_subcategory").fill_null("Other (Other)")),
        RegionId=region,
        RegionName=pl.when(region.is_not_null()).then(pl.coalesce(pl.col("__region_name"), region)),
        AvailabilityZone=_text(_field(schema, "location", "zone")),
        ResourceId=resource_id,
        ResourceName=resource_name,
        # //compute.googleapis.com/projects/p/zones/z/instances/123 → "instances".
        ResourceType=pl.when(resource_id.is_not_null()).then(
            pl.coalesce(resource_id.str.extract(r"^//[^/]+/.+/([^/]+)/[^/]+$"), pl.lit("Resource"))
        ),
        SkuId=pl.when(~no_sku).then(sku_id),
        # The export has no price id; the SKU id is the price list key (FOCUS allows equal ids).
        SkuPriceId=pl.when(~no_sku).then(sku_id),
        SkuMeter=pl.when(~no_sku).then(sku_name),
        SubAccountId=project_id,
        SubAccountName=pl.coalesce(project_name, project_id),
        SubAccountType=pl.when(project_id.is_not_null()).then(pl.lit("Project")),
        Tags=_tags_from_labels(_entries(schema, "labels")),
        **{RAW_TAGS: _entries(schema, "labels")},
        x_ProjectLabels=_tags_from_labels(_project_labels(schema)),
        x_LineItemType=cost_type,
        x_ProductCode=service_id,
        x_InstanceType=_text(_label_value(system_labels, MACHINE_SPEC_KEY)),
        __credits=pl.col("credits"),
        **{REJECT_REASON: parsing.reject_reason(checks)},
    )
    return focus


def with_credit_rows(focus: pl.LazyFrame) -> pl.LazyFrame:
    """``billing_export_to_focus`` rows, each followed by its credits' rows
    (``split_credits``), as FOCUS columns."""
    return conform_to_focus(split_credits(focus, focus.collect_schema()[RAW_COST]))


def split_credits(focus: pl.LazyFrame, raw_cost_type: pl.DataType) -> pl.LazyFrame:
    """Each credit of a row becomes a Credit row right after it; the row keeps its ``cost``.

    ``explode`` on a per-row list of part numbers (0 = the row, i = its i-th credit) keeps the
    plan streaming and the source order. A credit row's money is the credit's amount in every
    cost column, and its ``x_RawCost`` is that amount too: the bill's own number for the credit,
    so the bill's total is Σ cost + Σ credits.amount, which is what the lake's BilledCost sums to.
    """
    credits = pl.col("__credits")
    part = pl.col("__part")
    is_credit = part > 0
    credit = credits.list.get(pl.when(is_credit).then(part - 1).otherwise(0), null_on_oob=True)
    amount = credit.struct.field("amount").cast(pl.Float64)
    credit_type = _text(credit.struct.field("type"))
    credit_name = pl.coalesce(
        _text(credit.struct.field("full_name")), _text(credit.struct.field("name"))
    )

    def credit_or(value: pl.Expr | None, column: str) -> pl.Expr:
        new = pl.lit(None) if value is None else value
        return pl.when(is_credit).then(new).otherwise(pl.col(column)).alias(column)

    amounts = [
        credit_or(amount, c) for c in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
    ]
    cleared = [
        credit_or(None, c)
        for c in (
            "ListUnitPrice",
            "ContractedUnitPrice",
            "PricingCurrencyListUnitPrice",
            "PricingCurrencyContractedUnitPrice",
            "PricingQuantity",
            "PricingUnit",
            "PricingCategory",
            "ConsumedQuantity",
            "ConsumedUnit",
            "SkuPriceId",
        )
    ]
    return (
        focus.with_columns(
            pl.int_ranges(0, credits.list.len().fill_null(0).cast(pl.Int64) + 1).alias("__part")
        )
        .explode("__part")
        .with_columns(
            *amounts,
            *cleared,
            credit_or(amount, "PricingCurrencyEffectiveCost"),
            credit_or(pl.lit("Credit"), "ChargeCategory"),
            credit_or(pl.coalesce(credit_name, pl.col("ChargeDescription")), "ChargeDescription"),
            credit_or(credit_type, "x_LineItemType"),
            credit_or(amount.cast(raw_cost_type), RAW_COST),
            # Part of its source row, hashed once, on the row itself.
            credit_or(None, ROW_HASH),
            pl.when(is_credit & amount.is_null() & pl.col(REJECT_REASON).is_null())
            .then(pl.lit("credits.amount is empty"))
            .otherwise(pl.col(REJECT_REASON))
            .alias(REJECT_REASON),
        )
        .drop("__part", "__credits")
    )


SOURCE_DATASETS = {
    "gcp_billing_export": SourceDataset(
        provider="gcp",
        rename=same_names,
        required=missing_required,
        normalize=billing_export_to_focus,
        expand=with_credit_rows,
        cost_column="cost",
        currency_column="currency",
        ndjson_schema=GCP_EXPORT_SCHEMA,
        tags_from_raw=lambda dtype: _tags_from_labels(pl.col(RAW_TAGS)),
    ),
    "gcp_billing_export_detailed": SourceDataset(
        provider="gcp",
        rename=same_names,
        required=lambda columns: missing_required(columns, REQUIRED_DETAILED_COLUMNS),
        normalize=billing_export_to_focus,
        expand=with_credit_rows,
        cost_column="cost",
        currency_column="currency",
        ndjson_schema=GCP_EXPORT_SCHEMA,
        tags_from_raw=lambda dtype: _tags_from_labels(pl.col(RAW_TAGS)),
    ),
}
