"""Evaluate ``costlake.anomalies.detector`` on synthetic daily bills with injected anomalies.

No public labelled cloud-cost series exists, so this script makes them. Each series is one
(provider, billing account, service, currency) of a FOCUS-like frame, one row per day with
spend (days without spend have no row, as in a bill):

* level: log-uniform from 20 to 20,000 a day; a tenth of the accounts bill in EUR;
* weekly seasonality: a third of the series are flat, the others drop to 30-90 % at weekends
  and have Monday and Friday factors within ±10 %;
* trend: -30 % to +60 % a year, compounded daily;
* noise: multiplicative, log-normal; each series' standard deviation (of the log) is drawn
  uniformly from ``--noise LOW HIGH``, 2-5 % by default.

Why 2-5 %: a series is one service of one billing account, a day's sum over many resources
and hours. For a steady service most of it is priced by time or capacity (instances that stay
up, provisioned databases, storage billed per GB-month and spread over days, amortized
commitments), which moves by well under 1 % from one day to the next; the part priced by use
(requests, data transfer, serverless, logs) follows traffic, whose weekday pattern and growth
are modelled apart (seasonality, trend), and whose remaining day-to-day variation of a few
percent is diluted by the fixed part. What is left for a steady service is a few percent,
hence 2-5 %. This is an assumption, not a measurement: no public labelled bill exists to
measure it on. Series dominated by use (batch jobs, spot capacity, bursty traffic) are
noisier; the earlier default of 5-8 % stands for those, and ``--noise 0.05 0.08`` reproduces
its bills exactly (the same random draws, each series' noise mapped to the other range), so
both sets of figures can be stated. Every figure here depends on this choice: a +20 % change
is 4-10 sigma of day noise at 2-5 %, but 2.5-4 sigma at 5-8 %, where none of the thresholds
tried on seeds 11-15 (k 2.5-4, min_rel 0.1-0.2, spread floor 3-5 %) reaches both a recall
and a precision of 0.9.

Labels, per series and day: *positive*, *don't care* or *negative*. A day of an injected
anomaly is positive when its injection moved that day's cost by at least 20 % **and** at least
50 (in the series' currency) against the same day without it; below either threshold it is
*don't care*: missing it costs no recall, flagging it is no false positive. How long a
persistent change counts as an anomaly has to be defined, and one rule serves level shifts and
drifts: a day is positive when the change injected over the **last 21 days** meets both
thresholds, *don't care* when only the change over the last 28 days is non-zero, negative
after. For a level shift that is its first 21 days, then 7 days of *don't care*, the weeks a
baseline of six same-weekday values needs to adapt (the new level is more than half of them
after three weeks, half in the fourth). A drift, a ramp of small persistent changes, is
positive while the last three weeks of it meet the thresholds. A drift too slow for that (its
change since it began meets the thresholds, its last three weeks do not) is *don't care*: no
day-level detector with an adapting baseline sees it, budgets and forecasts do. The script
also prints recall on the literal reading (every drift day whose change since the drift
began meets both thresholds) so that choice can be judged. A new service's positive day is
its first day with at least 50 of spend (what ``new_entities`` looks for), when that is within
its first 30 days; its other days are negative. Every other day is negative.

A day is *predicted* when ``detect`` gives it status ``anomaly``, or ``new_entities`` reports
its series' service as new that day. Figures, per labelled series-day: precision = TP / (TP +
FP) and recall = TP / positives, overall; per kind, recall, the false positives within 8
weeks after an injected anomaly of that kind (an echo of it; the others are "background") and
the precision that charges those echoes to the kind; per magnitude band, recall (a false
positive has no injected magnitude, so precision has no band); and on the anomaly-free series
false alarms (flagged days) per series-month (30 scored days). The last line is a verdict
against the targets: recall >= 0.90, precision >= 0.90, fewer than 0.1 false alarms per
series-month. ``--seeds 1 2 3 4 5 7`` prints instead one line per seed and the pooled figures
with their verdict.

The detector's ``min_rel`` default (0.15, was 0.2) was chosen, and k = 3.5 and the 5 % spread
floor kept, on seeds 11-15 at both noise settings, not on the seeds reported here. Seed 7:
precision 0.995, recall 0.964, 0.005 false alarms per series-month at 2-5 % noise (every
target met); 0.944, 0.833 and 0.071 at 5-8 % (recall missed: 0.37 in the 20-30 % band).
Seeds 1-5 and 7 pooled: 0.995, 0.955, 0.007 at 2-5 %; 0.942, 0.805, 0.061 at 5-8 %. Usage::

    .venv/bin/python bench/evaluate_anomalies.py [--seed 7] [--series 200] [--days 730]
        [--noise 0.02 0.05] [--seeds 1 2 3 4 5 7] [--k 3.5] [--min-rel 0.15] ...
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from costlake.anomalies.detector import AnomalySettings, daily_series, detect, new_entities

START = date(2023, 1, 2)  # a Monday
PROVIDERS = ("aws", "azure", "gcp", "oci")
KINDS = ("spike", "drop", "level_shift", "drift", "new_service")
KIND_WEIGHTS = (0.3, 0.2, 0.2, 0.15, 0.15)
MIN_REL = 0.2
MIN_ABS = 50.0
SHIFT_LABEL_DAYS = 21
SHIFT_DONT_CARE_DAYS = 7
GAP_DAYS = 56
FIRST_DAY = 70
NOISE = (0.02, 0.05)
TARGET_RECALL = 0.90
TARGET_PRECISION = 0.90
TARGET_FALSE_ALARMS = 0.1


@dataclass
class Event:
    kind: str
    series: int
    start: int
    end: int  # last day index of the event's label window
    magnitude: float


@dataclass
class Series:
    index: int
    provider: str
    account: str
    service: str
    region: str
    currency: str
    clean: bool
    start: int = 0
    costs: list[float] = field(default_factory=list)
    # per day: 1 positive, 0 negative, -1 don't care; and the event behind a label
    labels: list[int] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)
    magnitudes: list[float] = field(default_factory=list)
    since_start: list[bool] = field(default_factory=list)  # cumulative change meets thresholds


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _base_curve(
    rng: random.Random, days: int, level: float, noise: tuple[float, float]
) -> list[float]:
    """Level x seasonality x trend x noise, one value per day; the series' noise (the standard
    deviation of its log) is drawn uniformly from ``noise``."""
    flat = rng.random() < 1 / 3
    weekend = 1.0 if flat else rng.uniform(0.3, 0.9)
    monday = 1.0 if flat else rng.uniform(0.9, 1.1)
    friday = 1.0 if flat else rng.uniform(0.9, 1.1)
    factors = [monday, 1.0, 1.0, 1.0, friday, weekend, weekend]
    growth = rng.uniform(-0.3, 0.6)
    sigma = rng.uniform(*noise)
    curve = []
    for t in range(days):
        trend = math.exp(math.log1p(growth) * t / 365)
        noise = math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2)
        curve.append(level * factors[(START + timedelta(days=t)).weekday()] * trend * noise)
    return curve


def _counted(before: float, after: float) -> bool:
    moved = abs(after - before)
    return moved >= MIN_ABS and moved >= MIN_REL * abs(before)


def generate(
    seed: int,
    n_series: int,
    days: int,
    clean_share: float,
    noise: tuple[float, float] = NOISE,
) -> list[Series]:
    rng = random.Random(seed)
    out: list[Series] = []
    accounts = [
        (PROVIDERS[i % 4], f"acct-{i:03d}", "EUR" if i % 10 == 9 else "USD")
        for i in range(max(1, n_series // 4))
    ]
    services_of: dict[str, int] = {}
    for index in range(n_series):
        provider, account, currency = accounts[index % len(accounts)]
        services_of[account] = services_of.get(account, 0) + 1
        series = Series(
            index=index,
            provider=provider,
            account=account,
            service=f"svc-{services_of[account]:02d}",
            region=f"{provider}-region-{index % 3}",
            currency=currency,
            clean=rng.random() < clean_share,
        )
        level = _log_uniform(rng, 20, 20_000)
        series.costs = _base_curve(rng, days, level, noise)
        series.labels = [0] * days
        series.kinds = [None] * days
        series.magnitudes = [0.0] * days
        series.since_start = [False] * days
        out.append(series)
        if series.clean:
            continue
        day = FIRST_DAY + rng.randrange(0, 28)
        while day < days - 7:
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            end = _inject(rng, kind, series, day, days, out, services_of, noise)
            day = end + GAP_DAYS + rng.randrange(0, 28)
    return out


def _label(series: Series, t: int, kind: str, before: float, after: float, rel: float) -> None:
    series.kinds[t] = kind
    series.magnitudes[t] = rel
    series.labels[t] = 1 if _counted(before, after) else -1


def _inject(
    rng: random.Random,
    kind: str,
    series: Series,
    start: int,
    days: int,
    out: list[Series],
    services_of: dict[str, int],
    noise: tuple[float, float],
) -> int:
    """Apply one anomaly from ``start``; returns the last day of its label window."""
    if kind in ("spike", "drop"):
        length = rng.randint(1, 3)
        spike = kind == "spike"
        factor = 1 + _log_uniform(rng, 0.05, 4.0) if spike else 1 - rng.uniform(0.05, 1.0)
        for t in range(start, min(days, start + length)):
            before = series.costs[t]
            series.costs[t] = before * factor
            _label(series, t, kind, before, series.costs[t], abs(factor - 1))
        return start + length - 1
    if kind == "level_shift":
        if rng.random() < 0.6:
            factor = 1 + _log_uniform(rng, 0.05, 2.0)
        else:
            factor = 1 - rng.uniform(0.05, 0.7)
        return _persistent(series, start, days, kind, lambda offset: factor)
    if kind == "drift":
        ramp = rng.randint(14, 42)
        total = _log_uniform(rng, 0.1, 1.5)
        return _persistent(
            series,
            start,
            days,
            kind,
            lambda offset: 1 + total * min(1.0, (offset + 1) / ramp),
            ramp,
        )
    return _new_service(rng, kind, series, start, days, out, services_of, noise)


def _persistent(
    series: Series,
    start: int,
    days: int,
    kind: str,
    path: Callable[[int], float],
    ramp: int = 1,
) -> int:
    """A persistent change whose multiplier on day ``start + offset`` is ``path(offset)``.

    A day is positive when the change made over the last SHIFT_LABEL_DAYS (21) days meets both
    thresholds (for a level shift: its first 21 days); don't care when the change over the last
    28 days is not zero (below the thresholds, or half absorbed); negative otherwise. Whether
    the cumulative change since the start meets the thresholds is kept apart (``since_start``)
    to report recall on that reading of a drift's labels too."""

    def m(offset: int) -> float:
        return 1.0 if offset < 0 else path(offset)

    window = SHIFT_LABEL_DAYS + SHIFT_DONT_CARE_DAYS
    for t in range(start, min(days, start + ramp - 1 + window)):
        offset = t - start
        counterfactual = series.costs[t]
        before, after = counterfactual * m(offset - SHIFT_LABEL_DAYS), counterfactual * m(offset)
        series.since_start[t] = _counted(counterfactual, after)
        if _counted(before, after):
            _label(series, t, kind, before, after, abs(after / before - 1))
        else:
            series.labels[t], series.kinds[t] = -1, kind
    for t in range(start, days):
        series.costs[t] *= m(t - start)
    return start + ramp + window - 1


