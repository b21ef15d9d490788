"""Which commitment does a cost row belong to, and what did each commitment cost this period?

FOCUS 1.3 links cost rows to its second dataset, Contract Commitment, through the cost row's
``ContractApplied`` JSON. The plan: every normalized row gets four working link columns from
one rule table (``link_columns``), so the same rules serve the ingest (which writes
``ContractApplied`` and streams the linked rows aside) and the marts (which re-derive the links
from the published rows). At the end of a period's ingest the linked rows of all its files are
grouped into one Contract Commitment row per commitment (``contract_commitments``), written in
the same staging as ``focus`` so both publish together.

The rules (a row matches the first):

1. The row names its commitment (``CommitmentDiscountId``: AWS reservations and savings plans,
   Azure reservations and savings plans, a provider's own FOCUS export; for Azure its order,
   which both the purchase and the usage name): its role is ``fee``
   on a Purchase (or other non-usage) row, ``unused`` when ``CommitmentDiscountStatus`` is
   Unused, ``used`` otherwise.
2. GCP committed use discounts: the export names neither the commitment on the credit nor the
   credit on the commitment. Google pools resource-based CUDs per billing account, region and
   resource (vCPU, RAM, GPU, local SSD) and spend-based ones per billing account, so that pool
   is the commitment here: ``gcp-cud/<billing account>/<region>/<resource>``. Fee rows
   (SKU "Commitment …") are its ``fee``; ``COMMITTED_USAGE_DISCOUNT*`` credits its ``used``
   (their negated amount is the on-demand value covered). The commitments' own resource names
   are in the pool's description.
3. Generative-AI capacity billed by time (PTU, model units, dedicated AI clusters: the lines
   ``costlake.ai.token_lines`` reads as provisioned) with no commitment id: a ``fee`` of a
   "Provisioned Throughput" commitment named by its resource (or account and meter).
"""

from __future__ import annotations

import polars as pl

from costlake.ai.token_lines import is_provisioned_capacity
from costlake.focus.schema import (
    COMMITMENT_END,
    COMMITMENT_START,
    contract_commitment_arrow_schema,
)

COMMITMENT_ID = "x_CommitmentLinkId"
COMMITMENT_TYPE = "x_CommitmentLinkType"
COMMITMENT_CATEGORY = "x_CommitmentLinkCategory"
COMMITMENT_ROLE = "x_CommitmentLinkRole"  # fee | used | unused
COVERED_LIST_COST = "x_CommitmentCoveredListCost"
LINK_COLUMNS = (
    COMMITMENT_ID,
    COMMITMENT_TYPE,
    COMMITMENT_CATEGORY,
    COMMITMENT_ROLE,
    COVERED_LIST_COST,
)
ROLES = ("fee", "used", "unused")

AZURE_ORDER = (
    r"(?i)^(/providers/microsoft\.(?:capacity/reservationorders|billingbenefits/savingsplanorders)"
    r"/[^/]+)"
)
GCP_CUD_CREDIT = "COMMITTED_USAGE_DISCOUNT"  # prefix: …_DOLLAR_BASE is spend-based
GCP_CUD_TYPE = "Committed Use Discount"
PROVISIONED_TYPE = "Provisioned Throughput"

# Columns of the linked rows streamed aside by the ingest and grouped per commitment.
LINE_COLUMNS = (
    "x_Provider",
    "x_SourceDataset",
    "BillingAccountId",
    "SubAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeDescription",
    "CommitmentDiscountName",
    "ResourceId",
    "BilledCost",
    "EffectiveCost",
    "PricingQuantity",
    "PricingUnit",
    COMMITMENT_START,
    COMMITMENT_END,
    *LINK_COLUMNS,
)


def _gcp_pool_resource(text: pl.Expr, dollar_based: pl.Expr) -> pl.Expr:
    """The resource a GCP CUD pool commits: "cpu", "ram", "gpu", "local-ssd" or "spend"."""
    kind = text.str.to_lowercase().str.extract(r"\b(cpu|ram|memory|gpu|local ssd)\b")
    kind = kind.replace({"memory": "ram", "local ssd": "local-ssd"})
    return pl.when(dollar_based).then(pl.lit("spend")).otherwise(pl.coalesce(kind, pl.lit("other")))


