"""The FOCUS table as costlake writes it: the published column contract with BI tools.

FOCUS 1.2 Cost and Usage columns, then FOCUS 1.3's ServiceProviderName and HostProviderName, then
costlake's own ``x_`` extension columns. Changing a name or a type here is a versioned change of
the lake contract (see ``FOCUS_TABLE_VERSION``).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from costlake.tags.keys import TAG_KEYS

FOCUS_VERSION = "1.2"
# 2: x_CostInUsd, x_ExchangeRatePricingToBilling, compartments, project labels; 3: tags;
# 4: x_GpuCount
FOCUS_TABLE_VERSION = "4"

MONEY = pa.float64()
QUANTITY = pa.float64()
TIMESTAMP = pa.timestamp("us", tz="UTC")
STRING = pa.string()

# (column, type, nullable): FOCUS 1.2 columns in the spec's alphabetical order.
FOCUS_COLUMNS: list[tuple[str, pa.DataType, bool]] = [
    ("AvailabilityZone", STRING, True),
    ("BilledCost", MONEY, False),
    ("BillingAccountId", STRING, False),
    ("BillingAccountName", STRING, True),
    ("BillingAccountType", STRING, True),
    ("BillingCurrency", STRING, False),
    ("BillingPeriodEnd", TIMESTAMP, False),
    ("BillingPeriodStart", TIMESTAMP, False),
    ("CapacityReservationId", STRING, True),
    ("CapacityReservationStatus", STRING, True),
    ("ChargeCategory", STRING, False),
    ("ChargeClass", STRING, True),
    ("ChargeDescription", STRING, True),
    ("ChargeFrequency", STRING, True),
    ("ChargePeriodEnd", TIMESTAMP, False),
    ("ChargePeriodStart", TIMESTAMP, False),
    ("CommitmentDiscountCategory", STRING, True),
    ("CommitmentDiscountId", STRING, True),
    ("CommitmentDiscountName", STRING, True),
    ("CommitmentDiscountQuantity", QUANTITY, True),
    ("CommitmentDiscountStatus", STRING, True),
    ("CommitmentDiscountType", STRING, True),
    ("CommitmentDiscountUnit", STRING, True),
    ("ConsumedQuantity", QUANTITY, True),
    ("ConsumedUnit", STRING, True),
    ("ContractedCost", MONEY, False),
    ("ContractedUnitPrice", MONEY, True),
    ("EffectiveCost", MONEY, False),
    ("InvoiceId", STRING, True),
    ("InvoiceIssuerName", STRING, False),
    ("ListCost", MONEY, False),
    ("ListUnitPrice", MONEY, True),
    ("PricingCategory", STRING, True),
    ("PricingCurrency", STRING, True),
    ("PricingCurrencyContractedUnitPrice", MONEY, True),
    ("PricingCurrencyEffectiveCost", MONEY, True),
    ("PricingCurrencyListUnitPrice", MONEY, True),
    ("PricingQuantity", QUANTITY, True),
    ("PricingUnit", STRING, True),
    ("ProviderName", STRING, False),
    ("PublisherName", STRING, False),
    ("RegionId", STRING, True),
    ("RegionName", STRING, True),
    ("ResourceId", STRING, True),
    ("ResourceName", STRING, True),
    ("ResourceType", STRING, True),
    ("ServiceCategory", STRING, False),
    ("ServiceName", STRING, False),
    ("ServiceSubcategory", STRING, True),
    ("SkuId", STRING, True),
    ("SkuMeter", STRING, True),
    ("SkuPriceDetails", STRING, True),
    ("SkuPriceId", STRING, True),
    ("SubAccountId", STRING, True),
    ("SubAccountName", STRING, True),
    ("SubAccountType", STRING, True),
    ("Tags", STRING, True),
    # FOCUS 1.3 names that replace ProviderName / PublisherName.
    ("ServiceProviderName", STRING, False),
    ("HostProviderName", STRING, False),
]

# costlake's extension columns: lineage and the source's own vocabulary.
EXTENSION_COLUMNS: list[tuple[str, pa.DataType, bool]] = [
    ("x_Provider", STRING, False),  # aws | azure | gcp | oci
    ("x_SourceDataset", STRING, False),  # e.g. aws_cur2, aws_cur_legacy, aws_focus
    ("x_DeliveryId", STRING, False),  # manifest executionId / assemblyId / run id
    ("x_SourceFile", STRING, False),  # file inside the delivery
    ("x_SourceRow", pa.int64(), False),  # 1-based data row inside that file
    ("x_LineItemType", STRING, True),  # the source's own charge type
    ("x_ProductCode", STRING, True),
    ("x_UsageType", STRING, True),
    ("x_Operation", STRING, True),
    ("x_InstanceType", STRING, True),
    # Kept from one cloud's bill where FOCUS has no column for it.
    ("x_CostInUsd", MONEY, True),  # Azure MCA costInUsd: the row's cost in USD
    ("x_ExchangeRatePricingToBilling", QUANTITY, True),  # Azure MCA
    ("x_CompartmentId", STRING, True),  # OCI compartment (also the sub account)
    ("x_CompartmentName", STRING, True),
    ("x_ProjectLabels", STRING, True),  # GCP project labels, a JSON object like Tags
    ("x_GpuCount", QUANTITY, True),  # GPUs per instance as the bill states it (AWS product/gpu)
]
# The cost-allocation tags, normalized across clouds by ``costlake.tags.rules`` (mandatory, then
# recommended). Each has its canonical value and where it came from (tag, alias, rule:<name>,
# account_default, invalid); ``Tags`` keeps what the provider gave.
EXTENSION_COLUMNS += [
    (column, STRING, True) for key in TAG_KEYS for column in (f"x_tag_{key}", f"x_tag_{key}_source")
] + [
    ("x_TagsInvalid", STRING, True),  # JSON object: key → a value outside the allowed set
    ("x_Untaggable", pa.bool_(), True),  # tax, support, credits, marketplace, commitment fees
]

# Carried through normalization, never written to the focus table: why a row was rejected, and
# the bill's own cost and currency of the row as the source gave them (for the bill's totals,
# which must not depend on the mapping, and for the rejects table).
REJECT_REASON = "x_RejectReason"
RAW_COST = "x_RawCost"
RAW_CURRENCY = "x_RawCurrency"
WORKING_COLUMNS = (REJECT_REASON, RAW_COST, RAW_CURRENCY)

ALL_COLUMNS = FOCUS_COLUMNS + EXTENSION_COLUMNS
COLUMN_NAMES: list[str] = [name for name, _, _ in ALL_COLUMNS]
MONEY_COLUMNS: list[str] = [n for n, t, _ in FOCUS_COLUMNS if t == MONEY]
REQUIRED_COLUMNS: list[str] = [n for n, _, nullable in ALL_COLUMNS if not nullable]

# Columns a provider's own FOCUS export must have before costlake passes it through.
REQUIRED_FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceName",
)

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
SERVICE_CATEGORIES = (
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
)


# Written into the footer of every FOCUS Parquet file.
FOCUS_FILE_METADATA = {
    "focus_version": FOCUS_VERSION,
    "costlake_table_version": FOCUS_TABLE_VERSION,
}


def focus_arrow_schema() -> pa.Schema:
    """The Arrow schema of every FOCUS Parquet file costlake writes."""
    return pa.schema(
        [pa.field(name, dtype, nullable=nullable) for name, dtype, nullable in ALL_COLUMNS],
        metadata=FOCUS_FILE_METADATA,
    )


def focus_polars_schema() -> pl.Schema:
    """The same schema as polars dtypes, for casting frames before they are written."""
    return pl.Schema(pl.from_arrow(focus_arrow_schema().empty_table()).schema)


def conform_to_focus(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Select the FOCUS columns in contract order with contract types; absent columns are null.

    The ingest's working columns (``WORKING_COLUMNS``), where present, follow the contract's.
    """
    schema = focus_polars_schema()
    present = set(frame.collect_schema().names())
    return frame.select(
        [
            (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        ]
        + [pl.col(name) for name in WORKING_COLUMNS if name in present]
    )


def _logical(dtype: pa.DataType) -> pa.DataType:
    """string and large_string are one type to a Parquet reader."""
    return pa.string() if dtype == pa.large_string() else dtype


def schema_problems(schema: pa.Schema) -> list[str]:
    """Differences between a table's schema and the FOCUS contract, as readable sentences."""
    expected = focus_arrow_schema()
    problems = []
    for field in expected:
        if field.name not in schema.names:
            problems.append(f"missing column {field.name}")
        elif not _logical(schema.field(field.name).type).equals(field.type):
            got = schema.field(field.name).type
            problems.append(f"column {field.name} is {got}, expected {field.type}")
    extra = [n for n in schema.names if n not in expected.names]
    problems += [f"unexpected column {n}" for n in extra]
    return problems