def _new_service(
    rng: random.Random,
    kind: str,
    series: Series,
    start: int,
    days: int,
    out: list[Series],
    services_of: dict[str, int],
    noise: tuple[float, float],
) -> int:
    # new_service: a new series in the same account, from start on
    services_of[series.account] += 1
    new = Series(
        index=len(out),
        provider=series.provider,
        account=series.account,
        service=f"svc-{services_of[series.account]:02d}",
        region=series.region,
        currency=series.currency,
        clean=False,
        start=start,
    )
    curve = _base_curve(rng, days, _log_uniform(rng, 10, 5_000), noise)
    new.costs = [0.0] * start + curve[start:]
    new.labels = [0] * days
    new.kinds = [None] * days
    new.magnitudes = [0.0] * days
    new.since_start = [False] * days
    for t in range(start, min(days, start + 30)):
        if new.costs[t] >= MIN_ABS:
            new.labels[t], new.kinds[t], new.magnitudes[t] = 1, kind, math.inf
            break
        new.labels[t], new.kinds[t] = -1, kind
    out.append(new)
    return start


def focus_frame(all_series: list[Series]) -> pl.DataFrame:
    """A FOCUS-like frame: one row per series and day with spend."""
    rows: dict[str, list] = {
        "x_Provider": [],
        "BillingAccountId": [],
        "ServiceName": [],
        "RegionId": [],
        "BillingCurrency": [],
        "ChargePeriodStart": [],
        "EffectiveCost": [],
    }
    for series in all_series:
        for t, cost in enumerate(series.costs):
            if t < series.start or cost == 0:
                continue
            rows["x_Provider"].append(series.provider)
            rows["BillingAccountId"].append(series.account)
            rows["ServiceName"].append(series.service)
            rows["RegionId"].append(series.region)
            rows["BillingCurrency"].append(series.currency)
            rows["ChargePeriodStart"].append(
                datetime.combine(START + timedelta(days=t), datetime.min.time(), tzinfo=UTC)
            )
            rows["EffectiveCost"].append(cost)
    return pl.DataFrame(rows).with_columns(
        pl.col("ChargePeriodStart").cast(pl.Datetime("us", "UTC"))
    )


