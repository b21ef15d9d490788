"""`costlake demo`: all four clouds through the nightly job, and the README's query on the lake."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines import cli

ROOT = Path(__file__).resolve().parents[2]
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
    """``costlake demo`` with no option, started from a fresh working folder, as a user runs it,
    with the user's home elsewhere; returns the costlake home the demo wrote into (the user's
    data folder: its ``demo-data``, ``lake`` and ``dagster``), the result and the working folder."""
    work = tmp_path_factory.mktemp("work")
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    mp.setenv("HOME", str(home))
    names = ("DAGSTER_HOME", "COSTLAKE_CONFIG", "COSTLAKE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")
    for name in names:
        mp.setenv(name, "restored after the demo")
        mp.delenv(name)
    result = CliRunner().invoke(cli.app, ["demo"])
    mp.undo()
    return home / ".local/share/costlake", result, work


def test_the_demo_runs_every_cloud_and_every_check_passes(demo_folder):
    folder, result, work = demo_folder
    assert result.exit_code == 0, result.output
    # 4 providers × 2 billing periods, then the period marts of each period
    assert result.output.count(": ok") == 10
    # Without options or environment the exports, the lake and the run history's instance are
    # in the costlake home, the user's data folder; the working folder is left as it was.
    assert sorted(p.name for p in folder.iterdir()) == ["dagster", "demo-data", "lake"]
    assert (folder / "dagster/dagster.yaml").exists()
    assert list(work.iterdir()) == []


def test_the_readme_query_gives_each_clouds_bill_in_its_own_currency(demo_folder):
    folder, *_ = demo_folder
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
    folder, *_ = demo_folder
    periods = defaultdict(set)
    for path in (folder / "lake/focus").glob("provider=*/billing_period=*"):
        periods[path.parent.name.split("=")[1]].add(path.name.split("=")[1])
    assert dict(periods) == {p: {"2026-10", "2026-11"} for p in ("aws", "azure", "gcp", "oci")}


def _aws_rows(root: Path, period: str) -> list[dict[str, str]]:
    """The CUR 2.0 rows of the newest delivery of ``period`` (the one its manifest names)."""
    rows = []
    for manifest in root.glob(f"**/metadata/BILLING_PERIOD={period}/*-Manifest.json"):
        for uri in json.loads(manifest.read_text())["dataFiles"]:
            with gzip.open(root / uri.split("/", 3)[3], "rt", newline="") as f:
                rows += list(csv.DictReader(f))
    return rows


def test_demo_ai_unit_costs_equal_the_bill_and_logs_worked_by_hand(demo_folder):
    """Claude 3 Haiku on 2026-10-06: the support bot's bill lines split over its logged calls."""
    import polars as pl

    folder, *_ = demo_folder
    day = "2026-10-06"
    bill = {}
    for row in _aws_rows(folder / "demo-data/aws", "2026-10"):
        if (
            row["line_item_usage_start_date"].startswith(day)
            and "Claude3Haiku" in (row["line_item_usage_type"])
        ):
            bill[row["line_item_usage_type"].rsplit("-", 2)[1]] = Decimal(
                row["line_item_unblended_cost"]
            )
    spans = [
        json.loads(line)
        for line in (folder / "demo-data/ai/otel/2026-10.jsonl").read_text().splitlines()
    ]
    spans = [s for s in spans if s["start_time"].startswith(day)]
    tokens_in = sum(s["gen_ai.usage.input_tokens"] for s in spans)
    tokens_out = sum(s["gen_ai.usage.output_tokens"] for s in spans)
    traces = {s["trace_id"] for s in spans}
    users = {s["user.id"] for s in spans}
    failed = sum(s["status"] == "ERROR" for s in spans)
    cost = float(bill["input"] + bill["output"])

    marts = pl.read_parquet(folder / "lake/marts/ai_unit_costs/billing_period=2026-10/*.parquet")
    row = marts.filter(
        (pl.col("day") == pl.date(2026, 10, 6))
        & (pl.col("provider") == "aws")
        & (pl.col("model") == "claude-3-haiku")
    ).row(0, named=True)
    assert (row["project"], row["environment"], row["workload_type"]) == (
        "support-bot",
        "prod",
        "inference",
    )
    assert row["cost"] == pytest.approx(cost, rel=1e-12)
    assert row["billed_cost"] == pytest.approx(cost, rel=1e-12)
    assert row["estimated_cost"] == 0.0
    assert row["requests"] == len(spans)
    assert row["queries"] == len(traces) < len(spans)  # multi-call traces count once
    assert row["users"] == len(users)
    assert row["cost_per_query"] == pytest.approx(cost / len(traces), rel=1e-12)
    assert row["cost_per_user"] == pytest.approx(cost / len(users), rel=1e-12)
    assert row["tokens_per_query"] == pytest.approx((tokens_in + tokens_out) / len(traces))
    # The bill charges $0.00025 per 1K input and $0.00125 per 1K output tokens of these calls.
    assert row["cost_per_1k_input_tokens"] == pytest.approx(
        float(bill["input"]) / tokens_in * 1000, rel=1e-12
    )
    assert row["cost_per_1k_input_tokens"] == pytest.approx(0.00025, rel=1e-9)
    assert row["cost_per_1k_output_tokens"] == pytest.approx(0.00125, rel=1e-9)
    assert row["failed_share"] == pytest.approx(failed / len(spans)) and failed > 0
    assert row["cache_hit_rate"] == 0.0


