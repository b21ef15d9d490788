"""AI unit costs of each billing period: the bills' token lines split across the request logs,
what failed calls wasted, and what the same tokens and GPU hours would cost at other hosts."""

from datetime import date, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.lake_tables import LAKE_TABLE
from assets.partitions import period_partitions
from assets.period_inputs import (
    SHOWN,
    focus_of_period,
    input_files,
    listed,
    period_days,
    period_focus,
    period_mart,
    period_table,
)
from assets.resources import CostlakeResource
from costlake.ai.arbitrage import (
    ARBITRAGE_SCHEMA,
    gpu_arbitrage,
    gpu_catalog_date,
    load_llm_hosts,
    model_arbitrage,
)
from costlake.ai.costs import (
    ai_cost_reconciliation,
    ai_unit_costs,
    billed_token_cost,
    costed_requests,
    unattributed_cost,
)
from costlake.ai.failures import failed_call_costs, wasted_share_over
from costlake.ai.prices import load_price_catalog
from costlake.ai.requests import read_llm_requests
from costlake.ai.routing import load_capabilities, model_routing_savings
from costlake.ai.token_lines import token_lines, unrecognised_ai_lines
from costlake.gpu.catalog import load_gpu_catalog

AI_TABLES = (
    "marts/llm_requests",
    "marts/ai_unit_costs",
    "marts/ai_cost_reconciliation",
    "marts/model_routing_savings",
    "marts/ai_unrecognised_lines",
    "marts/ai_failed_calls",
)
ARBITRAGE_TABLES = ("marts/arbitrage",)
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")
# The per-(day, provider, model) sums are of floats: allow rounding, never a lost cent.
TOLERANCE = 1e-6


def _top_models_markdown(unit_costs: pl.DataFrame) -> str:
    top = (
        unit_costs.group_by("provider", "model", "currency")
        .agg(
            pl.col("cost").sum(),
            pl.col("unattributed_cost").sum(),
            pl.col("queries").sum(),
        )
        .sort("cost", descending=True)
        .head(SHOWN)
    )
    header = (
        "| provider | model | cost | unattributed | queries |\n| --- | --- | ---: | ---: | ---: |"
    )
    rows = [
        f"| {p} | {m} | {cost:,.2f} {cur} | {un:,.2f} | {q:,} |"
        for p, m, cur, cost, un, q in top.iter_rows()
    ]
    return "\n".join([header, *rows]) if rows else "no AI spend"


def _reconciliation_check(reconciliation: pl.DataFrame) -> AssetCheckResult:
    off = reconciliation.filter(
        (pl.col("allocated") + pl.col("unattributed") - pl.col("billed")).abs()
        > TOLERANCE * pl.col("billed").abs() + TOLERANCE
    )
    return AssetCheckResult(
        check_name="ai_cost_reconciles",
        asset_key="ai_cost_reconciliation",
        passed=off.height == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "groups": reconciliation.height,
            "groups_off": off.height,
            "first_off": MetadataValue.md(listed(list(off.iter_rows(named=True)))),
        },
    )


def _wasted_check(wasteful: pl.DataFrame, level: float) -> AssetCheckResult:
    return AssetCheckResult(
        check_name="ai_wasted_share",
        asset_key="ai_failed_calls",
        passed=wasteful.height == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "level": level,
            "models_over": wasteful.height,
            "over": MetadataValue.md(
                listed(
                    [
                        f"{r['provider']} {r['model']}: {r['wasted_share']:.1%} of "
                        f"{r['cost']:,.2f} {r['currency']} on {r['failed_calls']:,} failed calls"
                        for r in wasteful.iter_rows(named=True)
                    ]
                )
            ),
        },
    )