def truth_frame(all_series: list[Series]) -> pl.DataFrame:
    rows: dict[str, list] = {k: [] for k in ("ServiceName", "BillingAccountId", "day", "label")}
    rows |= {"kind": [], "magnitude": [], "clean": [], "since_start": []}
    for series in all_series:
        for t in range(series.start, len(series.costs)):
            rows["ServiceName"].append(series.service)
            rows["BillingAccountId"].append(series.account)
            rows["day"].append(START + timedelta(days=t))
            rows["label"].append(series.labels[t])
            rows["kind"].append(series.kinds[t])
            rows["magnitude"].append(series.magnitudes[t])
            rows["clean"].append(series.clean)
            rows["since_start"].append(series.since_start[t])
    return pl.DataFrame(rows, schema_overrides={"label": pl.Int8})


def echo_kind(truth: pl.DataFrame) -> pl.DataFrame:
    """For negative days: the kind of the latest labelled event within GAP_DAYS before."""
    keys = ["BillingAccountId", "ServiceName"]
    events = (
        truth.filter(pl.col("kind").is_not_null())
        .group_by([*keys, "kind"])
        .agg(pl.col("day"))
        .explode("day")
        .rename({"day": "event_day", "kind": "echo_of"})
        .sort("event_day")
    )
    return (
        truth.sort(*keys, "day")
        .join_asof(
            events.sort(*keys, "event_day"),
            left_on="day",
            right_on="event_day",
            by=keys,
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            pl.when((pl.col("day") - pl.col("event_day")).dt.total_days() <= GAP_DAYS)
            .then(pl.col("echo_of"))
            .otherwise(pl.lit("background"))
            .alias("echo_of")
        )
    )


