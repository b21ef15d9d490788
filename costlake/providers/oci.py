"""OCI bills (cost reports, Oracle's own FOCUS reports) to FOCUS rows.

Cost reports are CSV files with ``lineItem/*``, ``product/*``, ``usage/*``, ``cost/*`` columns
and one ``tags/<namespace>.<key>`` column per tag. Oracle renames and adds columns over time, so
headers are matched case-insensitively through a synonym table and read by name, never by
position. A cost report has no billing period column: OCI invoices by calendar month (UTC), so
the billing period is the month of ``lineItem/intervalUsageStart``.

Usage reports carry quantities but no cost or currency: they cannot become FOCUS cost rows
(``BilledCost`` is mandatory), so they are not a source dataset here.
"""

from __future__ import annotations

import polars as pl

from costlake.focus import parsing
from costlake.focus.schema import (
    RAW_TAGS,
    REJECT_REASON,
    REQUIRED_FOCUS_COLUMNS,
    conform_to_focus,
    focus_polars_schema,
)
from costlake.providers import native_focus
from costlake.providers.datasets import SourceDataset, same_names

PROVIDER = "Oracle"
COST = "cost/myCost"
CURRENCY = "cost/currencyCode"

# Canonical cost-report names; a header matches one of them whatever its case.
COST_REPORT_COLUMNS = (
    "lineItem/referenceNo",
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "lineItem/isCorrection",
    "lineItem/backreferenceNo",
    "product/service",
    "product/resource",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/availabilityDomain",
    "product/resourceId",
    "product/Description",
    "usage/billedQuantity",
    "usage/billedQuantityOverage",
    "cost/subscriptionId",
    "cost/productSku",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    COST,
    "cost/myCostOverage",
    CURRENCY,
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "cost/overageFlag",
)
# Other spellings for the same columns (lower case) → canonical name. None of these has been
# seen in a real file yet (unverified): add renames here as Oracle makes them.
COST_REPORT_SYNONYMS = {
    "product/productdescription": "product/Description",
    "product/skudescription": "product/Description",
    "lineitem/tenancyid": "lineItem/tenantId",
    "product/availabilitydomainname": "product/availabilityDomain",
    "cost/skuunit": "cost/skuUnitDescription",
    "cost/currency": CURRENCY,
}
REQUIRED_COST_COLUMNS = (
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "product/service",
    COST,
    CURRENCY,
)
MONEY_COLUMNS = (COST, "cost/unitPrice", "usage/billedQuantity")
TIME_COLUMNS = ("lineItem/intervalUsageStart", "lineItem/intervalUsageEnd")
# "2023-11-13T10:00Z" (start, no seconds) and "2023-11-13T11:00:00Z" (end) in one file.
TIME_FORMATS = (parsing.ISO_UTC, "%Y-%m-%dT%H:%MZ")
TEXT_COLUMNS = tuple(c for c in COST_REPORT_COLUMNS if c not in MONEY_COLUMNS + TIME_COLUMNS)


_CANONICAL_BY_LOWER = {c.lower(): c for c in COST_REPORT_COLUMNS} | COST_REPORT_SYNONYMS


def cost_report_rename_map(columns: list[str]) -> dict[str, str]:
    """Source header → canonical name; ``tags/<ns>.<key>`` columns become ``__tag__<ns>.<key>``.

    Unknown headers keep their name. A synonym whose name another spelling took keeps its own;
    headers that differ only in case or spaces (``cost/myCost`` and ``COST/MYCOST``) all map to
    their name, and the ingest refuses the header as naming a column twice.
    """
    mapping: dict[str, str] = {}
    claimed: dict[str, str] = {}  # name → the lower-case spelling that took it
    for column in columns:
        stripped = column.strip()
        spelling = stripped.lower()
        if spelling.startswith("tags/"):
            target = parsing.TAG_PREFIX + stripped[len("tags/") :]
        else:
            target = _CANONICAL_BY_LOWER.get(spelling, column)
        if claimed.setdefault(target, spelling) != spelling and spelling in COST_REPORT_SYNONYMS:
            target = column
        mapping[column] = target
    return mapping


