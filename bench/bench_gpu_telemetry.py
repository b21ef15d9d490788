"""Benchmark: read a day of 1-second GPU telemetry and compute busy time per GPU-hour.

Generates 24 h of 1-second samples for 64 GPUs (8 hosts × 8 H100s: 5,529,600 GPU samples) in
two formats, one file per host, in a temporary folder:

- dcgm-exporter Prometheus text: each file is 86,400 scrapes concatenated, each scrape with
  ``# HELP`` / ``# TYPE`` lines and, per GPU, ``DCGM_FI_PROF_GR_ENGINE_ACTIVE``,
  ``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_FB_USED``, ``DCGM_FI_DEV_FB_FREE`` and
  ``DCGM_FI_DEV_POWER_USAGE`` with dcgm-exporter's labels (``gpu``, ``UUID``, ``pci_bus_id``,
  ``device``, ``modelName``, ``Hostname``) and a millisecond timestamp (27.6 M sample lines);
- ``nvidia-smi --query-gpu=… --format=csv`` output with the columns of the real capture.

A few ``DCGM_FI_DEV_GPU_UTIL`` values are 4294967295, as the exporter sometimes reports.

For each format, a child process (so each peak RSS is its own) times reading every file
(``costlake.gpu.telemetry.gpu_samples``) and then ``busy_by_gpu_hour`` collected, and prints
rows, seconds, rows/s, CPU seconds and peak RSS (``resource.getrusage``). Usage::

    .venv/bin/python bench/bench_gpu_telemetry.py            # 64 GPUs × 86,400 s
    .venv/bin/python bench/bench_gpu_telemetry.py --seconds 3600 --keep /some/dir
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from costlake.gpu.telemetry import busy_by_gpu_hour, gpu_samples

DAY_START = 1_795_651_200  # 2026-11-26 00:00:00 UTC
MODEL = "NVIDIA H100 80GB HBM3"
TOTAL_MIB = 81559
RESERVED_MIB = 0  # dcgm-exporter's default counters do not export FB_RESERVED
SENTINEL_EVERY = 100_003  # every n-th GPU_UTIL sample reads 4294967295


def _grid(host: int, gpus: int, seconds: int) -> pl.DataFrame:
    """One row per (second, GPU) of a host with a deterministic daily load pattern."""
    grid = pl.DataFrame({"s": pl.int_range(0, seconds, eager=True, dtype=pl.Int64)}).join(
        pl.DataFrame({"g": pl.int_range(0, gpus, eager=True, dtype=pl.Int64)}), how="cross"
    )
    gpu = pl.col("g") + host * gpus
    idle_hour = ((pl.col("s") // 3600 + gpu) % 4) == 0
    busy = pl.when(idle_hour).then(0.0).otherwise(((pl.col("s") * 7 + gpu * 13) % 101) / 100)
    return grid.with_columns(
        gpu=gpu,
        busy=busy.clip(0.0, 1.0),
        used=pl.when(idle_hour).then(0).otherwise(9203 + (gpu % 8) * 4096),
    ).with_columns(
        uuid=pl.format(
            "GPU-{}-0000-4000-8000-{}", gpu.cast(pl.String).str.zfill(8), pl.lit("0" * 12)
        ),
        power=(70 + pl.col("busy") * 630).round(3),
    )


def write_prometheus(path: Path, host: int, gpus: int, seconds: int) -> int:
    """dcgm-exporter scrapes, one per second, concatenated; returns the GPU samples written."""
    grid = _grid(host, gpus, seconds)
    hostname = f"node-{host:02d}"
    labels = pl.concat_str(
        pl.lit('{gpu="'),
        pl.col("g"),
        pl.lit('",UUID="'),
        pl.col("uuid"),
        pl.lit('",pci_bus_id="00000000:'),
        (pl.col("g") + 0x18).cast(pl.String),
        pl.lit(':00.0",device="nvidia'),
        pl.col("g"),
        pl.lit(f'",modelName="{MODEL}",Hostname="{hostname}"}}'),
    )
    stamp = (pl.col("s") + DAY_START) * 1000 + 3
    util = (pl.col("busy") * 100).round(0).cast(pl.Int64)
    row_number = pl.col("s") * gpus + pl.col("g")
    util = pl.when(row_number % SENTINEL_EVERY == 7).then(4294967295).otherwise(util)
    metrics = [
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.",
         pl.col("busy").round(6).cast(pl.String)),
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", util.cast(pl.String)),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).",
         pl.col("used").cast(pl.String)),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
         (TOTAL_MIB - RESERVED_MIB - pl.col("used")).cast(pl.String)),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", pl.col("power").cast(pl.String)),
    ]  # fmt: skip
    seconds_frame = pl.DataFrame({"s": pl.int_range(0, seconds, eager=True, dtype=pl.Int64)})
    parts = []
    for k, (name, help_text, value) in enumerate(metrics):
        order = pl.lit(k, pl.Int64)
        parts += [
            seconds_frame.select(
                "s", k=order, sub=pl.lit(0, pl.Int64), line=pl.lit(f"# HELP {name} {help_text}")
            ),
            seconds_frame.select(
                "s", k=order, sub=pl.lit(1, pl.Int64), line=pl.lit(f"# TYPE {name} gauge")
            ),
            grid.select(
                "s",
                k=order,
                sub=pl.col("g") + 2,
                line=pl.concat_str(pl.lit(name), labels, pl.lit(" "), value, pl.lit(" "), stamp),
            ),
        ]
    lines = pl.concat(parts).sort("s", "k", "sub").select("line")
    lines.write_csv(path, include_header=False, quote_style="never")
    return grid.height


def write_query_csv(path: Path, host: int, gpus: int, seconds: int) -> int:
    """``nvidia-smi --query-gpu=… --format=csv -l 1`` output for one host."""
    grid = _grid(host, gpus, seconds)
    header = (
        "timestamp, index, uuid, name, pci.bus_id, utilization.gpu [%], "
        "utilization.memory [%], memory.used [MiB], memory.total [MiB], power.draw [W], "
        "power.limit [W], clocks.current.sm [MHz], clocks.current.memory [MHz], temperature.gpu"
    )
    when = (
        pl.from_epoch(pl.col("s") + DAY_START, time_unit="s").dt.strftime("%Y/%m/%d %H:%M:%S")
        + ".250"
    )
    line = pl.format(
        "{}, {}, {}, {}, 00000000:{}:00.0, {} %, {} %, {} MiB, {} MiB, {} W, 700.00 W, "
        "1980 MHz, 2619 MHz, {}",
        when,
        pl.col("g"),
        pl.col("uuid"),
        pl.lit(MODEL),
        (pl.col("g") + 0x18).cast(pl.String),
        (pl.col("busy") * 100).round(0).cast(pl.Int64),
        (pl.col("busy") * 30).round(0).cast(pl.Int64),
        pl.col("used"),
        pl.lit(TOTAL_MIB),
        pl.col("power").round(2),
        (40 + pl.col("busy") * 30).round(0).cast(pl.Int64),
    )
    with open(path, "w") as f:
        f.write(header + "\n")
    with open(path, "a") as f:
        grid.select(line=line).write_csv(f, include_header=False, quote_style="never")
    return grid.height


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(files: list[Path]) -> dict:
    """Time reading ``files`` and busy_by_gpu_hour on them (run in a child process)."""
    cpu_start = cpu_seconds()
    started = time.perf_counter()
    read = gpu_samples(files)
    samples = read.samples.collect()
    parsed = time.perf_counter()
    hours = busy_by_gpu_hour(samples.lazy()).collect()
    done = time.perf_counter()
    return {
        "rows": samples.height,
        "gpu_hours": hours.height,
        "problems": [str(p) for p in read.problems],
        "parse_s": parsed - started,
        "busy_by_gpu_hour_s": done - parsed,
        "total_s": done - started,
        "rows_per_s": samples.height / (done - started),
        "cpu_s": cpu_seconds() - cpu_start,
        "peak_rss_mib": peak_rss_mib(),
        "mean_busy_ratio": hours["busy_ratio"].mean(),
        "mean_coverage": hours["coverage"].mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--gpus-per-host", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=86_400)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--measure", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_gpu_telemetry_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, writer, suffix in (
            ("dcgm Prometheus text", write_prometheus, "prom"),
            ("nvidia-smi query CSV", write_query_csv, "csv"),
        ):
            t = time.perf_counter()
            files = []
            rows = 0
            for host in range(args.hosts):
                path = folder / f"node-{host:02d}.{suffix}"
                rows += writer(path, host, args.gpus_per_host, args.seconds)
                files.append(path)
            size = sum(p.stat().st_size for p in files) / 1e9
            print(
                f"{name}: wrote {rows:,} GPU samples in {len(files)} files, {size:.2f} GB, "
                f"in {time.perf_counter() - t:.1f} s"
            )
            load = os.getloadavg()[0]
            child = subprocess.run(
                [sys.executable, __file__, "--measure", *map(str, files)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"  rows {result['rows']:,}  gpu-hours {result['gpu_hours']:,}  "
                f"parse {result['parse_s']:.2f} s + busy_by_gpu_hour "
                f"{result['busy_by_gpu_hour_s']:.2f} s = {result['total_s']:.2f} s  "
                f"{result['rows_per_s']:,.0f} rows/s  peak RSS {result['peak_rss_mib']:,.0f} MiB"
            )
            print(
                f"  CPU time {result['cpu_s']:.1f} s on {os.cpu_count()} cores; "
                f"load average before the run {load:.2f} (other work on the machine slows it)"
            )
            print(
                f"  mean busy_ratio {result['mean_busy_ratio']:.4f}, "
                f"mean coverage {result['mean_coverage']:.4f}"
            )
            for problem in result["problems"]:
                print(f"  problem: {problem}")
            for path in files:
                if not args.keep:
                    path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
