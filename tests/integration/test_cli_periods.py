"""The CLI takes billing periods through the one normalizer: ``--period 2025-5`` runs 2025-05,
and a period that is not one is a one-line usage error, before anything runs or is written."""

from __future__ import annotations

from typer.testing import CliRunner


def said(result) -> str:
    """The CLI's output as one line of words (rich draws usage errors in a wrapped box)."""
    return " ".join(result.output.replace("│", " ").split())


def test_the_cli_refuses_a_bad_period_in_one_line():
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["run", "--period", "2025-13", "--provider", "aws"])
    assert result.exit_code == 2
    assert "billing period '2025-13': expected a year and month as YYYY-MM" in said(result)
    assert "Traceback" not in result.output


def test_the_cli_normalizes_a_period_before_running(monkeypatch):
    from pipelines import cli
    from pipelines.cli import night

    seen = []
    monkeypatch.setattr(night, "run_nightly", lambda periods, *_: seen.append(periods) or True)
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
