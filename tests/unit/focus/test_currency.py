"""Currencies stay apart; conversion only by an explicit dated rate table, worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT
from typer.testing import CliRunner

from costlake.focus.currency import (
    ADDED_COLUMNS,
    cost_by_currency,
    load_rates,
    missing_rates,
    with_converted_cost,
)
from costlake.focus.schema import FOCUS_FILE_METADATA, WORKING_COLUMNS, conform_to_focus

EXAMPLE_RATES = REPO_ROOT / "docs" / "examples" / "exchange_rates.csv"

# EUR->USD 1.05 from 2026-10-01, then 1.10 from 2026-10-20; GBP->USD 1.25 from 2026-10-01.
# EUR->GBP is there to show that only rates *to the target* are used.
RATES_CSV = """date,from_currency,to_currency,rate,source
2026-10-01,EUR,USD,1.05,hand-made test rate
2026-10-20,EUR,USD,1.10,hand-made test rate
2026-10-01,GBP,USD,1.25,hand-made test rate
2026-10-01,EUR,GBP,0.5,hand-made test rate
"""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def focus_rows(rows: list[dict]) -> pl.LazyFrame:
    """A small FOCUS-shaped frame: the key columns and the four costs (float64, as the lake)."""
    return pl.LazyFrame(
        rows,
        schema={
            "x_SourceRow": pl.Int64,
            "BillingCurrency": pl.String,
            "ChargePeriodStart": pl.Datetime("us", "UTC"),
            "BilledCost": pl.Float64,
            "EffectiveCost": pl.Float64,
            "ListCost": pl.Float64,
            "ContractedCost": pl.Float64,
        },
    )


def row(n: int, currency: str, start: datetime, billed: float) -> dict:
    """One row whose other costs are fixed fractions of BilledCost, to tell columns apart."""
    return {
        "x_SourceRow": n,
        "BillingCurrency": currency,
        "ChargePeriodStart": start,
        "BilledCost": billed,
        "EffectiveCost": billed * 0.8,
        "ListCost": billed * 2,
        "ContractedCost": billed * 1.5,
    }


@pytest.fixture
def rates_file(tmp_path: Path) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text(RATES_CSV)
    return path


@pytest.fixture
def rates(rates_file: Path) -> pl.DataFrame:
    return load_rates(rates_file)


# --- load_rates ------------------------------------------------------------------------------


def test_load_rates_parses_types_and_sorts(rates: pl.DataFrame) -> None:
    assert rates.schema == pl.Schema(
        {
            "date": pl.Date,
            "from_currency": pl.String,
            "to_currency": pl.String,
            "rate": pl.Float64,
            "source": pl.String,
        }
    )
    assert rates.rows() == [
        (date(2026, 10, 1), "EUR", "GBP", 0.5, "hand-made test rate"),
        (date(2026, 10, 1), "EUR", "USD", 1.05, "hand-made test rate"),
        (date(2026, 10, 20), "EUR", "USD", 1.10, "hand-made test rate"),
        (date(2026, 10, 1), "GBP", "USD", 1.25, "hand-made test rate"),
    ]


def test_source_column_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("date,from_currency,to_currency,rate\n2026-10-01,EUR,USD,1.05\n")
    assert load_rates(path).rows() == [(date(2026, 10, 1), "EUR", "USD", 1.05, None)]


def test_example_rate_table_loads_and_covers_its_months() -> None:
    example = load_rates(EXAMPLE_RATES)
    for currency in ("EUR", "GBP", "JPY"):
        pair = example.filter(pl.col("from_currency") == currency, pl.col("to_currency") == "USD")
        assert pair["date"].min() == date(2026, 9, 1)
        assert pair["date"].max() >= date(2026, 11, 23)  # the last weekly rate reaches 11-30
    assert example["source"].str.contains("not an official rate").all()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2026-13-01,EUR,USD,1.05", "data row 2 (line 3), column date: '2026-13-01'"),
        ("01/10/2026,EUR,USD,1.05", "data row 2 (line 3), column date: '01/10/2026'"),
        ("2026-10-02,eur,USD,1.05", "data row 2 (line 3), column from_currency: 'eur'"),
        ("2026-10-02,EUR,US,1.05", "data row 2 (line 3), column to_currency: 'US'"),
        ("2026-10-02,EUR,USD,0", "data row 2 (line 3), column rate: '0' is not a positive"),
        ("2026-10-02,EUR,USD,-1.2", "data row 2 (line 3), column rate: '-1.2'"),
        ("2026-10-02,EUR,USD,abc", "data row 2 (line 3), column rate: 'abc'"),
        ("2026-10-02,EUR,USD,", "data row 2 (line 3), column rate: None"),
        ("2026-10-02,EUR,EUR,1", "data row 2 (line 3), column to_currency: same currency"),
    ],
)
def test_bad_rate_rows_are_named(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "my-rates.csv"
    path.write_text(f"date,from_currency,to_currency,rate\n2026-10-01,EUR,USD,1.05\n{line}\n")
    with pytest.raises(ValueError) as error:
        load_rates(path)
    message = str(error.value)
    assert str(path) in message
    assert expected in message


def test_duplicate_rate_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "date,from_currency,to_currency,rate\n"
        "2026-10-01,EUR,USD,1.05\n"
        "2026-10-01,GBP,USD,1.25\n"
        "2026-10-01,EUR,USD,1.06\n"
    )
    with pytest.raises(ValueError) as error:
        load_rates(path)
    message = str(error.value)
    assert str(path) in message
    # Both copies of the (2026-10-01, EUR, USD) rate are named: data rows 1 and 3.
    assert "data row 1 (line 2): duplicate rate for EUR->USD on 2026-10-01" in message
    assert "data row 3 (line 4): duplicate rate for EUR->USD on 2026-10-01" in message
    assert "data row 2" not in message


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("date,from,to_currency,rate\n2026-10-01,EUR,USD,1.05\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) from_currency"):
        load_rates(path)


def test_unreadable_rate_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(ValueError, match="absent.csv: cannot read the rate table"):
        load_rates(path)


# --- with_converted_cost ---------------------------------------------------------------------


def test_each_row_takes_the_newest_rate_dated_on_or_before_its_day(rates: pl.DataFrame) -> None:
    focus = focus_rows(
        [
            row(1, "EUR", utc(2026, 10, 15, 12), 100.0),  # 1.05 (from 10-01) -> 105.00
            row(2, "EUR", utc(2026, 10, 20), 100.0),  # rate dated that day: 1.10 -> 110.00
            row(3, "EUR", utc(2026, 10, 19, 23, 30), 200.0),  # still 10-19 in UTC: 1.05 -> 210
            row(4, "USD", utc(2026, 10, 5), 50.0),  # already USD: rate 1, no rate date
            row(5, "GBP", utc(2026, 10, 16), 10.0),  # 1.25 -> 12.50 (EUR->GBP not used)
        ]
    )
    out = with_converted_cost(focus, rates, "USD").collect()

    assert out["x_SourceRow"].to_list() == [1, 2, 3, 4, 5]  # same rows, same order
    assert out["BillingCurrency"].to_list() == ["EUR", "EUR", "EUR", "USD", "GBP"]
    assert out["BilledCost"].to_list() == [100.0, 100.0, 200.0, 50.0, 10.0]  # untouched
    assert out["x_ConvertedCurrency"].to_list() == ["USD"] * 5
    assert out["x_ExchangeRate"].to_list() == [1.05, 1.10, 1.05, 1.0, 1.25]
    assert out["x_ExchangeRateDate"].to_list() == [
        date(2026, 10, 1),
        date(2026, 10, 20),
        date(2026, 10, 1),
        None,
        date(2026, 10, 1),
    ]
    assert out["x_ConvertedBilledCost"].to_list() == pytest.approx([105, 110, 210, 50, 12.5])
    # EffectiveCost is 0.8 x billed: 80*1.05, 80*1.10, 160*1.05, 40*1, 8*1.25.
    assert out["x_ConvertedEffectiveCost"].to_list() == pytest.approx([84, 88, 168, 40, 10])
    # ListCost is 2 x billed: 200*1.05, 200*1.10, 400*1.05, 100*1, 20*1.25.
    assert out["x_ConvertedListCost"].to_list() == pytest.approx([210, 220, 420, 100, 25])
    # ContractedCost is 1.5 x billed: 150*1.05, 150*1.10, 300*1.05, 75*1, 15*1.25.
    assert out["x_ConvertedContractedCost"].to_list() == pytest.approx([157.5, 165, 315, 75, 18.75])
    assert out.columns[-len(ADDED_COLUMNS) :] == ADDED_COLUMNS
    assert out.schema["x_ConvertedBilledCost"] == pl.Float64


def test_conversion_keeps_every_row_once(rates: pl.DataFrame) -> None:
    # 600 rows over 30 days of October in three currencies; many rows share a (currency, day).
    currencies = ["EUR", "USD", "GBP"]
    rows = [
        row(n, currencies[n % 3], utc(2026, 10, 1 + n % 30, n % 24), float(n)) for n in range(600)
    ]
    out = with_converted_cost(focus_rows(rows), rates, "USD").collect(engine="streaming")
    assert out.height == 600
    assert sorted(out["x_SourceRow"].to_list()) == list(range(600))
    assert out["x_ExchangeRate"].null_count() == 0


def test_converting_twice_replaces_the_first_conversion(rates: pl.DataFrame) -> None:
    focus = focus_rows([row(1, "EUR", utc(2026, 10, 15), 100.0)])
    twice = with_converted_cost(with_converted_cost(focus, rates, "USD"), rates, "GBP").collect()
    assert twice.height == 1
    assert twice["x_ConvertedCurrency"].to_list() == ["GBP"]
    assert twice["x_ConvertedBilledCost"].to_list() == pytest.approx([50.0])  # 100 * 0.5


def test_decimal_costs_stay_decimal(rates: pl.DataFrame) -> None:
    money = pl.Decimal(18, 2)
    focus = focus_rows([row(1, "EUR", utc(2026, 10, 15), 100.0)]).with_columns(
        pl.col("BilledCost", "EffectiveCost", "ListCost", "ContractedCost").cast(money)
    )
    out = with_converted_cost(focus, rates, "USD").collect()
    assert isinstance(out.schema["x_ConvertedBilledCost"], pl.Decimal)
    assert out["x_ConvertedBilledCost"][0] == Decimal("105.00")  # 100.00 * 1.05
    assert out["x_ConvertedEffectiveCost"][0] == Decimal("84.00")  # 80.00 * 1.05


def test_missing_rate_names_currency_and_date(rates: pl.DataFrame) -> None:
    focus = focus_rows(
        [
            row(1, "EUR", utc(2026, 10, 15), 100.0),  # has a rate
            row(2, "EUR", utc(2026, 9, 30, 22), 100.0),  # before the first EUR rate (10-01)
            row(3, "EUR", utc(2026, 9, 28), 100.0),  # also before: the earliest missing day
            row(4, "CHF", utc(2026, 10, 3), 100.0),  # no CHF rate at all
            row(5, "USD", utc(2026, 9, 1), 100.0),  # target currency: never missing
        ]
    )
    missing = missing_rates(focus, rates, "USD")
    assert missing.rows() == [
        ("CHF", date(2026, 10, 3), 1),
        ("EUR", date(2026, 9, 28), 2),
    ]
    with pytest.raises(ValueError) as error:
        with_converted_cost(focus, rates, "USD")
    message = str(error.value)
    assert "no EUR->USD rate dated on or before 2026-09-28" in message
    assert "no CHF->USD rate dated on or before 2026-10-03" in message


def test_nothing_missing_gives_an_empty_table(rates: pl.DataFrame) -> None:
    focus = focus_rows([row(1, "EUR", utc(2026, 10, 15), 1.0), row(2, "USD", utc(2020, 1, 1), 1)])
    assert missing_rates(focus, rates, "USD").is_empty()


def test_target_must_be_a_currency_code(rates: pl.DataFrame) -> None:
    focus = focus_rows([row(1, "EUR", utc(2026, 10, 15), 1.0)])
    with pytest.raises(ValueError, match="'usd' is not an ISO 4217 code"):
        with_converted_cost(focus, rates, "usd")


# --- cost_by_currency ------------------------------------------------------------------------


def test_cost_by_currency_never_adds_two_currencies() -> None:
    focus = focus_rows(
        [
            row(1, "EUR", utc(2026, 10, 1), 100.0),
            row(2, "EUR", utc(2026, 10, 2), 20.0),
            row(3, "USD", utc(2026, 10, 1), 50.0),
        ]
    ).with_columns(pl.lit("aws").alias("provider"))
    totals = cost_by_currency(focus, ["provider"])
    # One provider, yet two lines: 100 + 20 EUR, and 50 USD; never 170 of anything.
    assert totals.rows() == [
        ("aws", "EUR", 2, 120.0, pytest.approx(96.0)),
        ("aws", "USD", 1, 50.0, 40.0),
    ]
    assert cost_by_currency(focus, ["BillingCurrency"]).columns == [
        "BillingCurrency",
        "rows",
        "BilledCost",
        "EffectiveCost",
    ]
    assert cost_by_currency(focus, []).height == 2


# --- the CLI ---------------------------------------------------------------------------------


def write_partition(root: Path, provider: str, period: str, rows: list[dict]) -> None:
    """One Parquet file of a lake partition, with the lake's column contract and its version."""
    folder = root / "focus" / f"provider={provider}" / f"billing_period={period}"
    folder.mkdir(parents=True)
    frame = conform_to_focus(focus_rows(rows)).drop(WORKING_COLUMNS, strict=False).collect()
    frame.write_parquet(folder / "part-00000.parquet", metadata=FOCUS_FILE_METADATA)


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    write_partition(
        root,
        "aws",
        "2026-10",
        [
            row(1, "EUR", utc(2026, 10, 15), 100.0),  # x 1.05 = 105.00, effective 84.00
            row(2, "EUR", utc(2026, 10, 20), 100.0),  # x 1.10 = 110.00, effective 88.00
            row(3, "USD", utc(2026, 10, 5), 50.0),  # x 1 = 50.00, effective 40.00
        ],
    )
    write_partition(
        root, "azure", "2026-10", [row(1, "GBP", utc(2026, 10, 2), 10.0)]
    )  # x 1.25 = 12.50, effective 8 x 1.25 = 10.00
    return root


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch):
    """Invoke ``costlake`` with a wide console, so no header or number is wrapped."""
    from pipelines import cli
    from pipelines.cli.common import console

    monkeypatch.setattr(console, "width", 200)  # the one console every command prints to
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, list(args))