def missing_required(columns: list[str], source_dataset: str) -> list[str]:
    """Required source columns absent from a file (OCI's own names)."""
    if source_dataset == "oci_focus":
        return [c for c in REQUIRED_FOCUS_COLUMNS if c not in columns]
    present = set(cost_report_rename_map(columns).values())
    return [c for c in REQUIRED_COST_COLUMNS if c not in present]


def _with_catalogs(frame: pl.LazyFrame, service: str, region: str, unit: str) -> pl.LazyFrame:
    """Service category, region name and FOCUS unit from the shipped tables, by left join.

    A join keeps the plan streaming; ``replace`` on a column would make polars hold it whole.
    The key columns are the frame's own (already cleaned) text columns.
    """
    services = (
        parsing.data_table("oci_services.csv")
        .lazy()
        .select(
            pl.col("service").alias(service),
            pl.col("service_category").alias("__service_category"),
            pl.col("service_subcategory").alias("__service_subcategory"),
            pl.col("resource_type").alias("__resource_type"),
        )
    )
    regions = (
        parsing.data_table("oci_regions.csv")
        .lazy()
        .select(pl.col("region_id").alias(region), pl.col("region_name").alias("__region_name"))
    )
    units_table = (
        parsing.data_table("oci_units.csv")
        .lazy()
        .select(
            pl.col("sku_unit_description").alias(unit),
            pl.col("focus_unit").alias("__focus_unit"),
        )
    )
    return (
        frame.join(services, on=service, how="left", maintain_order="left")
        .join(regions, on=region, how="left", maintain_order="left")
        .join(units_table, on=unit, how="left", maintain_order="left")
    )


def focus_unit(unit: pl.Expr) -> pl.Expr:
    """An OCI unit description in FOCUS Unit Format, by rule ("OCPU Hours" → "OCPU-Hours",
    "Million Datapoints" → "1000000 Datapoints", "10,000 Characters" → "10000 Characters").

    The irregular spellings are in ``oci_units.csv`` and win over these rules. The counted
    thing is never changed: characters stay characters and tokens stay tokens.
    """
    text = unit.str.strip_chars().str.replace(r"^(?i)per\s+", "")
    text = text.str.replace_all(r"(\d),(\d)", "$1$2")
    text = text.str.replace(r"^(?i)million\s+", "1000000 ")
    text = text.str.replace(r"^(?i)thousand\s+", "1000 ")
    text = text.str.replace(r"(?i)\s+per\s+hour$", "-Hours")
    text = text.str.replace(r"(?i)\s+per\s+month$", "-Months")
    text = text.str.replace(r"(\S)\s+Hours$", "$1-Hours")
    return text.str.replace(r"(\S)\s+Months$", "$1-Months")


def _service_category(service: pl.Expr, description: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(ServiceCategory, ServiceSubcategory): a Generative AI SKU wins, then the table.

    Generative AI SKUs are recognised by their description too, so they are classified even
    under a service name the table does not know yet.
    """
    genai = description.str.contains(r"(?i)generative ai") | service.str.contains(
        r"(?i)generative|genai"
    )
    category = (
        pl.when(genai)
        .then(pl.lit("AI and Machine Learning"))
        .otherwise(pl.col("__service_category").fill_null("Other"))
    )
    subcategory = (
        pl.when(genai)
        .then(pl.lit("Generative AI"))
        .otherwise(pl.col("__service_subcategory").fill_null("Other (Other)"))
    )
    return category, subcategory


def _resource_type(resource_id: pl.Expr) -> pl.Expr:
    """The OCID's resource type (``ocid1.instance.oc1…`` → "instance", as Oracle's FOCUS
    reports write it), else the service's default from the table, else "Resource"."""
    from_ocid = resource_id.str.extract(r"^ocid\d+\.([A-Za-z0-9_-]+)\.")
    return pl.when(resource_id.is_not_null()).then(
        pl.coalesce(from_ocid, pl.col("__resource_type"), pl.lit("Resource"))
    )


