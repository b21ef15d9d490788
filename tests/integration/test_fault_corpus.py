"""The fault corpus: bad inputs of every dataset, made in the test from the small fixtures.

Each case either is refused (a ``DeliveryError`` naming the file and the line or column, nothing
written to the lake) or becomes counted rejects with their reasons. Either way the money is
exact: the lake's Σ BilledCost per currency is the Σ of the good rows' own cost column, and the
bill's totals are the Σ of every cost that is a finite number, both worked out here with Decimal
from the bad file's text, never from the pipeline's output; the reconciliation passes exactly
when no rejected row carries cost. What is refused and what is rejected: docs/lake.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import AWS_SAMPLE, FIXTURES, HAND_CUR2, write_azure_run, write_legacy_delivery

from connectors.exports.aws import find_aws_deliveries
from connectors.exports.azure import find_azure_deliveries
from connectors.exports.landing import land_delivery
from connectors.stores.files import LocalFileStore
from costlake.focus.currency import iso_4217_codes
from costlake.focus.deliveries import Delivery, DeliveryError, DeliveryFile
from costlake.focus.ingest import IngestReport, ingest_delivery
from costlake.focus.lake import AuditFailed, Lake
from costlake.focus.reconcile import reconcile, totals_by_currency
from costlake.focus.schema import focus_polars_schema
from costlake.providers.gcp import GCP_EXPORT_SCHEMA

Rows = list[list[str]]


# --- what a case expects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """The delivery fails with an error naming the file and matching each pattern."""

    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Read:
    """The file is read: ``rejects`` maps data rows to a pattern their reason starts with;
    ``left_out`` rows belong to another period (datasets whose files span periods)."""

    rejects: dict[int, str] = field(default_factory=dict)
    left_out: frozenset[int] = frozenset()


def refused(*patterns: str) -> Refused:
    return Refused(patterns)


# --- CSV datasets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvSource:
    """A fixture of one CSV dataset and the names a case needs, as the file spells them."""

    dataset: str
    fixture: Path
    period: str
    rows: slice  # the fixture rows used (all good)
    cost: str  # the bill's cost column
    currency: str
    cost_name: str  # the cost column's name in reject reasons and errors
    currency_name: str
    timestamp: str  # a timestamp column and its name in reject reasons
    timestamp_name: str
    period_columns: tuple[str, ...]  # what places a row in its billing period
    other_period: tuple[str, ...]  # their values in another month
    text: str  # a free-text column
    spans_periods: bool = False

    def read(self) -> tuple[list[str], Rows]:
        with open(self.fixture, newline="", encoding="utf-8-sig") as f:
            header, *rows = csv.reader(f)
        return header, rows[self.rows]

    @property
    def provider(self) -> str:
        return self.dataset.split("_")[0]


AWS_LEGACY = CsvSource(
    "aws_cur_legacy",
    AWS_SAMPLE,
    "2023-11",
    slice(3, 15),
    "lineItem/UnblendedCost",
    "lineItem/CurrencyCode",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "lineItem/UsageStartDate",
    "line_item_usage_start_date",
    ("bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate"),
    ("2023-10-01T00:00:00Z", "2023-11-01T00:00:00Z"),
    "lineItem/LineItemDescription",
)
AWS_CUR2 = CsvSource(
    "aws_cur2",
    HAND_CUR2,
    "2026-11",
    slice(0, None),
    "line_item_unblended_cost",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "line_item_usage_start_date",
    "line_item_usage_start_date",
    ("bill_billing_period_start_date", "bill_billing_period_end_date"),
    ("2026-10-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z"),
    "line_item_line_item_description",
)
AWS_FOCUS = CsvSource(
    "aws_focus",
    FIXTURES / "aws" / "hand_focus_export.csv",
    "2026-11",
    slice(0, 2),  # rows 3 and 4 of the fixture are deliberately bad
    "BilledCost",
    "BillingCurrency",
    "BilledCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodStart",
    ("BillingPeriodStart", "BillingPeriodEnd"),
    ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    "ServiceName",
)
AZURE_ACTUAL = CsvSource(
    "azure_actual",
    FIXTURES / "azure" / "EA_ActualCost_Small.csv",
    "2023-09",
    slice(0, None),
    "Cost",
    "BillingCurrency",
    "CostInBillingCurrency",
    "BillingCurrency",
    "Date",
    "Date",
    ("BillingPeriodStartDate", "BillingPeriodEndDate"),
    ("08/01/2023", "08/31/2023"),
    "MeterName",
)
AZURE_AMORTIZED = CsvSource(
    "azure_amortized",
    FIXTURES / "azure" / "EA_AmortizedCost_Small.csv",
    "2023-09",
    slice(0, None),
    "Cost",
    "BillingCurrency",
    "CostInBillingCurrency",
    "BillingCurrency",
    "Date",
    "Date",
    ("BillingPeriodStartDate", "BillingPeriodEndDate"),
    ("08/01/2023", "08/31/2023"),
    "MeterName",
)
AZURE_FOCUS = CsvSource(
    "azure_focus",
    FIXTURES / "azure" / "focus_sample_1.0_microsoft.csv",
    "2024-09",
    slice(0, 10),
    "BilledCost",
    "BillingCurrency",
    "BilledCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodStart",
    ("BillingPeriodStart", "BillingPeriodEnd"),
    ("2024-08-01 00:00:00", "2024-09-01 00:00:00"),
    "ChargeDescription",
)
OCI_COST = CsvSource(
    "oci_cost",
    FIXTURES / "oci" / "reports_cost-csv_0000000030000269.csv",
    "2023-11",
    slice(0, 12),
    "cost/myCost",
    "cost/currencyCode",
    "cost/myCost",
    "cost/currencyCode",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageStart",
    ("lineItem/intervalUsageStart", "lineItem/intervalUsageEnd"),
    ("2023-10-13T10:00Z", "2023-10-13T11:00:00Z"),
    "product/Description",
    spans_periods=True,
)
OCI_FOCUS = CsvSource(
    "oci_focus",
    FIXTURES / "oci" / "focus_sample_1.0_oracle.csv",
    "2024-09",
    slice(4, 7),  # the fourth row is of 2024-10
    "BilledCost",
    "BillingCurrency",
    "BilledCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodStart",
    ("BillingPeriodStart", "BillingPeriodEnd"),
    ("2024-08-01 00:00:00", "2024-09-01 00:00:00"),
    "ChargeDescription",
    spans_periods=True,
)

BAD = 2  # the data row a value fault is put in (its cost is not zero in every fixture used)


@dataclass(frozen=True)
class CsvFault:
    """Makes a bad file from a source's header and rows: ``make`` returns the file's bytes,
    ``expect`` what the ingest must do with it."""

    name: str
    make: Callable[[CsvSource, list[str], Rows], bytes | tuple[list[str], Rows]]
    expect: Callable[[CsvSource], Refused | Read]
    gzip: bool = False


def csv_bytes(header: list[str], rows: Rows, newline: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        if row:
            writer.writerow(row)
        else:
            out.write(newline)  # a blank line
    return out.getvalue().encode()


def set_value(column: str, value: str, row: int = BAD):
    def make(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
        rows[row - 1][header.index(column)] = value
        return header, rows

    return make


def cost_value(value: str):
    return lambda s, h, r: set_value(s.cost, value)(s, h, r)


def currency_value(value: str):
    return lambda s, h, r: set_value(s.currency, value)(s, h, r)


def repeat_column(attribute: str, change: Callable[[str], str] = lambda v: v):
    """The column named by ``attribute`` once more at the end, its values changed."""

    def make(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
        column = getattr(source, attribute)
        at = header.index(column)
        return header + [column], [r + [change(r[at])] for r in rows]

    return make


def respelled_cost(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    """The cost column twice, the second spelled as the dataset reads it too (another case)."""
    at = header.index(source.cost)
    other = source.cost_name if source.cost != source.cost_name else source.cost.upper()
    if source.dataset.startswith("azure_") and source.cost != source.cost_name:
        other = source.cost.upper()  # COST: another spelling of the EA synonym Cost
    return header + [other], [r + [r[at]] for r in rows]


def drop_column(attribute: str):
    def make(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
        at = header.index(getattr(source, attribute))
        return header[:at] + header[at + 1 :], [r[:at] + r[at + 1 :] for r in rows]

    return make


def encoded(text_change: Callable[[bytes], bytes]):
    return lambda s, h, r: text_change(csv_bytes(h, r))


def non_utf8_in_row(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[BAD + 1] = lines[BAD + 1] + b"\xe9"  # Latin-1 "é" at the end of line BAD + 1
    return b"\n".join(lines)


def non_utf8_in_header(data: bytes) -> bytes:
    return data.replace(b",", b"\xff,", 1)


def extra_field(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    rows[BAD - 1] = rows[BAD - 1] + ["surplus"]
    return header, rows


def unquoted_separator(source: CsvSource, header: list[str], rows: Rows) -> bytes:
    """A text value holding the separator, written without quotes: the row's later fields
    shift one column to the right."""
    rows[BAD - 1][header.index(source.text)] = "QUOTE_ME"
    return csv_bytes(header, rows).replace(b"QUOTE_ME", b"first part,second part")


def quoted_newline(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    rows[BAD - 1][header.index(source.text)] = "first line\nsecond line, with a comma"
    return header, rows


def blank_line(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    return header, rows[:BAD] + [[]] + rows[BAD:]  # data row BAD + 1 is blank


def duplicated_rows(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    return header, rows + [rows[0], rows[BAD - 1], list(rows[BAD - 1])]


def other_period(source: CsvSource, header: list[str], rows: Rows) -> tuple[list[str], Rows]:
    for column, value in zip(source.period_columns, source.other_period, strict=True):
        rows[BAD - 1][header.index(column)] = value
    return header, rows


def wrong_period(source: CsvSource) -> Read:
    if source.spans_periods:
        return Read(left_out=frozenset({BAD}))
    return Read({BAD: "BillingPeriodStart is not the start of the delivery's period"})


def cut_mid_row(source: CsvSource, header: list[str], rows: Rows) -> bytes:
    data = csv_bytes(header, rows)
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return data.rstrip(b"\n")[: -(len(last) // 2)]  # the last line stops half way


def gzip_cut(source: CsvSource, header: list[str], rows: Rows) -> bytes:
    packed = gzip.compress(csv_bytes(header, rows))
    return packed[: len(packed) // 2]


def gzip_overwritten(source: CsvSource, header: list[str], rows: Rows) -> bytes:
    packed = bytearray(gzip.compress(csv_bytes(header, rows)))
    middle = len(packed) // 2
    packed[middle : middle + 16] = b"\xa5" * 16
    return bytes(packed)


def not_a_number(source: CsvSource) -> Read:
    return Read({BAD: f"{re.escape(source.cost_name)} is not a number"})


# Value and row faults, run on every CSV dataset.
COMMON_FAULTS = [
    CsvFault("cost NaN", cost_value("NaN"), not_a_number),
    CsvFault("cost inf", cost_value("inf"), not_a_number),
    CsvFault("cost -Infinity", cost_value("-Infinity"), not_a_number),
    CsvFault("cost 1e999 overflows", cost_value("1e999"), not_a_number),
    CsvFault("cost with a decimal comma", cost_value("12,50"), not_a_number),
    CsvFault(
        "cost empty", cost_value(""), lambda s: Read({BAD: f"{re.escape(s.cost_name)} is empty"})
    ),
    CsvFault("currency lower case", currency_value("usd"), lambda s: Read()),
    CsvFault(
        "currency not ISO 4217",
        currency_value("XYZ"),
        lambda s: Read({BAD: f"{re.escape(s.currency_name)} is not an ISO 4217 currency code"}),
    ),
    CsvFault(
        "cost column twice",
        repeat_column("cost"),
        lambda s: refused("duplicate", re.escape(s.cost), r"columns \d+, \d+"),
    ),
    CsvFault(
        "row with an extra field",
        extra_field,
        lambda s: Read({BAD: "row has more fields than the header"}),
    ),
    CsvFault("exact duplicate rows", duplicated_rows, lambda s: Read()),
]
# Header, encoding, compression and layout faults, run on one dataset of each provider.
FILE_FAULTS = [
    CsvFault(
        "currency column twice, other values",
        repeat_column("currency", lambda v: "EUR"),
        lambda s: refused("duplicate", re.escape(s.currency), r"columns \d+, \d+"),
    ),
    CsvFault(
        "cost column spelled twice",
        respelled_cost,
        lambda s: refused("duplicate", re.escape(s.cost), "both read as"),
    ),
    CsvFault(
        "cost column missing",
        drop_column("cost"),
        lambda s: refused("missing required", re.escape(s.cost_name)),
    ),
    CsvFault(
        "currency column missing",
        drop_column("currency"),
        lambda s: refused("missing required", re.escape(s.currency_name)),
    ),
    CsvFault("empty file", lambda s, h, r: b"", lambda s: refused("empty")),
    CsvFault("header only", lambda s, h, r: (h, []), lambda s: Read()),
    CsvFault(
        "not UTF-8 in a row",
        encoded(non_utf8_in_row),
        lambda s: refused(f"line {BAD + 2}", "UTF-8"),
    ),
    CsvFault(
        "not UTF-8 in the header", encoded(non_utf8_in_header), lambda s: refused("line 1", "UTF-8")
    ),
    CsvFault(
        "UTF-16 file",
        lambda s, h, r: csv_bytes(h, r).decode().encode("utf-16"),
        lambda s: refused("line 1", "UTF-8"),
    ),
    CsvFault("UTF-8 BOM", encoded(lambda d: b"\xef\xbb\xbf" + d), lambda s: Read()),
    CsvFault("CRLF line ends", lambda s, h, r: csv_bytes(h, r, "\r\n"), lambda s: Read()),
    CsvFault("file cut mid-row", cut_mid_row, lambda s: refused("cut short")),
    CsvFault("gzip cut short", gzip_cut, lambda s: refused("cannot read"), gzip=True),
    CsvFault("gzip overwritten", gzip_overwritten, lambda s: refused("cannot read"), gzip=True),
    CsvFault(
        "timestamp not a timestamp",
        lambda s, h, r: set_value(s.timestamp, "yesterday")(s, h, r),
        lambda s: Read({BAD: re.escape(s.timestamp_name)}),
    ),
    CsvFault("row of another period", other_period, wrong_period),
    CsvFault(
        "unquoted separator shifts a row",
        unquoted_separator,
        lambda s: Read({BAD: "row has more fields than the header"}),
    ),
    CsvFault("quoted newline in a value", quoted_newline, lambda s: Read()),
    # A blank line is a row of nulls: its dataset's first check on a required value rejects it.
    CsvFault("blank line", blank_line, lambda s: Read({BAD + 1: r"\S+ is (empty|not )"})),
    CsvFault("currency with spaces", currency_value(" USD "), lambda s: Read()),
]
PRIMARY = [AWS_LEGACY, AZURE_ACTUAL, OCI_COST]
SECONDARY = [AWS_CUR2, AWS_FOCUS, AZURE_AMORTIZED, AZURE_FOCUS, OCI_FOCUS]
CSV_CASES = [
    pytest.param(source, fault, id=f"{source.dataset}: {fault.name}")
    for source in PRIMARY + SECONDARY
    for fault in COMMON_FAULTS + (FILE_FAULTS if source in PRIMARY else [])
]


def decimal(text: str) -> Decimal | None:
    """A cost as the bill states it, or None when it is not a finite number (the lake's
    amounts are 64-bit floats, so 1e999 is not one)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and math.isfinite(float(value)) else None


