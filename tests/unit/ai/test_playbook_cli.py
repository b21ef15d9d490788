"""``costlake arbitrage`` and ``costlake maturity`` print the period's marts from the lake, and
say how to build them when the lake has none."""

from __future__ import annotations

from datetime import date

import polars as pl
from typer.testing import CliRunner

from costlake.ai.arbitrage import ARBITRAGE_SCHEMA
from costlake.maturity.scorecard import SCORECARD_SCHEMA
from pipelines import cli


def _write(root, table: str, period: str, frame: pl.DataFrame) -> None:
    folder = root / table / f"billing_period={period}"
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "part-00000.parquet")


def test_arbitrage_prints_the_newest_period_largest_saving_first(tmp_path) -> None:
    row = {c: None for c in ARBITRAGE_SCHEMA}
    rows = [
        row
        | {
            "kind": "model",
            "item": "claude-sonnet-4-5",
            "provider": "aws",
            "currency": "USD",
            "cost": 110.0,
            "alternative_provider": "anthropic",
            "alternative_region": "global",
            "alternative_basis": "list",
            "catalog_date": date(2026, 11, 27),
            "saving": 10.0,
        },
        row
        | {
            "kind": "gpu",
            "item": "H100 80GB",
            "provider": "oci",
            "region": "uk-london-1",
            "currency": "GBP",
            "cost": 50.0,
            "reason": "the bill is in GBP, the GPU catalog in USD",
        },
    ]
    _write(tmp_path, "marts/arbitrage", "2026-09", pl.DataFrame(rows[:1], schema=ARBITRAGE_SCHEMA))
    _write(tmp_path, "marts/arbitrage", "2026-10", pl.DataFrame(rows, schema=ARBITRAGE_SCHEMA))
    result = CliRunner().invoke(
        cli.app, ["arbitrage", "--root", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "2026-10" in result.output
    assert "anthropic global" in result.output and "list, 2026-11-27" in result.output
    assert "the bill is in GBP" in result.output
    assert result.output.index("claude-sonnet-4-5") < result.output.index("H100 80GB")


def test_arbitrage_without_the_mart_says_how_to_build_it(tmp_path) -> None:
    result = CliRunner().invoke(cli.app, ["arbitrage", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "no marts/arbitrage yet" in result.output


def test_maturity_names_a_period_that_is_not_built(tmp_path) -> None:
    card = pl.DataFrame(
        [("atlas", "overall", None, "crawl", "weakest", "walk", 0.8, "tag it")],
        schema=SCORECARD_SCHEMA,
        orient="row",
    )
    _write(tmp_path, "marts/maturity_scorecard", "2026-10", card)
    result = CliRunner().invoke(
        cli.app, ["maturity", "--root", str(tmp_path), "--period", "2026-11"]
    )
    assert result.exit_code == 1
    assert "built periods: 2026-10" in result.output
    shown = CliRunner().invoke(cli.app, ["maturity", "--root", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "atlas: crawl (2026-10)" in shown.output and "next step: tag it" in shown.output