def _gcp_pool(dollar_based: pl.Expr) -> pl.Expr:
    """The id of the GCP CUD pool a fee or credit row belongs to."""
    return pl.concat_str(
        [
            pl.lit("gcp-cud/"),
            pl.col("BillingAccountId"),
            pl.lit("/"),
            pl.when(dollar_based)
            .then(pl.lit("all"))
            .otherwise(pl.coalesce(pl.col("RegionId"), pl.lit("global"))),
            pl.lit("/"),
            _gcp_pool_resource(pl.col("ChargeDescription"), dollar_based),
        ]
    )


def _of(provider: str, only: str | None) -> pl.Expr | None:
    """Whether a row is ``provider``'s: the ``x_Provider`` test, or None when every row is
    ``only``'s and that is another provider (its rules then cost nothing per row)."""
    if only is None:
        return pl.col("x_Provider") == provider
    return pl.lit(True) if only == provider else None


def link_columns(frame: pl.LazyFrame, provider: str | None = None) -> pl.LazyFrame:
    """FOCUS rows with the working link columns (``LINK_COLUMNS``) of the module's rules:
    null on a row no commitment applies to. ``provider``: every row is that provider's (one
    file of the ingest), so the other providers' text rules are left out of the plan."""
    has_id = pl.col("CommitmentDiscountId").is_not_null()
    usage = pl.col("ChargeCategory") == "Usage"
    sku_text = pl.coalesce(pl.col("SkuMeter"), pl.col("ChargeDescription"))
    line_type = pl.col("x_LineItemType").fill_null("")
    gcp = _of("gcp", provider)
    if gcp is None:
        gcp_fee = gcp_credit = dollar_based = pl.lit(False)
    else:
        gcp_fee = gcp & usage & sku_text.str.starts_with("Commitment").fill_null(False)
        gcp_credit = gcp & line_type.str.starts_with(GCP_CUD_CREDIT)
        dollar_based = line_type.str.contains("DOLLAR") | sku_text.str.contains(
            r"(?i)dollar|spend"
        ).fill_null(False)
    # Each rule is computed once, as a working column the later ones read: an expression
    # used in several outputs would be evaluated for each (the AI capacity test is a regex).
    flags = {
        "__link_gcp_fee": gcp_fee,
        "__link_gcp_credit": gcp_credit,
        "__link_dollar": dollar_based,
        "__link_provisioned": ~has_id & ~gcp_fee & ~gcp_credit & is_provisioned_capacity(),
    }
    frame = frame.with_columns(flag.alias(name) for name, flag in flags.items())
    gcp_fee, gcp_credit, dollar_based, provisioned = (pl.col(name) for name in flags)
    capacity_id = pl.coalesce(
        pl.col("ResourceId"),
        pl.concat_str(
            [
                pl.col("SubAccountId").fill_null(pl.col("BillingAccountId")),
                pl.coalesce(pl.col("x_UsageType"), pl.col("SkuMeter"), pl.col("SkuId")),
            ],
            separator="/",
        ),
    )
    # Azure bills a purchase against its order (".../reservationOrders/<order>") and the usage
    # against a benefit inside it (".../reservations/<id>"): the order is the commitment.
    azure = _of("azure", provider)
    azure_order = (
        pl.lit(None, dtype=pl.String)
        if azure is None
        else pl.when(azure).then(pl.col("CommitmentDiscountId").str.extract(AZURE_ORDER, 1))
    )
    commitment_id = pl.when(has_id).then(pl.coalesce(azure_order, pl.col("CommitmentDiscountId")))
    if gcp is not None:
        commitment_id = commitment_id.when(gcp_fee | gcp_credit).then(_gcp_pool(dollar_based))
    commitment_id = commitment_id.when(provisioned).then(capacity_id)
    commitment_type = (
        pl.when(has_id)
        .then(pl.coalesce(pl.col("CommitmentDiscountType"), pl.lit("Commitment")))
        .when(gcp_fee | gcp_credit)
        .then(pl.lit(GCP_CUD_TYPE))
        .when(provisioned)
        .then(pl.lit(PROVISIONED_TYPE))
    )
    category = (
        pl.when(has_id)
        .then(pl.coalesce(pl.col("CommitmentDiscountCategory"), pl.lit("Usage")))
        .when((gcp_fee | gcp_credit) & dollar_based)
        .then(pl.lit("Spend"))
        .when(gcp_fee | gcp_credit | provisioned)
        .then(pl.lit("Usage"))
    )
    role = (
        pl.when(pl.col(COMMITMENT_ID).is_null())
        .then(None)
        .when(gcp_credit)
        .then(pl.lit("used"))
        .when(gcp_fee | provisioned | ~usage)
        .then(pl.lit("fee"))
        .when(pl.col("CommitmentDiscountStatus") == "Unused")
        .then(pl.lit("unused"))
        .otherwise(pl.lit("used"))
    )
    # The on-demand value of the usage a commitment covered: its list cost, or for a GCP CUD
    # credit (which cancels the covered usage at its on-demand price) the credit negated.
    covered = (
        pl.when(pl.col(COMMITMENT_ROLE).is_null() | (pl.col(COMMITMENT_ROLE) != "used"))
        .then(None)
        .when(gcp_credit)
        .then(-pl.col("EffectiveCost"))
        .otherwise(pl.col("ListCost"))
    )
    return (
        frame.with_columns(
            commitment_id.alias(COMMITMENT_ID),
            commitment_type.alias(COMMITMENT_TYPE),
            category.alias(COMMITMENT_CATEGORY),
        )
        .with_columns(role.alias(COMMITMENT_ROLE))
        .with_columns(covered.alias(COVERED_LIST_COST))
        .drop(*flags)
    )


