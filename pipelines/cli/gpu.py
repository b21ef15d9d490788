"""The GPU commands of ``costlake``: ``costlake gpu utilization`` reads telemetry captures,
``costlake gpu-fit`` sizes a model for serving. Registered on the main app by ``pipelines.cli``;
no Dagster here, only the domain functions of ``costlake.gpu``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

gpu_app = typer.Typer(help="GPU telemetry captures.", no_args_is_help=True)
console = Console()

JSON_FIELDS = (
    "gpu",
    "samples",
    "seconds",
    "busy_ratio",
    "sm_active_ratio",
    "tensor_active_ratio",
    "dram_active_ratio",
)


def _fail(message: str) -> NoReturn:
    """Print ``message`` as an error and leave with status 1."""
    console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def _moment(text: str, option: str) -> datetime | None:
    """An ISO 8601 time; UTC when it names no offset."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r}: expected an ISO 8601 time such as 2026-11-26T18:52:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@gpu_app.command("utilization")
def utilization(
    files: Annotated[list[Path], typer.Argument(help="captures: nvidia-smi, NVML or dcgm text")],
    query_gpu: Annotated[
        str,
        typer.Option(
            "--query-gpu",
            help="the fields of a headerless nvidia-smi CSV, exactly as passed to nvidia-smi",
        ),
    ] = "",
    start: Annotated[
        str, typer.Option("--from", help="window start, ISO 8601 (UTC when no offset)")
    ] = "",
    end: Annotated[
        str, typer.Option("--to", help="window end, ISO 8601 (UTC when no offset)")
    ] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="a JSON list, one object per GPU")
    ] = False,
) -> None:
    """Per GPU: samples, seconds covered, and the time-weighted busy and SM / tensor / DRAM
    active ratios over the window."""
    from costlake.gpu.telemetry import TelemetryFormatError, gpu_samples, utilization_by_gpu

    lo, hi = _moment(start, "--from"), _moment(end, "--to")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}")
    try:
        # dmon -o T prints no date: the window's start says which day its first line is.
        read = gpu_samples(files, day=lo.date() if lo else None, query_gpu=query_gpu or None)
        per_gpu = utilization_by_gpu(read.samples, lo, hi)
    except (TelemetryFormatError, ValueError) as exc:
        message = str(exc)
        if "pass day=" in message:  # the library's wording names its argument, not the option
            message = message.split(";")[0] + ": give --from (its date is the first line's)"
        _fail(message)
    for problem in read.problems:
        console.print(f"[yellow]{escape(str(problem))}[/]", soft_wrap=True)
    rows = per_gpu.select(JSON_FIELDS).to_dicts()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="GPU utilization, time-weighted")
    for name in ("GPU", "samples", "seconds", "busy", "SM active", "tensor active", "DRAM active"):
        table.add_column(name, justify="left" if name == "GPU" else "right")
    for row in rows:
        table.add_row(
            row["gpu"],
            f"{row['samples']:,}",
            f"{row['seconds']:,.1f}",
            *(_ratio(row[f]) for f in JSON_FIELDS[3:]),
        )
    console.print(table)


def gpu_fit(
    model: Annotated[str, typer.Option(help="model to serve, e.g. 'Llama 3.1 70B'")],
    precision: Annotated[str, typer.Option(help="fp16, bf16, fp8, int8 or int4")] = "fp16",
    context: Annotated[int, typer.Option(help="context tokens per request")] = 8192,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "--batch", help="requests served at once (KV cache slots)"),
    ] = 1,
    headroom: Annotated[
        float, typer.Option(help="memory kept free beyond the need, as a fraction of it")
    ] = 0.10,
    reserve_gib: Annotated[
        float, typer.Option(help="GiB per GPU taken by the driver and the CUDA context")
    ] = 0.5,
) -> None:
    """Which GPUs can serve a model: weights + KV cache + 20 % overhead against each GPU's
    usable GiB, with headroom, over tensor-parallel sizes the model's heads allow."""
    from costlake.gpu.sizing import gpus_that_fit, model_architecture, serving_memory_for

    try:
        arch = model_architecture(model)
        need = serving_memory_for(model, precision, context_tokens=context, batch_slots=concurrency)
        fits = gpus_that_fit(
            need,
            headroom=headroom,
            reserve_gib=reserve_gib,
            attention_heads=arch.attention_heads,
            kv_heads=arch.kv_heads,
        )
    except (KeyError, ValueError) as exc:
        _fail(str(exc.args[0] if exc.args else exc))
    table = Table(
        title=f"{arch.model} at {precision}, {context:,} tokens × {concurrency} at once: "
        f"{need.total_gib:,.1f} GiB (weights {need.weights_gib:,.1f}, KV cache "
        f"{need.kv_cache_gib:,.1f}, overhead {need.overhead_gib:,.1f}); with {headroom:.0%} "
        f"headroom {need.total_gib * (1 + headroom):,.1f} GiB"
    )
    for name in ("GPU", "GPUs", "usable", "$/hour", "note", "why"):
        table.add_column(name, justify="left" if name in ("GPU", "note", "why") else "right")
    for fit in fits:
        table.add_row(
            fit.gpu_model,
            "-" if fit.gpus is None else str(fit.gpus),
            f"{fit.usable_gib:,.1f} GiB each",
            "" if fit.usd_per_hour is None else f"{fit.usd_per_hour:,.2f}",
            fit.note,
            "; ".join(fit.reasons),
        )
    table.caption = (
        f"usable = vendor GB in GiB − {reserve_gib:g} GiB reserve per GPU; why: GPUs × usable "
        "against need + headroom for each tensor-parallel size tried"
    )
    console.print(table)
