"""`costlake demo`: all four clouds through the nightly job, and the README's query on the lake."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines import cli

ROOT = Path(__file__).parents[1]
# The README's "cost by provider and currency" query, word for word.
QUERY = """SELECT provider, BillingCurrency AS currency,
           round(sum(BilledCost), 2) AS billed, round(sum(EffectiveCost), 2) AS effective
    FROM read_parquet('lake/focus/**/*.parquet', hive_partitioning = true)
    GROUP BY ALL ORDER BY provider, currency"""


def aws_billed(root: Path) -> Decimal:
    """Σ line_item_unblended_cost of the files each period's (only) manifest names."""
    total = Decimal(0)
    for manifest in root.glob("**/metadata/BILLING_PERIOD=*/*-Manifest.json"):
        for uri in json.loads(manifest.read_text())["dataFiles"]:
            with gzip.open(root / uri.split("/", 3)[3], "rt", newline="") as f:
                total += sum(Decimal(r["line_item_unblended_cost"]) for r in csv.DictReader(f))
    return total


def azure_billed(root: Path) -> Decimal:
    """Σ CostInBillingCurrency of each month's newest run (by the manifest's submittedTime)."""
    newest: dict[str, dict] = {}
    for path in root.glob("**/manifest.json"):
        manifest = json.loads(path.read_text())
        month = manifest["runInfo"]["startDate"][:7]
        if (
            month not in newest
            or manifest["runInfo"]["submittedTime"] > newest[month]["runInfo"]["submittedTime"]
        ):
            newest[month] = manifest
    total = Decimal(0)
    for manifest in newest.values():
        for blob in manifest["blobs"]:
            with gzip.open(root / blob["blobName"], "rt", encoding="utf-8-sig", newline="") as f:
                total += sum(Decimal(r["CostInBillingCurrency"]) for r in csv.DictReader(f))
    return total


def gcp_billed(root: Path) -> Decimal:
    """Σ cost + Σ credits.amount over every row of every invoice month."""
    total = Decimal(0)
    for path in root.glob("**/*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            total += Decimal(str(row["cost"]))
            total += sum((Decimal(str(c["amount"])) for c in row["credits"] or []), Decimal(0))
    return total


def oci_billed(root: Path) -> Decimal:
    """Σ cost/myCost over every row of every report file (each row in its own month)."""
    total = Decimal(0)
    for path in root.glob("reports/cost-csv/*.csv.gz"):
        with gzip.open(path, "rt", newline="") as f:
            total += sum(Decimal(r["cost/myCost"]) for r in csv.DictReader(f))
    return total


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    """``costlake demo`` run in a fresh folder, as a user runs it from the project."""
    folder = tmp_path_factory.mktemp("demo")
    shutil.copy(ROOT / "dagster.yaml", folder / "dagster.yaml")
    mp = pytest.MonkeyPatch()
    mp.chdir(folder)
    mp.delenv("DAGSTER_HOME", raising=False)
    mp.delenv("COSTLAKE_CONFIG", raising=False)
    result = CliRunner().invoke(cli.app, ["demo"])
    mp.undo()
    return folder, result


def test_the_demo_runs_every_cloud_and_every_check_passes(demo_folder):
    folder, result = demo_folder
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == 8  # 4 providers × 2 billing periods
    assert (folder / ".costlake/dagster/dagster.yaml").exists()  # the run history's instance


def test_the_readme_query_gives_each_clouds_bill_in_its_own_currency(demo_folder):
    folder, _ = demo_folder
    assert QUERY in (ROOT / "README.md").read_text()
    with duckdb.connect() as con:
        con.execute(f"SET file_search_path = '{folder}'")
        rows = con.sql(QUERY).fetchall()
    data = folder / "demo-data"
    expected = {
        ("aws", "USD"): aws_billed(data / "aws"),
        ("azure", "EUR"): azure_billed(data / "azure"),
        ("gcp", "USD"): gcp_billed(data / "gcp"),
        ("oci", "GBP"): oci_billed(data / "oci"),
    }
    billed = {(provider, currency): b for provider, currency, b, _ in rows}
    assert list(billed) == list(expected)  # one row per provider: each bills in one currency
    for key, value in expected.items():
        assert billed[key] == pytest.approx(float(value.quantize(Decimal("0.01"))), abs=0.005)


def test_each_period_is_in_the_lake_once(demo_folder):
    folder, _ = demo_folder
    periods = defaultdict(set)
    for path in (folder / "lake/focus").glob("provider=*/billing_period=*"):
        periods[path.parent.name.split("=")[1]].add(path.name.split("=")[1])
    assert dict(periods) == {p: {"2026-10", "2026-11"} for p in ("aws", "azure", "gcp", "oci")}