def cost_report_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS rows (plus ``x_RejectReason``) from OCI cost-report rows renamed by
    ``cost_report_rename_map``. A row whose money or time does not parse gets a reason."""
    schema = raw.collect_schema()
    absent = [c for c in COST_REPORT_COLUMNS if c not in schema]
    frame = raw.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in absent])
    frame = _with_catalogs(frame, "product/service", "product/region", "cost/skuUnitDescription")
    schema = frame.collect_schema()

    money = {c: parsing.number(c, schema[c]) for c in MONEY_COLUMNS}
    times = {c: parsing.timestamp(c, schema[c], TIME_FORMATS) for c in TIME_COLUMNS}
    text = {c: parsing.text(c, schema[c]) for c in TEXT_COLUMNS}

    correction_flag = text["lineItem/isCorrection"].str.to_lowercase()
    checks = [(parsing.is_bad(c, money[c]), f"{c} is not a number") for c in MONEY_COLUMNS]
    checks += [(times[c].is_null(), f"{c} is not an ISO-8601 UTC timestamp") for c in TIME_COLUMNS]
    checks += [
        (money[COST].is_null(), f"{COST} is empty"),
        (text[CURRENCY].is_null(), f"{CURRENCY} is empty"),
        (text["lineItem/tenantId"].is_null(), "lineItem/tenantId is empty"),
        (text["product/service"].is_null(), "product/service is empty"),
        (
            correction_flag.is_not_null() & ~correction_flag.is_in(["true", "false"]),
            "lineItem/isCorrection is not true or false",
        ),
    ]

    cost = money[COST]
    quantity = money["usage/billedQuantity"]
    unit_price = money["cost/unitPrice"]
    currency = text[CURRENCY].str.to_uppercase()
    start = times["lineItem/intervalUsageStart"]
    period_start = start.dt.truncate("1mo")
    description = text["product/Description"]
    service = text["product/service"]
    unit_text = text["cost/skuUnitDescription"]
    unit = pl.coalesce(pl.col("__focus_unit"), focus_unit(unit_text))
    has_unit = unit_text.is_not_null()
    # A unit price is never negative: a negative correction carries its sign in the cost.
    price = pl.when(unit_price >= 0).then(unit_price)
    region = text["product/region"]
    compartment = text["product/compartmentId"]
    resource_id = text["product/resourceId"]
    category, subcategory = _service_category(service, description)
    shape = description.str.extract(r"\b((?:BM|VM)\.[A-Za-z0-9.\-]+[A-Za-z0-9])")
    tag_columns = [c for c in schema if c.startswith(parsing.TAG_PREFIX)]
    tags = parsing.tags_from_columns(tag_columns)

    focus = frame.with_columns(
        BilledCost=cost,
        # No amortization or list price in a cost report: every cost is the billed one.
        EffectiveCost=cost,
        ListCost=cost,
        ContractedCost=cost,
        ListUnitPrice=price,
        ContractedUnitPrice=price,
        BillingAccountId=text["lineItem/tenantId"],
        BillingAccountName=text["lineItem/tenantId"],
        BillingAccountType=pl.lit("Tenancy"),
        BillingCurrency=currency,
        BillingPeriodStart=period_start,
        BillingPeriodEnd=period_start.dt.offset_by("1mo"),
        ChargePeriodStart=start,
        ChargePeriodEnd=times["lineItem/intervalUsageEnd"],
        ChargeCategory=pl.lit("Usage"),
        ChargeClass=pl.when(correction_flag == "true").then(pl.lit("Correction")),
        ChargeDescription=description,
        ChargeFrequency=pl.lit("Usage-Based"),
        PricingCategory=pl.when(description.str.contains(r"(?i)preemptible"))
        .then(pl.lit("Dynamic"))
        .otherwise(pl.lit("Standard")),
        PricingCurrency=currency,
        PricingCurrencyEffectiveCost=cost,
        PricingCurrencyListUnitPrice=price,
        PricingCurrencyContractedUnitPrice=price,
        PricingQuantity=pl.when(has_unit).then(quantity),
        PricingUnit=pl.when(has_unit).then(unit),
        ConsumedQuantity=pl.when(has_unit).then(quantity),
        ConsumedUnit=pl.when(has_unit).then(unit),
        InvoiceIssuerName=pl.lit(PROVIDER),
        ProviderName=pl.lit(PROVIDER),
        PublisherName=pl.lit(PROVIDER),
        ServiceProviderName=pl.lit(PROVIDER),
        HostProviderName=pl.lit(PROVIDER),
        # OCI's own service code ("COMPUTE"), as Oracle's FOCUS reports write ServiceName.
        ServiceName=service,
        ServiceCategory=category,
        ServiceSubcategory=subcategory,
        RegionId=region,
        RegionName=pl.when(region.is_not_null()).then(pl.coalesce(pl.col("__region_name"), region)),
        AvailabilityZone=text["product/availabilityDomain"],
        ResourceId=resource_id,
        ResourceType=_resource_type(resource_id),
        SkuId=text["cost/productSku"],
        SkuPriceId=text["cost/productSku"],
        SkuMeter=pl.when(text["cost/productSku"].is_not_null()).then(description),
        SubAccountId=compartment,
        SubAccountName=pl.coalesce(text["product/compartmentName"], compartment),
        SubAccountType=pl.when(compartment.is_not_null()).then(pl.lit("Compartment")),
        Tags=tags,
        **{RAW_TAGS: parsing.raw_tag_columns(tag_columns)},
        x_ProductCode=service,
        x_UsageType=text["cost/billingUnitReadable"],
        x_InstanceType=shape,
        x_CompartmentId=compartment,
        x_CompartmentName=text["product/compartmentName"],
        **{REJECT_REASON: parsing.reject_reason(checks)},
    )
    return conform_to_focus(focus)


def focus_report_to_focus(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Check and pass through Oracle's own FOCUS report (FOCUS 1.0), repaired to the lake's FOCUS.

    Values are kept; the shared repair (``native_focus``) fills what every 1.0 export leaves
    out, and Oracle's own here (see ``docs``): account types, ServiceSubcategory, FOCUS units,
    RegionId (Oracle puts the region identifier in RegionName), resource types, and the columns
    FOCUS wants null on non-usage or tax rows.
    """
    contract = focus_polars_schema()
    frame = native_focus.with_contract_columns(raw, contract)
    frame = frame.with_columns(
        __service=pl.col("ServiceName").cast(pl.String),
        __region=pl.coalesce(
            pl.col("RegionId").cast(pl.String),
            pl.when(pl.col("RegionName").cast(pl.String).str.contains(r"^[a-z]+-[a-z]+-\d+$")).then(
                pl.col("RegionName").cast(pl.String)
            ),
        ),
        __unit=pl.coalesce(pl.col("PricingUnit"), pl.col("ConsumedUnit")).cast(pl.String),
    )
    frame = _with_catalogs(frame, "__service", "__region", "__unit")
    parsed, checks = native_focus.parsed_columns(frame.collect_schema(), contract)
    checks += native_focus.required_checks(parsed)
    tags = parsed["Tags"]
    checks.append(
        (
            # The JSON path match of "$" is null when the text is not valid JSON.
            tags.is_not_null()
            & ~tags.str.json_path_match("$").str.starts_with("{").fill_null(False),
            "Tags is not a JSON object",
        )
    )

    category = parsed["ChargeCategory"]
    is_usage = category == "Usage"
    is_tax = category == "Tax"
    region = pl.col("__region")
    units_fixed = pl.coalesce(pl.col("__focus_unit"), focus_unit(pl.col("__unit")))
    pricing_unit = pl.when(parsed["PricingUnit"].is_not_null()).then(
        pl.coalesce(
            pl.when(parsed["PricingUnit"] == pl.col("__unit")).then(units_fixed),
            focus_unit(parsed["PricingUnit"]),
        )
    )
    consumed_unit = pl.when(parsed["ConsumedUnit"].is_not_null()).then(
        pl.coalesce(
            pl.when(parsed["ConsumedUnit"] == pl.col("__unit")).then(units_fixed),
            focus_unit(parsed["ConsumedUnit"]),
        )
    )
    category_fixed, subcategory = _service_category(
        parsed["ServiceName"], parsed["ChargeDescription"]
    )
    service_category = pl.coalesce(parsed["ServiceCategory"], category_fixed)
    account = parsed["BillingAccountId"]
    sub_account = parsed["SubAccountId"]
    oracle_repairs = {
        "PricingQuantity": pl.when(~is_tax & pricing_unit.is_not_null()).then(
            parsed["PricingQuantity"]
        ),
        "PricingUnit": pl.when(~is_tax).then(pricing_unit),
        "ConsumedQuantity": pl.when(is_usage & consumed_unit.is_not_null()).then(
            parsed["ConsumedQuantity"]
        ),
        "ConsumedUnit": pl.when(is_usage).then(consumed_unit),
        "BillingAccountType": pl.coalesce(
            parsed["BillingAccountType"],
            pl.when(account.is_not_null()).then(pl.lit("Billing Account")),
        ),
        "SubAccountType": pl.coalesce(
            parsed["SubAccountType"],
            pl.when(sub_account.str.contains(r"^ocid\d+\.tenancy\."))
            .then(pl.lit("Tenancy"))
            .when(sub_account.str.contains(r"^ocid\d+\.compartment\."))
            .then(pl.lit("Compartment"))
            .when(sub_account.is_not_null())
            .then(pl.lit("Sub Account")),
        ),
        "RegionId": region,
        "RegionName": pl.when(region.is_not_null()).then(
            pl.coalesce(
                pl.col("__region_name"),
                pl.when(parsed["RegionName"] != region).then(parsed["RegionName"]),
                region,
            )
        ),
        "ResourceType": pl.when(parsed["ResourceId"].is_not_null()).then(
            pl.coalesce(parsed["ResourceType"], _resource_type(parsed["ResourceId"]))
        ),
        "ServiceCategory": service_category,
        # The table's subcategory only under its own parent category; FOCUS pairs them.
        "ServiceSubcategory": pl.coalesce(
            parsed["ServiceSubcategory"],
            pl.when(category_fixed == service_category).then(subcategory),
            pl.concat_str([pl.lit("Other ("), service_category, pl.lit(")")]),
        ),
    }
    repairs = {**native_focus.shared_repairs(parsed, PROVIDER), **oracle_repairs}
    return native_focus.native_focus_rows(frame, parsed, checks, repairs)


SOURCE_DATASETS: dict[str, SourceDataset] = {
    "oci_cost": SourceDataset(
        provider="oci",
        rename=cost_report_rename_map,
        required=lambda columns: missing_required(columns, "oci_cost"),
        normalize=cost_report_to_focus,
        cost_column=COST,
        currency_column=CURRENCY,
        spans_periods=True,
        tags_from_raw=parsing.tags_from_raw_columns,
    ),
    "oci_focus": SourceDataset(
        provider="oci",
        rename=same_names,
        required=lambda columns: missing_required(columns, "oci_focus"),
        normalize=focus_report_to_focus,
        cost_column="BilledCost",
        currency_column="BillingCurrency",
        spans_periods=True,
    ),
}