def duplicates(rows: list) -> int:
    """Rows that repeat an earlier one value for value."""
    return sum(n - 1 for n in Counter(rows).values())


def expected_totals(
    source: CsvSource, header: list[str], rows: Rows, read: Read
) -> tuple[dict[str, Decimal], dict[str, Decimal], bool]:
    """(lake Σ BilledCost, bill totals, whether a rejected row carries cost), by currency,
    worked out from the bad file's own rows."""
    at_cost, at_currency = header.index(source.cost), header.index(source.currency)
    lake: Counter[str] = Counter()
    bill: Counter[str] = Counter()
    carries = False
    for number, row in enumerate(rows, start=1):
        if number in read.left_out:
            continue
        placed = len(row) == len(header)
        text = row[at_cost] if placed else ""
        cost = decimal(text) if placed else None
        currency = row[at_currency].strip().upper() if placed else ""
        if number in read.rejects:
            if cost is not None:
                bill[currency] += cost
            carries |= (bool(row) and not placed) or (text != "" and cost != 0)
        else:
            lake[currency] += cost
            bill[currency] += cost
    return dict(lake), dict(bill), carries


def delivery_of(dataset: str, provider: str, period: str, name: str, size: int) -> Delivery:
    return Delivery(
        provider=provider,
        source_dataset=dataset,
        billing_period=period,
        delivery_id=f"fault:{name}",
        manifest_path=f"{name}.manifest",
        files=(DeliveryFile(f"exports/{name}", size),),
    )


