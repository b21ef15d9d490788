"""``costlake anomalies detect SERIES.csv --out EVENTS.csv``: events of anyone's series, with
the pipeline's detector and settings, and errors that name the file, row and column."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from costlake.anomalies.detector import series_digest
from pipelines.cli import app

START = date(2024, 1, 1)


def write_series(path: Path, series: dict[str, list[float]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["series", "day", "cost"])
        for name, values in series.items():
            for t, value in enumerate(values):
                writer.writerow([name, (START + timedelta(days=t)).isoformat(), value])


def run(tmp_path: Path, *args: str, detector: dict | None = None):
    config = tmp_path / "costlake.yaml"
    config.write_text(yaml.safe_dump({"anomalies": {"detector": detector or {}}}))
    return CliRunner().invoke(
        app, ["anomalies", "detect", *args, "--config", str(config)], env={"COLUMNS": "200"}
    )


def test_one_row_per_event(tmp_path: Path) -> None:
    # "step": 1000 a day for 70 days, then 1400: one event, days 70-77 (the level shift worked
    # out in tests/unit/anomalies/test_anomalies.py): expected 7 x 1000 + 1200 = 8200, actual
    # 8 x 1400 = 11200, excess 3000, high once its excess passed 1000. "flat": 500 a day: none.
    series = tmp_path / "series.csv"
    write_series(series, {"step": [1000.0] * 70 + [1400.0] * 70, "flat": [500.0] * 140})
    out = tmp_path / "events.csv"
    result = run(tmp_path, str(series), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 series, 280 days: 1 events (0 open)" in result.output
    rows = list(csv.DictReader(out.open()))
    digest = series_digest({"series": "step", "currency": "XXX"})
    assert rows == [
        {
            "series": "step",
            "event_id": f"{digest}-20240311",
            "start": "2024-03-11",
            "end": "2024-03-18",
            "peak_day": "2024-03-11",
            "expected": "8200.0",
            "actual": "11200.0",
            "excess": "3000.0",
            "severity": "high",
        }
    ]


def test_the_configured_detector_applies(tmp_path: Path) -> None:
    # The same file with min_abs 500: a deviation of 400 a day is not material any more.
    series = tmp_path / "series.csv"
    write_series(series, {"step": [1000.0] * 70 + [1400.0] * 70})
    out = tmp_path / "events.csv"
    result = run(tmp_path, str(series), "--out", str(out), detector={"min_abs": 500})
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == [
        "series,event_id,start,end,peak_day,expected,actual,excess,severity"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("series,day\na,2024-01-01\n", "missing column(s) ['cost']"),
        ("series,day,cost\na,2024-01-01,5\na,2024-01-0x,3\n", "row 2, column day: '2024-01-0x'"),
        ("series,day,cost\na,2024-01-01,five\n", "row 1, column cost: 'five' is not a number"),
        ("series,day,cost\na,2024-01-01,5\na,2024-01-01,3\n", "rows 1 and 2: series 'a'"),
        ("series,day,cost\n,2024-01-01,5\n", "row 1, column series: empty"),
    ],
)
def test_a_bad_file_is_named_with_its_row_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    series = tmp_path / "bad.csv"
    series.write_text(text)
    result = run(tmp_path, str(series), "--out", str(tmp_path / "events.csv"))
    assert result.exit_code == 1
    assert str(series) in result.output.replace("\n", "")
    assert message in result.output.replace("\n", "")
    assert not (tmp_path / "events.csv").exists()
