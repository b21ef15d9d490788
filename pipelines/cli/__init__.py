"""The ``costlake`` command: what a user does from a shell."""

import typer

from pipelines.cli import (
    ai,
    anomalies,
    budgets,
    commitments,
    gpu,
    lake,
    night,
    planning,
    report,
    sources,
)

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.command()(night.demo)
app.command()(night.run)
app.command()(lake.normalize)
app.command("lake")(lake.show_lake)
app.command()(lake.costs)
app.command()(planning.estimate)
app.command("gpu-fit")(gpu.gpu_fit)
app.add_typer(gpu.gpu_app, name="gpu")
app.add_typer(sources.sources_app, name="sources")
app.add_typer(sources.azure_app, name="azure")
app.add_typer(anomalies.anomalies_app, name="anomalies")
app.add_typer(commitments.commitments_app, name="commitments")
app.command()(ai.arbitrage)
app.command()(ai.maturity)
app.command("budgets")(budgets.budgets)
app.command("report")(report.report_command)