def ingest_judged(delivery: Delivery, folder: Path, lake: Lake) -> tuple[IngestReport, Lake]:
    """Ingest a case into a fresh lake. A case whose rejected rows carry cost fails its money
    audit and publishes nothing (the lake stays empty): its report and the failed version
    kept, read as a lake. Otherwise the report and the lake."""
    try:
        return ingest_delivery(delivery, folder, lake), lake
    except AuditFailed as failed:
        assert not lake.files("focus") and not lake.files("ingests", suffix="")
        return failed.report, lake.view(failed.kept)


def assert_exact(
    lake: Lake,
    report: IngestReport,
    read: Read,
    expected: tuple[dict[str, Decimal], dict[str, Decimal], bool],
    rows: Rows,
    width: int,
) -> None:
    """The rejects, the duplicates and the money, against the case's expectation."""
    lake_expected, bill_expected, carries = expected
    rejects = lake.scan_partition("rejects", report.provider, report.billing_period).collect()
    found = Counter(rejects["x_SourceRow"].to_list())
    assert set(found) == set(read.rejects), rejects.select("x_SourceRow", "reason").rows()
    for row, reason in rejects.select("x_SourceRow", "reason").iter_rows():
        assert re.match(read.rejects[row], reason), (row, reason)
    assert report.rows_rejected == rejects.height
    assert sum(report.reject_reasons.values()) == rejects.height
    assert report.rows_read == len(rows)
    # Rows that can be placed in the header's columns are compared, blank ones are not.
    assert report.duplicate_rows == duplicates([tuple(r) for r in rows if len(r) == width])

    focus = lake.scan_partition("focus", report.provider, report.billing_period)
    lake_totals = totals_by_currency(focus, "BilledCost", "BillingCurrency")
    assert lake_totals.keys() == lake_expected.keys()
    for currency, total in lake_expected.items():
        assert math.isclose(lake_totals[currency], float(total), rel_tol=1e-12, abs_tol=1e-12)
    assert report.bill_totals.keys() == bill_expected.keys()
    for currency, total in bill_expected.items():
        assert math.isclose(
            report.bill_totals[currency], float(total), rel_tol=1e-12, abs_tol=1e-12
        )
    verdict = reconcile(report.bill_totals, lake_totals, report.rejected_cost_rows)
    assert verdict.ok is not carries, verdict.lines

    # Never a non-finite number or a currency outside ISO 4217 in the lake.
    frame = focus.collect()
    floats = [n for n, t in focus_polars_schema().items() if t == pl.Float64]
    assert frame.select(
        pl.any_horizontal(pl.col(floats).is_nan() | pl.col(floats).is_infinite()).any()
    ).item() in (False, None)
    assert set(frame["BillingCurrency"]) <= set(iso_4217_codes())
    assert set(frame["PricingCurrency"].drop_nulls()) <= set(iso_4217_codes())


