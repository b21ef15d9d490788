"""Evaluate the anomaly detector per event on daily spend shaped like real bills, and on NAB.

No public labelled cloud-cost series exists, so this script makes labelled ones, from choices
about spend, not about the detector (its noise is not the detector's log-normal, its weekly
shape is not a fixed factor, its anomalies are not steps of the detector's baseline):

* **level**: log-uniform from 20 to 20,000 a day (a tenth in EUR: currencies never mix);
* **weekly shape**: 40 % of series flat (machines that stay up), the others business-shaped:
  weekends at 30-90 %, Mondays and Fridays within ±10 %;
* **growth**: -1 % to +4 % a month, compounded daily;
* **noise**: day-to-day noise of 3-12 % (``--noise``), drawn per series, from a Student t with
  8 degrees of freedom (``--dof``; heavier tails than a normal) scaled to that standard
  deviation, and auto-correlated (AR(1), rho 0-0.4: a busy day is often followed by another);
* **holidays** (US: New Year, Memorial Day, Independence Day, Labor Day, Thanksgiving and the
  Friday after, 24-31 December): business-shaped series fall to 50-90 % on them. They are not
  labelled anomalies; alerts starting on them count as neither true nor false (printed apart);
* **cold start**: a quarter of the series start after the first day (a service launched),
  ramping from a third of their level to all of it over 1-3 weeks;
* **injected events** on 70 % of the series, 30-100 days apart: *spike* (1-3 days, +20 % to
  +400 %), *runaway* (a job or agent that runs away: 3-14 days at x1.2 to x10, reached in 1-3
  days), *outage* (1-5 days at -20 % to -100 %) and *level shift* (persistent: +20 % to +150 %
  or -20 % to -60 %, the new level kept for good).

**Labels.** Each injected event has a window: its days for spikes, runaways and outages, the
first 7 days for a level shift. It is *material* when its change is at least 20 % and its mean
daily change at least 50 (in the series' currency); a smaller one is *don't care*.

**Scoring per event.** The detector's events (``costlake anomalies detect``'s rows) are its
alerts. An alert is **true** when it starts inside a material event's window no later than 2 days
after the event's start (the first such alert of an event; a second one is false); an alert
that starts within a don't-care event's window, or within 2 days after it, or on a holiday, is
neither; every other alert is **false**, echoes of an event included (a return to normal
flagged, a level shift flagged twice). Event recall = material events with a true alert /
material events; alert precision = true / (true + false); false alerts per series-month on
clean series (no injected event), over their scored days. Escalation alerts are counted apart.

**Scoring per day.** Positive days: the days of material windows; don't care: holidays, windows
of don't-care events and the 4 weeks after a level shift's first week; negative: the rest.

**Second check: NAB.** ``bench/data/nab_nyc_taxi_daily.csv`` (NYC taxi passengers per day, from
the Numenta Anomaly Benchmark, MIT; see bench/data/README.md) with NAB's five labelled windows:
how many of them an event starts in, and how many events start outside them.

The detector's defaults were chosen on seeds 11-15 (11-13 in the first round); the figures in
docs/anomalies.md are of seeds 1-5. Usage::

    .venv/bin/python bench/evaluate_anomalies.py [--seeds 1 2 3 4 5] [--series 200]
        [--days 540] [--noise 0.03 0.12] [--dof 8] [--k 3] [--k-one-day 5]
        [--k-continue 1.75] [--cusum-threshold T] [--cusum-drift D] [--season-weeks W] ...
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from costlake.anomalies.detector import AnomalySettings
from costlake.anomalies.series_files import detect_events

START = date(2024, 1, 1)
KINDS = ("spike", "runaway", "outage", "level_shift")
KIND_WEIGHTS = (0.3, 0.2, 0.2, 0.3)
MIN_REL, MIN_ABS = 0.2, 50.0
MATCH_DAYS = 2
SHIFT_WINDOW = 7
SHIFT_SETTLING = 28
NAB_SERIES = Path(__file__).parent / "data" / "nab_nyc_taxi_daily.csv"
NAB_WINDOWS = Path(__file__).parent / "data" / "nab_nyc_taxi_windows.json"
TARGETS = {"recall": 0.90, "precision": 0.90, "false_alerts": 1 / 20}


@dataclass
class Label:
    series: str
    kind: str
    start: int
    end: int  # last day of the window
    magnitude: float  # relative change, e.g. 0.4 for +40 %
    daily: float  # mean daily change in currency over the window
    material: bool


@dataclass
class Series:
    name: str
    start: int
    business: bool
    clean: bool
    costs: list[float] = field(default_factory=list)


def holidays(first: date, days: int) -> set[int]:
    """Day indices of US holidays when business-shaped spend falls."""
    out: set[int] = set()
    for year in range(first.year, (first + timedelta(days=days)).year + 1):
        may = [date(year, 5, d) for d in range(25, 32)]
        september = [date(year, 9, d) for d in range(1, 8)]
        november = [date(year, 11, d) for d in range(22, 29)]
        thanksgiving = next(d for d in november if d.weekday() == 3)
        chosen = [
            date(year, 1, 1),
            next(d for d in reversed(may) if d.weekday() == 0),
            date(year, 7, 4),
            next(d for d in september if d.weekday() == 0),
            thanksgiving,
            thanksgiving + timedelta(days=1),
            *[date(year, 12, d) for d in range(24, 32)],
        ]
        out |= {(d - first).days for d in chosen}
    return {i for i in out if 0 <= i < days}


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _t_noise(rng: random.Random, dof: int) -> float:
    """A Student t draw scaled to unit variance (a normal one with ``dof`` 0)."""
    if dof == 0:
        return rng.gauss(0, 1)
    chi2 = sum(rng.gauss(0, 1) ** 2 for _ in range(dof))
    return rng.gauss(0, 1) / math.sqrt(chi2 / dof) / math.sqrt(dof / (dof - 2))


def _curve(
    rng: random.Random,
    days: int,
    start: int,
    noise: tuple[float, float],
    off: set[int],
    dof: int,
) -> tuple[list[float], bool]:
    level = _log_uniform(rng, 20, 20_000)
    business = rng.random() >= 0.4
    weekend = rng.uniform(0.3, 0.9) if business else 1.0
    monday = rng.uniform(0.9, 1.1) if business else 1.0
    friday = rng.uniform(0.9, 1.1) if business else 1.0
    shape = [monday, 1.0, 1.0, 1.0, friday, weekend, weekend]
    holiday = rng.uniform(0.5, 0.9)
    growth = rng.uniform(-0.01, 0.04)
    sigma, rho = rng.uniform(*noise), rng.uniform(0.0, 0.4)
    ramp = rng.randint(7, 21)
    costs, previous = [], 0.0
    for t in range(days):
        innovation = _t_noise(rng, dof)
        previous = rho * previous + math.sqrt(1 - rho * rho) * innovation
        if t < start:
            costs.append(0.0)
            continue
        factor = shape[(START + timedelta(days=t)).weekday()]
        if business and t in off:
            factor = min(factor, holiday)
        launch = min(1.0, 1 / 3 + (2 / 3) * (t - start) / ramp) if start > 0 else 1.0
        trend = (1 + growth) ** (t / 30.4)
        costs.append(level * factor * trend * launch * (1 + sigma * previous))
    return [max(0.0, c) for c in costs], business


def _inject(rng: random.Random, series: Series, day: int, days: int) -> Label:
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    before = series.costs[:]
    if kind == "spike":
        length, factor = rng.randint(1, 3), 1 + _log_uniform(rng, 0.2, 4.0)
        path = [factor] * length
    elif kind == "runaway":
        length, factor = rng.randint(3, 14), 1 + _log_uniform(rng, 0.2, 9.0)
        rise = rng.randint(1, 3)
        path = [1 + (factor - 1) * min(1.0, (i + 1) / rise) for i in range(length)]
    elif kind == "outage":
        length, factor = rng.randint(1, 5), 1 - rng.uniform(0.2, 1.0)
        path = [factor] * length
    else:
        factor = 1 + _log_uniform(rng, 0.2, 1.5) if rng.random() < 0.6 else rng.uniform(0.4, 0.8)
        length, path = days - day, [factor] * (days - day)
    for i, multiplier in enumerate(path):
        if day + i < days:
            series.costs[day + i] *= multiplier
    window = min(len(path), SHIFT_WINDOW) if kind == "level_shift" else len(path)
    end = min(days, day + window) - 1
    change = [abs(series.costs[t] - before[t]) for t in range(day, end + 1)]
    daily = sum(change) / len(change)
    magnitude = abs(factor - 1)
    return Label(
        series.name, kind, day, end, magnitude, daily, magnitude >= MIN_REL and daily >= MIN_ABS
    )


def generate(
    seed: int,
    n_series: int,
    days: int,
    noise: tuple[float, float],
    dof: int = 8,
    clean_share: float = 0.3,
) -> tuple[list[Series], list[Label], set[int]]:
    rng = random.Random(seed)
    off = holidays(START, days)
    out, labels = [], []
    for index in range(n_series):
        start = rng.randrange(28, days - 120) if rng.random() < 0.25 else 0
        costs, business = _curve(rng, days, start, noise, off, dof)
        currency = "EUR" if index % 10 == 9 else "USD"
        series = Series(f"s{index:04d}-{currency}", start, business, rng.random() < clean_share)
        series.costs = costs
        out.append(series)
        if series.clean:
            continue
        day = start + 42 + rng.randrange(0, 40)
        while day < days - 14:
            label = _inject(rng, series, day, days)
            labels.append(label)
            if label.kind == "level_shift":
                day = label.start + SHIFT_SETTLING + 30 + rng.randrange(0, 70)
            else:
                day = label.end + 30 + rng.randrange(0, 70)
    return out, labels, off


def series_frame(all_series: list[Series]) -> pl.DataFrame:
    """``series,day,cost``, one row per series and day from its first day on."""
    names, days, costs = [], [], []
    for series in all_series:
        for t in range(series.start, len(series.costs)):
            names.append(series.name)
            days.append(START + timedelta(days=t))
            costs.append(series.costs[t])
    return pl.DataFrame({"series": names, "day": days, "cost": costs})


def _band(magnitude: float) -> str:
    if magnitude < 0.3:
        return "0.2-0.3"
    if magnitude < 0.5:
        return "0.3-0.5"
    return "0.5-1" if magnitude <= 1 else ">1"


def score_events(
    found: pl.DataFrame,
    labels: list[Label],
    all_series: list[Series],
    off: set[int],
    scored_days: pl.DataFrame,
) -> dict:
    """Event recall, alert precision and false alerts on clean series (see the docstring)."""
    by_series: dict[str, list[Label]] = {}
    for label in labels:
        by_series.setdefault(label.series, []).append(label)
    clean = {s.name for s in all_series if s.clean}
    matched: set[int] = set()
    true = false = neither = on_holiday = clean_false = 0
    false_kinds: dict[str, int] = {}
    for name, start in found.select("series", "start").sort("series", "start").iter_rows():
        t = (start - START).days
        hit = None
        ignore = False
        for label in by_series.get(name, []):
            if label.start <= t <= label.start + MATCH_DAYS:
                if label.material and id(label) not in matched:
                    hit = label
                    break
                ignore = ignore or not label.material
            elif not label.material and label.start <= t <= label.end + MATCH_DAYS:
                ignore = True
        if hit is not None:
            matched.add(id(hit))
            true += 1
        elif t in off:
            on_holiday += 1
        elif ignore:
            neither += 1
        else:
            false += 1
            near = [lb for lb in by_series.get(name, []) if lb.start <= t <= lb.end + 60]
            reason = f"after {near[-1].kind}" if near else "background"
            false_kinds[reason] = false_kinds.get(reason, 0) + 1
            clean_false += name in clean
    material = [lb for lb in labels if lb.material]
    recall_by: dict[str, tuple[int, int]] = {}
    for label in material:
        hit, total = recall_by.get(label.kind, (0, 0))
        recall_by[label.kind] = (hit + (id(label) in matched), total + 1)
    recall_band: dict[str, tuple[int, int]] = {}
    for label in material:
        band = _band(label.magnitude)
        hit, total = recall_band.get(band, (0, 0))
        recall_band[band] = (hit + (id(label) in matched), total + 1)
    clean_days = scored_days.filter(pl.col("series").is_in(sorted(clean))).height
    return {
        "material": len(material),
        "detected": len(matched),
        "true": true,
        "false": false,
        "neither": neither,
        "on_holiday": on_holiday,
        "clean_false": clean_false,
        "clean_months": clean_days / 30,
        "recall_by": recall_by,
        "recall_band": recall_band,
        "false_kinds": false_kinds,
        "escalations": int(found["escalated_on"].is_not_null().sum()),
    }


def score_days(detected: pl.DataFrame, labels: list[Label], off: set[int]) -> dict:
    rows = {"series": [], "t": [], "label": []}
    for label in labels:
        last = label.end + (SHIFT_SETTLING if label.kind == "level_shift" else 0)
        for t in range(label.start, last + 1):
            rows["series"].append(label.series)
            rows["t"].append(t)
            rows["label"].append(1 if label.material and t <= label.end else -1)
    truth = (
        pl.DataFrame(rows, schema={"series": pl.String, "t": pl.Int64, "label": pl.Int8})
        .group_by("series", "t")
        .agg(pl.col("label").max())
    )
    days = detected.filter(pl.col("status") != "insufficient_history").with_columns(
        (pl.col("day") - pl.lit(START)).dt.total_days().alias("t"),
        (pl.col("status") == "anomaly").alias("flag"),
    )
    frame = days.join(truth, on=["series", "t"], how="left").with_columns(
        pl.when(pl.col("t").is_in(sorted(off)))
        .then(pl.lit(-1, pl.Int8))
        .otherwise(pl.col("label").fill_null(0))
        .alias("label")
    )
    tp = frame.filter((pl.col("label") == 1) & pl.col("flag")).height
    fp = frame.filter((pl.col("label") == 0) & pl.col("flag")).height
    positives = frame.filter(pl.col("label") == 1).height
    return {"tp": tp, "fp": fp, "positives": positives}


def nab_check(settings: AnomalySettings) -> str:
    series = pl.read_csv(
        NAB_SERIES, schema={"series": pl.String, "day": pl.Date, "cost": pl.Float64}
    )
    windows = json.loads(NAB_WINDOWS.read_text())["windows"]
    spans = [
        (datetime.fromisoformat(a).date(), datetime.fromisoformat(b).date()) for a, b in windows
    ]
    found, _ = detect_events(series, settings)
    starts = found["start"].to_list()
    hit = [any(a <= s <= b for s in starts) for a, b in spans]
    outside = [s for s in starts if not any(a <= s <= b for a, b in spans)]
    return (
        f"NAB nyc_taxi (daily, {series.height} days): {sum(hit)} of {len(spans)} labelled windows "
        f"have an event starting in them; {len(outside)} event(s) start outside "
        f"({', '.join(map(str, outside)) or 'none'}); events: "
        + ", ".join(
            f"{r['start']}..{r['end'] or 'open'} {r['excess']:+,.0f}"
            for r in found.iter_rows(named=True)
        )
    )


def _settings(args: argparse.Namespace) -> AnomalySettings:
    names = (
        "k",
        "k_one_day",
        "k_continue",
        "level_days",
        "season_weeks",
        "weeks",
        "min_rel",
        "spread_floor_rel",
        "gap_days",
        "cusum_drift",
        "cusum_threshold",
        "cusum_clip",
    )
    overrides = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    return AnomalySettings(**overrides)


def _ratio(hit: int, total: int) -> str:
    return f"{hit / total:.3f}" if total else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--noise", nargs=2, type=float, default=[0.03, 0.12])
    parser.add_argument(
        "--dof", type=int, default=8, help="the noise's Student t degrees of freedom (0: normal)"
    )
    parser.add_argument("--k", type=float)
    parser.add_argument("--k-one-day", dest="k_one_day", type=float)
    parser.add_argument("--k-continue", dest="k_continue", type=float)
    parser.add_argument("--level-days", dest="level_days", type=int)
    parser.add_argument("--weeks", type=int)
    parser.add_argument("--season-weeks", dest="season_weeks", type=int)
    parser.add_argument("--min-rel", dest="min_rel", type=float)
    parser.add_argument("--spread-floor-rel", dest="spread_floor_rel", type=float)
    parser.add_argument("--gap-days", dest="gap_days", type=int)
    parser.add_argument("--cusum-drift", dest="cusum_drift", type=float)
    parser.add_argument("--cusum-threshold", dest="cusum_threshold", type=float)
    parser.add_argument("--cusum-clip", dest="cusum_clip", type=float)
    parser.add_argument("--verbose", action="store_true", help="per-seed lines and breakdowns")
    args = parser.parse_args()
    settings = _settings(args)
    print(
        f"seeds {' '.join(map(str, args.seeds))}: {args.series} series x {args.days} days each, "
        f"noise {args.noise[0]:.0%}-{args.noise[1]:.0%}; detector k={settings.k} "
        f"k_continue={settings.k_continue} cusum={settings.cusum_threshold}/"
        f"{settings.cusum_drift} season_weeks={settings.season_weeks} "
        f"level_days={settings.level_days} weeks={settings.weeks} "
        f"min_abs={settings.min_abs:g} min_rel={settings.min_rel:g} "
        f"noise floor {settings.spread_floor_rel:.0%}"
    )
    totals: dict = {}
    day_totals = {"tp": 0, "fp": 0, "positives": 0}
    seconds = 0.0
    for seed in args.seeds:
        all_series, labels, off = generate(
            seed, args.series, args.days, tuple(args.noise), args.dof
        )
        frame = series_frame(all_series)
        started = time.perf_counter()
        found, detected = detect_events(frame, settings)
        seconds += time.perf_counter() - started
        scored = detected.filter(pl.col("status") != "insufficient_history")
        result = score_events(found, labels, all_series, off, scored)
        days = score_days(detected, labels, off)
        if args.verbose:
            print(
                f"  seed {seed}: recall {_ratio(result['detected'], result['material'])} "
                f"precision {_ratio(result['true'], result['true'] + result['false'])} "
                f"false/clean month {result['clean_false'] / result['clean_months']:.3f} "
                f"false by cause {result['false_kinds']}"
            )
        for key, value in result.items():
            if isinstance(value, dict):
                bucket = totals.setdefault(key, {})
                for k, v in value.items():
                    if isinstance(v, tuple):
                        old = bucket.get(k, (0, 0))
                        bucket[k] = (old[0] + v[0], old[1] + v[1])
                    else:
                        bucket[k] = bucket.get(k, 0) + v
            else:
                totals[key] = totals.get(key, 0) + value
        for key in day_totals:
            day_totals[key] += days[key]
    recall = totals["detected"] / totals["material"]
    precision = totals["true"] / (totals["true"] + totals["false"])
    false_rate = totals["clean_false"] / totals["clean_months"]
    print(
        f"events: {totals['material']:,} material labelled, {totals['detected']:,} detected: "
        f"event recall {recall:.3f}"
    )
    print(
        "  recall by kind: "
        + ", ".join(f"{k} {_ratio(*v)} ({v[1]})" for k, v in sorted(totals["recall_by"].items()))
    )
    print(
        "  recall by size: "
        + ", ".join(f"{k} {_ratio(*v)} ({v[1]})" for k, v in sorted(totals["recall_band"].items()))
    )
    print(
        f"alerts: {totals['true']:,} true, {totals['false']:,} false, {totals['neither']:,} on "
        f"don't-care events, {totals['on_holiday']:,} on holidays: alert precision {precision:.3f}"
    )
    print(f"  false alerts by cause: {dict(sorted(totals['false_kinds'].items()))}")
    print(f"  escalation alerts (apart): {totals['escalations']:,}")
    print(
        f"clean series: {totals['clean_false']} false alerts in {totals['clean_months']:,.0f} "
        f"series-months = {false_rate:.4f} per series-month (1 per "
        f"{(1 / false_rate) if false_rate else math.inf:,.0f})"
    )
    tp, fp = day_totals["tp"], day_totals["fp"]
    print(
        f"per day: precision {_ratio(tp, tp + fp)}, recall {_ratio(tp, day_totals['positives'])} "
        f"(TP {tp:,}, FP {fp:,}, positives {day_totals['positives']:,})"
    )
    print(f"detection: {seconds:.1f} s for {len(args.seeds)} seed(s)")
    print(nab_check(settings))
    checks = [
        (f"event recall {recall:.3f} >= 0.90", recall >= TARGETS["recall"]),
        (f"alert precision {precision:.3f} >= 0.90", precision >= TARGETS["precision"]),
        (
            f"false alerts {false_rate:.4f} < 0.05 per clean series-month",
            false_rate < TARGETS["false_alerts"],
        ),
    ]
    print("verdict: " + "; ".join(f"{t} {'met' if ok else 'NOT MET'}" for t, ok in checks))


if __name__ == "__main__":
    main()
