"""The month-end report as one self-contained HTML page: frames in, HTML out.

``report_html`` turns the tables read for a period (``ReportInputs``) into sections; each
section reads its tables by name and says so plainly when one is absent, so a lake without a
newer mart (budgets, say) still gets a report. The page is a Jinja2 template with autoescaping;
the charts are inline SVG and the stylesheet is inline, so the file opens with no network and
prints on A4. Key figures carry a ``data-figure`` name so tests can find and check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files

import jinja2
import polars as pl
from markupsafe import Markup

from costlake.report import charts, sections
from costlake.report.tables import ReportInputs


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    figure: str | None = None  # a name tests look the figure up by


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...] = ()
    title: str = ""  # a heading above the table, when a section holds one table per thing


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup


@dataclass
class Section:
    anchor: str
    title: str
    intro: str = ""
    missing: str | None = None  # why the section is empty (a table the lake lacks)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def money(value: float | None, currency: str) -> str:
    """``1234.5, "EUR"`` → ``€1,234.50``; a missing amount is an en dash."""
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    return f"{sign}{charts.symbol(currency)}{abs(value):,.2f}"


def unit_money(value: float | None, currency: str) -> str:
    """A unit cost (often under a cent) with four decimals: ``0.00071, "USD"`` → ``$0.0007``."""
    if value is None:
        return "–"
    return f"{'-' if value < 0 else ''}{charts.symbol(currency)}{abs(value):,.4f}"


def share(value: float | None) -> str:
    """``0.1234`` → ``12.3%``; a missing share is an en dash."""
    return "–" if value is None else f"{value * 100:.1f}%"


def _table(columns: list[tuple[str, bool]], rows: list[list[Cell]], title: str = "") -> Table:
    return Table(tuple(c for c, _ in columns), tuple(tuple(r) for r in rows), title=title)


def _currencies(frame: pl.DataFrame) -> list[str]:
    return sorted(frame["currency"].unique().to_list())


def _absent(name: str) -> str:
    return f"The lake has no {name} table for these periods."


def spend_section(inputs: ReportInputs) -> Section:
    section = Section(
        "spend",
        "Spend by provider and currency",
        f"BilledCost per day, {inputs.periods[0]} to {inputs.period}, stacked by provider; "
        "each currency on its own chart. Dashed rules mark the peak day of an anomaly event.",
    )
    focus = inputs.table("focus")
    if focus is None:
        section.missing = _absent("focus")
        return section
    daily = sections.daily_spend(focus)
    events = inputs.table("marts/anomaly_events")
    shown = None
    if events is not None:
        shown = sections.anomaly_events(events, None, inputs.period)
    for currency in _currencies(daily):
        section.charts.append(
            Chart(
                f"Daily spend ({currency})",
                Markup(charts.daily_spend_chart(daily, currency, shown)),
            )
        )
    totals = sections.period_totals(focus)
    rows = [
        [
            Cell(period),
            Cell(provider),
            Cell(currency),
            Cell(money(cost, currency), True, f"total:{period}:{provider}:{currency}"),
        ]
        for period, provider, currency, cost in totals.iter_rows()
    ]
    section.tables.append(
        _table(
            [("period", False), ("provider", False), ("currency", False), ("BilledCost", True)],
            rows,
        )
    )
    return section


def services_section(inputs: ReportInputs) -> Section:
    previous = inputs.periods[-2] if len(inputs.periods) > 1 else inputs.period
    section = Section(
        "services",
        "Top services and their change",
        f"The {sections.TOP_SERVICES} services with the most BilledCost in {inputs.period} per "
        f"currency, against {previous}.",
    )
    focus = inputs.table("focus")
    if focus is None:
        section.missing = _absent("focus")
        return section
    top = sections.top_services(focus, inputs.period, previous)
    for currency in _currencies(top):
        section.charts.append(
            Chart(
                f"Top services ({currency})",
                Markup(
                    charts.bar_chart(
                        top, "ServiceName", "cost", currency, f"BilledCost ({currency})", "service"
                    )
                ),
            )
        )
    rows = [
        [
            Cell(r["ServiceName"] or "(no service)"),
            Cell(
                money(r["cost"], r["currency"]), True, f"service:{r['ServiceName']}:{r['currency']}"
            ),
            Cell(money(r["previous_cost"], r["currency"]), True),
            Cell("new" if r["change"] is None else money(r["change"], r["currency"]), True),
            Cell(share(r["change_share"]), True),
        ]
        for r in top.iter_rows(named=True)
    ]
    section.tables.append(
        _table(
            [
                ("service", False),
                (inputs.period, True),
                (previous, True),
                ("change", True),
                ("%", True),
            ],
            rows,
        )
    )
    return section


def tags_section(inputs: ReportInputs) -> Section:
    section = Section(
        "tags",
        "Spend per project and team",
        "BilledCost per tag value; taggable charges without the tag and charges that cannot "
        "carry tags (tax, support, credits, fees) are bars of their own. Coverage is the share "
        "of taggable EffectiveCost carrying each mandatory tag (marts/tag_coverage).",
    )
    focus = inputs.table("focus")
    if focus is None:
        section.missing = _absent("focus")
        return section
    for key in sections.REPORT_TAG_KEYS:
        spend = sections.tag_spend(focus, key, inputs.period)
        for currency in _currencies(spend):
            section.charts.append(
                Chart(
                    f"Spend per {key} ({currency})",
                    Markup(
                        charts.bar_chart(
                            spend, "value", "cost", currency, f"BilledCost ({currency})", key
                        )
                    ),
                )
            )
    coverage_rows = inputs.table("marts/tag_coverage")
    if coverage_rows is None:
        section.tables.append(_table([("tag coverage", False)], [[Cell(_absent("tag coverage"))]]))
        return section
    coverage = sections.tag_coverage(coverage_rows, inputs.period)
    keys = [c.removesuffix("_coverage") for c in coverage.columns if c.endswith("_coverage")]
    rows = [
        [
            Cell(r["provider"]),
            Cell(r["currency"]),
            Cell(money(r["taggable_cost"], r["currency"]), True),
            Cell(money(r["untaggable_cost"], r["currency"]), True),
            *(
                Cell(
                    share(r[f"{k}_coverage"]), True, f"coverage:{r['provider']}:{r['currency']}:{k}"
                )
                for k in keys
            ),
        ]
        for r in coverage.iter_rows(named=True)
    ]
    section.tables.append(
        _table(
            [("provider", False), ("currency", False), ("taggable", True), ("untaggable", True)]
            + [("all tags" if k == "fully" else k, True) for k in keys],
            rows,
        )
    )
    return section


def ai_section(inputs: ReportInputs) -> Section:
    section = Section(
        "ai",
        "AI unit costs",
        "Per model: cost per 1M tokens (input + output), cost per query, cache hit rate "
        "(cached / input tokens), from marts/ai_unit_costs; what routing each workload to the "
        "cheapest capable model would save, from marts/model_routing_savings.",
    )
    ai = inputs.table("marts/ai_unit_costs")
    if ai is None:
        section.missing = _absent("AI unit costs")
        return section
    units = sections.ai_unit_costs(ai, inputs.period)
    for currency in _currencies(units):
        section.charts.append(
            Chart(
                f"Cost per 1M tokens ({currency})",
                Markup(
                    charts.bar_chart(
                        units.filter(pl.col("cost_per_1m_tokens").is_not_null()),
                        "model",
                        "cost_per_1m_tokens",
                        currency,
                        f"cost per 1M tokens ({currency})",
                        "model",
                    )
                ),
            )
        )
    rows = [
        [
            Cell(r["model"] or "(no model)"),
            Cell(money(r["cost"], r["currency"]), True),
            Cell(f"{r['tokens']:,.0f}", True),
            Cell(
                money(r["cost_per_1m_tokens"], r["currency"]),
                True,
                f"per1m:{r['model']}:{r['currency']}",
            ),
            Cell(f"{r['queries']:,}", True),
            Cell(unit_money(r["cost_per_query"], r["currency"]), True),
            Cell(share(r["cache_hit_rate"]), True),
        ]
        for r in units.iter_rows(named=True)
    ]
    section.tables.append(
        _table(
            [
                ("model", False),
                ("cost", True),
                ("tokens", True),
                ("per 1M tokens", True),
                ("queries", True),
                ("per query", True),
                ("cache hits", True),
            ],
            rows,
        )
    )
    routing = inputs.table("marts/model_routing_savings")
    if routing is None:
        section.tables.append(_table([("routing", False)], [[Cell(_absent("routing savings"))]]))
        return section
    savings = sections.routing_savings(routing, inputs.period)
    rows = [
        [
            Cell(r["workload_type"] or "–"),
            Cell(r["model"]),
            Cell(r["cheapest_capable_model"] or "–"),
            Cell(money(r["cost"], r["currency"]), True),
            Cell(
                money(r["monthly_saving"], r["currency"]),
                True,
                f"saving:{r['workload_type']}:{r['model']}",
            ),
            Cell(share(r["saving_share"]), True),
        ]
        for r in savings.iter_rows(named=True)
    ]
    if not rows:
        rows = [[Cell("no workload runs on a model dearer than it needs")] + [Cell("")] * 5]
    section.tables.append(
        _table(
            [
                ("workload", False),
                ("model", False),
                ("cheapest capable", False),
                ("cost", True),
                ("monthly saving", True),
                ("share", True),
            ],
            rows,
        )
    )
    return section


GPU_PARTS = {"busy_cost": "busy", "idle_cost": "idle", "unmonitored_cost": "no telemetry"}


def gpu_section(inputs: ReportInputs) -> Section:
    section = Section(
        "gpu",
        "GPU busy vs idle cost",
        "Per GPU type: the GPU cost split into the hours the GPUs were busy, idle (telemetry "
        "present, nothing running) and without telemetry, from marts/gpu_utilization.",
    )
    gpu = inputs.table("marts/gpu_utilization")
    if gpu is None:
        section.missing = _absent("GPU utilization")
        return section
    split = sections.gpu_busy_idle(gpu, inputs.period)
    for currency in _currencies(split):
        section.charts.append(
            Chart(
                f"GPU cost ({currency})",
                Markup(
                    charts.stacked_parts_chart(
                        split, "gpu_model", GPU_PARTS, currency, f"GPU cost ({currency})"
                    )
                ),
            )
        )
    rows = [
        [
            Cell(r["gpu_model"]),
            Cell(r["currency"]),
            Cell(f"{r['gpu_hours']:,.1f}", True),
            Cell(money(r["gpu_cost"], r["currency"]), True),
            Cell(money(r["busy_cost"], r["currency"]), True),
            Cell(
                money(r["idle_cost"], r["currency"]), True, f"idle:{r['gpu_model']}:{r['currency']}"
            ),
            Cell(money(r["unmonitored_cost"], r["currency"]), True),
        ]
        for r in split.iter_rows(named=True)
    ]
    section.tables.append(
        _table(
            [
                ("GPU", False),
                ("currency", False),
                ("GPU hours", True),
                ("cost", True),
                ("busy", True),
                ("idle", True),
                ("no telemetry", True),
            ],
            rows,
        )
    )
    return section


def anomalies_section(inputs: ReportInputs) -> Section:
    section = Section(
        "anomalies",
        "Anomalies",
        "Cost anomaly events of the period that have not cleared (marts/anomaly_events), each "
        "with what moved it most (marts/anomaly_contributions); their peak days are marked on "
        "the daily spend charts.",
    )
    events = inputs.table("marts/anomaly_events")
    if events is None:
        section.missing = _absent("anomaly events")
        return section
    found = sections.anomaly_events(
        events, inputs.table("marts/anomaly_contributions"), inputs.period
    )
    rows = [
        [
            Cell(str(r["start"])),
            Cell(r["series"]),
            Cell(str(r["days"]), True),
            Cell(money(r["actual"], r["currency"]), True),
            Cell(money(r["expected"], r["currency"]), True),
            Cell(money(r["excess"], r["currency"]), True, f"excess:{r['event_id']}"),
            Cell(r["severity"] or "–"),
            Cell(r["explanation"]),
        ]
        for r in found.iter_rows(named=True)
    ]
    if not rows:
        rows = [[Cell("no anomaly events in this period")] + [Cell("")] * 7]
    section.tables.append(
        _table(
            [
                ("start", False),
                ("series", False),
                ("days", True),
                ("actual", True),
                ("expected", True),
                ("excess", True),
                ("severity", False),
                ("moved by", False),
            ],
            rows,
        )
    )
    return section


def budgets_section(inputs: ReportInputs) -> Section:
    section = Section(
        "budgets",
        "Budgets and forecasts",
        "Spend to date (bar), forecast at the budget period's end (orange tick) and the budget "
        "amount (black tick), from marts/budgets; month-end forecasts per provider and service "
        "from marts/forecasts.",
    )
    budget_rows = inputs.table("marts/budgets")
    if budget_rows is None:
        section.missing = "No budgets configured: the lake has no budgets table for this period."
    else:
        shown = sections.budgets(budget_rows, inputs.period)
        for currency in _currencies(shown):
            section.charts.append(
                Chart(f"Budgets ({currency})", Markup(charts.budget_chart(shown, currency)))
            )
        rows = [
            [
                Cell(r["budget"]),
                Cell(r["period"]),
                Cell(money(r["amount"], r["currency"]), True),
                Cell(money(r["actual"], r["currency"]), True, f"budget:{r['budget']}"),
                Cell(money(r["forecast"], r["currency"]), True),
                Cell(f"{r['pct_forecast']:.0f}%" if r["pct_forecast"] is not None else "–", True),
                Cell(r["status"]),
            ]
            for r in shown.iter_rows(named=True)
        ]
        section.tables.append(
            _table(
                [
                    ("budget", False),
                    ("period", False),
                    ("amount", True),
                    ("spent", True),
                    ("forecast", True),
                    ("forecast %", True),
                    ("status", False),
                ],
                rows,
            )
        )
    forecast_rows = inputs.table("marts/forecasts")
    if forecast_rows is not None:
        shown = sections.forecasts(forecast_rows, inputs.period)
        rows = [
            [
                Cell(r["series"]),
                Cell(money(r["actual"], r["currency"]), True),
                Cell(money(r["forecast"], r["currency"]), True),
                Cell(
                    f"{money(r['forecast_lower'], r['currency'])} – "
                    f"{money(r['forecast_upper'], r['currency'])}",
                    True,
                ),
                Cell(r["method"] or "–"),
            ]
            for r in shown.iter_rows(named=True)
        ]
        if rows:
            section.tables.append(
                _table(
                    [
                        ("provider · service", False),
                        ("to date", True),
                        ("month-end forecast", True),
                        ("interval", True),
                        ("method", False),
                    ],
                    rows,
                )
            )
    return section


def reconciliation_section(inputs: ReportInputs) -> Section:
    section = Section(
        "reconciliation",
        "Reconciliation",
        "Per provider and currency: the bill's total as the ingest record states it against "
        "Σ BilledCost in the lake; they must agree to one cent (1e-6 relative).",
    )
    if not inputs.ingests and inputs.table("focus") is None:
        section.missing = _absent("ingests")
        return section
    found = sections.reconciliation(inputs.ingests, inputs.table("focus"))
    rows = [
        [
            Cell(r["billing_period"]),
            Cell(r["provider"]),
            Cell(r["currency"]),
            Cell(
                money(r["bill_total"], r["currency"]),
                True,
                f"bill:{r['billing_period']}:{r['provider']}:{r['currency']}",
            ),
            Cell(
                money(r["lake_total"], r["currency"]),
                True,
                f"lake:{r['billing_period']}:{r['provider']}:{r['currency']}",
            ),
            Cell(money(r["difference"], r["currency"]), True),
            Cell(
                r["status"], figure=f"status:{r['billing_period']}:{r['provider']}:{r['currency']}"
            ),
        ]
        for r in found.iter_rows(named=True)
    ]
    section.tables.append(
        _table(
            [
                ("period", False),
                ("provider", False),
                ("currency", False),
                ("bill total", True),
                ("lake total", True),
                ("difference", True),
                ("status", False),
            ],
            rows,
        )
    )
    return section


def arbitrage_section(inputs: ReportInputs) -> Section:
    section = Section(
        "arbitrage",
        "Where it would cost less",
        f"The {sections.TOP_SAVINGS} largest savings per currency had a model's tokens or a GPU "
        "type's hours run at the cheapest other host or region that offers them, from "
        "marts/arbitrage: the catalog's date, and whether its price is the list one or a "
        "negotiated one of the override file.",
    )
    rows_of = inputs.table("marts/arbitrage")
    if rows_of is None:
        section.missing = "No arbitrage data: the lake has no arbitrage table for this period."
        return section
    found = sections.arbitrage(rows_of, inputs.period)
    rows = [
        [
            Cell(r["kind"]),
            Cell(r["item"] or "–"),
            Cell(" ".join(x for x in (r["provider"], r["region"]) if x)),
            Cell(money(r["cost"], r["currency"]), True),
            Cell(f"{r['alternative_provider']} {r['alternative_region'] or ''}".strip()),
            Cell(r["alternative_basis"] or "–"),
            Cell(r["catalog_date"].isoformat() if r["catalog_date"] else "undated"),
            Cell(
                money(r["saving"], r["currency"]),
                True,
                f"arbitrage:{r['kind']}:{r['item']}:{r['provider']}:{r['region'] or ''}:"
                f"{r['currency']}",
            ),
            Cell(share(r["saving_share"]), True),
        ]
        for r in found.iter_rows(named=True)
    ]
    if not rows:
        rows = [[Cell("nothing ran where a listed host or region is cheaper")] + [Cell("")] * 8]
    section.tables.append(
        _table(
            [
                ("kind", False),
                ("model / GPU", False),
                ("ran on", False),
                ("cost", True),
                ("cheapest elsewhere", False),
                ("price", False),
                ("catalog date", False),
                ("saving", True),
                ("share", True),
            ],
            rows,
        )
    )
    return section


def maturity_section(inputs: ReportInputs) -> Section:
    section = Section(
        "maturity",
        "FinOps maturity",
        "Per project, from marts/maturity_scorecard: the overall level (crawl, walk, run, fly: "
        "the weakest criterion with evidence) and its next step, then each criterion's level, "
        "measure and evidence; a criterion whose tables the lake lacks has no evidence.",
    )
    card = inputs.table("marts/maturity_scorecard")
    shown = None if card is None else sections.maturity(card, inputs.period)
    if shown is None or not shown.height:
        section.missing = (
            f"No scorecard: the lake has no maturity scorecard table for {inputs.period}."
        )
        return section
    for (project,), rows_of in shown.group_by("project", maintain_order=True):
        rows = [
            [
                Cell(r["criterion"]),
                Cell(r["level"], figure=f"level:{r['project']}:{r['criterion']}"),
                Cell(
                    "–" if r["value"] is None else f"{r['value']:.4g}",
                    True,
                    f"maturity:{r['project']}:{r['criterion']}",
                ),
                Cell(r["evidence"] or "–"),
                Cell(r["next_step"] or "–"),
            ]
            for r in rows_of.iter_rows(named=True)
        ]
        section.tables.append(
            _table(
                [
                    ("criterion", False),
                    ("level", False),
                    ("measure", True),
                    ("evidence", False),
                    ("next step", False),
                ],
                rows,
                f"Project {project}",
            )
        )
    return section


SECTIONS = (
    spend_section,
    services_section,
    tags_section,
    ai_section,
    gpu_section,
    arbitrage_section,
    anomalies_section,
    budgets_section,
    maturity_section,
    reconciliation_section,
)


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: files("costlake.report").joinpath("templates", name).read_text()
    )
    return jinja2.Environment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True
    )


def report_html(inputs: ReportInputs, generated_at: datetime | None = None) -> str:
    """The whole report page of ``inputs.period``."""
    built = [make(inputs) for make in SECTIONS]
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        _environment()
        .get_template("report.html.j2")
        .render(period=inputs.period, periods=inputs.periods, sections=built, generated_at=when)
    )
