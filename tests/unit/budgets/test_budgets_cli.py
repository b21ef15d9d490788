"""costlake budgets: reads the budgets mart of a period and draws spend and forecast bars."""

from __future__ import annotations

from datetime import date

import polars as pl
from typer.testing import CliRunner

from costlake.budgets.marts import BUDGETS_SCHEMA
from pipelines.cli import app
from pipelines.cli.budgets import bar


def test_bar_marks_spend_forecast_and_the_amount():
    # 12 cells for the amount 120: 60 spent = 6 █, forecast 90 = 3 more ░, 3 · to the amount.
    assert bar(60, 90, 120, width=12).plain == "██████░░░···|"
    # Forecast 150 past the amount 100: the 12 cells stand for 150, the amount at cell 8.
    assert bar(50, 150, 100, width=12).plain == "████░░░░|████"


def test_budgets_command_shows_the_period_asked(tmp_path):
    row = {
        "budget": "team_platform",
        "billing_period": "2026-11",
        "period": "2026-11",
        "period_start": date(2026, 11, 1),
        "period_end": date(2026, 11, 30),
        "as_of": date(2026, 11, 20),
        "measure": "EffectiveCost",
        "currency": "USD",
        "amount": 1000.0,
        "actual": 850.0,
        "forecast": 1200.0,
        "forecast_lower": 1100.0,
        "forecast_upper": 1300.0,
        "pct_used": 85.0,
        "pct_forecast": 120.0,
        "status": "at_risk",
        "crossed": "actual-80,forecast-100",
        "method": "seasonal_naive",
    }
    folder = tmp_path / "marts" / "budgets" / "billing_period=2026-11"
    folder.mkdir(parents=True)
    pl.DataFrame([row], schema=BUDGETS_SCHEMA).write_parquet(folder / "part-00000.parquet")
    runner = CliRunner()
    shown = runner.invoke(app, ["budgets", "--root", str(tmp_path)], env={"COLUMNS": "120"})
    assert shown.exit_code == 0, shown.output
    assert "team_platform" in shown.output and "850 of 1,000 USD" in shown.output
    assert "forecast-100" in shown.output
    missing = runner.invoke(app, ["budgets", "--root", str(tmp_path), "--period", "2026-10"])
    assert missing.exit_code == 1 and "no budgets mart for 2026-10" in missing.output