def score(focus: pl.DataFrame, truth: pl.DataFrame, settings: AnomalySettings, as_of: date) -> dict:
    """Run the detector on ``focus`` and compare with ``truth``."""
    started = time.perf_counter()
    scored = detect(daily_series(focus.lazy(), settings.group_by), settings, as_of)
    new = new_entities(focus.lazy(), as_of, settings).filter(pl.col("kind") == "new_service")
    seconds = time.perf_counter() - started
    keys = ["BillingAccountId", "ServiceName", "day"]
    new_days = new.select(
        "BillingAccountId", pl.col("value").alias("ServiceName"), "day", pl.lit(True).alias("new")
    )
    flags = scored.select(*keys, "status").join(new_days, on=keys, how="full", coalesce=True)
    flags = flags.with_columns(
        ((pl.col("status") == "anomaly").fill_null(False) | pl.col("new").fill_null(False)).alias(
            "predicted"
        )
    )
    frame = truth.join(flags.select(*keys, "predicted", "status"), on=keys, how="left")
    frame = frame.with_columns(pl.col("predicted").fill_null(False))
    positives = frame.filter(pl.col("label") == 1)
    negatives = frame.filter(pl.col("label") == 0)
    dont_care = frame.filter(pl.col("label") == -1)
    tp, fp = int(positives["predicted"].sum()), int(negatives["predicted"].sum())
    clean = frame.filter(pl.col("clean") & (pl.col("status") != "insufficient_history"))
    since_start = frame.filter((pl.col("kind") == "drift") & pl.col("since_start"))
    return {
        "seconds": seconds,
        "positives": positives,
        "negatives": negatives,
        "dont_care": dont_care,
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / positives.height if positives.height else math.nan,
        "clean_flags": int(clean["predicted"].sum()),
        "series_months": clean.height / 30,
        "since_start": since_start,
    }


def _rate(hit: int, total: int) -> str:
    return f"{hit / total:.3f}" if total else "  n/a"


def false_alarm_rate(result: dict) -> float:
    return result["clean_flags"] / result["series_months"]


