"""How mature is each project's FinOps practice, from what the lake shows? The scorecard mart.

Each criterion of ``costlake/data/maturity_thresholds.csv`` (the one table of thresholds, with a
source per row) is one measure, worked out from tables of the lake, and the level it reaches:
``fly``, ``run`` or ``walk`` when the measure meets that level's threshold (at the threshold
counts), else ``crawl``. A criterion whose input table is not in the lake, or holds nothing for
the period, is ``no evidence`` with the reason, and counts once its table exists (the tables are
read by name). A project's level is its weakest criterion with evidence; the next step is that
criterion's action and the threshold of the level above.

Criteria of scope ``project`` are measured per ``project`` tag (untagged cost is the project
``(untagged)``); those of scope ``organisation`` (budgets, anomalies, commitments, forecasts:
their marts are not kept per project) are measured once and apply to every project. Shares are
worked out per currency and the lowest is kept: amounts of two currencies are never added.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

THRESHOLDS_FILE = "data/maturity_thresholds.csv"
LEVELS = ("crawl", "walk", "run", "fly")
NO_EVIDENCE = "no evidence"
UNTAGGED = "(untagged)"
OVERALL = "overall"

SCORECARD_SCHEMA = pl.Schema(
    {
        "project": pl.String,
        "criterion": pl.String,  # a criterion of the thresholds table, or "overall"
        "value": pl.Float64,  # the measure (null without evidence)
        "level": pl.String,  # crawl | walk | run | fly | no evidence
        "evidence": pl.String,  # what the value is made of, or why there is none
        "next_level": pl.String,
        "next_threshold": pl.Float64,
        "next_step": pl.String,
    }
)


@dataclass(frozen=True)
class Criterion:
    """One row of the thresholds table."""

    name: str
    scope: str  # project | organisation
    inputs: tuple[str, ...]
    measure: str
    thresholds: dict[str, float]  # walk, run, fly
    source: str
    action: str

    def level(self, value: float) -> str:
        """The highest level whose threshold ``value`` meets (higher is better)."""
        reached = "crawl"
        for level in LEVELS[1:]:
            if value >= self.thresholds[level]:
                reached = level
        return reached


def load_thresholds(path: Path | str | None = None) -> list[Criterion]:
    """The criteria in table order: the shipped table, or the file at ``path``."""
    if path is None:
        name = f"costlake/{THRESHOLDS_FILE}"
        text = resources.files("costlake").joinpath(THRESHOLDS_FILE).read_text("utf-8")
    else:
        name, text = str(path), Path(path).read_text("utf-8")
    criteria = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), 1):
        try:
            thresholds = {level: float(row[level]) for level in LEVELS[1:]}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{name}, row {n}: walk, run and fly must be numbers ({e})") from e
        if not thresholds["walk"] <= thresholds["run"] <= thresholds["fly"]:
            raise ValueError(f"{name}, row {n}: expected walk <= run <= fly, got {thresholds}")
        if row.get("better") != "higher" or row.get("scope") not in ("project", "organisation"):
            raise ValueError(f"{name}, row {n}: better must be higher, scope project|organisation")
        if row["criterion"] not in MEASURES:
            raise ValueError(f"{name}, row {n}: unknown criterion {row['criterion']!r}")
        criteria.append(
            Criterion(
                row["criterion"],
                row["scope"],
                tuple(row["inputs"].split("|")),
                row["measure"],
                thresholds,
                row["source"],
                row["action"],
            )
        )
    return criteria


# A measure: (value, evidence) per project (scope project) or under the key None (organisation),
# or a reason string when there is no evidence at all.
Measured = dict[str | None, tuple[float, str]] | str


def _project(column: str = "project") -> pl.Expr:
    return pl.col(column).fill_null(UNTAGGED).alias("project")


def _lowest_share(frame: pl.DataFrame, part: str, whole: str, keys: list[str]) -> pl.DataFrame:
    """Per ``keys``: the lowest share part / whole over the currencies, and its currency."""
    return (
        frame.filter(pl.col(whole) > 0)
        .with_columns((pl.col(part) / pl.col(whole)).alias("share"))
        .sort("share")
        .group_by(keys, maintain_order=True)
        .first()
    )


def _tag_coverage(tables: dict[str, pl.LazyFrame], mandatory: list[str]) -> Measured:
    if not mandatory:
        return "no mandatory tag keys are configured"
    columns = [f"x_tag_{key}" for key in mandatory]
    focus = tables["focus"]
    present = set(focus.collect_schema().names())
    missing = [c for c in columns if c not in present]
    if missing:
        return f"focus lacks the tag column(s) {', '.join(missing)}"
    taggable = (
        ~pl.col("x_Untaggable").fill_null(False) if "x_Untaggable" in present else pl.lit(True)
    )
    complete = pl.all_horizontal([pl.col(c).is_not_null() for c in columns])
    frame = (
        focus.filter(taggable)
        .group_by(_project("x_tag_project"), pl.col("BillingCurrency").alias("currency"))
        .agg(
            pl.col("EffectiveCost").sum().alias("taggable"),
            pl.col("EffectiveCost").filter(complete).sum().alias("tagged"),
        )
        .collect()
    )
    shares = _lowest_share(frame, "tagged", "taggable", ["project"])
    if shares.is_empty():
        return "no taggable cost in the period"
    tags = ", ".join(mandatory)
    return {
        r["project"]: (
            r["share"],
            f"{r['tagged']:,.2f} of {r['taggable']:,.2f} {r['currency']} taggable cost carries "
            f"every mandatory tag ({tags})",
        )
        for r in shares.iter_rows(named=True)
    }


def _allocated_share(tables: dict[str, pl.LazyFrame]) -> Measured:
    parts = []
    if "marts/ai_unit_costs" in tables:
        parts.append(
            tables["marts/ai_unit_costs"].select(
                _project(),
                "currency",
                pl.col("cost").fill_null(0.0).alias("shared"),
                (pl.col("cost").fill_null(0.0) - pl.col("unattributed_cost").fill_null(0.0)).alias(
                    "allocated"
                ),
            )
        )
    if "marts/gpu_cost_allocation" in tables:
        parts.append(
            tables["marts/gpu_cost_allocation"].select(
                _project(),
                "currency",
                pl.col("cost").fill_null(0.0).alias("shared"),
                pl.when(pl.col("allocation") == "workload")
                .then(pl.col("cost").fill_null(0.0))
                .otherwise(0.0)
                .alias("allocated"),
            )
        )
    if not parts:
        return "neither marts/ai_unit_costs nor marts/gpu_cost_allocation is in the lake"
    frame = (
        pl.concat(parts)
        .group_by("project", "currency")
        .agg(pl.col("shared", "allocated").sum())
        .collect()
    )
    shares = _lowest_share(frame, "allocated", "shared", ["project"])
    if shares.is_empty():
        return "no AI or GPU cost in the period"
    return {
        r["project"]: (
            r["share"],
            f"{r['allocated']:,.2f} of {r['shared']:,.2f} {r['currency']} AI and GPU cost "
            "allocated to logged calls or GPU workloads",
        )
        for r in shares.iter_rows(named=True)
    }


def _budgets(tables: dict[str, pl.LazyFrame]) -> Measured:
    budgets = tables["marts/budgets"].filter(pl.col("status") != "no_data").collect()
    names = budgets["budget"].unique().sort().to_list()
    if not names:
        return "marts/budgets holds no budget with spend in the period"
    statuses = budgets.group_by("status").len().sort("status")
    shown = ", ".join(f"{n} {s}" for s, n in statuses.iter_rows())
    return {None: (float(len(names)), f"{len(names)} budget(s) tracked ({shown})")}


def _anomalies_handled(tables: dict[str, pl.LazyFrame]) -> Measured:
    events = tables["marts/anomaly_events"].select("state").collect()
    if events.is_empty():
        return "no anomaly events in the period"
    closed = events.filter(pl.col("state") == "closed").height
    return {None: (closed / events.height, f"{closed} of {events.height} anomaly events closed")}


def _commitment_utilization(tables: dict[str, pl.LazyFrame]) -> Measured:
    frame = (
        tables["marts/commitment_utilization"]
        .group_by("currency")
        .agg(pl.col("used_cost", "unused_cost").fill_null(0.0).sum())
        .with_columns((pl.col("used_cost") + pl.col("unused_cost")).alias("committed"))
        .with_columns(pl.lit(0).alias("_all"))
        .collect()
    )
    shares = _lowest_share(frame, "used_cost", "committed", ["_all"])
    if shares.is_empty():
        return "no commitment cost in the period"
    r = shares.row(0, named=True)
    return {
        None: (
            r["share"],
            f"{r['used_cost']:,.2f} of {r['committed']:,.2f} {r['currency']} committed used",
        )
    }


def _model_routing(tables: dict[str, pl.LazyFrame]) -> Measured:
    keys = ["workload_type", "model", "currency"]
    routing = tables["marts/model_routing_savings"].select(
        *keys, pl.col("saving_share").fill_null(0.0)
    )
    frame = (
        tables["marts/ai_unit_costs"]
        .filter(pl.col("input_tokens") > 0)
        .join(routing, on=keys, how="inner", nulls_equal=True)
        .group_by(_project(), "currency")
        .agg(
            pl.col("cost").sum(),
            (pl.col("cost") * pl.col("saving_share")).sum().alias("saving"),
        )
        .with_columns((pl.col("cost") - pl.col("saving")).alias("routed"))
        .collect()
    )
    shares = _lowest_share(frame, "routed", "cost", ["project"])
    if shares.is_empty():
        return "no routed AI cost in the period"
    return {
        r["project"]: (
            r["share"],
            f"cheaper capable models would save {r['saving']:,.2f} of {r['cost']:,.2f} "
            f"{r['currency']} AI cost",
        )
        for r in shares.iter_rows(named=True)
    }


def _forecast_accuracy(tables: dict[str, pl.LazyFrame]) -> Measured:
    forecasts = tables["marts/forecasts"].filter(pl.col("horizon") == "month").collect()
    series = ["scope", "series", "period", "currency"]
    final = (
        forecasts.filter(pl.col("as_of") == pl.col("period_end"))
        .group_by(series)
        .agg(pl.col("actual").last().alias("final"))
    )
    early = (
        forecasts.filter(
            (pl.col("as_of") < pl.col("period_end")) & pl.col("forecast").is_not_null()
        )
        .join(final, on=series, how="inner")
        .filter(pl.col("final") > 0)
        .with_columns(
            (1 - (pl.col("forecast") - pl.col("final")).abs() / pl.col("final")).alias("accuracy")
        )
    )
    if early.is_empty():
        return "marts/forecasts holds no month forecast made before its month closed"
    accuracy = float(early["accuracy"].mean())  # type: ignore[arg-type]
    periods = ", ".join(early["period"].unique().sort().to_list())
    return {
        None: (
            accuracy,
            f"{early.height} month forecast(s) of {periods} against their final actual",
        )
    }


MEASURES = {
    "tag_coverage": _tag_coverage,
    "allocated_share": _allocated_share,
    "budgets": _budgets,
    "anomalies_handled": _anomalies_handled,
    "commitment_utilization": _commitment_utilization,
    "model_routing": _model_routing,
    "forecast_accuracy": _forecast_accuracy,
}


def _measure(
    criterion: Criterion, tables: dict[str, pl.LazyFrame], mandatory: list[str]
) -> Measured:
    absent = [t for t in criterion.inputs if t not in tables]
    # allocated_share needs one of its inputs; every other criterion needs all of them.
    if criterion.name == "allocated_share":
        absent = absent if len(absent) == len(criterion.inputs) else []
    if absent:
        return f"{', '.join(absent)} not in the lake yet"
    if criterion.name == "tag_coverage":
        return _tag_coverage(tables, mandatory)
    return MEASURES[criterion.name](tables)


def _next(criterion: Criterion, level: str, value: float) -> tuple[str | None, float | None, str]:
    if level == "fly":
        return None, None, "hold: at the highest level"
    above = LEVELS[LEVELS.index(level) + 1]
    threshold = criterion.thresholds[above]
    return above, threshold, f"{criterion.action}: from {value:.4g} to {threshold:.4g} ({above})"


def maturity_scorecard(
    tables: dict[str, pl.LazyFrame],
    criteria: list[Criterion],
    mandatory: list[str],
) -> pl.DataFrame:
    """The ``maturity_scorecard`` mart: per project, one row per criterion and an ``overall``
    row. ``tables`` maps table names (``focus`` of the period, ``marts/<name>``) to the tables
    present in the lake; ``mandatory`` are the mandatory tag keys."""
    measured = {c.name: _measure(c, tables, mandatory) for c in criteria}
    projects = sorted(
        {p for m in measured.values() if isinstance(m, dict) for p in m if p is not None}
    )
    if "focus" in tables:
        seen = tables["focus"].select(_project("x_tag_project")).unique().collect()
        projects = sorted(set(projects) | set(seen["project"].to_list()))
    rows = []
    for project in projects:
        scored = []
        for criterion in criteria:
            found = measured[criterion.name]
            key = project if criterion.scope == "project" else None
            if isinstance(found, str) or key not in found:
                reason = found if isinstance(found, str) else "nothing of this project in it"
                rows.append(_row(project, criterion.name, None, NO_EVIDENCE, reason))
                continue
            value, evidence = found[key]
            level = criterion.level(value)
            scored.append((LEVELS.index(level), criterion, level, value))
            rows.append(
                _row(
                    project, criterion.name, value, level, evidence, *_next(criterion, level, value)
                )
            )
        if not scored:
            rows.append(_row(project, OVERALL, None, NO_EVIDENCE, "no criterion has evidence"))
            continue
        _, weakest, level, value = min(scored, key=lambda s: s[0])
        evidence = (
            f"weakest of {len(scored)} criteria with evidence ({len(criteria) - len(scored)} "
            f"without): {weakest.name} at {level}"
        )
        rows.append(_row(project, OVERALL, None, level, evidence, *_next(weakest, level, value)))
    return pl.DataFrame(rows, schema=SCORECARD_SCHEMA, orient="row")


def _row(
    project: str,
    criterion: str,
    value: float | None,
    level: str,
    evidence: str,
    next_level: str | None = None,
    next_threshold: float | None = None,
    next_step: str | None = None,
) -> tuple:
    return (project, criterion, value, level, evidence, next_level, next_threshold, next_step)