def line_with(output: str, *words: str) -> str:
    """The one output line that holds all ``words``."""
    lines = [line for line in output.splitlines() if all(w in line for w in words)]
    assert len(lines) == 1, output
    return lines[0]


def test_cli_costs_per_currency(run_cli, lake_root: Path) -> None:
    result = run_cli("costs", "--root", str(lake_root))
    assert result.exit_code == 0, result.output
    # EUR: 100 + 100 billed, 80 + 80 effective; USD apart: 50 and 40.
    assert "200.00" in line_with(result.output, "aws", "EUR")
    assert "160.00" in line_with(result.output, "aws", "EUR")
    assert "50.00" in line_with(result.output, "aws", "USD")
    assert "10.00" in line_with(result.output, "azure", "GBP")
    assert "converted" not in result.output
    assert "250.00" not in result.output  # EUR and USD are never added


def test_cli_costs_converted(run_cli, lake_root: Path, rates_file: Path) -> None:
    result = run_cli(
        "costs", "--root", str(lake_root), "--currency", "USD", "--rates", str(rates_file)
    )
    assert result.exit_code == 0, result.output
    assert "billed (USD, converted)" in result.output
    assert "effective (USD, converted)" in result.output
    # EUR line: own totals 200.00 / 160.00, converted 105 + 110 = 215.00 and 84 + 88 = 172.00.
    eur = line_with(result.output, "aws", "EUR")
    for amount in ("200.00", "160.00", "215.00", "172.00"):
        assert amount in eur
    assert "12.50" in line_with(result.output, "azure", "GBP")
    # Converted amounts are all USD, so they alone are totalled: 215 + 50 + 12.50 = 277.50,
    # and effective 172 + 40 + 10 = 222.00.
    total = line_with(result.output, "total")
    assert "277.50" in total
    assert "222.00" in total


