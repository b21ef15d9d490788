"""``costlake run`` and ``costlake demo``: launch the nightly graph and say how each run went."""

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape

from costlake.config import (
    CONFIG_ENV,
    DEMO_DATA,
    DEMO_LAKE,
    PROVIDERS,
    costlake_home,
    demo_settings,
    load_settings,
)
from costlake.focus.periods import periods_to_refresh
from pipelines.cli.budgets import budgets
from pipelines.cli.common import console, dagster_instance, fail, periods_option
from pipelines.cli.lake import show_lake

DEMO_CONFIG = "costlake.yaml"  # written beside the demo's exports


def _print_run(outcome) -> None:
    """One line per run: its verdict, the checks that failed or warned, the first error."""
    if outcome.ok:
        verdict = "[green]ok[/]"
    else:
        verdict = f"[red]FAILED[/] {', '.join(outcome.failed_checks) or 'run failed'}"
    if outcome.warned_checks:
        verdict += f" [yellow](warning: {', '.join(outcome.warned_checks)})[/]"
    error = f": {escape(outcome.errors[0].splitlines()[0])}" if outcome.errors else ""
    console.print(f"  {outcome.label} run {outcome.run_id[:8]}: {verdict}{error}", soft_wrap=True)


def run_nightly(
    periods: list[str],
    providers: list[str],
    workers: int = 1,
    executor: str = "in_process",
    verbose: bool = False,
) -> bool:
    """Run the night's graph (``pipelines.launch``), print a line per run and a summary of what
    failed and why; True when every run and integrity check passed."""
    from pipelines.launch import run_night

    console.print(
        f"[bold]nightly[/] {', '.join(periods)} × {', '.join(providers)}, "
        f"{workers} at a time ({executor})"
    )
    instance = dagster_instance()
    night = run_night(instance, periods, providers, workers, executor, _print_run, verbose)
    for period, why in sorted(night.marts_kept.items()):
        console.print(f"  marts {period}: {escape(why)}", soft_wrap=True)
    failed = [r for r in night.runs if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(night.runs)} run(s) failed:[/]")
        for run in failed:
            why = ", ".join(run.failed_checks) or "run failed"
            detail = f" ({escape(run.errors[0].splitlines()[0])})" if run.errors else ""
            console.print(f"  {run.label}: {why}{detail}", soft_wrap=True)
    return night.ok


def run(
    period: Annotated[
        list[str] | None,
        typer.Option(
            help="billing period YYYY-MM (repeatable); default: nightly", callback=periods_option
        ),
    ] = None,
    provider: Annotated[list[str] | None, typer.Option(help="provider (repeatable)")] = None,
    workers: Annotated[int, typer.Option(help="partitions run side by side")] = 1,
    executor: Annotated[
        str, typer.Option(help="in_process (one process) or multiprocess (a process a step)")
    ] = "in_process",
    verbose: Annotated[bool, typer.Option(help="show Dagster's log of each run")] = False,
) -> None:
    """Run the nightly graph for some periods (default: tonight's), then the marts due."""
    if executor not in ("in_process", "multiprocess"):
        fail(f"--executor {executor}: expected in_process or multiprocess")
    try:
        providers = provider or load_settings().providers()
    except ValueError as exc:
        fail(str(exc))
    periods = period or periods_to_refresh(date.today())
    ok = run_nightly(periods, providers, workers, executor, verbose)
    raise typer.Exit(0 if ok else 1)


def demo(
    data: Annotated[
        Path | None,
        typer.Option(help="where the demo exports are written (default: demo-data in the home)"),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(help="the lake: a folder or an object-store URL (default: lake in the home)"),
    ] = None,
) -> None:
    """Generate the demo bills of all four clouds and run the whole nightly pipeline into the
    lake; both default to the costlake home ($COSTLAKE_HOME, else the user's data folder)."""
    from connectors.sources import FINDERS
    from connectors.stores.files import LocalFileStore
    from demo.ai import write_demo_request_logs
    from demo.aws import demo_days, write_demo_aws_export
    from demo.azure import write_demo_azure_export
    from demo.gcp import write_demo_gcp_export
    from demo.gpu import write_demo_gpu_telemetry
    from demo.oci import write_demo_oci_export
    from demo.rates import write_demo_rates

    try:
        home = costlake_home()
    except ValueError as exc:
        fail(str(exc))
    # Folders given are the caller's, taken where the command was typed; the defaults are in
    # the home, never the working folder.
    data = (data or home / DEMO_DATA).resolve()
    lake = lake or str(home / DEMO_LAKE)
    if "://" not in lake:
        lake = str(Path(lake).resolve())
    writers = {
        "aws": write_demo_aws_export,
        "azure": write_demo_azure_export,
        "gcp": write_demo_gcp_export,
        "oci": write_demo_oci_export,
    }
    periods: set[str] = set()
    for provider, write in writers.items():
        write(data / provider)
        found = FINDERS[provider](LocalFileStore(data / provider), "")
        console.print(f"demo {provider} export: {len(found)} billing periods in {data / provider}/")
        periods |= set(found)
    logs = write_demo_request_logs(data / "ai", demo_days(sorted(periods)))
    console.print(f"demo request logs: {sum(map(len, logs.values()))} files in {data / 'ai'}/")
    telemetry = write_demo_gpu_telemetry(data / "gpu")
    console.print(f"demo GPU telemetry: {len(telemetry)} hosts in {data / 'gpu'}/")
    write_demo_rates(data / "exchange_rates.csv", sorted(periods))
    console.print(f"demo exchange rates: {data / 'exchange_rates.csv'}")
    # The pipeline reads what was just written, wherever --data put it, by absolute paths.
    settings = demo_settings(data, lake)
    config = data / DEMO_CONFIG
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_defaults=True)))
    os.environ[CONFIG_ENV] = str(config)
    console.print(f"demo settings: {config} (COSTLAKE_CONFIG)")
    ok = run_nightly(sorted(periods), list(PROVIDERS))
    show_lake()
    budgets()
    console.print(
        f"\nNext: [bold]export COSTLAKE_CONFIG={config}[/], so that the costlake commands "
        "(costlake lake, budgets, arbitrage, ...) and [bold]make ui[/] (the Dagster UI: lineage, "
        "runs, checks) use the demo's settings; query the lake with DuckDB or polars: see the "
        "README's 'Query the lake'.",
        soft_wrap=True,
    )
    raise typer.Exit(0 if ok else 1)