@pytest.mark.parametrize(("source", "fault"), CSV_CASES)
def test_csv_fault(tmp_path, source: CsvSource, fault: CsvFault):
    header, rows = source.read()
    made = fault.make(source, list(header), [list(r) for r in rows])
    data = csv_bytes(*made) if isinstance(made, tuple) else made
    name = "part-1.csv.gz" if fault.gzip else "part-1.csv"
    folder = tmp_path / "landed"
    folder.mkdir()
    (folder / name).write_bytes(data)
    delivery = delivery_of(source.dataset, source.provider, source.period, name, len(data))
    lake = Lake(tmp_path / "lake")
    expect = fault.expect(source)
    if isinstance(expect, Refused):
        pattern = re.escape(f"exports/{name}") + "".join(f".*{p}" for p in expect.patterns)
        with pytest.raises(DeliveryError, match=pattern):
            ingest_delivery(delivery, folder, lake)
        assert not lake.files("focus") and not lake.files("_staging", suffix="")
        return
    report, version = ingest_judged(delivery, folder, lake)
    # The expectation comes from the bad file's own text, as Python's csv module reads it.
    with io.StringIO(data.decode("utf-8-sig"), newline="") as text:
        header, *rows = csv.reader(text)
    totals = expected_totals(source, header, rows, expect)
    assert (version is not lake) == totals[2]  # published unless a rejected row carries cost
    assert_exact(version, report, expect, totals, rows, len(header))