def verdict(precision: float, recall: float, false_alarms: float) -> str:
    """One line: each figure against its target."""
    checks = [
        (f"recall {recall:.3f} >= {TARGET_RECALL:.2f}", recall >= TARGET_RECALL),
        (f"precision {precision:.3f} >= {TARGET_PRECISION:.2f}", precision >= TARGET_PRECISION),
        (
            f"false alarms {false_alarms:.3f} < {TARGET_FALSE_ALARMS:g} per series-month",
            false_alarms < TARGET_FALSE_ALARMS,
        ),
    ]
    return "verdict: " + "; ".join(f"{text} {'met' if ok else 'NOT MET'}" for text, ok in checks)


def report(result: dict, settings: AnomalySettings) -> None:
    positives, negatives = result["positives"], result["negatives"]
    print(
        f"detector: spread_method={settings.spread_method} weeks={settings.weeks} "
        f"k={settings.k} min_abs={settings.min_abs:g} min_rel={settings.min_rel:g} "
        f"spread floor {settings.spread_floor_rel:.0%}; detect + new_entities in "
        f"{result['seconds']:.1f} s"
    )
    print(
        f"labelled series-days: {positives.height:,} positive, "
        f"{result['dont_care'].height:,} don't care, {negatives.height:,} negative"
    )
    print(
        f"precision {result['precision']:.3f}   recall {result['recall']:.3f}   "
        f"(per labelled series-day: TP {result['tp']:,}, FP {result['fp']:,}, "
        f"FN {positives.height - result['tp']:,})"
    )
    print(
        f"anomaly-free series: {result['clean_flags']} flagged days in "
        f"{result['series_months']:,.0f} series-months = {false_alarm_rate(result):.3f} per "
        "series-month"
    )
    # A false positive has no injected anomaly of its own: per kind it is charged to the
    # anomaly of that kind within 8 weeks before it (an echo), if any, else to "background".
    echoes = dict(negatives.filter(pl.col("predicted")).group_by("echo_of").len().iter_rows())
    print(
        "\nper kind                   positive days   detected   recall   FP after it   precision"
    )
    for (kind,), group in sorted(positives.group_by("kind")):
        hit, echo = int(group["predicted"].sum()), echoes.get(kind, 0)
        print(
            f"  {kind:24s} {group.height:13,d} {hit:10,d}   {_rate(hit, group.height)}"
            f" {echo:13,d}       {_rate(hit, hit + echo)}"
        )
    print(f"  {'background':24s} {'':13s} {'':10s}   {'':5s} {echoes.get('background', 0):13,d}")
    print(
        "  (FP after it: false positives within 8 weeks after an injected anomaly of that kind;"
        "\n   background: the others. precision per kind = detected / (detected + FP after it))"
    )
    drift = result["since_start"]
    hit = int(drift["predicted"].sum())
    print(
        f"  (drift days whose change since the drift began meets both thresholds, the literal "
        f"reading: {drift.height:,}, detected {hit:,}, recall {_rate(hit, drift.height)})"
    )
    print("\nper magnitude band         positive days   detected   recall   (new services apart)")
    magnitude = pl.col("magnitude")
    band = (
        pl.when(magnitude < 0.3)
        .then(pl.lit("0.2-0.3"))
        .when(magnitude < 0.4)
        .then(pl.lit("0.3-0.4"))
        .when(magnitude < 0.5)
        .then(pl.lit("0.4-0.5"))
        .when(magnitude <= 1.0)
        .then(pl.lit("0.5-1"))
        .otherwise(pl.lit(">1"))
    )
    banded = positives.filter(pl.col("kind") != "new_service").with_columns(band.alias("band"))
    for (band,), group in sorted(banded.group_by("band")):
        hit = int(group["predicted"].sum())
        print(f"  {band:24s} {group.height:13,d} {hit:10,d}   {_rate(hit, group.height)}")
    print(
        "  (a false positive has no injected magnitude: precision has no band; a flagged "
        "positive day is a TP)"
    )
    dont_care = result["dont_care"]
    print(
        f"\ndon't-care days flagged (neither TP nor FP): "
        f"{int(dont_care['predicted'].sum()):,} of {dont_care.height:,}"
    )


def _settings(args: argparse.Namespace) -> tuple[AnomalySettings, dict]:
    overrides = {
        name: getattr(args, name)
        for name in (
            "k",
            "weeks",
            "min_history_weeks",
            "min_abs",
            "min_rel",
            "spread_floor_rel",
            "spread_method",
        )
        if getattr(args, name) is not None
    }
    return AnomalySettings(**overrides), overrides


def _data(args: argparse.Namespace, seed: int) -> tuple[list[Series], pl.DataFrame, pl.DataFrame]:
    all_series = generate(seed, args.series, args.days, args.clean, tuple(args.noise))
    return all_series, focus_frame(all_series), echo_kind(truth_frame(all_series))


