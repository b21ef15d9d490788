"""``costlake commitments`` on the AWS demo lake: the summary, and AI capacity against the
demo's pay-as-you-go Bedrock tokens."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.ai.token_lines import token_lines
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from demo.aws import write_demo_aws_export
from pipelines.cli import app


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("demo")
    write_demo_aws_export(root / "export")
    store = LocalFileStore(root / "export")
    lake = Lake(root / "lake")
    for delivery in find_aws_deliveries(store).values():
        ingest_delivery(delivery, store.local_path(delivery.files[0].path).parent, lake)
    return lake


def test_the_summary_names_the_demo_commitments(lake):
    shown = CliRunner().invoke(
        app, ["commitments", "--root", lake.root, "--period", "2026-11"], env={"COLUMNS": "220"}
    )
    assert shown.exit_code == 0, shown.output
    assert "Savings Plan" in shown.output and "Reserved Instance" in shown.output
    assert "Coverage of eligible usage in 2026-11" in shown.output


def test_capacity_break_even_from_the_token_lines(lake):
    lines = token_lines(lake.scan("focus")).filter(pl.col("tier") != "provisioned").collect()
    # The break-even by hand from the lines' totals: $20/h / 60 / (cost / tokens).
    expected = 20.0 / 60 / (lines["EffectiveCost"].sum() / lines["quantity"].sum())
    shown = CliRunner().invoke(
        app,
        ["commitments", "capacity", "--unit-hourly-cost", "20", "--root", lake.root],
        env={"COLUMNS": "220"},
    )
    assert shown.exit_code == 0, shown.output
    assert f"breaks even above {expected:,.0f} tokens per minute" in shown.output
