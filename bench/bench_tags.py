"""Benchmark: what tag normalization (``tags.rules.with_tag_columns``) adds to a FOCUS write.

Generates N FOCUS rows (every lake column) whose ``Tags`` mix the four clouds' forms: AWS
``Project`` / ``user:Project`` / ``user_project`` with ``aws:createdBy``, Azure ``Project`` /
``CostCenter`` with long ``hidden-*`` tags, GCP labels (``cost-center``), OCI defined tags
(``CostTracking.cost_center``) with ``Oracle-Tags.CreatedBy``; ~15 % of rows untagged and ~15 %
with only part of the tags; compact JSON and JSON with spaces. Then times, on the streaming
engine as the ingest runs:

(a) baseline: read the Parquet file, cast a few columns, write Parquet (zstd level 1, as the
    ingest writes the lake);
(b) the same plan plus ``with_tag_columns`` (the shipped default keys, plus two rules and an
    account default table so every step of the plan runs).

Reading and writing this table is much cheaper than a real normalization, and the 18 columns
``with_tag_columns`` adds must be written too, so (b)/(a) overstates what tags add to an
ingest. The issue's measure is the ingest itself, so the script also times the ingest's own
normalization plan (``costlake.focus.ingest.normalized_rows``) of a synthetic AWS CUR 2.0 Parquet
export of N rows (``demo.aws.write_synthetic_cur2_export``, as ``bench_ingest.py``):

(c) normalize: each data file's plan, written as the lake's focus part (zstd level 1);
(d) the same plans plus ``with_tag_columns``.

Each plan is built afresh and run ``--repeat`` times, alternating, and the fastest run of each
is reported (the build machine is shared and drifts). Usage::

    .venv/bin/python bench/bench_tags.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus.ingest import normalized_rows
from costlake.focus.schema import MONEY_COLUMNS, focus_polars_schema
from costlake.providers.registry import source_datasets
from costlake.tags.rules import TagRules, load_tag_rules, with_tag_columns
from demo.aws import write_synthetic_cur2_export

PROJECTS = ["atlas", "Atlas", "helpdesk-bot", "search-assistant", "ledger", "support bot"]
ENVIRONMENTS = ["prod", "Production", "prd", "staging", "stg", "dev", "development", "research"]
COST_CENTERS = ["CC-4100", "cc-41", "4200", "CC-4300"]
WORKLOADS = ["inference", "training", "embedding", "genai", "batch", "Fine-Tuning"]
MODELS = ["atlas-13b", "claude-sonnet-4-5", "gemini-2.5-pro", "meta.llama-3.3-70b-instruct"]
TEAMS = ["platform", "ml-research", "search", "data"]
SERVICES = {
    "aws": ["Amazon Elastic Compute Cloud", "Amazon Bedrock", "Amazon Simple Storage Service"],
    "azure": ["Virtual Machines", "Azure OpenAI", "Storage Accounts"],
    "gcp": ["Compute Engine", "Vertex AI", "Cloud Storage"],
    "oci": ["COMPUTE", "GENERATIVE_AI", "OBJECTSTORE"],
}
ACCOUNTS = {
    "aws": ["111122223333", "222233334444", "444455556666"],
    "azure": ["5693dc31-12f6-5012-97b5-a4f1b25b8d6f", "95bb5372-3826-57dd-9db2-f0d81eb6a0b8"],
    "gcp": ["atlas-app-prod", "atlas-ml-training", "atlas-data"],
    "oci": ["ocid1.compartment.oc1..aaaaaaaa7m22vedynibgjxdh4ch7zprtke6t44axy2gk5kqcygu7qtvh7st6"],
}


def aws_tags(rnd: random.Random) -> dict[str, str]:
    prefix = rnd.choice(["", "", "user:", "user_"])
    tags = {
        f"{prefix}Project": rnd.choice(PROJECTS),
        f"{prefix}env": rnd.choice(ENVIRONMENTS),
        f"{prefix}team": rnd.choice(TEAMS),
    }
    if rnd.random() < 0.6:
        tags[f"{prefix}cost_center"] = rnd.choice(COST_CENTERS)
    if rnd.random() < 0.5:
        tags[f"{prefix}workload_type"] = rnd.choice(WORKLOADS)
        tags[f"{prefix}model"] = rnd.choice(MODELS)
    if rnd.random() < 0.5:
        tags["aws:createdBy"] = f"AssumedRole:AROAEXAMPLEROLEID:session-{rnd.randrange(999)}"
    return tags


def azure_tags(rnd: random.Random) -> dict[str, str]:
    tags = {
        "Project": rnd.choice(PROJECTS),
        "Environment": rnd.choice(ENVIRONMENTS),
        "CostCenter": rnd.choice(COST_CENTERS),
        "org": "trey",
    }
    if rnd.random() < 0.5:
        tags["hidden-managedby"] = (
            "/subscriptions/9ec51cfd-5ca7-4d76-8101-dd0a4abc5674/resourceGroups/AnalyticsEngine"
            "/providers/Microsoft.ContainerService/managedClusters/AnalyticsEngine"
        )
    if rnd.random() < 0.5:
        tags["workload_type"] = rnd.choice(WORKLOADS)
    return tags


def gcp_tags(rnd: random.Random) -> dict[str, str]:
    tags = {
        "project": rnd.choice(PROJECTS).lower().replace(" ", "-"),
        "environment": rnd.choice(ENVIRONMENTS).lower(),
        rnd.choice(["cost-center", "cost_center"]): rnd.choice(COST_CENTERS).lower(),
        "team": rnd.choice(TEAMS),
    }
    if rnd.random() < 0.6:
        tags["workload_type"] = rnd.choice(WORKLOADS).lower()
        tags["model"] = rnd.choice(MODELS)
    return tags


def oci_tags(rnd: random.Random) -> dict[str, str]:
    tags = {
        "CostTracking.project": rnd.choice(PROJECTS),
        "CostTracking.cost_center": rnd.choice(COST_CENTERS),
        "CostTracking.environment": rnd.choice(ENVIRONMENTS),
        "CostTracking.workload_type": rnd.choice(WORKLOADS),
        "CostTracking.model": rnd.choice(MODELS),
        "Oracle-Tags.CreatedBy": f"default/user{rnd.randrange(99)}@acme-ai.example",
    }
    if rnd.random() < 0.5:
        tags["Owner"] = "ml-platform@acme-ai.example"
    return tags


TAGGERS = {"aws": aws_tags, "azure": azure_tags, "gcp": gcp_tags, "oci": oci_tags}


def resources(count: int, seed: int) -> pl.DataFrame:
    """``count`` resources, each with its provider, account, service, id and Tags JSON (or null):
    15 % untagged, 15 % with only two tags, some JSON written with ", " and ": "."""
    rnd = random.Random(seed)
    rows = []
    for number in range(count):
        provider = rnd.choice(list(TAGGERS))
        draw = rnd.random()
        tags = None
        if draw >= 0.15:
            found = TAGGERS[provider](rnd)
            if draw < 0.30:
                found = dict(list(found.items())[:2])
            spaced = rnd.random() < 0.2
            tags = json.dumps(found, separators=(", ", ": ") if spaced else (",", ":"))
        rows.append(
            {
                "x_Provider": provider,
                "SubAccountId": rnd.choice(ACCOUNTS[provider]),
                "ServiceName": rnd.choice(SERVICES[provider]),
                "ResourceId": f"{provider}/res-{number}",
                "Tags": tags,
            }
        )
    return pl.DataFrame(rows)


def pick(pool: list[str], salt: int) -> pl.Expr:
    """A pseudo-random member of ``pool`` per row."""
    index = (pl.col("__row").hash(salt) % len(pool)).cast(pl.Int64)
    return pl.lit(pl.Series(pool)).gather(index)


def focus_frame(rows: int, resource_count: int, seed: int) -> pl.DataFrame:
    """N rows with every lake column, each row a line item of one of the resources (a bill
    repeats a resource, and its tags, on every hour or day and usage type it is billed for)."""
    pool = resources(resource_count, seed)
    index = pl.int_range(rows, dtype=pl.UInt64, eager=True).hash(seed) % resource_count
    frame = pool[index.cast(pl.Int64)].with_row_index("__row")
    category = pick(["Usage"] * 93 + ["Tax"] * 2 + ["Credit"] * 2 + ["Purchase", "Adjustment"], 3)
    start = pl.datetime(2026, 11, 1, time_zone="UTC") + pl.duration(
        hours=(pl.col("__row") % 720).cast(pl.Int64)
    )
    no_resource = category.is_in(["Tax", "Credit"])
    frame = frame.with_columns(
        ChargeCategory=category,
        ResourceId=pl.when(~no_resource).then(pl.col("ResourceId")),
        Tags=pl.when(~no_resource).then(pl.col("Tags")),
        ChargePeriodStart=start,
        ChargePeriodEnd=start + pl.duration(hours=1),
        BillingPeriodStart=pl.datetime(2026, 11, 1, time_zone="UTC"),
        BillingPeriodEnd=pl.datetime(2026, 12, 1, time_zone="UTC"),
        ProviderName=pl.col("x_Provider").str.to_uppercase(),
        PublisherName=pl.col("x_Provider").str.to_uppercase(),
        BillingAccountId=pl.lit("111122223333"),
        BillingCurrency=pl.lit("USD"),
        ChargeDescription=pick(["On-demand usage", "Input tokens", "Storage GB-month"], 4),
        x_UsageType=pick(["USE1-BoxUsage:g5.xlarge", "USE1-TimedStorage", "Tokens-Input"], 5),
        x_SourceRow=pl.col("__row").cast(pl.Int64) + 1,
        **{
            name: (pl.col("__row").hash(10 + n) % 100_000).cast(pl.Float64) / 1000
            for n, name in enumerate(MONEY_COLUMNS)
        },
    )
    schema = focus_polars_schema()
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def bench_rules() -> TagRules:
    """The shipped keys, with two rules and an account default table."""
    shipped = load_tag_rules().model_dump(by_alias=True)
    rules = [
        {
            "name": "bedrock-inference",
            "match": {"provider": "aws", "service_name": "Amazon Bedrock"},
            "set": {"workload_type": "inference"},
        },
        {
            "name": "vertex-in-training-project",
            "match": {"provider": "gcp", "resource_id_pattern": "^gcp/res-1"},
            "set": {"workload_type": "training", "project": "atlas"},
        },
    ]
    defaults = [
        {"provider": p, "sub_account_id": a, "set": {"project": "atlas", "cost_center": "cc-1"}}
        for p, accounts in ACCOUNTS.items()
        for a in accounts
    ]
    return TagRules.model_validate({**shipped, "rules": rules, "account_defaults": defaults})


def baseline(source: Path) -> pl.LazyFrame:
    """Read + a few casts: the part of an ingest the tag columns are compared with."""
    return pl.scan_parquet(source).with_columns(
        pl.col(MONEY_COLUMNS).cast(pl.Float64),
        pl.col("x_SourceRow").cast(pl.Int64),
        pl.col("ChargePeriodStart").cast(pl.Datetime("us", "UTC")),
        pl.col("ChargeCategory").cast(pl.String),
    )


def cur2_plans(workdir: Path, rows: int) -> Callable[[], list[pl.LazyFrame]]:
    """A synthetic CUR 2.0 Parquet export of ``rows`` rows, and a maker of the ingest's
    normalization plan of each of its data files."""
    root = workdir / "cur2-export"
    write_synthetic_cur2_export(root, rows, "parquet")
    store = LocalFileStore(root)
    ((_, delivery),) = find_aws_deliveries(store).items()
    dataset = source_datasets()[delivery.source_dataset]

    def plans() -> list[pl.LazyFrame]:
        return [
            normalized_rows(Path(store.local_path(f.path)), f.path, delivery, dataset)
            for f in delivery.files
        ]

    return plans


def timed(plans: list[pl.LazyFrame], workdir: Path) -> float:
    """Seconds to write every plan to Parquet on the streaming engine."""
    start = time.perf_counter()
    for number, plan in enumerate(plans):
        target = workdir / f"out-{number}.parquet"
        plan.sink_parquet(target, compression_level=1, engine="streaming")
    return time.perf_counter() - start


def compare(
    title: str, makers: dict[str, Callable[[], list[pl.LazyFrame]]], rows: int, args: Any
) -> None:
    """Run each plan maker's plans ``args.repeat`` times, alternating; print the best times."""
    best = dict.fromkeys(makers, float("inf"))
    for _ in range(args.repeat):
        for name, make in makers.items():
            best[name] = min(best[name], timed(make(), args.workdir))
    print(f"\n{title}")
    print(f"{'plan':18} {'rows':>11} {'seconds':>8} {'rows/s':>11}")
    for name, seconds in best.items():
        print(f"{name:18} {rows:>11,} {seconds:>8.2f} {rows / seconds:>11,.0f}")
    first, second = best.values()
    ratio = second / first
    print(f"ratio {ratio:.2f}: tags add {100 * (ratio - 1):.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--resources",
        type=int,
        default=20_000,
        help="distinct resources of the FOCUS table (and so at most as many distinct Tags); "
        "as many as --rows gives every row its own tags, the worst case",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each plan; best is kept")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    args.workdir = Path(tempfile.mkdtemp(prefix="bench-tags-"))
    try:
        started = time.perf_counter()
        source = args.workdir / "focus.parquet"
        frame = focus_frame(args.rows, args.resources, args.seed)
        distinct = frame["Tags"].n_unique()
        frame.write_parquet(source, row_group_size=250_000)
        del frame
        cur2 = cur2_plans(args.workdir, args.rows)
        seconds = time.perf_counter() - started
        print(
            f"generated {args.rows:,} FOCUS rows ({distinct:,} distinct Tags) and a CUR 2.0 "
            f"export of {args.rows:,} rows in {seconds:.1f} s"
        )
        rules = bench_rules()
        compare(
            "FOCUS-like table: (a) read + casts + write, (b) the same + with_tag_columns",
            {
                "(a) baseline": lambda: [baseline(source)],
                "(b) with tags": lambda: [with_tag_columns(baseline(source), rules)],
            },
            args.rows,
            args,
        )
        compare(
            "AWS CUR 2.0 Parquet: (c) the ingest's normalization, (d) the same + with_tag_columns",
            {
                "(c) normalize": cur2,
                "(d) normalize+tags": lambda: [with_tag_columns(p, rules) for p in cur2()],
            },
            args.rows,
            args,
        )
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
