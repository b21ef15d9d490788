"""``costlake anomalies``: the pipeline's anomaly detector on anyone's own daily series.

A sub-command group of its own module, registered on the main ``costlake`` app with one
``add_typer`` line, so it moves with the CLI whatever shape the CLI takes.
"""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from costlake.anomalies.series_files import (
    SeriesFileError,
    detect_events,
    events_csv,
    read_series_csv,
)
from costlake.config import load_settings

anomalies_app = typer.Typer(
    help="Cost anomalies as events, on your own series.", no_args_is_help=True
)
console = Console()


@anomalies_app.command("detect")
def detect_command(
    series: Annotated[
        Path, typer.Argument(help="CSV with columns series,day,cost (one row per series and day)")
    ],
    out: Annotated[Path, typer.Option("--out", help="where to write one row per event (CSV)")],
    config: Annotated[
        Path | None,
        typer.Option(
            help="costlake.yaml whose anomalies.detector applies (default: $COSTLAKE_CONFIG)"
        ),
    ] = None,
) -> None:
    """Score every day of every series with the pipeline's detector and settings, and write
    its events: series,event_id,start,end,peak_day,expected,actual,excess,severity (end empty
    while an event is still open; amounts are the event's totals)."""
    try:
        detector = load_settings(config).anomalies.detector
        frame = read_series_csv(series)
    except (SeriesFileError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    found, scored = detect_events(frame, detector)
    rows = events_csv(found)
    rows.write_csv(out)
    short = scored.filter(scored["status"] == "insufficient_history")["series"].n_unique()
    console.print(
        f"{frame['series'].n_unique():,} series, {frame.height:,} days: {rows.height:,} events "
        f"({(rows['end'].is_null()).sum():,} open) written to {escape(str(out))}"
        + (f"; {short:,} series have days with insufficient history" if short else "")
    )
