"""Benchmark: ``costlake.anomalies.detector`` on 1,000 series x 730 days (the target: under 30 s).

Generates a FOCUS-like frame (the columns the detector reads) of ``--series`` series (provider,
billing account, service, currency) x ``--days`` days x ``--rows-per-day`` rows per series and
day (resources of the service, so ``daily_series`` has rows to add up), with weekly seasonality,
noise and a few spikes. Then times, each on its own:

* ``daily_series``: the FOCUS rows to one value per series and day (collected);
* ``detect``: every day of every series scored, its runs and events marked;
* ``events``: the anomalous days folded into one row per event;
* ``explain``: the contributions of the ``--explain`` largest anomalies;
* ``new_entities`` and ``untagged_share_jumps`` over the whole frame.

Prints seconds per step and the process's peak resident memory. Usage::

    .venv/bin/python bench/bench_anomalies.py [--series 1000] [--days 730] [--rows-per-day 1]
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl

from costlake.anomalies.detector import (
    AnomalySettings,
    daily_series,
    detect,
    explain,
    new_entities,
    untagged_share_jumps,
)
from costlake.anomalies.events import events

START = date(2023, 1, 2)


def focus_frame(series: int, days: int, rows_per_day: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    levels = [math.exp(rng.uniform(math.log(20), math.log(20_000))) for _ in range(series)]
    weekend = [rng.uniform(0.3, 1.0) for _ in range(series)]
    n = series * days * rows_per_day
    noise = [math.exp(rng.gauss(0.0, 0.07)) for _ in range(n)]
    spikes = {(rng.randrange(series), rng.randrange(days)) for _ in range(series * 3)}
    index = pl.int_range(0, n, eager=True)
    frame = pl.DataFrame(
        {
            "series": index // (days * rows_per_day),
            "t": (index // rows_per_day) % days,
            "resource": index % rows_per_day,
            "noise": noise,
        }
    )
    spike_frame = pl.DataFrame(
        {"series": [s for s, _ in spikes], "t": [t for _, t in spikes], "spike": 3.0},
        schema={"series": pl.Int64, "t": pl.Int64, "spike": pl.Float64},
    )
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC)
    day = pl.lit(start) + pl.duration(days=pl.col("t"))
    level = pl.col("series").replace_strict(dict(enumerate(levels)), return_dtype=pl.Float64)
    low = pl.col("series").replace_strict(dict(enumerate(weekend)), return_dtype=pl.Float64)
    is_weekend = ((pl.col("t") % 7) >= 5).cast(pl.Float64)
    providers = ["aws", "azure", "gcp", "oci"]
    return (
        frame.join(spike_frame, on=["series", "t"], how="left")
        .with_columns(
            pl.col("series")
            .mod(4)
            .replace_strict(dict(enumerate(providers)), return_dtype=pl.String)
            .alias("x_Provider"),
            pl.format("acct-{}", pl.col("series") // 10).alias("BillingAccountId"),
            pl.format("svc-{}", pl.col("series") % 10).alias("ServiceName"),
            pl.format("region-{}", pl.col("resource") % 3).alias("RegionId"),
            pl.format("res-{}-{}", pl.col("series"), pl.col("resource")).alias("ResourceId"),
            pl.when(pl.col("series") % 10 == 9)
            .then(pl.lit("EUR"))
            .otherwise(pl.lit("USD"))
            .alias("BillingCurrency"),
            day.cast(pl.Datetime("us", "UTC")).alias("ChargePeriodStart"),
            (
                level
                / rows_per_day
                * (1 - is_weekend * (1 - low))
                * pl.col("noise")
                * pl.col("spike").fill_null(1.0)
            ).alias("EffectiveCost"),
            pl.when(pl.col("resource") % 5 == 4)
            .then(pl.lit(None, pl.String))
            .otherwise(pl.lit("atlas"))
            .alias("x_tag_project"),
            pl.lit(False).alias("x_Untaggable"),
        )
        .drop("series", "t", "resource", "noise", "spike")
    )


def timed(label: str, function):
    started = time.perf_counter()
    result = function()
    print(f"  {label:22s} {time.perf_counter() - started:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--rows-per-day", dest="rows_per_day", type=int, default=1)
    parser.add_argument("--explain", type=int, default=100, help="anomalies to explain")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    focus = focus_frame(args.series, args.days, args.rows_per_day, args.seed)
    print(
        f"{args.series:,} series x {args.days} days x {args.rows_per_day} rows = "
        f"{focus.height:,} FOCUS rows, generated in {time.perf_counter() - started:.1f} s"
    )
    settings = AnomalySettings()
    as_of = START + timedelta(days=args.days - 1)
    total = time.perf_counter()
    series = timed("daily_series", lambda: daily_series(focus.lazy(), settings.group_by).collect())
    scored = timed("detect", lambda: detect(series, settings, as_of))
    keys = [*settings.group_by, "currency"]
    found = timed("events", lambda: events(scored, keys, as_of, settings.gap_days))
    anomalies = scored.filter(pl.col("status") == "anomaly")
    top = anomalies.sort(pl.col("deviation").abs(), descending=True).head(args.explain)
    explained = timed("explain", lambda: explain(focus.lazy(), top, settings))
    new = timed("new_entities", lambda: new_entities(focus.lazy(), as_of, settings))
    jumps = timed("untagged_share_jumps", lambda: untagged_share_jumps(focus.lazy(), settings))
    elapsed = time.perf_counter() - total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"  {'total':22s} {elapsed:7.2f} s   ({series.height:,} series-days scored, "
        f"{anomalies.height:,} anomalous days in {found.height:,} events, "
        f"{explained.height:,} explanation rows, "
        f"{new.height} new entities, {jumps.height} untagged jumps)"
    )
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