def test_the_fixtures_used_are_costed_where_the_faults_go():
    """The corpus's premise: the row a value fault is put in has a cost that is not zero (so
    losing it must fail the money). ("currency lower case" reads each source with no reject.)"""
    for source in PRIMARY + SECONDARY:
        header, rows = source.read()
        assert decimal(rows[BAD - 1][header.index(source.cost)]) not in (None, 0), source.dataset


def test_rows_equal_in_all_the_lake_keeps_are_duplicates(tmp_path):
    """Duplicates are judged on what the lake keeps: a copy of a row with another
    identity/LineItemId (a column the mapping never reads) counts, a copy with another
    lineItem/UsageAmount (ConsumedQuantity in the lake) does not."""
    header, rows = AWS_LEGACY.read()
    rows = [list(r) for r in rows]
    line_id, usage = header.index("identity/LineItemId"), header.index("lineItem/UsageAmount")
    other_id = list(rows[0])
    other_id[line_id] = "another-line-item-id"
    kind = header.index("lineItem/LineItemType")
    other_usage = list(next(r for r in rows if r[kind] == "Usage" and r[usage]))
    other_usage[usage] = str(float(other_usage[usage] or 0) + 1)
    folder = tmp_path / "landed"
    folder.mkdir()
    data = csv_bytes(header, [*rows, other_id, other_usage])
    (folder / "part-1.csv").write_bytes(data)
    delivery = delivery_of("aws_cur_legacy", "aws", "2023-11", "part-1.csv", len(data))
    report = ingest_delivery(delivery, folder, Lake(tmp_path / "lake"))
    assert report.duplicate_rows == 1
    assert report.rows_read == len(rows) + 2