@multi_asset(
    name="ai_marts",
    group_name="marts",
    specs=[
        period_table(
            "marts/llm_requests",
            "The logged model requests of the period, each costed from the bill or the catalog.",
        ),
        period_table(
            "marts/ai_unit_costs",
            "AI unit costs per day, provider, model and tag: the bills' token cost split across "
            "the logged requests (cost per token, query and user, cache hit rate, failed share).",
            "llm_requests",
        ),
        period_table(
            "marts/ai_cost_reconciliation",
            "Allocated and unattributed token cost against the bill's, per day, provider, model "
            "and currency.",
            "llm_requests",
        ),
        period_table(
            "marts/model_routing_savings",
            "What routing each workload to the cheapest capable model would save.",
            "ai_unit_costs",
        ),
        period_table(
            "marts/ai_unrecognised_lines",
            "AI lines of the bills that are not recognised as token lines.",
        ),
        period_table(
            "marts/ai_failed_calls",
            "Failed and retried model calls per day, provider, model and team: the tokens and "
            "bill-allocated cost they wasted, and the API efficiency.",
            "llm_requests",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "ai_cost_reconciles",
            asset="ai_cost_reconciliation",
            description="Allocated plus unattributed token cost equals the bill's, per day, "
            "provider, model and currency.",
        ),
        AssetCheckSpec(
            "request_logs_parse",
            asset="llm_requests",
            description="Every request log record is read; bad ones are listed.",
        ),
        AssetCheckSpec(
            "ai_wasted_share",
            asset="ai_failed_calls",
            description="No model spends more than ai.wasted_share_warn of its cost on failed "
            "calls.",
        ),
        AssetCheckSpec(
            "ai_lines_recognised",
            asset="ai_unrecognised_lines",
            description="Every AI line of the bills is recognised as a token line.",
        ),
    ],
)
def ai_marts(context: AssetExecutionContext, costlake: CostlakeResource):
    billing_period = context.partition_key
    first, after = period_days(billing_period)
    lake = costlake.lake()
    settings = costlake.settings()
    catalog = load_price_catalog(settings.ai.prices)
    capabilities = load_capabilities(settings.ai.capabilities)

    files = input_files(settings.ai.request_logs, LOG_SUFFIXES, "request log")
    context.log.info(f"{len(files)} request log file(s), prices {catalog.version}")
    read = read_llm_requests(files)
    requests = read.rows.filter((pl.col("day") >= first) & (pl.col("day") < after)).collect()
    rows = period_focus(lake, billing_period)
    billed = billed_token_cost(token_lines(rows)).collect().lazy()
    costed = costed_requests(requests.lazy(), billed, catalog).collect()
    unattributed = unattributed_cost(billed, costed.lazy())
    reconciliation = ai_cost_reconciliation(billed, costed.lazy(), unattributed).collect()
    unit_costs = ai_unit_costs(costed.lazy(), unattributed).collect()
    last_day = min(after - timedelta(days=1), date.today())
    savings = model_routing_savings(unit_costs, catalog, capabilities, last_day)
    unrecognised = unrecognised_ai_lines(rows).collect()
    failed = failed_call_costs(costed.lazy()).collect()
    wasteful = wasted_share_over(failed, settings.ai.wasted_share_warn)

    with lake.staged_period(None, billing_period, AI_TABLES) as staged:
        for table, frame in zip(
            AI_TABLES,
            (costed, unit_costs, reconciliation, savings, unrecognised, failed),
            strict=True,
        ):
            frame.write_parquet(staged.part_path(table, 0), compression="zstd")

    by_currency = unit_costs.group_by("currency").agg(
        pl.col("cost", "billed_cost", "estimated_cost", "unattributed_cost").sum()
    )
    yield MaterializeResult(
        asset_key="llm_requests",
        metadata={
            "requests": int(costed["requests"].sum() or 0),
            "catalog_version": catalog.version,
        },
        check_results=[
            AssetCheckResult(
                check_name="request_logs_parse",
                asset_key="llm_requests",
                passed=not read.problems,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "bad_records": len(read.problems),
                    "skipped_non_model_spans": read.skipped,
                    "problems": MetadataValue.md(listed(read.problems)),
                },
            )
        ],
    )
    yield MaterializeResult(
        asset_key="ai_cost_reconciliation",
        metadata={"groups": reconciliation.height},
        check_results=[_reconciliation_check(reconciliation)],
    )
    yield MaterializeResult(
        asset_key="ai_unrecognised_lines",
        metadata={"unrecognised_lines": unrecognised.height},
        check_results=[
            AssetCheckResult(
                check_name="ai_lines_recognised",
                asset_key="ai_unrecognised_lines",
                passed=unrecognised.height == 0,
                severity=AssetCheckSeverity.WARN,
                metadata={"unrecognised_lines": unrecognised.height},
            )
        ],
    )
    yield MaterializeResult(
        asset_key="ai_failed_calls",
        metadata={"groups": failed.height},
        check_results=[_wasted_check(wasteful, settings.ai.wasted_share_warn)],
    )
    yield MaterializeResult(
        asset_key="ai_unit_costs",
        metadata={
            "queries": int(unit_costs["queries"].sum() or 0),
            "cost_by_currency": MetadataValue.md(
                "\n".join(
                    f"- {cur}: {cost:,.2f} (billed {b:,.2f}, estimated {e:,.2f}, "
                    f"unattributed {u:,.2f})"
                    for cur, cost, b, e, u in by_currency.sort("currency").iter_rows()
                )
                or "no AI spend"
            ),
            "top_models": MetadataValue.md(_top_models_markdown(unit_costs)),
        },
    )
    yield MaterializeResult(
        asset_key="model_routing_savings",
        metadata={
            "routing_saving": MetadataValue.md(
                "\n".join(
                    f"- {w or '(untagged)'} on {m}: {s:,.2f} {c} a period with {alt}"
                    for w, m, c, s, alt in savings.filter(pl.col("saving") > 0)
                    .select(
                        "workload_type", "model", "currency", "saving", "cheapest_capable_model"
                    )
                    .iter_rows()
                )
                or "none"
            ),
        },
    )


