"""Benchmark: normalize a synthetic N-row CUR 2.0 export into the lake; print rows/s and peak RSS.

Each measurement runs in a fresh child process so its peak RSS is its own. Usage::

    .venv/bin/python bench/bench_ingest.py --rows 1000000 5000000 --formats csv.gz parquet

Generated exports are kept in ``bench-data/`` and reused when their row count matches.
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


def measure(bucket: Path, lake_root: Path) -> dict:
    """In the child: ingest the export's newest delivery and report time and peak RSS."""
    from connectors.aws_exports import find_aws_deliveries
    from connectors.filestore import LocalFileStore
    from costlake.ingest import ingest_delivery
    from costlake.lake import Lake

    store = LocalFileStore(bucket)
    ((period, delivery),) = find_aws_deliveries(store).items()
    landed = Path(store.local_path(delivery.files[0].path)).parent
    start = time.perf_counter()
    report = ingest_delivery(delivery, landed, Lake(lake_root))
    seconds = time.perf_counter() - start
    return {
        "rows": report.rows_read,
        "seconds": seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rejected": report.rows_rejected,
    }


def ensure_export(workdir: Path, rows: int, fmt: str) -> Path:
    """The synthetic export for (rows, fmt), generated once."""
    from costlake.demo_data import write_synthetic_cur2_export

    bucket = workdir / f"{fmt.replace('.', '')}-{rows}"
    marker = bucket / "complete"
    if not marker.exists():
        shutil.rmtree(bucket, ignore_errors=True)
        started = time.perf_counter()
        write_synthetic_cur2_export(bucket, rows, fmt)  # type: ignore[arg-type]
        marker.write_text("ok")
        print(f"generated {rows:,} rows as {fmt} in {time.perf_counter() - started:.0f} s")
    return bucket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv.gz", "parquet"])
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument("--child", nargs=2, metavar=("BUCKET", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]))))
        return
    print(f"{'format':8} {'rows':>11} {'seconds':>8} {'rows/s':>10} {'peak RSS MiB':>13}")
    for fmt in args.formats:
        for rows in args.rows:
            bucket = ensure_export(args.workdir, rows, fmt)
            lake = args.workdir / "lake"
            shutil.rmtree(lake, ignore_errors=True)
            child = [sys.executable, __file__, "--child", str(bucket), str(lake)]
            result = json.loads(subprocess.run(child, check=True, capture_output=True).stdout)
            rate = result["rows"] / result["seconds"]
            print(
                f"{fmt:8} {result['rows']:>11,} {result['seconds']:>8.1f} {rate:>10,.0f} "
                f"{result['peak_rss_mib']:>13,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
