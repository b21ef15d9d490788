"""`costlake run` as a user runs it: every partition of the night, one line per run, a summary of
what failed and why, the period marts only after focus passed, and nothing written into the
working folder it is started from."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, HAND_CUR2, gzip_file, write_cur2_delivery
from typer.testing import CliRunner
from webhook_receiver import receiving

from pipelines.cli import app

NOVEMBER = "2026-11"


@pytest.fixture
def night(tmp_path, monkeypatch):
    """A configuration of AWS (hand_cur2.csv) and GCP (hand_billing_export.jsonl) for November
    in ``tmp_path``; ``run(folder, *args)`` runs ``costlake run`` with ``folder`` as the working
    folder and the user's home, state and cache folders inside ``tmp_path``."""
    bucket = tmp_path / "aws"
    write_cur2_delivery(
        bucket, {"part-1.csv.gz": gzip_file(HAND_CUR2, tmp_path / "p.csv.gz")}, NOVEMBER, "e1"
    )
    gcp = tmp_path / "gcp/gcp_billing_export_resource_v1_01A2B3/invoice_month=202611"
    gcp.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "gcp" / "hand_billing_export.jsonl", gcp / "export-000.jsonl")
    config = tmp_path / "costlake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "lake_root": str(tmp_path / "lake"),
                "aws": [{"root": str(bucket)}],
                "gcp": [{"root": str(tmp_path / "gcp")}],
            }
        )
    )
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "COSTLAKE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", "set so that monkeypatch restores it")
    monkeypatch.delenv("DAGSTER_HOME")

    def run(folder: Path, *args: str):
        folder.mkdir(exist_ok=True)
        monkeypatch.chdir(folder)
        return CliRunner().invoke(app, ["run", *args])

    return run


def sent_alert_ids(hook) -> list[str]:
    """The alert ids (Slack section block ids) of every message the webhook accepted."""
    return [
        block["block_id"]
        for body in hook.delivered
        for block in json.loads(body)["blocks"]
        if block["type"] == "section"
    ]


def test_a_night_from_two_working_folders_writes_nothing_into_either(night, tmp_path, monkeypatch):
    # A one-dollar budget on AWS, whose November bill is far above it: its thresholds are
    # crossed on the first night, and alerted to the webhook.
    config = tmp_path / "costlake.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["budgets"] = [
        {"name": "tiny", "amount": 1, "currency": "USD", "scope": {"provider": "aws"}}
    ]
    settings["anomalies"] = {"webhook_url_env": "COSTLAKE_TEST_WEBHOOK"}
    config.write_text(yaml.safe_dump(settings))
    with receiving() as hook:
        monkeypatch.setenv("COSTLAKE_TEST_WEBHOOK", hook.url)
        first = night(tmp_path / "one", "--period", NOVEMBER)
        assert first.exit_code == 0, first.output
        lines = first.output.splitlines()
        for label in ("aws 2026-11", "gcp 2026-11", "marts 2026-11"):
            assert any(
                line.strip().startswith(f"{label} run ") and ": ok" in line for line in lines
            )
        after_first = sent_alert_ids(hook)

        second = night(tmp_path / "two", "--period", NOVEMBER)
        assert second.exit_code == 0, second.output
        # Focus was rebuilt, so Dagster's automation condition asks for the marts again, and
        # the budget is crossed again: its alerts are in the lake's outbox already.
        assert "marts 2026-11 run " in second.output
        sent = sent_alert_ids(hook)
    assert {"budget:tiny:2026-11:actual-80", "budget:tiny:2026-11:actual-100"} <= set(sent)
    assert sorted(sent) == sorted(set(sent)) == sorted(after_first)  # none twice, none later
    # Without DAGSTER_HOME the run history is kept in the costlake home, the user's data folder.
    assert (tmp_path / "home/.local/share/costlake/dagster/dagster.yaml").exists()
    assert list((tmp_path / "one").iterdir()) == []
    assert list((tmp_path / "two").iterdir()) == []


def _with_a_nan_cost(source: Path, target: Path) -> Path:
    """hand_cur2.csv with the first row's line_item_unblended_cost set to NaN, gzipped."""
    rows = list(csv.DictReader(source.open(newline="")))
    rows[0]["line_item_unblended_cost"] = "NaN"
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    target.write_bytes(gzip.compress(text.getvalue().encode()))
    return target


def test_a_failed_partition_is_reported_and_the_others_and_good_marts_survive(night, tmp_path):
    assert night(tmp_path / "work", "--period", NOVEMBER).exit_code == 0
    marts = tmp_path / "lake/marts/ai_unit_costs/billing_period=2026-11"
    good_marts = {p.name: p.read_bytes() for p in marts.iterdir()}

    # AWS re-delivers November with a NaN cost; October has no delivery from either cloud.
    broken = _with_a_nan_cost(HAND_CUR2, tmp_path / "broken.csv.gz")
    write_cur2_delivery(tmp_path / "aws", {"part-1.csv.gz": broken}, NOVEMBER, "e2")
    result = night(tmp_path / "work", "--period", "2026-10", "--period", NOVEMBER)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line.strip() for line in result.output.splitlines()]
    run_lines = {line.split(" run ")[0]: line for line in lines if " run " in line}
    # Every provider and period ran, each said in one line.
    assert {"aws 2026-10", "gcp 2026-10", "aws 2026-11", "gcp 2026-11"} <= set(run_lines)
    assert "FAILED" in run_lines["aws 2026-11"]
    assert "no aws delivery for billing period 2026-10" in run_lines["aws 2026-10"]
    assert ": ok" in run_lines["gcp 2026-11"]
    # The marts of November are not rebuilt from the failed period, and say so.
    assert "marts 2026-11" not in run_lines
    kept = next(line for line in lines if line.startswith("marts 2026-11:"))
    assert "keep their last good version" in kept and "aws 2026-11" in kept
    assert {p.name: p.read_bytes() for p in marts.iterdir()} == good_marts
    # The summary names each failed run and why.
    summary = lines[next(i for i, line in enumerate(lines) if "run(s) failed" in line) :]
    assert any(line.startswith("aws 2026-11:") for line in summary)
    assert any(line.startswith("aws 2026-10:") and "no aws delivery" in line for line in summary)


def test_a_step_that_raises_is_reported_with_its_own_error(night, tmp_path):
    """An error the step's code raised (not a Failure it made) is told by its own message, not
    by Dagster's "Error occurred while executing op" around it."""
    config = tmp_path / "costlake.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["ai"] = {"request_logs": [str(tmp_path / "no-logs")]}
    config.write_text(yaml.safe_dump(settings))
    result = night(tmp_path / "work", "--period", NOVEMBER)
    assert result.exit_code == 1
    marts = next(line.strip() for line in result.output.splitlines() if "marts 2026-11 run" in line)
    assert f"request log location {tmp_path / 'no-logs'} does not exist" in marts
    assert "Error occurred while executing" not in result.output
