"""FOCUS 1.3 conformance of the lake's tables, checked against the spec's column list.

focus-validator 2.2.1 knows FOCUS 1.3 but bundles only the 1.2.0.1 rules offline (it downloads
the 1.3 model at run time, which the test machines cannot), so 1.3 is checked here from
``fixtures/focus/focus_columns.csv``: for each column of the Cost and Usage dataset, presence
by its 1.3 level (Mandatory columns must be there), its type, its nullability and its allowed
values; ``ServiceSubcategory`` under its parent ``ServiceCategory``; JSON columns hold JSON
objects, ``ContractApplied`` and ``AllocatedMethodDetails`` with their ``Elements``; every
``ContractApplied`` commitment is a row of the Contract Commitment table of the same provider
and period; every column the spec does not define carries the ``x_`` prefix. The Contract
Commitment table is checked for its columns, their types and the category's allowed values.
This is a helper module, not a test file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

COLUMNS_CSV = Path(__file__).parent / "fixtures" / "focus" / "focus_columns.csv"
UTC = pl.Datetime("us", "UTC")
TYPES = {"Decimal": (pl.Float64,), "String": (pl.String,), "JSON": (pl.String,)}
ELEMENT_KEYS = {
    "ContractApplied": ("ContractId", "ContractCommitmentId", "ContractCommitmentAppliedCost"),
    "AllocatedMethodDetails": ("AllocatedRatio",),
}


def spec_columns(dataset: str) -> list[dict[str, str]]:
    """The spec's rows for one dataset (``CostAndUsage`` or ``ContractCommitment``)."""
    with COLUMNS_CSV.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["dataset"] == dataset]


def _type_ok(dtype: pl.DataType, data_type: str) -> bool:
    if data_type == "Date/Time":
        return dtype == UTC
    return dtype in TYPES.get(data_type, (dtype,))


def _json_problems(frame: pl.DataFrame, name: str) -> list[str]:
    values = frame.get_column(name).drop_nulls().unique()
    if values.is_empty():
        return []
    parsed = values.str.json_path_match("$")
    bad = values.filter(parsed.is_null() | ~parsed.str.starts_with("{"))
    problems = (
        [f"{name}: {len(bad)} value(s) are not JSON objects, e.g. {bad[0]!r}"] if len(bad) else []
    )
    for key in ELEMENT_KEYS.get(name, ()):
        first = values.str.json_path_match(f"$.Elements[0].{key}")
        if first.null_count():
            problems.append(f"{name}: {first.null_count()} value(s) lack Elements[0].{key}")
    return problems


def cost_and_usage_problems(focus: pl.DataFrame) -> list[str]:
    """What in a frame of the ``focus`` table breaks FOCUS 1.3 by the column list."""
    problems = []
    specs = spec_columns("CostAndUsage")
    names = {spec["column_id"] for spec in specs}
    for spec in specs:
        name, level = spec["column_id"], spec["level_1_3"]
        if name not in focus.columns:
            if level == "Mandatory":
                problems.append(f"{name}: Mandatory in FOCUS 1.3 but missing")
            continue
        column = focus.get_column(name)
        if not _type_ok(column.dtype, spec["data_type"]):
            problems.append(f"{name}: type {column.dtype}, FOCUS wants {spec['data_type']}")
            continue
        if spec["allows_nulls"] == "False" and column.null_count():
            problems.append(f"{name}: {column.null_count()} null(s) in a column that allows none")
        allowed = [v for v in spec["allowed_values"].split("|") if v]
        if allowed and name != "ServiceSubcategory":
            outside = sorted(set(column.drop_nulls().unique().to_list()) - set(allowed))
            if outside:
                problems.append(f"{name}: values outside {allowed}: {outside}")
        if spec["data_type"] == "JSON":
            problems += _json_problems(focus, name)
    if {"ServiceSubcategory", "ServiceCategory"} <= set(focus.columns):
        allowed_pairs = {
            value
            for spec in specs
            if spec["column_id"] == "ServiceSubcategory"
            for value in spec["allowed_values"].split("|")
        }
        pairs = focus.select(
            pl.format("{} [{}]", "ServiceSubcategory", "ServiceCategory").alias("pair")
        ).unique()
        outside = sorted(set(pairs["pair"].drop_nulls().to_list()) - allowed_pairs)
        if outside:
            problems.append(f"ServiceSubcategory: not under its ServiceCategory: {outside}")
    if "AllocatedResourceId" in focus.columns:
        unmethod = focus.filter(
            pl.col("AllocatedResourceId").is_not_null() & pl.col("AllocatedMethodId").is_null()
        )
        if unmethod.height:
            problems.append(f"AllocatedMethodId: null on {unmethod.height} allocated row(s)")
    unknown = [c for c in focus.columns if c not in names and not c.startswith("x_")]
    unknown = [c for c in unknown if c not in ("provider", "billing_period")]
    problems += [f"{c}: not a FOCUS column and not prefixed x_" for c in unknown]
    return problems


