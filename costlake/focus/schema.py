"""The FOCUS tables as costlake writes them: the published column contract with BI tools.

The Cost and Usage table (``focus``): the FOCUS 1.2 columns that 1.3 keeps, then the columns
FOCUS 1.3 adds (ServiceProviderName, HostProviderName, the split-cost ``Allocated*`` columns and
ContractApplied), then costlake's own ``x_`` extension columns. The Contract Commitment table
(``focus_contract_commitments``): FOCUS 1.3's second dataset, one row per commitment and billing
period. Changing a name or a type here is a versioned change of the lake contract (see
``FOCUS_TABLE_VERSION``).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from costlake.tags.keys import TAG_KEYS

FOCUS_VERSION = "1.3"
# 2: x_CostInUsd, x_ExchangeRatePricingToBilling, compartments, project labels; 3: tags;
# 4: x_GpuCount; 5: FOCUS 1.3 (Allocated*, ContractApplied, the Contract Commitment table)
FOCUS_TABLE_VERSION = "5"

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
    # FOCUS 1.3 split-cost allocation: null on every row no allocation rule split (costlake's
    # ingest splits none; the method columns are where 1.3 defines them).
    ("AllocatedMethodDetails", STRING, True),  # JSON {"Elements": [{AllocatedRatio, ...}]}
    ("AllocatedMethodId", STRING, True),
    ("AllocatedResourceId", STRING, True),
    ("AllocatedResourceName", STRING, True),
    ("AllocatedTags", STRING, True),  # JSON object
    # FOCUS 1.3: the contract commitments applied to the row, joining focus_contract_commitments
    # (JSON {"Elements": [{ContractId, ContractCommitmentId, ContractCommitmentAppliedCost, ...}]}).
    ("ContractApplied", STRING, True),
]
# Columns FOCUS 1.3 introduced (the 1.2 validator does not know them).
FOCUS_1_3_COLUMNS = (
    "ServiceProviderName",
    "HostProviderName",
    "AllocatedMethodDetails",
    "AllocatedMethodId",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
    "ContractApplied",
)

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
# A hash of a row's values as the lake keeps them (lineage excluded): see ``ingest._row_hash``.
ROW_HASH = "x_RowHash"
# The commitment's own term where the bill states it (AWS reservation / savings plan start and
# end times): read into the Contract Commitment table, not kept on the cost rows.
COMMITMENT_START = "x_CommitmentStart"
COMMITMENT_END = "x_CommitmentEnd"
WORKING_COLUMNS = (
    REJECT_REASON,
    RAW_COST,
    RAW_CURRENCY,
    ROW_HASH,
    COMMITMENT_START,
    COMMITMENT_END,
)
# Of a source row, before normalization: why it cannot be read as a row of its dataset at all
# (more fields than the header, a currency that is not ISO 4217), or null. Every dataset's
# reject reason starts with it (``parsing.reject_reason``).
ROW_PROBLEM = "x_RowProblem"
# The source's own tags (a text, map or struct column) a source dataset turns into ``Tags`` with
# its ``tags_from_raw``: the ingest does that once per distinct value instead of once per row.
RAW_TAGS = "x_RawTags"

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


# The Contract Commitment table (FOCUS 1.3's second dataset), then costlake's extensions: which
# provider, account and period the row belongs to, and the commitment's own cost split.
CONTRACT_COMMITMENT_COLUMNS: list[tuple[str, pa.DataType, bool]] = [
    ("BillingCurrency", STRING, False),
    ("ContractCommitmentCategory", STRING, False),  # Spend | Usage
    ("ContractCommitmentCost", MONEY, False),
    ("ContractCommitmentDescription", STRING, True),
    ("ContractCommitmentId", STRING, False),
    ("ContractCommitmentPeriodEnd", TIMESTAMP, True),
    ("ContractCommitmentPeriodStart", TIMESTAMP, True),
    ("ContractCommitmentQuantity", QUANTITY, True),
    ("ContractCommitmentType", STRING, False),
    ("ContractCommitmentUnit", STRING, True),
    ("ContractId", STRING, False),
    ("ContractPeriodEnd", TIMESTAMP, True),
    ("ContractPeriodStart", TIMESTAMP, True),
    ("x_Provider", STRING, False),
    ("x_SourceDataset", STRING, False),
    ("BillingAccountId", STRING, False),
    ("SubAccountId", STRING, True),  # the account whose bill carries the fee
    ("BillingPeriodStart", TIMESTAMP, False),
    ("BillingPeriodEnd", TIMESTAMP, False),
    ("x_FeeCost", MONEY, True),  # Σ BilledCost of the commitment's fee rows in the period
    ("x_UsedCost", MONEY, True),  # Σ EffectiveCost of the usage it covered (amortized)
    ("x_UnusedCost", MONEY, True),  # Σ EffectiveCost of its unused rows
    ("x_CoveredListCost", MONEY, True),  # on-demand (list) cost of the usage it covered
    ("x_CostRows", pa.int64(), False),  # cost rows linked to it through ContractApplied
]
CONTRACT_COMMITMENT_TABLE = "focus_contract_commitments"

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


def contract_commitment_arrow_schema() -> pa.Schema:
    """The Arrow schema of the Contract Commitment table."""
    return pa.schema(
        [pa.field(n, t, nullable=nullable) for n, t, nullable in CONTRACT_COMMITMENT_COLUMNS],
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
        + [pl.col(name) for name in (*WORKING_COLUMNS, RAW_TAGS) if name in present]
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