def contract_applied() -> pl.Expr:
    """FOCUS 1.3 ``ContractApplied`` from the link columns: ``{"Elements": [{ContractId,
    ContractCommitmentId, ContractCommitmentAppliedCost, …Quantity, …Unit}]}``; a provider's
    own value (a FOCUS 1.3 export) wins. The applied cost is the fee on a fee row and the
    row's EffectiveCost on usage it covered or left unused."""
    role = pl.col(COMMITMENT_ROLE)
    fee = role == "fee"
    element = pl.struct(
        pl.col(COMMITMENT_ID).alias("ContractId"),
        pl.col(COMMITMENT_ID).alias("ContractCommitmentId"),
        pl.when(fee)
        .then(pl.col("BilledCost"))
        .otherwise(pl.col("EffectiveCost"))
        .alias("ContractCommitmentAppliedCost"),
        pl.coalesce(
            pl.when(role == "used").then(pl.col("ConsumedQuantity")), pl.col("PricingQuantity")
        ).alias("ContractCommitmentAppliedQuantity"),
        pl.coalesce(
            pl.when(role == "used").then(pl.col("ConsumedUnit")), pl.col("PricingUnit")
        ).alias("ContractCommitmentAppliedUnit"),
    )
    built = pl.concat_str([pl.lit('{"Elements":['), element.struct.json_encode(), pl.lit("]}")])
    return pl.coalesce(pl.col("ContractApplied"), pl.when(role.is_not_null()).then(built))


def with_contract_applied(frame: pl.LazyFrame, provider: str | None = None) -> pl.LazyFrame:
    """Normalized FOCUS rows (of ``provider`` alone, if given) with the link columns and
    ``ContractApplied`` filled in."""
    linked = link_columns(frame, provider)
    return linked.with_columns(contract_applied().alias("ContractApplied"))


