"""One way to write a billing period: ``2025-5`` and ``2025-05`` are the same month, and
anything that is not a year and a month is refused, wherever a period comes in."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from costlake.focus.deliveries import Delivery
from costlake.focus.periods import billing_period


def said(result) -> str:
    """The CLI's output as one line of words (rich draws usage errors in a wrapped box)."""
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2025-05", "2025-05"),
        ("2025-5", "2025-05"),
        (" 2025-12 ", "2025-12"),
        ("2026-1", "2026-01"),
    ],
)
def test_a_period_is_normalized(text, period):
    assert billing_period(text) == period


@pytest.mark.parametrize(
    "text", ["2025-13", "2025-0", "2025/05", "25-05", "May 2025", "2025-05-01", ""]
)
def test_anything_else_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=f"billing period '{text}': expected a year and month"):
        billing_period(text)


def test_a_delivery_and_a_partition_key_hold_the_normalized_period():
    from assets.partitions import partition_key

    delivery = Delivery("aws", "aws_cur2", "2025-5", "exec-1", "m.json", ())
    assert delivery.billing_period == "2025-05"
    assert partition_key("2025-5", "aws").keys_by_dimension == {
        "billing_period": "2025-05",
        "provider": "aws",
    }
    with pytest.raises(ValueError, match="billing period '2025-13'"):
        Delivery("aws", "aws_cur2", "2025-13", "exec-1", "m.json", ())


def test_the_cli_refuses_a_bad_period_in_one_line():
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["run", "--period", "2025-13", "--provider", "aws"])
    assert result.exit_code == 2
    assert "billing period '2025-13': expected a year and month as YYYY-MM" in said(result)
    assert "Traceback" not in result.output


def test_the_cli_normalizes_a_period_before_running(monkeypatch):
    from pipelines import cli

    seen = []
    monkeypatch.setattr(cli, "run_nightly", lambda periods, providers: seen.append(periods) or True)
    result = CliRunner().invoke(
        cli.app, ["run", "--period", "2025-5", "--period", "2025-06", "--provider", "aws"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [["2025-05", "2025-06"]]


def test_normalize_refuses_a_bad_period_before_writing(tmp_path):
    from conftest import HAND_CUR2

    from pipelines.cli import app

    out = tmp_path / "lake"
    args = ["normalize", str(HAND_CUR2), str(out), "--dataset", "aws_cur2", "--period", "2026-13"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "billing period '2026-13'" in said(result)
    assert not out.exists()