def contract_commitment_problems(commitments: pl.DataFrame) -> list[str]:
    """What in a frame of the Contract Commitment table breaks FOCUS 1.3's column list."""
    problems = []
    specs = spec_columns("ContractCommitment")
    names = {spec["column_id"] for spec in specs}
    for spec in specs:
        name = spec["column_id"]
        if name not in commitments.columns:
            problems.append(f"{name}: a Contract Commitment column, missing")
            continue
        column = commitments.get_column(name)
        if not _type_ok(column.dtype, spec["data_type"]):
            problems.append(f"{name}: type {column.dtype}, FOCUS wants {spec['data_type']}")
        allowed = [v for v in spec["allowed_values"].split("|") if v]
        outside = sorted(set(column.drop_nulls().unique().to_list()) - set(allowed))
        if allowed and outside:
            problems.append(f"{name}: values outside {allowed}: {outside}")
    for name in ("ContractCommitmentId", "ContractId", "ContractCommitmentCost", "BillingCurrency"):
        if name in commitments.columns and commitments[name].null_count():
            problems.append(f"{name}: {commitments[name].null_count()} null(s)")
    unknown = [c for c in commitments.columns if c not in names and not c.startswith("x_")]
    allowed_extra = {"provider", "billing_period", "BillingAccountId", "SubAccountId"}
    allowed_extra |= {"BillingPeriodStart", "BillingPeriodEnd"}  # FOCUS Cost and Usage names
    problems += [
        f"{c}: not a FOCUS column and not prefixed x_" for c in unknown if c not in allowed_extra
    ]
    return problems


def link_problems(focus: pl.DataFrame, commitments: pl.DataFrame) -> list[str]:
    """``ContractApplied`` commitments that the Contract Commitment table lacks (same provider,
    billing account and period)."""
    keys = ["x_Provider", "BillingAccountId", "BillingPeriodStart"]
    applied = (
        focus.filter(pl.col("ContractApplied").is_not_null())
        .select(
            *keys,
            pl.col("ContractApplied")
            .str.json_path_match("$.Elements[0].ContractCommitmentId")
            .alias("ContractCommitmentId"),
        )
        .unique()
    )
    missing = applied.join(
        commitments.select(*keys, "ContractCommitmentId").unique(),
        on=[*keys, "ContractCommitmentId"],
        how="anti",
    )
    return [
        f"ContractApplied names {row['ContractCommitmentId']} ({row['x_Provider']}), which is "
        "not in focus_contract_commitments"
        for row in missing.iter_rows(named=True)
    ]


def lake_conformance_problems(lake) -> list[str]:
    """Every FOCUS 1.3 problem of a lake's focus and Contract Commitment tables."""
    focus = lake.scan("focus").collect()
    commitments = lake.scan("focus_contract_commitments").collect()
    return (
        cost_and_usage_problems(focus)
        + contract_commitment_problems(commitments)
        + link_problems(focus, commitments)
    )
