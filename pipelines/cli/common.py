"""What every command group shares: the console, leaving with an error, the Dagster instance."""

import os
from pathlib import Path
from typing import NoReturn

import typer
from dagster import DagsterInstance
from rich.console import Console
from rich.markup import escape

from costlake.config import costlake_home, env_path
from costlake.focus.periods import billing_period

console = Console()
# The instance the CLI makes when DAGSTER_HOME is not set: telemetry off, SQLite storage.
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error and leave with status 1."""
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def dagster_home() -> Path:
    """``$DAGSTER_HOME`` (an absolute path), else ``dagster`` in the costlake home
    (``costlake.config.costlake_home``), never the working folder."""
    return env_path("DAGSTER_HOME") or costlake_home() / "dagster"


def dagster_instance() -> DagsterInstance:
    """The instance runs are recorded in (``dagster_home()``, made with telemetry off if it is
    new), so run history lands where ``dagster dev`` with the same DAGSTER_HOME finds it; a
    relative ``$DAGSTER_HOME`` or ``$COSTLAKE_HOME`` is an error, said without a traceback."""
    try:
        home = dagster_home()
    except ValueError as exc:
        fail(str(exc))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def periods_option(values: list[str] | None) -> list[str] | None:
    """``--period`` values normalized (``2025-5`` → ``2025-05``), or a usage error naming one."""
    try:
        return None if values is None else [billing_period(v) for v in values]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def period_option(value: str) -> str:
    """One ``--period`` value normalized, or empty."""
    return (periods_option([value]) or [""])[0] if value else ""