def commitment_lines(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The linked rows of ``with_contract_applied`` output, narrowed to ``LINE_COLUMNS``."""
    present = set(frame.collect_schema().names())
    absent = [
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias(c)
        for c in (COMMITMENT_START, COMMITMENT_END)
        if c not in present
    ]
    return (
        frame.filter(pl.col(COMMITMENT_ID).is_not_null()).with_columns(absent).select(LINE_COLUMNS)
    )


def _first(column: str, where: pl.Expr | None = None) -> pl.Expr:
    values = pl.col(column) if where is None else pl.col(column).filter(where)
    return values.drop_nulls().sort().first()


def contract_commitments(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One Contract Commitment row per commitment and billing period of the linked rows.

    ``ContractCommitmentCost`` is the period's fee (Σ BilledCost of the fee rows), so Σ over
    the table is Σ of the bill's commitment fee rows; a commitment billed only amortized (Azure
    amortized exports: no purchase rows) costs its used + unused amortized cost instead. A spend
    commitment's quantity is that cost in the billing currency; a usage commitment's is the
    fee rows' pricing quantity (the used + unused quantity where there is no fee row).
    """
    role = pl.col(COMMITMENT_ROLE)
    fee, used, unused = role == "fee", role == "used", role == "unused"
    keys = [
        "x_Provider",
        "x_SourceDataset",
        "BillingAccountId",
        "BillingCurrency",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        COMMITMENT_ID,
    ]
    grouped = lines.group_by(keys).agg(
        _first(COMMITMENT_TYPE).alias("ContractCommitmentType"),
        _first(COMMITMENT_CATEGORY).alias("ContractCommitmentCategory"),
        fee.any().alias("__has_fee"),
        pl.col("BilledCost").filter(fee).sum().alias("x_FeeCost"),
        pl.col("EffectiveCost").filter(used).sum().alias("x_UsedCost"),
        pl.col("EffectiveCost").filter(unused).sum().alias("x_UnusedCost"),
        pl.col(COVERED_LIST_COST).filter(used).sum().alias("x_CoveredListCost"),
        pl.col("PricingQuantity").filter(fee).sum().alias("__fee_quantity"),
        pl.col("PricingQuantity").filter(~fee).sum().alias("__usage_quantity"),
        pl.coalesce(_first("PricingUnit", fee), _first("PricingUnit")).alias("__unit"),
        pl.coalesce(_first("SubAccountId", fee), _first("SubAccountId")).alias("SubAccountId"),
        pl.coalesce(
            _first("CommitmentDiscountName"),
            pl.col("ResourceId").filter(fee).drop_nulls().unique().sort().str.join(", "),
            _first("ChargeDescription", fee),
        ).alias("__description"),
        pl.col(COMMITMENT_START).min().alias("__start"),
        pl.col(COMMITMENT_END).max().alias("__end"),
        pl.len().cast(pl.Int64).alias("x_CostRows"),
    )
    cost = (
        pl.when(pl.col("__has_fee"))
        .then(pl.col("x_FeeCost"))
        .otherwise(pl.col("x_UsedCost") + pl.col("x_UnusedCost"))
    )
    spend = pl.col("ContractCommitmentCategory") == "Spend"
    description = pl.col("__description")
    table = grouped.with_columns(
        ContractCommitmentId=pl.col(COMMITMENT_ID),
        ContractId=pl.col(COMMITMENT_ID),
        ContractCommitmentCost=cost,
        ContractCommitmentQuantity=pl.when(spend)
        .then(cost)
        .when(pl.col("__has_fee"))
        .then(pl.col("__fee_quantity"))
        .otherwise(pl.col("__usage_quantity")),
        ContractCommitmentUnit=pl.when(spend)
        .then(pl.col("BillingCurrency"))
        .otherwise(pl.col("__unit")),
        ContractCommitmentDescription=pl.when(description != "").then(description),
        ContractCommitmentPeriodStart=pl.col("__start"),
        ContractCommitmentPeriodEnd=pl.col("__end"),
        ContractPeriodStart=pl.col("__start"),
        ContractPeriodEnd=pl.col("__end"),
    )
    schema = pl.Schema(pl.from_arrow(contract_commitment_arrow_schema().empty_table()).schema)
    return table.select([pl.col(name).cast(dtype) for name, dtype in schema.items()]).sort(
        "x_Provider", "BillingAccountId", "ContractCommitmentId", "x_SourceDataset"
    )