def _noise_text(args: argparse.Namespace) -> str:
    low, high = args.noise
    return f"day noise {low:.0%}-{high:.0%} per series (log-normal, drawn uniformly per series)"


def evaluate(args: argparse.Namespace) -> None:
    settings, overrides = _settings(args)
    started = time.perf_counter()
    all_series, focus, truth = _data(args, args.seed)
    as_of = START + timedelta(days=args.days - 1)
    print(
        f"seed {args.seed}: {args.series} series + "
        f"{len(all_series) - args.series} new services = {len(all_series)} series "
        f"({sum(s.clean for s in all_series)} anomaly-free) x {args.days} days, "
        f"{focus.height:,} FOCUS rows, generated in {time.perf_counter() - started:.1f} s"
    )
    print(_noise_text(args))
    result = score(focus, truth, settings, as_of)
    report(result, settings)
    if not overrides:
        plain = AnomalySettings(spread_method="same_weekday", k=4.0)
        other = score(focus, truth, plain, as_of)
        print(
            f"\nfor comparison, the plain method of the notes (spread_method=same_weekday, k=4):"
            f" precision {other['precision']:.3f}, recall {other['recall']:.3f}, "
            f"{false_alarm_rate(other):.3f} false alarms per series-month"
        )
    print("\n" + verdict(result["precision"], result["recall"], false_alarm_rate(result)))


def evaluate_seeds(args: argparse.Namespace) -> None:
    """One line per seed, then the figures pooled over the seeds and their verdict."""
    settings, _ = _settings(args)
    as_of = START + timedelta(days=args.days - 1)
    print(
        f"seeds {' '.join(map(str, args.seeds))}: {args.series} series x {args.days} days "
        f"each; {_noise_text(args)}"
    )
    print(
        f"detector: spread_method={settings.spread_method} k={settings.k} "
        f"min_abs={settings.min_abs:g} min_rel={settings.min_rel:g} "
        f"spread floor {settings.spread_floor_rel:.0%}"
    )
    print("  seed   precision   recall   recall 0.2-0.3   false alarms / series-month")
    tp = fp = positives = flags = 0
    months = 0.0
    for seed in args.seeds:
        _, focus, truth = _data(args, seed)
        result = score(focus, truth, settings, as_of)
        low = result["positives"].filter(
            (pl.col("kind") != "new_service") & (pl.col("magnitude") < 0.3)
        )
        print(
            f"  {seed:4d}   {result['precision']:9.3f}   {result['recall']:6.3f}   "
            f"{_rate(int(low['predicted'].sum()), low.height):>14s}   "
            f"{false_alarm_rate(result):27.3f}"
        )
        tp, fp = tp + result["tp"], fp + result["fp"]
        positives += result["positives"].height
        flags, months = flags + result["clean_flags"], months + result["series_months"]
    precision, recall = tp / (tp + fp), tp / positives
    print(
        f"  pooled {precision:9.3f}   {recall:6.3f}   {'':14s}   {flags / months:27.3f}"
        f"   (TP {tp:,}, FP {fp:,}, FN {positives - tp:,}; {flags} flags in {months:,.0f} "
        "series-months)"
    )
    print("\n" + verdict(precision, recall, flags / months) + " (pooled)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--clean", type=float, default=0.25, help="share of anomaly-free series")
    parser.add_argument(
        "--noise",
        nargs=2,
        type=float,
        default=list(NOISE),
        metavar=("LOW", "HIGH"),
        help="range of the per-series day noise (standard deviation of its log)",
    )
    parser.add_argument("--k", type=float, default=None)
    parser.add_argument("--weeks", type=int, default=None)
    parser.add_argument("--min-history-weeks", dest="min_history_weeks", type=int, default=None)
    parser.add_argument("--min-abs", dest="min_abs", type=float, default=None)
    parser.add_argument("--min-rel", dest="min_rel", type=float, default=None)
    parser.add_argument("--spread-floor-rel", dest="spread_floor_rel", type=float, default=None)
    parser.add_argument(
        "--spread-method", dest="spread_method", choices=["recent_residuals", "same_weekday"]
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help="instead of --seed's full report: one summary line per seed, pooled figures",
    )
    args = parser.parse_args()
    if args.seeds:
        evaluate_seeds(args)
    else:
        evaluate(args)


if __name__ == "__main__":
    main()