def _arbitrage_markdown(mart: pl.DataFrame) -> str:
    moves = mart.filter(pl.col("saving") > 0).sort("saving", descending=True).head(SHOWN)
    lines = [
        f"- {r['item']} on {r['provider']}{' ' + r['region'] if r['region'] else ''}: "
        f"{r['saving']:,.2f} {r['currency']} at {r['alternative_provider']} "
        f"{r['alternative_region']} ({r['alternative_basis']}, {r['catalog_date'] or 'undated'})"
        for r in moves.iter_rows(named=True)
    ]
    return "\n".join(lines) or "no cheaper host or region"


@asset(
    name="arbitrage",
    partitions_def=period_partitions,
    group_name="marts",
    deps=[focus_of_period, "ai_unit_costs"],
    kinds={"polars", "parquet"},
    metadata={LAKE_TABLE: ARBITRAGE_TABLES[0]},
    description=(
        "Cross-cloud arbitrage: each model's tokens and each GPU type's hours of the period "
        "at the cheapest other host or region the dated catalogs offer them, and the saving."
    ),
)
def arbitrage_mart(context: AssetExecutionContext, costlake: CostlakeResource) -> MaterializeResult:
    billing_period = context.partition_key
    _, after = period_days(billing_period)
    lake = costlake.lake()
    settings = costlake.settings()
    catalog = load_price_catalog(settings.ai.prices)
    unit_costs = period_mart(lake, "marts/ai_unit_costs", billing_period)
    priced_on = min(after - timedelta(days=1), date.today())
    models = (
        model_arbitrage(unit_costs.collect(), catalog, load_llm_hosts(settings.ai.hosts), priced_on)
        if unit_costs is not None
        else ARBITRAGE_SCHEMA.to_frame()
    )
    gpus = gpu_arbitrage(
        period_focus(lake, billing_period),
        load_gpu_catalog(settings.gpu.catalog),
        load_gpu_catalog(),
        gpu_catalog_date(),
    )
    mart = pl.concat([models, gpus])
    with lake.staged_period(None, billing_period, ARBITRAGE_TABLES) as staged:
        mart.write_parquet(staged.part_path("marts/arbitrage", 0), compression="zstd")
    saving = mart.group_by("currency").agg(pl.col("saving").sum()).sort("currency")
    return MaterializeResult(
        metadata={
            "rows": mart.height,
            "saving_by_currency": MetadataValue.md(
                "\n".join(f"- {c}: {s:,.2f}" for c, s in saving.iter_rows()) or "none"
            ),
            "moves": MetadataValue.md(_arbitrage_markdown(mart)),
        }
    )
