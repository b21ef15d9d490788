"""Render the demo's report and screenshot it: the picture in the README (docs/report.png).

Runs ``costlake demo`` with a fresh temporary folder as the costlake home (``COSTLAKE_HOME``:
the demo's exports, lake and Dagster instance), then ``costlake report --period 2026-11 --out``,
opens the page in headless Chromium with the network closed (the same launcher as the report's
browser test) and saves the top of the page as a PNG.

    python scripts/report_screenshot.py [--out docs/report.png] [--height 2200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the one Chromium launcher, shared with the tests
from chromium import open_offline  # noqa: E402

PERIOD = "2026-11"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report.png")
    parser.add_argument("--height", type=int, default=2200, help="pixels of the page shown")
    args = parser.parse_args()
    cli = [sys.executable, "-c", "from pipelines.cli import app; app()"]
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "COSTLAKE_CONFIG")}
        env["COSTLAKE_HOME"] = folder
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        subprocess.run([*cli, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
        page = Path(folder) / "report.html"
        subprocess.run(
            [*cli, "report", "--period", PERIOD, "--out", str(page)], env=env, check=True
        )
        with open_offline(page, width=1100, height=args.height) as visit:
            if visit.console_errors or visit.blocked:
                sys.exit(f"the page logged {visit.console_errors} and asked for {visit.blocked}")
            visit.page.screenshot(path=args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