def test_cli_costs_group_by_other_columns(run_cli, lake_root: Path) -> None:
    result = run_cli("costs", "--root", str(lake_root), "--by", "provider")
    assert result.exit_code == 0, result.output
    assert "billing_period" not in result.output
    result = run_cli("costs", "--root", str(lake_root), "--by", "nope")
    assert result.exit_code == 1
    assert "--by nope: no such column" in result.output


def test_cli_missing_rate_is_an_error(run_cli, tmp_path: Path, lake_root: Path) -> None:
    rates = tmp_path / "late-rates.csv"
    rates.write_text("date,from_currency,to_currency,rate\n2026-10-18,EUR,USD,1.07\n")
    result = run_cli("costs", "--root", str(lake_root), "--currency", "USD", "--rates", str(rates))
    assert result.exit_code == 1
    assert "no EUR->USD rate dated on or before 2026-10-15" in result.output
    assert "no GBP->USD rate dated on or before 2026-10-02" in result.output


def test_cli_currency_needs_rates(run_cli, lake_root: Path) -> None:
    result = run_cli("costs", "--root", str(lake_root), "--currency", "USD")
    assert result.exit_code == 1
    assert "--currency USD needs --rates" in result.output


def test_cli_bad_rate_file_is_named(run_cli, tmp_path: Path, lake_root: Path) -> None:
    rates = tmp_path / "bad.csv"
    rates.write_text("date,from_currency,to_currency,rate\n2026-10-01,EUR,USD,-1\n")
    result = run_cli("costs", "--root", str(lake_root), "--currency", "USD", "--rates", str(rates))
    assert result.exit_code == 1
    assert "bad.csv" in result.output
    assert "column rate" in result.output
