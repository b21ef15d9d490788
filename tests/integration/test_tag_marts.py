"""The tag marts on a small frame whose figures are worked out by hand."""

from datetime import UTC, datetime

import polars as pl
import pytest

from costlake.tags.marts import tag_coverage, untagged_share, untagged_spend
from costlake.tags.rules import load_tag_rules

MANDATORY = ("project", "environment", "cost_center", "workload_type", "model")
FULL = dict(zip(MANDATORY, ("atlas", "prod", "cc-1", "inference", "m-7b"), strict=True))
NO_MODEL = {**FULL, "model": None}


def row(currency, sub, service, resource, day, cost, tags, untaggable=False) -> dict:
    return {
        "BillingAccountId": "A",
        "SubAccountId": sub,
        "SubAccountName": sub.upper(),
        "ServiceName": service,
        "ResourceId": resource,
        "ResourceName": resource,
        "BillingCurrency": currency,
        "ChargePeriodStart": datetime(2026, 11, day, tzinfo=UTC),
        "BilledCost": cost,
        "EffectiveCost": cost,
        "x_Untaggable": untaggable,
        **{f"x_tag_{key}": tags.get(key) for key in MANDATORY},
    }


@pytest.fixture
def focus() -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            row("USD", "s1", "EC2", "i-1", 1, 100.0, FULL),
            row("USD", "s1", "EC2", "i-2", 1, 50.0, NO_MODEL),
            row("USD", "s1", "EC2", "i-2", 2, 30.0, NO_MODEL),
            row("USD", "s1", "EC2", "i-3", 1, 40.0, {}),
            row("USD", "s1", "Tax", None, 1, 20.0, {}, untaggable=True),
            row("EUR", "s2", "VM", "v-1", 1, 10.0, {**FULL, "project": None}),
        ]
    )


def test_coverage_is_a_share_of_cost_per_account_and_service(focus):
    coverage = tag_coverage(focus, load_tag_rules()).collect()
    ec2 = coverage.filter(pl.col("ServiceName") == "EC2").row(0, named=True)
    assert ec2["taggable_cost"] == 220.0  # 100 + 50 + 30 + 40
    assert ec2["untaggable_cost"] == 0.0
    assert ec2["fully_tagged_cost"] == 100.0
    assert ec2["project_tagged_cost"] == 180.0  # every row but i-3
    assert ec2["project_coverage"] == pytest.approx(180 / 220)
    assert ec2["model_coverage"] == pytest.approx(100 / 220)
    tax = coverage.filter(pl.col("ServiceName") == "Tax").row(0, named=True)
    assert (tax["taggable_cost"], tax["untaggable_cost"], tax["project_coverage"]) == (
        0.0,
        20.0,
        None,
    )
    vm = coverage.filter(pl.col("ServiceName") == "VM").row(0, named=True)
    assert (vm["BillingCurrency"], vm["project_coverage"], vm["model_coverage"]) == ("EUR", 0, 1)


def test_untagged_spend_lists_resources_by_day_and_missing_keys_ranked_by_cost(focus):
    spend = untagged_spend(focus, load_tag_rules()).collect()
    got = spend.select(
        "BillingCurrency", "rank", "ResourceId", "day", "missing_tags", "EffectiveCost"
    )
    assert got.rows() == [
        ("EUR", 1, "v-1", datetime(2026, 11, 1).date(), "project", 10.0),
        ("USD", 1, "i-2", datetime(2026, 11, 1).date(), "model", 50.0),
        ("USD", 2, "i-3", datetime(2026, 11, 1).date(), ",".join(MANDATORY), 40.0),
        ("USD", 3, "i-2", datetime(2026, 11, 2).date(), "model", 30.0),
    ]  # the tax row is untaggable, i-1 carries every mandatory tag


def test_the_untagged_share_is_per_currency_of_taggable_cost(focus):
    shares = untagged_share(tag_coverage(focus, load_tag_rules()))
    assert shares.rows() == [
        ("EUR", 10.0, 10.0, 1.0),
        ("USD", 220.0, 120.0, pytest.approx(120 / 220)),  # 50 + 30 + 40 of 220
    ]


def test_the_nightly_job_writes_the_marts_and_checks_the_untagged_share(tmp_path, nightly_run):
    """hand_cur2.csv: i-0p5 is tagged user_Project=atlas, user_env=prod; i-0db user_project=ledger;
    no line carries all five mandatory tags, so every taggable cost is untagged."""
    from conftest import HAND_CUR2, check_verdicts, gzip_file, write_cur2_delivery

    from costlake.focus.lake import Lake

    bucket = tmp_path / "bucket"
    write_cur2_delivery(
        bucket, {"a.csv.gz": gzip_file(HAND_CUR2, tmp_path / "a.gz")}, "2026-11", "e1"
    )
    result = nightly_run(
        {"lake_root": str(tmp_path / "lake"), "aws": [{"root": str(bucket)}]}, "aws"
    )
    assert result.success
    assert check_verdicts(result, "tag_coverage") == {"untagged_share_under_threshold": False}

    lake = Lake(tmp_path / "lake")
    focus = lake.scan_partition("focus", "aws", "2026-11").collect()
    p5 = focus.filter(
        pl.col("ResourceId") == "i-0p5", pl.col("x_LineItemType") == "SavingsPlanCoveredUsage"
    )
    assert p5.select("x_tag_project", "x_tag_project_source", "x_tag_environment").row(0) == (
        "atlas",
        "tag",
        "prod",
    )
    spend = lake.scan_partition("marts/untagged_spend", "aws", "2026-11").collect()
    missing = dict(
        spend.filter(pl.col("ResourceId").is_in(["i-0p5", "i-0db"]))
        .group_by("ResourceId")
        .agg(pl.col("missing_tags").first())
        .iter_rows()
    )
    assert missing == {
        "i-0p5": "cost_center,workload_type,model",
        "i-0db": "environment,cost_center,workload_type,model",
    }