def test_demo_direct_api_calls_are_estimated_from_the_catalog(demo_folder):
    """The eval harness's gpt-4o-mini calls have no bill line: priced at $0.15 / $0.60 per
    million input / output tokens and $0.075 per million cached input tokens."""
    import polars as pl

    folder, *_ = demo_folder
    rows = [
        json.loads(line)
        for line in (folder / "demo-data/ai/litellm/2026-10.jsonl").read_text().splitlines()
    ]
    cached = [json.loads(r["metadata"])["usage_object"]["prompt_tokens_details"] for r in rows]
    expected = sum(
        (
            (r["prompt_tokens"] - c["cached_tokens"]) * 0.15
            + c["cached_tokens"] * 0.075
            + r["completion_tokens"] * 0.60
        )
        / 1e6
        for r, c in zip(rows, cached, strict=True)
    )
    marts = pl.read_parquet(folder / "lake/marts/ai_unit_costs/billing_period=2026-10/*.parquet")
    openai = marts.filter(pl.col("provider") == "openai")
    assert openai["model"].unique().to_list() == ["gpt-4o-mini"]
    assert openai["estimated_cost"].sum() == pytest.approx(expected, rel=1e-9)
    assert openai["billed_cost"].sum() == 0.0
    assert openai["requests"].sum() == len(rows)


def test_demo_allocated_token_cost_sums_back_to_the_bill(demo_folder):
    """Per provider, model, day and currency: allocated + unattributed = billed; and the AWS
    total is every Bedrock token line of the bill."""
    import polars as pl

    folder, *_ = demo_folder
    recon = pl.read_parquet(
        folder / "lake/marts/ai_cost_reconciliation/billing_period=2026-10/*.parquet"
    )
    gap = (recon["allocated"] + recon["unattributed"] - recon["billed"]).abs().max()
    assert gap < 1e-9
    bedrock = sum(
        Decimal(r["line_item_unblended_cost"])
        for r in _aws_rows(folder / "demo-data/aws", "2026-10")
        if r["line_item_line_item_type"] == "Usage"
        and r["line_item_product_code"].startswith("AmazonBedrock")
    )
    aws = recon.filter(pl.col("provider") == "aws")["billed"].sum()
    assert aws == pytest.approx(float(bedrock), rel=1e-12)


