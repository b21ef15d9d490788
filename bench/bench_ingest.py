"""Benchmark: normalize N-row exports of each provider into the lake; print rows/s and peak RSS.

AWS: a synthetic CUR 2.0 export (CSV.gz, Parquet). Azure (EA actual cost CSV.gz), GCP (detailed
export as JSON lines and as Parquet) and OCI (cost report CSV.gz): the test fixtures tiled to N
rows (``bench/provider_inputs.py``). Each measurement runs in a fresh child process so its peak
RSS is its own, and goes through the pipeline's ingest of a delivery. Usage::

    .venv/bin/python bench/bench_ingest.py --rows 1000000 --providers aws azure gcp oci

Generated inputs are kept in ``bench-data/`` and reused when their row count matches.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from provider_inputs import INPUTS, ProviderInput, write_input

PROVIDERS = ("aws", "azure", "gcp", "oci")
FORMATS = ("csv.gz", "parquet", "ndjson")
AWS_FORMATS = ("csv.gz", "parquet")


def measure(provider: str, fmt: str, source: Path, lake_root: Path) -> dict:
    """In the child: ingest one input and report time and peak RSS."""
    from connectors.exports.aws import find_aws_deliveries
    from connectors.stores.files import LocalFileStore
    from costlake.focus.ingest import ingest_delivery
    from costlake.focus.lake import Lake
    from costlake.focus.single_file import normalize_file

    lake = Lake(lake_root)
    if provider == "aws":
        store = LocalFileStore(source)
        ((period, delivery),) = find_aws_deliveries(store).items()
        landed = Path(store.local_path(delivery.files[0].path)).parent
        start = time.perf_counter()
        report = ingest_delivery(delivery, landed, lake)
    else:  # the file as a one-file delivery of its period, as `costlake normalize` does
        spec = provider_input(provider, fmt)
        start = time.perf_counter()
        report = normalize_file(source, lake, spec.dataset, spec.billing_period)
    seconds = time.perf_counter() - start
    return {
        "rows": report.rows_read,
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "rejected": report.rows_rejected,
    }


def peak_rss_mib() -> float:
    """This process's peak RSS since it started: ``VmHWM``, not ``ru_maxrss``.

    On Linux a child's ``ru_maxrss`` keeps the parent's peak from before ``exec`` (the parent's
    address space under ``vfork``), so it showed the generator's memory after a generation.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def provider_input(provider: str, fmt: str) -> ProviderInput:
    return next(s for s in INPUTS if (s.provider, s.fmt) == (provider, fmt))


def ensure_input(workdir: Path, rows: int, provider: str, fmt: str) -> Path:
    """The input for (provider, fmt, rows), generated once: AWS's export folder, else the file."""
    from demo.aws import write_synthetic_cur2_export

    name = f"{fmt.replace('.', '')}-{rows}"
    bucket = workdir / (name if provider == "aws" else f"{provider}-{name}")
    marker = bucket / "complete"
    spec = None if provider == "aws" else provider_input(provider, fmt)
    if not marker.exists():
        shutil.rmtree(bucket, ignore_errors=True)
        started = time.perf_counter()
        if spec is None:
            write_synthetic_cur2_export(bucket, rows, fmt)  # type: ignore[arg-type]
        else:
            bucket.mkdir(parents=True)
            write_input(spec, bucket / spec.file_name(rows), rows)
        marker.write_text("ok")
        elapsed = time.perf_counter() - started
        print(f"generated {provider} {fmt}, {rows:,} rows, in {elapsed:.0f} s", flush=True)
    return bucket if spec is None else bucket / spec.file_name(rows)


def runs(providers: list[str], formats: list[str]) -> list[tuple[str, str]]:
    """The (provider, format) pairs to measure, AWS first."""
    pairs = [("aws", f) for f in AWS_FORMATS] + [(s.provider, s.fmt) for s in INPUTS]
    return [(p, f) for p, f in pairs if p in providers and f in formats]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--providers", nargs="+", choices=PROVIDERS, default=list(PROVIDERS))
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument(
        "--child", nargs=4, metavar=("PROVIDER", "FORMAT", "SOURCE", "LAKE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        provider, fmt, source, lake = args.child
        print(json.dumps(measure(provider, fmt, Path(source), Path(lake))))
        return
    todo = [(rows, p, f) for rows in args.rows for p, f in runs(args.providers, args.formats)]
    sources = {run: ensure_input(args.workdir, *run) for run in todo}
    print(
        f"{'provider':8} {'format':8} {'rows':>11} {'seconds':>8} {'rows/s':>10} "
        f"{'peak RSS MiB':>13} {'rejected':>9}"
    )
    rates: dict[tuple[int, str, str], float] = {}
    for rows, provider, fmt in todo:
        lake = args.workdir / "lake"
        shutil.rmtree(lake, ignore_errors=True)
        source = str(sources[rows, provider, fmt])
        child = [sys.executable, __file__, "--child", provider, fmt, source, str(lake)]
        result = json.loads(subprocess.run(child, check=True, capture_output=True).stdout)
        rate = rates[rows, provider, fmt] = result["rows"] / result["seconds"]
        print(
            f"{provider:8} {fmt:8} {result['rows']:>11,} {result['seconds']:>8.1f} "
            f"{rate:>10,.0f} {result['peak_rss_mib']:>13,.0f} {result['rejected']:>9,}",
            flush=True,
        )
    for rows in args.rows:
        aws = rates.get((rows, "aws", "csv.gz"))
        others = [(p, f, r) for (n, p, f), r in rates.items() if n == rows and p != "aws"]
        if aws and others:
            ratios = ", ".join(f"{p} {f} {r / aws:.2f}×" for p, f, r in others)
            print(f"rows/s vs AWS csv.gz at {rows:,} rows: {ratios}")


if __name__ == "__main__":
    main()
