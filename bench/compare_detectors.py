"""Time this tree's ``detect`` beside another version's, in one run, on the benchmark's frame.

Speed on a shared machine is only comparable within one run, so this times ``daily_series``
(the in-run baseline), the other version's ``detect`` and this one's, twice each, and prints
the best of each as seconds and as a ratio. The other version is a detector.py file, e.g. the
first round's::

    git show 4d82734:costlake/anomalies/detector.py > /tmp/detector_old.py
    .venv/bin/python bench/compare_detectors.py /tmp/detector_old.py [--series 1000] [--days 730]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import time
from datetime import timedelta
from pathlib import Path

from bench_anomalies import START, focus_frame

from costlake.anomalies import detector


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("detector_other", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", type=Path, help="another version's detector.py")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    other = _load(args.other)
    focus = focus_frame(args.series, args.days, 1, 1)
    as_of = START + timedelta(days=args.days - 1)
    times: dict[str, list[float]] = {"daily_series": [], "detect (other)": [], "detect": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        series = detector.daily_series(focus.lazy(), detector.DEFAULT_GROUP_BY).collect()
        times["daily_series"].append(time.perf_counter() - started)
        started = time.perf_counter()
        other.detect(series, other.AnomalySettings(), as_of)
        times["detect (other)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        detector.detect(series, detector.AnomalySettings(), as_of)
        times["detect"].append(time.perf_counter() - started)
    base = min(times["daily_series"])
    for name, values in times.items():
        print(f"  {name:16s} {min(values):7.2f} s   x daily_series {min(values) / base:5.2f}")
    ratio = min(times["detect"]) / min(times["detect (other)"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"detect / detect (other) {ratio:.2f}; peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