def test_duplicated_rows_are_counted_not_removed(tmp_path):
    """Three rows repeated (one of them twice) on top of the sample's own: the report counts
    them and the lake keeps every row, so the money still matches the bill."""
    header, rows = AWS_LEGACY.read()
    assert duplicates([tuple(r) for r in rows]) == 0
    folder = tmp_path / "landed"
    folder.mkdir()
    _, bad = duplicated_rows(AWS_LEGACY, header, [list(r) for r in rows])
    data = csv_bytes(header, bad)
    (folder / "part-1.csv").write_bytes(data)
    lake = Lake(tmp_path / "lake")
    delivery = delivery_of("aws_cur_legacy", "aws", "2023-11", "part-1.csv", len(data))
    report = ingest_delivery(delivery, folder, lake)
    assert report.duplicate_rows == 3
    assert report.rows_rejected == 0
    focus = lake.scan_partition("focus", "aws", "2023-11").collect()
    assert focus["x_SourceRow"].n_unique() == len(rows) + 3


# --- delivery layouts: a manifest naming a part that is not there -------------------------------


def test_aws_manifest_naming_a_missing_part_fails_naming_it(bucket, tmp_path):
    write_legacy_delivery(bucket, AWS_SAMPLE, "asm-gone")
    key = "cur/report/20231101-20231201/asm-gone/report-1.csv.gz"
    (bucket / key).unlink()
    store = LocalFileStore(bucket)
    with pytest.raises(DeliveryError, match=re.escape(key)):  # found, or else landed
        delivery = find_aws_deliveries(store)["2023-11"]
        land_delivery(store, delivery, tmp_path / "landed")


def test_azure_manifest_naming_a_missing_part_fails_naming_it(tmp_path):
    source = AZURE_ACTUAL.fixture
    manifest = write_azure_run(
        tmp_path / "c",
        {"part_0_0001.csv": source, "part_0_0002.csv": source},
        "2023-09",
        "run-1",
        "2023-09-20T06:00:00Z",
    )
    (manifest.parent / "part_0_0002.csv").unlink()
    store = LocalFileStore(tmp_path / "c")
    with pytest.raises(DeliveryError, match=r"run-1/part_0_0002\.csv"):
        delivery = find_azure_deliveries(store)["2023-09"]
        land_delivery(store, delivery, tmp_path / "landed")


# --- GCP: JSON lines, Parquet, BigQuery rows (landed as Parquet) --------------------------------

GCP_FIXTURE = FIXTURES / "gcp" / "hand_billing_export.jsonl"
GCP_PERIOD = "2026-11"
GCP_BAD = 1  # the first row: cost 88.0 with one credit of -30.0


def gcp_rows() -> list[dict]:
    return [json.loads(line) for line in GCP_FIXTURE.read_text().splitlines() if line.strip()]


def gcp_table(rows: list[dict]) -> pa.Table:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    return pl.read_ndjson(io.StringIO(text), schema=GCP_EXPORT_SCHEMA).to_arrow()


def with_column(table: pa.Table, name: str, values: list) -> pa.Table:
    at = table.schema.get_field_index(name)
    return table.set_column(
        at, table.schema.field(name), pa.array(values, table.schema.field(name).type)
    )


@dataclass(frozen=True)
class GcpFault:
    name: str
    form: str  # jsonl | jsonl.gz | parquet
    make: Callable[[list[dict]], list[dict] | bytes | pa.Table]
    expect: Refused | Read
    # Which parts of a rejected row are rejects (0: the row, i: its i-th credit); None: all.
    parts: tuple[int, ...] | None = None


def gcp_set(field_path: str, value, row: int = GCP_BAD):
    def make(rows: list[dict]) -> list[dict]:
        target = rows[row - 1]
        *parents, last = field_path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
        return rows

    return make


def parquet_cost(value: float, row: int = GCP_BAD):
    def make(rows: list[dict]) -> pa.Table:
        table = gcp_table(rows)
        costs = table.column("cost").to_pylist()
        costs[row - 1] = value
        return with_column(table, "cost", costs)

    return make


def parquet_credit_amount(value: float):
    def make(rows: list[dict]) -> pa.Table:
        rows[GCP_BAD - 1]["credits"][0]["amount"] = 0.0
        table = gcp_table(rows)
        credits = table.column("credits").to_pylist()
        credits[GCP_BAD - 1][0]["amount"] = value
        return with_column(table, "credits", credits)

    return make


def parquet_usage_amount(value: float):
    def make(rows: list[dict]) -> pa.Table:
        table = gcp_table(rows)
        usage = table.column("usage").to_pylist()
        usage[GCP_BAD - 1]["amount"] = value
        return with_column(table, "usage", usage)

    return make


