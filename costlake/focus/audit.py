"""Is this staged period fit to publish? The blocking checks a new version passes first.

The lake writes a period's new version aside and runs these on the staged files; only when no
blocking outcome failed does it publish. Each check is a pure function of the staged rows (or
their file schemas) returning an ``AuditOutcome`` named like the Dagster asset check that shows
it, so the UI and the lake give the same verdict from the same computation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from costlake.focus.reconcile import reconcile, totals_by_currency
from costlake.focus.schema import focus_arrow_schema, schema_problems

RECONCILES = "reconciles_to_bill"
SCHEMA = "schema_is_focus"
FINITE = "amounts_are_finite"
# Every money and quantity column of the contract is float64 (docs/lake.md): all are checked.
AMOUNT_COLUMNS = tuple(f.name for f in focus_arrow_schema() if pa.types.is_floating(f.type))
LISTED_ROWS = 5  # offending rows named in a finite-amounts outcome


@dataclass(frozen=True)
class AuditOutcome:
    """One check's verdict on a staged version; ``lines`` say why, one fact each."""

    check: str
    passed: bool
    blocking: bool
    lines: tuple[str, ...]


def reconciliation(
    focus: pl.LazyFrame, bill_totals: Mapping[str, float], rejected_cost_rows: int
) -> AuditOutcome:
    """Σ BilledCost per currency of the staged rows against the bill's own cost column."""
    lake_totals = totals_by_currency(focus, "BilledCost", "BillingCurrency")
    result = reconcile(dict(bill_totals), lake_totals, rejected_cost_rows)
    return AuditOutcome(RECONCILES, result.ok, True, result.lines)


def focus_schema(schemas: Mapping[str, pa.Schema]) -> AuditOutcome:
    """Every staged file (by name) has the FOCUS table's columns and types."""
    problems = tuple(
        f"{name}: {problem}"
        for name, schema in schemas.items()
        for problem in schema_problems(schema)
    )
    return AuditOutcome(SCHEMA, not problems, True, problems or (f"{len(schemas)} file(s) ok",))


def finite_amounts(focus: pl.LazyFrame) -> AuditOutcome:
    """No NaN or ±infinity in any money or quantity column: such a value is not an amount, and
    one of them turns every total it meets into NaN."""
    schema = focus.collect_schema()
    present = [c for c in AMOUNT_COLUMNS if c in schema and schema[c].is_float()]
    bad = {c: ~pl.col(c).is_finite() for c in present}  # null stays null: a missing value
    counts = focus.select(bad[c].sum().alias(c) for c in present).collect().row(0, named=True)
    lines = [f"{c}: {n} NaN or infinite value(s)" for c, n in counts.items() if n]
    if lines:
        any_bad = pl.any_horizontal(bad[c] for c in present if counts[c]).fill_null(False)
        rows = focus.filter(any_bad).select("x_SourceFile", "x_SourceRow").head(LISTED_ROWS)
        lines += [f"at {file} row {row}" for file, row in rows.collect().iter_rows()]
    return AuditOutcome(FINITE, not lines, True, tuple(lines) or ("all amounts finite",))


def period_audit(
    focus: pl.LazyFrame,
    schemas: Mapping[str, pa.Schema],
    bill_totals: Mapping[str, float],
    rejected_cost_rows: int,
) -> tuple[AuditOutcome, ...]:
    """The blocking checks of a staged FOCUS period, in the order the UI lists them."""
    return (
        reconciliation(focus, bill_totals, rejected_cost_rows),
        focus_schema(schemas),
        finite_amounts(focus),
    )


def blocking_failures(outcomes: Iterable[AuditOutcome]) -> tuple[AuditOutcome, ...]:
    """The outcomes that forbid publishing."""
    return tuple(o for o in outcomes if o.blocking and not o.passed)


def failure_reason(outcomes: Iterable[AuditOutcome]) -> str:
    """One line naming each failed blocking check and its first reasons (its lines that are
    not a currency found to agree)."""
    reasons = []
    for outcome in blocking_failures(outcomes):
        lines = [line for line in outcome.lines if not line.endswith(": ok")]
        reasons.append(f"{outcome.check} failed ({'; '.join(lines[:3])})")
    return ", ".join(reasons)