def test_demo_gpu_idle_cost_and_utilization_per_project_worked_by_hand(demo_folder):
    """AWS, 2026-11-02 … 08, project atlas: the p5.48xlarge (8 × H100, 24 h a day, busy 0.9
    for 18 h and 0.1 for 6 h; its agent down 10:00-11:00 on the 3rd, an hour busy at 0.9)
    and the first g5.12xlarge (4 × A10G, busy 0.6 from 08:00 to 20:00 and 0.05 otherwise;
    24 h on weekdays, 00:00-10:00 at the weekend). Idle cost = the day's cost × (covered −
    busy GPU hours) / paid GPU hours."""
    import polars as pl

    folder, *_ = demo_folder
    p5, g5 = "i-0a7f3c9e21b845d60", "i-03be8d2f6a1c79e45"
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in _aws_rows(folder / "demo-data/aws", "2026-11"):
        day = row["line_item_usage_start_date"][:10]
        if (
            not ("2026-11-02" <= day <= "2026-11-08")
            or "BoxUsage" not in (row["line_item_usage_type"])
        ):
            continue
        if row["line_item_resource_id"] == p5 and (
            row["line_item_line_item_type"] == "SavingsPlanCoveredUsage"
        ):
            cost[(p5, day)] += Decimal(row["savings_plan_savings_plan_effective_cost"])
        if row["line_item_resource_id"] == g5 and row["line_item_line_item_type"] == "Usage":
            cost[(g5, day)] += Decimal(row["line_item_unblended_cost"])
    days = [f"2026-11-0{d}" for d in range(2, 9)]
    weekend = {"2026-11-07", "2026-11-08"}
    paid = busy = idle = 0.0
    for day in days:
        # p5: 8 GPUs × 24 h; busy 8 × (18 × 0.9 + 6 × 0.1) = 134.4, less 8 × 0.9 on the 3rd.
        lost = 8.0 if day == "2026-11-03" else 0.0
        p5_busy = 134.4 - 0.9 * lost
        idle += float(cost[(p5, day)]) * (192 - lost - p5_busy) / 192
        # g5: 4 × 24 h busy 4 × (12 × 0.6 + 12 × 0.05) = 31.2; weekend 4 × 10 h:
        # 4 × (2 × 0.6 + 8 × 0.05) = 6.4.
        g5_paid, g5_busy = (40.0, 6.4) if day in weekend else (96.0, 31.2)
        idle += float(cost[(g5, day)]) * (g5_paid - g5_busy) / g5_paid
        paid += 192 + g5_paid
        busy += p5_busy + g5_busy

    mart = pl.read_parquet(folder / "lake/marts/gpu_utilization/billing_period=2026-11")
    week = mart.filter(
        (pl.col("provider") == "aws")
        & (pl.col("project") == "atlas")
        & pl.col("day").is_between(pl.date(2026, 11, 2), pl.date(2026, 11, 8))
    )
    assert set(week["resource_id"]) == {p5, g5}
    assert week["gpu_hours"].sum() == pytest.approx(paid)  # 7 × 192 + 5 × 96 + 2 × 40
    assert week["busy_gpu_hours"].sum() == pytest.approx(busy)
    assert week["busy_gpu_hours"].sum() / week["gpu_hours"].sum() == pytest.approx(1102.4 / 1904)
    assert week["idle_cost"].sum() == pytest.approx(idle, rel=1e-9)
    outage = week.filter((pl.col("resource_id") == p5) & (pl.col("day") == pl.date(2026, 11, 3)))
    assert outage["coverage"].item() == pytest.approx(23 / 24)  # the hour without samples
    assert outage["unmonitored_cost"].item() == pytest.approx(
        float(cost[(p5, "2026-11-03")]) / 24, rel=1e-9
    )
    # The bill states the p5's 8 GPUs (product "gpu"): it wins over the catalog.
    assert set(week.filter(pl.col("resource_id") == p5)["gpus_per_instance_source"]) == {"bill"}
    # nvidia-smi names no workload: the allocation mart gives each day's cost to no_workload
    # (the telemetry's hours) and unmonitored (the p5's hour without samples), nothing lost.
    allocation = pl.read_parquet(folder / "lake/marts/gpu_cost_allocation/billing_period=2026-11")
    days = allocation.filter(pl.col("resource_id").is_in([p5, g5])).filter(
        pl.col("day").is_between(pl.date(2026, 11, 2), pl.date(2026, 11, 8))
    )
    assert set(days["allocation"]) == {"no_workload", "unmonitored"}
    assert days["cost"].sum() == pytest.approx(float(sum(cost.values())), rel=1e-9)
    p5_outage = days.filter(
        (pl.col("resource_id") == p5)
        & (pl.col("day") == pl.date(2026, 11, 3))
        & (pl.col("allocation") == "unmonitored")
    )
    assert p5_outage["cost"].sum() == pytest.approx(float(cost[(p5, "2026-11-03")]) / 24)