def parquet_duplicate_cost(rows: list[dict]) -> pa.Table:
    table = gcp_table(rows)
    return table.append_column(pa.field("cost", pa.float64()), table.column("cost"))


def parquet_without(name: str):
    return lambda rows: gcp_table(rows).drop_columns([name])


def jsonl_text(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def jsonl_line(number: int, change: Callable[[bytes], bytes]):
    def make(rows: list[dict]) -> bytes:
        lines = jsonl_text(rows).split(b"\n")
        lines[number - 1] = change(lines[number - 1])
        return b"\n".join(lines)

    return make


def unknown_currency_reason() -> str:
    return "currency is not an ISO 4217 currency code"


GCP_FAULTS = [
    # Refused: the file cannot be read, or lacks what the money needs.
    GcpFault(
        "invalid JSON line", "jsonl", jsonl_line(3, lambda b: b[:-5]), refused("line 3", "JSON")
    ),
    GcpFault(
        "cost of the wrong JSON type",
        "jsonl",
        gcp_set("cost", "88 USD", 3),
        refused("line 3", "cost"),
    ),
    GcpFault(
        "not UTF-8",
        "jsonl",
        jsonl_line(
            2, lambda b: b.replace(b'"billing_account_id": "', b'"billing_account_id": "\xff')
        ),
        refused("cannot read"),
    ),
    GcpFault(
        "gzip cut short",
        "jsonl.gz",
        lambda rows: gzip.compress(jsonl_text(rows))[:300],
        refused("cannot read"),
    ),
    GcpFault(
        "Parquet cut short", "parquet", lambda rows: b"PAR1" + b"\x00" * 64, refused("cannot read")
    ),
    GcpFault("cost column twice", "parquet", parquet_duplicate_cost, refused("duplicate", "cost")),
    GcpFault(
        "credits column missing",
        "parquet",
        parquet_without("credits"),
        refused("missing", "credits"),
    ),
    GcpFault(
        "currency column missing",
        "parquet",
        parquet_without("currency"),
        refused("missing", "currency"),
    ),
    # Rejected rows, with their reasons.
    GcpFault(
        "cost NaN (BigQuery FLOAT64)",
        "parquet",
        parquet_cost(math.nan),
        Read({GCP_BAD: "cost is not a number"}),
    ),
    GcpFault(
        "cost +inf", "parquet", parquet_cost(math.inf), Read({GCP_BAD: "cost is not a number"})
    ),
    GcpFault(
        "cost -inf", "parquet", parquet_cost(-math.inf), Read({GCP_BAD: "cost is not a number"})
    ),
    GcpFault(
        "credit amount NaN",
        "parquet",
        parquet_credit_amount(math.nan),
        Read({GCP_BAD: "BilledCost is not a finite number"}),
        parts=(1,),
    ),
    GcpFault(
        "usage amount inf",
        "parquet",
        parquet_usage_amount(math.inf),
        Read({GCP_BAD: r"\w+Quantity is not a finite number"}),
        parts=(0,),
    ),
    GcpFault("cost null", "jsonl", gcp_set("cost", None), Read({GCP_BAD: "cost is empty"})),
    GcpFault("currency lower case", "jsonl", gcp_set("currency", "usd"), Read()),
    GcpFault("currency lower case", "parquet", gcp_set("currency", "usd"), Read()),
    GcpFault(
        "currency not ISO 4217",
        "jsonl",
        gcp_set("currency", "ABC"),
        Read({GCP_BAD: unknown_currency_reason()}),
    ),
    GcpFault(
        "currency not ISO 4217",
        "parquet",
        gcp_set("currency", "US$"),
        Read({GCP_BAD: unknown_currency_reason()}),
    ),
    GcpFault(
        "invoice of another month",
        "jsonl",
        gcp_set("invoice.month", "202610"),
        Read({GCP_BAD: "BillingPeriodStart is not the start"}),
    ),
    GcpFault(
        "invoice month malformed",
        "parquet",
        gcp_set("invoice.month", "2026-11"),
        Read({GCP_BAD: "invoice.month is not a YYYYMM month"}),
    ),
    GcpFault(
        "usage start not a timestamp",
        "jsonl",
        gcp_set("usage_start_time", "soon"),
        Read({GCP_BAD: "usage_start_time is not a timestamp"}),
    ),
    GcpFault("exact duplicate rows", "jsonl", lambda rows: rows + [rows[0], rows[1]], Read()),
    GcpFault("exact duplicate rows", "parquet", lambda rows: rows + [rows[2]], Read()),
    GcpFault(
        "blank lines", "jsonl", lambda rows: jsonl_text(rows).replace(b"}\n", b"}\n\n", 2), Read()
    ),
]


def gcp_expected(rows: list[dict], read: Read, parts: tuple[int, ...] | None):
    """(lake Σ, bill totals, carries) from the rows: a row's BilledCost is its cost, and each
    credit is a row of its own with BilledCost = its amount (docs/gcp.md)."""
    lake: Counter[str] = Counter()
    bill: Counter[str] = Counter()
    carries = False
    for number, row in enumerate(rows, start=1):
        currency = str(row["currency"]).strip().upper()
        amounts = [row["cost"]] + [c["amount"] for c in row["credits"] or []]
        for index, amount in enumerate(amounts):
            value = decimal(repr(float(amount))) if amount is not None else None
            rejected = number in read.rejects and (parts is None or index in parts)
            if rejected:
                if value is not None:
                    bill[currency] += value
                carries |= amount is not None and (value is None or value != 0)
            else:
                lake[currency] += value
                bill[currency] += value
    return dict(lake), dict(bill), carries


def gcp_parts_rejected(rows: list[dict], read: Read, parts: tuple[int, ...] | None) -> dict:
    """Reject rows per source row: each part of the row the fault rejects."""
    return {
        n: len(parts) if parts is not None else 1 + len(rows[n - 1]["credits"] or [])
        for n in read.rejects
    }


@pytest.mark.parametrize("fault", GCP_FAULTS, ids=lambda f: f"{f.form}: {f.name}")
def test_gcp_fault(tmp_path, fault: GcpFault):
    made = fault.make(gcp_rows())
    name = f"export.{fault.form}"
    path = tmp_path / "landed" / name
    path.parent.mkdir()
    rows: list[dict] | None = None
    if isinstance(made, list):
        rows = made
        if fault.form == "parquet":
            pq.write_table(gcp_table(rows), path)
        else:
            data = jsonl_text(rows)
            path.write_bytes(gzip.compress(data) if fault.form.endswith(".gz") else data)
    elif isinstance(made, pa.Table):
        pq.write_table(made, path)
    else:
        path.write_bytes(made)
    delivery = delivery_of(
        "gcp_billing_export_detailed", "gcp", GCP_PERIOD, name, path.stat().st_size
    )
    lake = Lake(tmp_path / "lake")
    if isinstance(fault.expect, Refused):
        pattern = re.escape(f"exports/{name}") + "".join(f".*{p}" for p in fault.expect.patterns)
        with pytest.raises(DeliveryError, match=pattern):
            ingest_delivery(delivery, path.parent, lake)
        assert not lake.files("focus") and not lake.files("_staging", suffix="")
        return
    report, lake = ingest_judged(delivery, path.parent, lake)
    if rows is None:  # the expectation comes from the values as the bad file holds them
        if fault.form == "parquet":
            rows = pl.read_parquet(path).to_dicts()
        else:
            rows = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    read = fault.expect
    rejects = lake.scan_partition("rejects", "gcp", GCP_PERIOD).collect()
    assert Counter(rejects["x_SourceRow"].to_list()) == gcp_parts_rejected(rows, read, fault.parts)
    for row, reason in rejects.select("x_SourceRow", "reason").iter_rows():
        assert re.match(read.rejects[row], reason), (row, reason)
    assert report.rows_read == len(rows)
    assert report.duplicate_rows == duplicates([json.dumps(r, sort_keys=True) for r in rows])
    lake_expected, bill_expected, carries = gcp_expected(rows, read, fault.parts)
    focus = lake.scan_partition("focus", "gcp", GCP_PERIOD)
    lake_totals = totals_by_currency(focus, "BilledCost", "BillingCurrency")
    assert lake_totals.keys() == lake_expected.keys()
    for currency, total in lake_expected.items():
        assert math.isclose(lake_totals[currency], float(total), rel_tol=1e-12, abs_tol=1e-12)
    assert report.bill_totals.keys() == bill_expected.keys()
    for currency, total in bill_expected.items():
        assert math.isclose(
            report.bill_totals[currency], float(total), rel_tol=1e-12, abs_tol=1e-12
        )
    verdict = reconcile(report.bill_totals, lake_totals, report.rejected_cost_rows)
    assert verdict.ok is not carries, verdict.lines
    frame = focus.collect()
    floats = [n for n, t in focus_polars_schema().items() if t == pl.Float64]
    assert not frame.select(
        pl.any_horizontal(pl.col(floats).is_nan() | pl.col(floats).is_infinite()).any()
    ).item()
    assert set(frame["BillingCurrency"]) <= set(iso_4217_codes())