def test_demo_failed_and_retried_calls_worked_by_hand(demo_folder):
    """The eval harness's timed-out calls (LiteLLM status failure) in 2026-10: each read its
    prompt (input charged at $0.15 per million uncached, $0.075 cached, no output) and was
    retried once in the same session. Bedrock bills the support bot's throttled calls nothing."""
    import polars as pl

    folder, *_ = demo_folder
    rows = [
        json.loads(line)
        for line in (folder / "demo-data/ai/litellm/2026-10.jsonl").read_text().splitlines()
    ]
    failed = [r for r in rows if r["status"] == "failure"]
    cached = [json.loads(r["metadata"])["usage_object"]["prompt_tokens_details"] for r in failed]
    wasted = sum(
        ((r["prompt_tokens"] - c["cached_tokens"]) * 0.15 + c["cached_tokens"] * 0.075) / 1e6
        for r, c in zip(failed, cached, strict=True)
    )
    mart = pl.read_parquet(folder / "lake/marts/ai_failed_calls/billing_period=2026-10/*.parquet")
    evals = mart.filter(pl.col("provider") == "openai")
    assert failed and all(r["completion_tokens"] == 0 for r in failed)
    assert evals["calls"].sum() == len(rows)
    assert evals["failed_calls"].sum() == len(failed)
    assert evals["retries"].sum() == evals["retried_calls"].sum() == len(failed)
    assert evals["wasted_tokens"].sum() == sum(r["prompt_tokens"] for r in failed)
    assert evals["wasted_cost"].sum() == pytest.approx(wasted, rel=1e-9)
    assert evals["team"].unique().to_list() == ["ml-research"]
    day = evals.filter(pl.col("day") == pl.date(2026, 10, 6)).row(0, named=True)
    on_day = [r for r in rows if r["startTime"].startswith("2026-10-06")]
    bad = sum(r["status"] == "failure" for r in on_day)
    assert day["api_efficiency"] == pytest.approx((len(on_day) - bad) / len(on_day))
    haiku = mart.filter(pl.col("model") == "claude-3-haiku")
    assert haiku["failed_calls"].sum() > 0 and haiku["wasted_cost"].sum() == 0.0


def test_demo_arbitrage_moves_sonnet_and_never_an_unpriced_host(demo_folder):
    """Claude Sonnet 4.5 ran on Bedrock, which the catalog prices (regional endpoint) at $3.30 /
    $16.50 / $0.33 per million input / output / cache-read tokens; Anthropic's API lists $3.00 /
    $15.00 / $0.30: 10/11 of it for every kind, so the saving is the billed cost × 1/11. Llama
    on OCI has no catalog price there: no move is suggested."""
    import polars as pl

    folder, *_ = demo_folder
    mart = pl.read_parquet(folder / "lake/marts/arbitrage/billing_period=2026-10/*.parquet")
    units = pl.read_parquet(folder / "lake/marts/ai_unit_costs/billing_period=2026-10/*.parquet")
    sonnet_cost = units.filter(
        (pl.col("provider") == "aws") & (pl.col("model") == "claude-sonnet-4-5")
    )["cost"].sum()
    sonnet = mart.filter((pl.col("kind") == "model") & (pl.col("item") == "claude-sonnet-4-5"))
    row = sonnet.row(0, named=True)
    assert (row["alternative_provider"], row["alternative_region"]) == ("anthropic", "global")
    assert row["alternative_basis"] == "list"
    assert row["saving"] == pytest.approx(sonnet_cost / 11, rel=1e-9)
    llama = mart.filter((pl.col("provider") == "oci") & (pl.col("kind") == "model"))
    assert llama["alternative_provider"].null_count() == llama.height > 0
    # GPU moves are only suggested on USD bills (the GPU catalog is in USD).
    gpus = mart.filter(pl.col("kind") == "gpu")
    assert (
        gpus.filter(pl.col("currency") != "USD")["saving"].null_count()
        == gpus.filter(pl.col("currency") != "USD").height
    )


def test_demo_maturity_scorecard_says_which_marts_are_missing(demo_folder):
    import polars as pl

    folder, *_ = demo_folder
    card = pl.read_parquet(
        folder / "lake/marts/maturity_scorecard/billing_period=2026-10/*.parquet"
    )
    criteria = card["criterion"].unique().sort().to_list()
    assert "overall" in criteria and len(criteria) == 8
    assert card.group_by("project").len()["len"].unique().to_list() == [8]
    # The demo configures two budgets (team platform, model atlas-13b), both with spend in
    # October: 2 is at least walk's 1 and under run's 3, for every project (an organisation
    # criterion).
    budgets = card.filter(pl.col("criterion") == "budgets")
    assert budgets["value"].to_list() == [2.0] * budgets.height
    assert (budgets["level"] == "walk").all()
    # No commitments mart on this branch: no evidence, naming the table.
    commitments = card.filter(pl.col("criterion") == "commitment_utilization")
    assert (commitments["level"] == "no evidence").all()
    assert commitments["evidence"].str.contains("marts/commitment_utilization").all()
    assert set(card["level"]) <= {"crawl", "walk", "run", "fly", "no evidence"}
