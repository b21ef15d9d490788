"""GPU telemetry from four samplers into one ``gpu_samples`` table, and busy time per GPU-hour.

Readers (each returns a :class:`TelemetryRead`: the samples as a LazyFrame of
:data:`GPU_SAMPLES_SCHEMA` plus the problems found in the file):

- :func:`read_nvidia_smi_query_csv`: ``nvidia-smi --query-gpu=… --format=csv [-lms N]``, with
  or without a header (``noheader``: the fields from ``--query-gpu`` or a ``<file>.query``
  sidecar) and with or without units;
- :func:`read_nvidia_smi_dmon`: ``nvidia-smi dmon -s pucm -o T`` (or ``-o DT``);
- :func:`read_nvml_samples_csv`: one row per NVML reading (``unix_time, gpu_uuid,
  utilization_gpu_pct, …``), as the capture in ``tests/fixtures/gpu_telemetry`` has it;
  ``gpu_uuid`` may be left out on a one-GPU host;
- :func:`read_dcgm_prometheus`: Prometheus text as scraped from dcgm-exporter, one scrape or
  many concatenated (each sample line with its timestamp in milliseconds, or after a line
  holding the scrape's time), with the profiling ratios, MIG instances and Kubernetes labels.

:func:`gpu_samples` reads any mix of them (:func:`detect_telemetry_format`) and fills
``resource_id`` from a mapping (:func:`read_gpu_mapping`). :func:`busy_by_gpu_hour` turns
samples into time-weighted busy (and SM / tensor / DRAM active) seconds per GPU and hour;
:func:`utilization_by_gpu` gives the same ratios per GPU over any window, and
:func:`busy_ratio_between` the busy ratio pooled over GPUs; :func:`held_by_workload_hour` says
which Kubernetes workload held each GPU or MIG instance, per hour.

``busy`` is a fraction 0–1: DCGM ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` when the GPU has it, else
``DCGM_FI_DEV_GPU_UTIL``/100; nvidia-smi ``utilization.gpu``/100; NVML utilization/100; dmon
``sm``/100. ``busy_source`` names the metric. Busy says a kernel ran, not how much of the GPU it
used: ``sm_active`` (DCGM ``DCGM_FI_PROF_SM_ACTIVE``) says that, where the capture has it.

Values are screened the same way everywhere. A value the sampler marks as unavailable
(``[N/A]``, ``[Not Supported]``, dmon ``-``, an empty NVML field), NaN or infinite, a sentinel
(≥ 2147483632: DCGM's "blank" values and 4294967295, the uint32 form of -1 that
``DCGM_FI_DEV_GPU_UTIL`` sometimes reports) or a negative value becomes null: it is not a
reading, and clamping 4294967295 % to 100 % would call an idle GPU fully busy. A value a little
above the metric's range (utilization > 100, a ratio > 1) is clamped to the maximum. Each kind is
counted per file and column in :class:`TelemetryProblem` rows, never dropped silently. A line
that does not parse at all raises :class:`TelemetryFormatError` naming file, row and column, or
with ``on_bad_line="skip"`` is dropped and counted.

Sample-interval convention (see :func:`busy_by_gpu_hour`): every sampler here reports
utilization as the share of time "over the past sample period" a kernel ran, so by default a
sample's value describes the interval that *ends* at the sample, back to the previous sample of
the same GPU (capped at ``max_gap``). The real H100 capture bears this out: the first reading
after a load starts still shows the idle past (nvidia-smi at 18:52:33.611, 0.37 s into the
load, reads 0 %; the next reads 100 %), and the first reading after a load stops still shows it
busy (18:53:13.296, 0.05 s after the end, reads 100 %). Holding values forward instead moves
about half a sample period of busy time into the following phase: with 0.5 s samples the idle
phase after the matmul reads 3.7 % busy instead of 0.3 %. ``value_describes="following"``
gives the forward convention for sources that stamp an interval at its start.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

import polars as pl

UTC_MICROS = pl.Datetime("us", "UTC")

GPU_SAMPLES_SCHEMA = pl.Schema(
    {
        "time": UTC_MICROS,
        "host": pl.String,
        "gpu_uuid": pl.String,
        "gpu_index": pl.Int32,
        "gpu_model": pl.String,
        "busy": pl.Float64,
        "busy_source": pl.String,
        "memory_used_mib": pl.Float64,
        "memory_total_mib": pl.Float64,
        "power_w": pl.Float64,
        # DCGM profiling ratios (0-1): how much of the GPU a busy kernel really used.
        "sm_active": pl.Float64,
        "tensor_active": pl.Float64,
        "dram_active": pl.Float64,
        # A MIG instance (GPU_I_ID, GPU_I_PROFILE) and its share of the physical GPU (1 for a
        # whole GPU); the Kubernetes workload holding the GPU or instance.
        "mig_instance": pl.String,
        "mig_profile": pl.String,
        "gpu_share": pl.Float64,
        "namespace": pl.String,
        "pod": pl.String,
        "container": pl.String,
        "resource_id": pl.String,
        "source_format": pl.String,
        "source_file": pl.String,
        "source_row": pl.Int64,
    }
)

NVIDIA_SMI_QUERY_CSV = "nvidia_smi_query_csv"
NVIDIA_SMI_DMON = "nvidia_smi_dmon"
NVML_SAMPLES_CSV = "nvml_samples_csv"
DCGM_PROMETHEUS = "dcgm_prometheus"
TELEMETRY_FORMATS = (NVIDIA_SMI_QUERY_CSV, NVIDIA_SMI_DMON, NVML_SAMPLES_CSV, DCGM_PROMETHEUS)

GR_ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_USED = "DCGM_FI_DEV_FB_USED"
FB_FREE = "DCGM_FI_DEV_FB_FREE"
FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"
SM_ACTIVE = "DCGM_FI_PROF_SM_ACTIVE"
TENSOR_ACTIVE = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"
DRAM_ACTIVE = "DCGM_FI_PROF_DRAM_ACTIVE"
_DCGM_METRICS = (
    GR_ENGINE_ACTIVE,
    GPU_UTIL,
    FB_USED,
    FB_FREE,
    FB_RESERVED,
    POWER_USAGE,
    SM_ACTIVE,
    TENSOR_ACTIVE,
    DRAM_ACTIVE,
)
_DCGM_RATIOS = (GR_ENGINE_ACTIVE, SM_ACTIVE, TENSOR_ACTIVE, DRAM_ACTIVE)
# Labels that name the billed resource, first present wins. A Kubernetes pod is not billed: the
# node is, through its Hostname and the mapping.
RESOURCE_LABELS = ("resource_id", "instance_id")
# Compute slices of a whole GPU in MIG mode: 7 on A100, H100, H200 and B200, 4 on an A30. A MIG
# instance's share of the GPU is its profile's slices ("3g.40gb": 3) over these.
MIG_SLICES = 7
MIG_SLICES_A30 = 4

# DCGM_INT32_BLANK is 0x7ffffff0; the int64 and fp64 blanks and 4294967295 are larger still.
SENTINEL_MIN = 2_147_483_632.0

OnBadLine = Literal["raise", "skip"]
ValueDescribes = Literal["preceding", "following"]

_HOUR_US = 3_600_000_000

# Why a value is not taken as it stands (UInt8 codes while parsing, text in problems).
_NOT_AVAILABLE, _NOT_A_NUMBER, _SENTINEL, _NEGATIVE, _CLAMPED, _MALFORMED, _NO_TIME = range(1, 8)
_REASONS = {
    _NOT_AVAILABLE: "not available in the source ([N/A], [Not Supported], '-', empty): null",
    _NOT_A_NUMBER: "NaN or infinite: null",
    _SENTINEL: "sentinel value >= 2147483632 (e.g. 4294967295), not a reading: null",
    _NEGATIVE: "negative: null",
    _CLAMPED: "above the metric's range: clamped to its maximum",
    _MALFORMED: "malformed: row skipped",
    _NO_TIME: "no timestamp and no scrape_time given: row skipped",
}
_SKIPPED = (_MALFORMED, _NO_TIME)


class TelemetryFormatError(ValueError):
    """A telemetry or mapping file that cannot be read as it stands, with where it went wrong."""

    def __init__(
        self,
        file: str | Path,
        row: int | None,
        column: str | None,
        message: str,
        bad_rows: int = 1,
    ) -> None:
        self.file = str(file)
        self.row = row
        self.column = column
        self.bad_rows = bad_rows
        where = self.file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column}"
        more = f" ({bad_rows} such rows in the file)" if bad_rows > 1 else ""
        super().__init__(f"{where}: {message}{more}")


@dataclass(frozen=True)
class TelemetryProblem:
    """Rows of one file whose value in one column was not taken as it stands, counted."""

    file: str
    column: str
    reason: str
    rows: int
    first_row: int
    example: str | None

    def __str__(self) -> str:
        return (
            f"{self.file}, column {self.column}: {self.rows} row(s) {self.reason} "
            f"(first at row {self.first_row}: {self.example!r})"
        )


class TelemetryRead(NamedTuple):
    """Samples (a LazyFrame of :data:`GPU_SAMPLES_SCHEMA`) and the problems found reading them.

    The file is parsed when the reader is called, so that ``problems`` is complete; the frame is
    lazy so it composes with further queries.
    """

    samples: pl.LazyFrame
    problems: list[TelemetryProblem]


# --------------------------------------------------------------------------------------------
# Shared helpers


def _scan_lines(path: Path) -> pl.LazyFrame:
    """Every line of a text file as ``line`` (empty lines null) with its 1-based ``source_row``."""
    return pl.scan_csv(
        path,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
    ).with_row_index("source_row", offset=1)


def _split_lines(path: Path, header_row: int, fields: int) -> pl.LazyFrame:
    """The non-blank lines after a CSV header, split on commas into ``__f0`` … and
    ``__extra`` (whatever follows the last field: a line with too many fields)."""
    split = pl.col("line").str.splitn(",", fields + 1)
    return (
        _scan_lines(path)
        .filter(pl.col("source_row") > header_row)
        .filter(pl.col("line").str.strip_chars().str.len_bytes() > 0)
        .select(
            "source_row",
            "line",
            *(split.struct.field(f"field_{i}").alias(f"__f{i}") for i in range(fields)),
            __extra=split.struct.field(f"field_{fields}"),
        )
    )


def _screen(value: pl.Expr, maximum: float | None) -> pl.Expr:
    """Reason code for a parsed number (null: take it as it stands)."""
    code = (
        pl.when(value.is_nan() | value.is_infinite())
        .then(pl.lit(_NOT_A_NUMBER, pl.UInt8))
        .when(value >= SENTINEL_MIN)
        .then(pl.lit(_SENTINEL, pl.UInt8))
        .when(value < 0)
        .then(pl.lit(_NEGATIVE, pl.UInt8))
    )
    if maximum is not None:
        code = code.when(value > maximum).then(pl.lit(_CLAMPED, pl.UInt8))
    return code.otherwise(pl.lit(None, pl.UInt8))


def _apply_screen(value: pl.Expr, why: pl.Expr, maximum: float | None) -> pl.Expr:
    """The value to keep given its reason code: clamped, null, or as it stands."""
    kept = pl.when(why.is_null()).then(value)
    if maximum is not None:
        kept = kept.when(why == _CLAMPED).then(pl.lit(maximum))
    return kept.otherwise(None)


def _text_number(
    raw: str, out: str, *, unit: str | None = None, maximum: float | None = None, empty_na: bool
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Three steps to ``__num_<out>`` (Float64) and ``__why_<out>`` from text like ``45 %``.

    Apply them with one ``with_columns`` each (an expression used twice in one step is
    evaluated twice). A bracketed value (nvidia-smi's ``[N/A]``, ``[Not Supported]``, …) and
    dmon's ``-`` are unavailable; so is an empty field when ``empty_na`` (else it is malformed).
    """
    text = pl.col(raw).str.strip_chars()
    bare = text.str.strip_suffix(unit).str.strip_chars_end() if unit else text
    number = pl.col(f"__text_{out}").cast(pl.Float64, strict=False)
    # Only where no number came out is the text looked at again (few rows, cheap).
    odd = pl.when(pl.col(f"__num_{out}").is_null()).then(pl.col(f"__text_{out}"))
    empty = odd.is_null() | (odd == "")
    unavailable = (odd.str.starts_with("[") & odd.str.ends_with("]")) | (odd == "-")
    why = (
        pl.when(pl.col(f"__num_{out}").is_not_null())
        .then(_screen(pl.col(f"__num_{out}"), maximum))
        .when(empty)
        .then(pl.lit(_NOT_AVAILABLE if empty_na else _MALFORMED, pl.UInt8))
        .when(unavailable)
        .then(pl.lit(_NOT_AVAILABLE, pl.UInt8))
        .otherwise(pl.lit(_MALFORMED, pl.UInt8))
    )
    return bare.alias(f"__text_{out}"), number.alias(f"__num_{out}"), why.alias(f"__why_{out}")


def _with_steps(frame: pl.LazyFrame, steps: list[tuple[pl.Expr, ...]]) -> pl.LazyFrame:
    """``frame`` with the i-th expression of every step tuple added in the i-th pass."""
    for i in range(max((len(s) for s in steps), default=0)):
        frame = frame.with_columns([s[i] for s in steps if len(s) > i])
    return frame


def _finish_numbers(outs: Mapping[str, float | None]) -> list[pl.Expr]:
    return [
        _apply_screen(pl.col(f"__num_{o}"), pl.col(f"__why_{o}"), m).alias(o)
        for o, m in outs.items()
    ]


@dataclass(frozen=True)
class _Check:
    """One column's reason codes in a parsed frame: ``why`` column, source column, example."""

    why: str
    column: str
    example: str


def _example(value: object) -> str | None:
    return None if value is None else str(value).strip()


def _problems_and_bad_rows(
    df: pl.DataFrame, file: str, checks: list[_Check], on_bad_line: OnBadLine, messages: dict
) -> tuple[pl.DataFrame, list[TelemetryProblem]]:
    """Count every reason code per column; raise on (or drop and count) malformed rows.

    A row that cannot be used is counted once, under the first check (in ``checks`` order)
    that fails; the other reasons are counted over the rows that are kept.
    """
    problems: list[TelemetryProblem] = []
    if not checks or df.height == 0:
        return df, problems
    failing = [pl.col(c.why).is_in(_SKIPPED).fill_null(False) for c in checks]
    first_failing = pl.coalesce(
        [pl.when(f).then(pl.lit(i, pl.UInt16)) for i, f in enumerate(failing)]
    )
    df = df.with_columns(__bad_check=first_failing)
    bad = df.filter(pl.col("__bad_check").is_not_null()).sort("source_row")
    if bad.height and on_bad_line == "raise":
        first = bad.row(0, named=True)
        check = checks[first["__bad_check"]]
        code = first[check.why]
        message = messages.get((check.column, code)) or messages.get(code, "malformed")
        raise TelemetryFormatError(
            file,
            first["source_row"],
            check.column,
            f"{message}: {_example(first[check.example])!r}",
            bad.height,
        )
    for index, check in enumerate(checks):
        rows = bad.filter(pl.col("__bad_check") == index)
        if rows.height:
            first = rows.row(0, named=True)
            problems.append(
                TelemetryProblem(
                    file,
                    check.column,
                    _REASONS[first[check.why]],
                    rows.height,
                    first["source_row"],
                    _example(first[check.example]),
                )
            )
    kept = df.filter(pl.col("__bad_check").is_null()).drop("__bad_check") if bad.height else df
    for check in checks:
        counted = (
            kept.lazy()
            .filter(pl.col(check.why).is_not_null())
            .group_by(check.why)
            .agg(
                rows=pl.len(),
                first_row=pl.col("source_row").min(),
                example=pl.col(check.example)
                .sort_by("source_row")
                .first()
                .cast(pl.String)
                .str.strip_chars(),
            )
            .sort(check.why)
            .collect()
        )
        for why, rows, first_row, example in counted.iter_rows():
            problems.append(
                TelemetryProblem(file, check.column, _REASONS[why], rows, first_row, example)
            )
    return kept.drop("__bad_check", strict=False), problems


def _to_schema(df: pl.DataFrame, **constants: str | None) -> pl.DataFrame:
    """``df`` with exactly the columns of :data:`GPU_SAMPLES_SCHEMA`, missing ones null (and
    ``gpu_share`` 1: a whole GPU)."""
    columns = []
    for name, dtype in GPU_SAMPLES_SCHEMA.items():
        if name in constants:
            columns.append(pl.lit(constants[name], dtype).alias(name))
        elif name in df.columns:
            columns.append(pl.col(name).cast(dtype))
        elif name == "gpu_share":
            columns.append(pl.lit(1.0, dtype).alias(name))
        else:
            columns.append(pl.lit(None, dtype).alias(name))
    return df.select(columns)


def _epoch_to_utc(epoch: pl.Expr, time_unit: Literal["ms", "us"]) -> pl.Expr:
    """Integer time since 1970 as UTC microseconds."""
    return (
        pl.from_epoch(epoch, time_unit=time_unit)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


def _local_to_utc(naive: pl.Expr, time_zone: str) -> pl.Expr:
    """A naive wall-clock time in ``time_zone`` as UTC microseconds."""
    if time_zone == "UTC":
        return naive.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return (
        naive.cast(pl.Datetime("us"))
        .dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def _first_line(path: Path) -> str:
    return _header_line(path)[1]


def _header_line(path: Path) -> tuple[int, str]:
    """The first non-empty line of a text file and its 1-based number (0, "" if none)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                return number, line.rstrip("\r\n")
    return 0, ""


# --------------------------------------------------------------------------------------------
# nvidia-smi --query-gpu CSV

_QUERY_TIME_FORMAT = "%Y/%m/%d %H:%M:%S%.f"
# A value of the timestamp field: how a headerless capture is recognised.
_QUERY_TIME = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?$")
_QUERY_FIELDS = {
    # query field → (output column, maximum, the unit nvidia-smi prints without nounits)
    "utilization.gpu": ("busy_pct", 100.0, "%"),
    "memory.used": ("memory_used_mib", None, "MiB"),
    "memory.total": ("memory_total_mib", None, "MiB"),
    "power.draw": ("power_w", None, "W"),
    "power.draw.instant": ("power_w", None, "W"),
    "power.draw.average": ("power_w", None, "W"),
}
# Other names nvidia-smi accepts for a field (``nvidia-smi --help-query-gpu``).
_QUERY_ALIASES = {"gpu_uuid": "uuid", "gpu_name": "name", "gpu_bus_id": "pci.bus_id"}
QUERY_SIDECAR_SUFFIX = ".query"
_REQUIRED_QUERY_FIELDS = ("timestamp", "utilization.gpu")


def query_gpu_fields(text: str) -> tuple[str, ...]:
    """The fields of a ``--query-gpu`` list, from the list itself (``timestamp,uuid,…``) or
    from a whole nvidia-smi command line that contains ``--query-gpu=…``."""
    found = re.search(r"--query-gpu(?:=|\s+)[\"']?([^\s\"']+)", text)
    listed = found.group(1) if found else text.strip()
    fields = tuple(f.strip() for f in listed.split(",") if f.strip())
    if not fields:
        raise ValueError(f"no --query-gpu fields in {text[:120]!r}")
    return tuple(_QUERY_ALIASES.get(f, f) for f in fields)


def _header_fields(header: str) -> list[tuple[str, str | None]]:
    fields = []
    for name in header.split(","):
        match = re.fullmatch(r"\s*([^\[]*?)\s*(?:\[(.*)\])?\s*", name)
        key, unit = (match.group(1), match.group(2)) if match else (name.strip(), None)
        fields.append((_QUERY_ALIASES.get(key, key), unit))
    return fields


def _is_headerless_query(line: str) -> bool:
    return any(_QUERY_TIME.match(field.strip()) for field in line.split(","))


def _query_header(
    path: Path, query_gpu: str | Iterable[str] | None
) -> tuple[int, list[tuple[str, str | None]]]:
    """Where the data starts (the header's line number, 0 when there is none) and the fields.

    A file's own header wins. A headerless file (``--format=csv,noheader``) takes its fields
    from the sidecar ``<file>.query`` (the field list or the whole nvidia-smi command line,
    written beside the file it describes), else from ``query_gpu``; units are those
    nvidia-smi prints, present or not (``nounits``).
    """
    header_row, header = _header_line(path)
    if not _is_headerless_query(header):
        fields = _header_fields(header)
        source = f"header: {header[:200]!r}"
    else:
        sidecar = path.with_name(path.name + QUERY_SIDECAR_SUFFIX)
        if sidecar.is_file():
            query_gpu = sidecar.read_text(encoding="utf-8")
        if query_gpu is None:
            raise TelemetryFormatError(
                path,
                header_row,
                None,
                "nvidia-smi CSV without a header (--format=csv,noheader): give the fields as "
                "passed to nvidia-smi (--query-gpu timestamp,uuid,utilization.gpu,… or gpu: "
                f"query_gpu in the config), or write them in {sidecar.name}",
            )
        names = query_gpu_fields(query_gpu if isinstance(query_gpu, str) else ",".join(query_gpu))
        fields = [(name, None) for name in names]
        source = f"--query-gpu {','.join(names)}"
        given = len(header.split(","))
        if given != len(names):
            raise TelemetryFormatError(
                path,
                header_row,
                "(row)",
                f"expected {len(names)} comma-separated fields as in {source}, found {given}",
            )
        header_row = 0
    keys = [k for k, _ in fields]
    for needed in _REQUIRED_QUERY_FIELDS:
        if needed not in keys:
            raise TelemetryFormatError(
                path,
                header_row or 1,
                needed,
                f"nvidia-smi query CSV lacks {needed!r} ({source}); expected the fields "
                f"{', '.join(_REQUIRED_QUERY_FIELDS)} among those of --query-gpu",
            )
    return header_row, [
        (k, u or (_QUERY_FIELDS[k][2] if k in _QUERY_FIELDS else None)) for k, u in fields
    ]


def read_nvidia_smi_query_csv(
    path: str | Path,
    host: str | None = None,
    *,
    query_gpu: str | Iterable[str] | None = None,
    time_zone: str = "UTC",
    on_bad_line: OnBadLine = "raise",
) -> TelemetryRead:
    """Samples from ``nvidia-smi --query-gpu=timestamp,index,uuid,name,… --format=csv``.

    Units inside values (``45 %``, ``81559 MiB``, ``118.76 W``) are read per the header's
    ``[unit]``; ``--format=csv,nounits`` works too. Without a header (``--format=csv,noheader``,
    the usual way to log), the fields are those of the sidecar ``<file>.query``, else
    ``query_gpu`` (as passed to nvidia-smi). Bracketed values (``[N/A]``,
    ``[Not Supported]``) are null and counted. Timestamps ``YYYY/MM/DD HH:MM:SS.mmm`` are the
    sampling machine's wall clock, ``time_zone`` (UTC unless said). A header line repeated
    mid-file (output appended by several runs) is skipped. nvidia-smi does not name the machine:
    ``host`` fills that column.
    """
    path = Path(path)
    file = str(path)
    header_row, fields = _query_header(path, query_gpu)
    keys = [k for k, _ in fields]
    n = len(fields)
    cols = [f"__f{i}" for i in range(n)]
    lines = _split_lines(path, header_row, n).filter(
        # The header again (several runs appended to one file).
        pl.col(cols[keys.index("timestamp")]).str.strip_chars().ne_missing("timestamp")
    )
    exprs: list[pl.Expr] = []
    steps: list[tuple[pl.Expr, ...]] = []
    numbers: dict[str, float | None] = {}
    seen_outputs = set()
    col_of = dict(zip(keys, cols, strict=True))
    for key, unit in fields:
        if key in _QUERY_FIELDS and _QUERY_FIELDS[key][0] not in seen_outputs:
            out, maximum, _ = _QUERY_FIELDS[key]
            seen_outputs.add(out)
            numbers[out] = maximum
            steps.append(
                _text_number(
                    col_of[key],
                    out,
                    unit=f" {unit}" if unit else None,
                    maximum=maximum,
                    empty_na=False,
                )
            )
    time_text = pl.col(col_of["timestamp"]).str.strip_chars()
    naive = time_text.str.to_datetime(_QUERY_TIME_FORMAT, time_unit="us", strict=False)
    steps.append(
        (
            _local_to_utc(naive, time_zone).alias("time"),
            pl.when(pl.col("time").is_null())
            .then(pl.lit(_MALFORMED, pl.UInt8))
            .alias("__why_time"),
        )
    )
    exprs += [
        pl.when(pl.col(cols[-1]).is_null() | pl.col("__extra").is_not_null())
        .then(pl.lit(_MALFORMED, pl.UInt8))
        .alias("__why_fields"),
    ]
    if "index" in col_of:
        index = pl.col(col_of["index"]).str.strip_chars().cast(pl.Int32, strict=False)
        steps.append(
            (
                index.alias("gpu_index"),
                pl.when(pl.col("gpu_index").is_null())
                .then(pl.lit(_MALFORMED, pl.UInt8))
                .alias("__why_index"),
            )
        )
    for key, out in (("uuid", "gpu_uuid"), ("name", "gpu_model")):
        if key in col_of:
            exprs.append(pl.col(col_of[key]).str.strip_chars().alias(out))
    parsed = _with_steps(lines.with_columns(exprs), steps).collect(engine="streaming")

    checks = [_Check("__why_fields", "(row)", "line"), _Check("__why_time", "timestamp", "line")]
    if "index" in col_of:
        checks.append(_Check("__why_index", "index", col_of["index"]))
    for key, unit in fields:
        if key in _QUERY_FIELDS and f"__why_{_QUERY_FIELDS[key][0]}" not in {c.why for c in checks}:
            label = f"{key} [{unit}]" if unit else key
            checks.append(_Check(f"__why_{_QUERY_FIELDS[key][0]}", label, col_of[key]))
    messages = {
        ("(row)", _MALFORMED): f"expected {n} comma-separated fields as in "
        + ("the header" if header_row else "--query-gpu"),
        ("timestamp", _MALFORMED): "timestamp is not YYYY/MM/DD HH:MM:SS.mmm",
        _MALFORMED: "not a number",
    }
    parsed, problems = _problems_and_bad_rows(parsed, file, checks, on_bad_line, messages)
    parsed = parsed.with_columns(_finish_numbers(numbers)).with_columns(
        busy=pl.col("busy_pct") / 100
    )
    out = _to_schema(
        parsed,
        host=host,
        busy_source="utilization.gpu",
        source_format=NVIDIA_SMI_QUERY_CSV,
        source_file=file,
    )
    return TelemetryRead(out.lazy(), problems)


# --------------------------------------------------------------------------------------------
# nvidia-smi dmon

_DMON_FIELDS = {
    "sm": ("busy_pct", 100.0),
    "fb": ("memory_used_mib", None),
    "pwr": ("power_w", None),
}


def read_nvidia_smi_dmon(
    path: str | Path,
    day: date | None,
    host: str | None = None,
    gpu_uuid: str | Mapping[int, str] | None = None,
    *,
    time_zone: str = "UTC",
    second_offset: timedelta = timedelta(milliseconds=500),
    on_bad_line: OnBadLine = "raise",
) -> TelemetryRead:
    """Samples from ``nvidia-smi dmon -s pucm -o T`` (fixed width, ``#`` header lines).

    ``-o T`` prints only ``HH:MM:SS``: ``day`` is the date of the first line (in ``time_zone``),
    and a time more than 12 hours earlier than the line before is the next day (midnight
    rollover). With ``-o DT`` the ``Date`` column (``YYYYMMDD``) is used and ``day`` may be None.

    The printed time is the wall clock cut to the second: the reading was taken somewhere in
    ``[T, T+1 s)``. In the H100 capture the row stamped 18:52:33 already shows the 227 W that
    the 0.5 s nvidia-smi sampler read at 18:52:33.611, after the load began at 18:52:33.241, so
    the stamp precedes the reading. Each row is placed at ``T + second_offset`` (the middle of
    the second unless said).

    dmon names GPUs by index only: ``gpu_uuid`` (one UUID, or index → UUID) fills ``gpu_uuid``.
    ``sm`` is the busy percentage, ``fb`` the memory used (MiB), ``pwr`` the power (W); ``-`` is
    null. Header lines repeated mid-file are skipped.
    """
    path = Path(path)
    file = str(path)
    header = _first_line(path)
    if not header.startswith("#"):
        raise TelemetryFormatError(
            path, 1, None, f"dmon output starts with a '#' header line, not {header[:80]!r}"
        )
    names = header.lstrip("#").split()
    lowered = [n.lower() for n in names]
    if "time" not in lowered or "sm" not in lowered or "gpu" not in lowered:
        raise TelemetryFormatError(
            path,
            1,
            None,
            f"dmon header {header.strip()!r} lacks Time, gpu or sm: run dmon with -s u and -o T",
        )
    has_date = "date" in lowered
    if day is None and not has_date:
        raise ValueError(f"{file}: dmon -o T prints no date; pass day= (the first line's date)")
    n = len(names)
    tokens = pl.col("line").str.strip_chars().str.extract_all(r"\S+")
    lines = (
        _scan_lines(path)
        .filter(pl.col("line").str.strip_chars().str.len_bytes() > 0)
        .filter(~pl.col("line").str.starts_with("#"))
        .with_columns(__tokens=tokens)
        .with_columns(
            __why_fields=pl.when(pl.col("__tokens").list.len() != n).then(
                pl.lit(_MALFORMED, pl.UInt8)
            ),
            **{
                f"__c_{k}": pl.col("__tokens").list.get(i, null_on_oob=True)
                for i, k in enumerate(lowered)
            },
        )
    )
    exprs: list[pl.Expr] = []
    steps: list[tuple[pl.Expr, ...]] = []
    numbers: dict[str, float | None] = {}
    for key, (out, maximum) in _DMON_FIELDS.items():
        if key in lowered:
            numbers[out] = maximum
            steps.append(_text_number(f"__c_{key}", out, maximum=maximum, empty_na=False))
    tod = pl.col("__c_time").str.to_time("%H:%M:%S", strict=False)
    exprs += [
        tod.alias("__tod"),
        pl.when(tod.is_null()).then(pl.lit(_MALFORMED, pl.UInt8)).alias("__why_time"),
        pl.col("__c_gpu").cast(pl.Int32, strict=False).alias("gpu_index"),
        pl.when(pl.col("__c_gpu").cast(pl.Int32, strict=False).is_null())
        .then(pl.lit(_MALFORMED, pl.UInt8))
        .alias("__why_gpu"),
    ]
    if has_date:
        the_date = pl.col("__c_date").str.to_date("%Y%m%d", strict=False)
        exprs += [
            the_date.alias("__date"),
            pl.when(the_date.is_null()).then(pl.lit(_MALFORMED, pl.UInt8)).alias("__why_date"),
        ]
    parsed = _with_steps(lines.with_columns(exprs), steps).collect()
    checks = [
        _Check("__why_fields", "(row)", "line"),
        _Check("__why_time", names[lowered.index("time")], "line"),
        _Check("__why_gpu", names[lowered.index("gpu")], "line"),
    ]
    if has_date:
        checks.append(_Check("__why_date", names[lowered.index("date")], "line"))
    for key, (out, _) in _DMON_FIELDS.items():
        if key in lowered:
            checks.append(_Check(f"__why_{out}", names[lowered.index(key)], f"__c_{key}"))
    messages = {
        ("(row)", _MALFORMED): f"expected {n} whitespace-separated fields as in the header {names}",
        _MALFORMED: "not a number, '-' or HH:MM:SS",
    }
    parsed, problems = _problems_and_bad_rows(parsed, file, checks, on_bad_line, messages)

    seconds = (
        pl.col("__tod").dt.hour().cast(pl.Int64) * 3600
        + pl.col("__tod").dt.minute().cast(pl.Int64) * 60
        + pl.col("__tod").dt.second().cast(pl.Int64)
    )
    if has_date:
        midnight = pl.col("__date").cast(pl.Datetime("us"))
    else:
        # Lines are in time order; a drop of more than 12 hours is the clock passing midnight.
        rollover = (seconds < seconds.shift(1) - 12 * 3600).fill_null(False)
        midnight = pl.lit(datetime(day.year, day.month, day.day), pl.Datetime("us")) + pl.duration(
            days=rollover.cast(pl.Int64).cum_sum()
        )
    naive = midnight + pl.duration(seconds=seconds) + pl.lit(second_offset)
    parsed = parsed.with_columns(time=_local_to_utc(naive, time_zone)).with_columns(
        _finish_numbers(numbers)
    )
    parsed = parsed.with_columns(busy=pl.col("busy_pct") / 100)
    if isinstance(gpu_uuid, str):
        indices = parsed["gpu_index"].unique().drop_nulls().to_list()
        if len(indices) > 1:
            raise ValueError(
                f"{file}: dmon shows GPUs {sorted(indices)}; give gpu_uuid as index → UUID"
            )
        parsed = parsed.with_columns(gpu_uuid=pl.lit(gpu_uuid))
    elif gpu_uuid is not None:
        parsed = parsed.with_columns(
            gpu_uuid=pl.col("gpu_index").replace_strict(
                dict(gpu_uuid), default=None, return_dtype=pl.String
            )
        )
    out = _to_schema(
        parsed, host=host, busy_source="sm", source_format=NVIDIA_SMI_DMON, source_file=file
    )
    return TelemetryRead(out.lazy(), problems)


# --------------------------------------------------------------------------------------------
# NVML samples CSV

_NVML_REQUIRED = ("unix_time", "utilization_gpu_pct")
_NVML_NUMBERS = {
    "utilization_gpu_pct": ("busy_pct", 100.0),
    "memory_used_mib": ("memory_used_mib", None),
    "memory_total_mib": ("memory_total_mib", None),
    "power_w": ("power_w", None),
}


def read_nvml_samples_csv(
    path: str | Path, host: str | None = None, *, on_bad_line: OnBadLine = "raise"
) -> TelemetryRead:
    """Samples from a CSV of NVML readings, one row per GPU and reading.

    Columns: ``unix_time`` (seconds, UTC), ``utilization_gpu_pct`` (0–100, the ``gpu`` field
    of ``nvmlDeviceGetUtilizationRates``), and when present ``gpu_uuid``,
    ``memory_used_mib``, ``memory_total_mib``, ``power_w``, ``utilization_memory_pct`` (not
    used), ``gpu_index``, ``gpu_model`` or ``gpu_name``, ``host``. An empty field is a value
    NVML did not give (null, counted). ``host`` fills the column when the file has none.

    Without ``gpu_uuid`` (a one-GPU host's log) the samples name no GPU: the mapping's row for
    the host names the billed resource. Two readings at one time in such a file (several GPUs
    without an identifier) are an error rather than one GPU sampled twice as often.
    """
    path = Path(path)
    file = str(path)
    header_row, header_text = _header_line(path)
    header = [c.strip() for c in header_text.split(",")]
    for needed in _NVML_REQUIRED:
        if needed not in header:
            raise TelemetryFormatError(
                path,
                header_row or 1,
                needed,
                f"NVML samples CSV lacks column {needed!r} (header: {header}); expected "
                f"{', '.join(_NVML_REQUIRED)} and optionally gpu_uuid, gpu_index, host, "
                "memory_used_mib, memory_total_mib, power_w",
            )
    n = len(header)
    col_of = {name: f"__f{i}" for i, name in enumerate(header)}
    lines = _split_lines(path, header_row, n)
    exprs: list[pl.Expr] = []
    steps: list[tuple[pl.Expr, ...]] = []
    numbers: dict[str, float | None] = {}
    for name, (out, maximum) in _NVML_NUMBERS.items():
        if name in col_of:
            numbers[out] = maximum
            steps.append(_text_number(col_of[name], out, maximum=maximum, empty_na=True))
    unix = pl.col(col_of["unix_time"]).str.strip_chars().cast(pl.Float64, strict=False)
    micros = (pl.col("__unix") * 1_000_000).round().cast(pl.Int64, strict=False)
    steps.append(
        (
            unix.alias("__unix"),
            _epoch_to_utc(micros, "us").alias("time"),
            pl.when(pl.col("time").is_null())
            .then(pl.lit(_MALFORMED, pl.UInt8))
            .alias("__why_time"),
        )
    )
    exprs += [
        pl.when(pl.col(f"__f{n - 1}").is_null() | pl.col("__extra").is_not_null())
        .then(pl.lit(_MALFORMED, pl.UInt8))
        .alias("__why_fields"),
    ]
    if "gpu_uuid" in col_of:
        exprs.append(pl.col(col_of["gpu_uuid"]).str.strip_chars().alias("gpu_uuid"))
    if "gpu_index" in col_of:
        exprs.append(
            pl.col(col_of["gpu_index"])
            .str.strip_chars()
            .cast(pl.Int32, strict=False)
            .alias("gpu_index")
        )
    for name in ("gpu_model", "gpu_name"):
        if name in col_of:
            exprs.append(pl.col(col_of[name]).str.strip_chars().alias("gpu_model"))
            break
    if "host" in col_of:
        exprs.append(pl.col(col_of["host"]).str.strip_chars().alias("host"))
    parsed = _with_steps(lines.with_columns(exprs), steps).collect(engine="streaming")
    checks = [_Check("__why_fields", "(row)", "line"), _Check("__why_time", "unix_time", "line")]
    checks += [
        _Check(f"__why_{out}", name, col_of[name])
        for name, (out, _) in _NVML_NUMBERS.items()
        if name in col_of
    ]
    messages = {
        ("(row)", _MALFORMED): f"expected {n} comma-separated fields as in the header",
        ("unix_time", _MALFORMED): "unix_time is not a number of seconds",
        _MALFORMED: "not a number",
    }
    parsed, problems = _problems_and_bad_rows(parsed, file, checks, on_bad_line, messages)
    if not {"gpu_uuid", "gpu_index"} & set(col_of):
        twice = parsed.filter(pl.col("time").is_duplicated()).sort("source_row")
        if twice.height:
            raise TelemetryFormatError(
                file,
                twice["source_row"][0],
                "unix_time",
                "two readings at one time in a file without gpu_uuid or gpu_index: samples "
                "of several GPUs need one of those columns",
                twice.height,
            )
    parsed = parsed.with_columns(_finish_numbers(numbers)).with_columns(
        busy=pl.col("busy_pct") / 100
    )
    constants = {
        "busy_source": "nvml.utilization.gpu",
        "source_format": NVML_SAMPLES_CSV,
        "source_file": file,
    }
    if "host" not in col_of:
        constants["host"] = host
    out = _to_schema(parsed, **constants)
    return TelemetryRead(out.lazy(), problems)


# --------------------------------------------------------------------------------------------
# dcgm-exporter Prometheus text


_MS_LIMIT = 1 << 44  # Prometheus timestamps (ms) from 1970 to the year 2527


def _label(name: str) -> pl.Expr:
    """Value of label ``name`` in a ``metric{a="x",b="y"`` series text (escapes undone)."""
    pattern = r"[{,]\s*" + re.escape(name) + r'\s*=\s*"((?:[^"\\]|\\.)*)"'
    value = (
        pl.col("series_text")
        .str.extract(pattern, 1)
        .str.replace_all(r"\\n", "\n", literal=True)
        .str.replace_all(r"\"", '"', literal=True)
        .str.replace_all(r"\\", "\\", literal=True)
    )
    return pl.when(value != "").then(value)


_WORKLOAD_LABELS = ("namespace", "pod", "container")
_TIME_LINE = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\d{9,11}(?:\.\d+)?)$"
)


def _time_line_ms(text: str) -> int | None:
    """Milliseconds since 1970 of a time line: ISO 8601 (UTC when it has no offset) or unix
    seconds; None when it is neither."""
    try:
        if "-" not in text[:5]:
            return int(round(float(text) * 1000))
        moment = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(round(moment.timestamp() * 1000))


def _mig_share(profile: pl.Expr, model: pl.Expr) -> pl.Expr:
    """A MIG instance's share of its GPU: compute slices of the profile (``3g.40gb``: 3) over
    the GPU's (7, an A30's 4); 1 for a whole GPU."""
    slices = profile.str.extract(r"^(\d+)g\.", 1).cast(pl.Float64)
    total = (
        pl.when(model.str.contains(r"\bA30\b").fill_null(False))
        .then(pl.lit(float(MIG_SLICES_A30)))
        .otherwise(pl.lit(float(MIG_SLICES)))
    )
    return pl.when(slices.is_not_null()).then(pl.min_horizontal(slices / total, 1.0)).otherwise(1.0)


def read_dcgm_prometheus(
    path: str | Path,
    scrape_time: datetime | None = None,
    *,
    on_bad_line: OnBadLine = "raise",
) -> TelemetryRead:
    """Samples from dcgm-exporter's Prometheus text: one scrape, or several concatenated.

    Sample lines look like ``DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-…",
    modelName="NVIDIA H100 80GB HBM3",Hostname="node-1",…} 0.87 1795719133241``; the optional
    last field is the time in milliseconds. Lines without one take the time of the last *time
    line* before them (a line holding only an ISO 8601 time or unix seconds, as
    ``while :; do date -u +%FT%T.%3NZ; curl -s :9400/metrics; sleep 1; done`` writes), else
    ``scrape_time`` (an aware datetime); without either they are an error. ``# HELP`` /
    ``# TYPE`` lines and metrics other than the ones read here are skipped.

    Per GPU (``Hostname``, ``UUID``, ``gpu``, and ``GPU_I_ID`` under MIG), Kubernetes workload
    (``namespace``, ``pod``, ``container``, or their ``exported_`` forms) and time: ``busy`` is
    ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (0–1) when it has a usable value, else
    ``DCGM_FI_DEV_GPU_UTIL``/100; ``sm_active``, ``tensor_active`` and ``dram_active`` are
    ``DCGM_FI_PROF_SM_ACTIVE``, ``…_PIPE_TENSOR_ACTIVE`` and ``…_DRAM_ACTIVE`` (0–1); memory
    used is ``DCGM_FI_DEV_FB_USED`` and total is used + ``FB_FREE`` (+ ``FB_RESERVED`` when
    exported), in MiB; power is ``DCGM_FI_DEV_POWER_USAGE``. A MIG instance keeps its
    ``GPU_I_ID`` and ``GPU_I_PROFILE``, and ``gpu_share`` = its compute slices (``3g.40gb``: 3)
    over the GPU's (:data:`MIG_SLICES`). ``resource_id`` comes from the first of the labels
    :data:`RESOURCE_LABELS` present.

    Lines are split at ``}`` by the CSV reader and then at spaces, not by a regex, and the label
    text is parsed once per distinct series, so a day of 1-second scrapes reads in seconds. A
    label value containing ``}`` is not supported (the line is reported as malformed).
    """
    path = Path(path)
    file = str(path)
    if scrape_time is not None:
        if scrape_time.tzinfo is None:
            raise ValueError("scrape_time must be timezone-aware")
        scrape_ms = int(round(scrape_time.timestamp() * 1000))
    else:
        scrape_ms = None

    # The CSV reader splits each line at "}" (fast, in parallel): head = 'metric{labels',
    # tail = ' value [timestamp]'. Each further split is its own step, as an expression used in
    # several columns would be evaluated once per use. Lines that do not fit the fast path (no
    # labels, several spaces or tabs, trailing blanks) are normalized on their own, cheaply.
    head, tail = pl.col("__head"), pl.col("__tail")
    odd = pl.col("__odd")
    bare_rest = pl.when(odd & tail.is_null()).then(head).str.replace(r"^\s*\S+", "")
    norm = pl.col("__norm")
    blank = (pl.when(odd & tail.is_null()).then(head).str.strip_chars() == "").fill_null(False)
    time_present = pl.when(odd).then(norm.struct.field("field_1")).otherwise(pl.col("__t"))
    malformed = (
        pl.col("value").is_null()
        | (time_present.is_not_null() & pl.col("ms").is_null())
        # Times are packed with the GPU into one integer key below.
        | (pl.col("ms") < 0).fill_null(False)
        | (pl.col("ms") >= _MS_LIMIT).fill_null(False)
    ) & ~blank
    # A line holding only a time (``date -u +%FT%T.%3NZ`` or ``date +%s.%N``) stamps the
    # timestamp-less samples after it.
    marker = (
        pl.when(tail.is_null())
        .then(head.str.strip_chars())
        .str.contains(_TIME_LINE.pattern)
        .fill_null(False)
    )
    malformed = malformed & ~marker
    no_time = ~malformed & ~blank & ~marker & time_present.is_null()
    lines = (
        pl.scan_csv(
            path,
            has_header=False,
            separator="}",
            quote_char=None,
            schema={"__head": pl.String, "__tail": pl.String},
            truncate_ragged_lines=True,
            missing_columns="insert",
        )
        .with_row_index("source_row", offset=1)
        .filter(head.is_not_null() & ~head.str.starts_with("#"))
        .with_columns(__fast=tail.str.splitn(" ", 3))
        .with_columns(
            __lead=pl.col("__fast").struct.field("field_0"),
            __v=pl.col("__fast").struct.field("field_1"),
            __t=pl.col("__fast").struct.field("field_2"),
        )
        .with_columns(
            __value=pl.col("__v").cast(pl.Float64, strict=False),
            __ms=pl.col("__t").cast(pl.Int64, strict=False),
        )
        .with_columns(
            __odd=tail.is_null()
            | (pl.col("__lead") != "")
            | pl.col("__value").is_null()
            | (pl.col("__t").is_not_null() & pl.col("__ms").is_null())
        )
        .with_columns(
            __norm=pl.coalesce(bare_rest, pl.when(odd).then(tail))
            .str.strip_chars()
            .str.replace_all(r"\s+", " ")
            .str.splitn(" ", 2)
        )
        .with_columns(
            value=pl.when(odd)
            .then(norm.struct.field("field_0").cast(pl.Float64, strict=False))
            .otherwise(pl.col("__value")),
            ms=pl.when(odd)
            .then(norm.struct.field("field_1").cast(pl.Int64, strict=False))
            .otherwise(pl.col("__ms")),
        )
        .filter(~blank)
        .select(
            "source_row",
            # Samples without labels name no GPU: checked, then left out.
            series=pl.when(tail.is_not_null()).then(head).cast(pl.Categorical),
            value="value",
            ms="ms",
            __marker=pl.when(marker).then(head.str.strip_chars()),
            __why_line=pl.when(malformed).then(pl.lit(_MALFORMED, pl.UInt8)),
            __no_time=no_time,
            __bad_text=pl.when(malformed | no_time).then(
                pl.when(tail.is_null()).then(head).otherwise(head + "}" + tail)
            ),
        )
    )
    parsed = lines.collect(engine="streaming")
    markers = parsed.filter(pl.col("__marker").is_not_null())
    if markers.height:
        # Few rows (one per scrape): parsed one by one, then carried down to the samples.
        stamps = [_time_line_ms(text) for text in markers["__marker"]]
        bad = [row for row, ms in zip(markers["source_row"], stamps, strict=True) if ms is None]
        if bad:
            raise TelemetryFormatError(
                file, bad[0], "(time line)", "not an ISO 8601 time or unix seconds", len(bad)
            )
        parsed = (
            parsed.sort("source_row")
            .join_asof(
                pl.DataFrame(
                    {"source_row": markers["source_row"], "__scrape_ms": stamps},
                    schema={"source_row": parsed.schema["source_row"], "__scrape_ms": pl.Int64},
                ).sort("source_row"),
                on="source_row",
                strategy="backward",
            )
            .filter(pl.col("__marker").is_null())
            .with_columns(ms=pl.coalesce("ms", "__scrape_ms"))
            .drop("__scrape_ms")
        )
    if scrape_ms is not None:
        parsed = parsed.with_columns(pl.col("ms").fill_null(scrape_ms))
    parsed = parsed.with_columns(
        __why_time=pl.when(pl.col("__no_time") & pl.col("ms").is_null()).then(
            pl.lit(_NO_TIME, pl.UInt8)
        )
    ).drop("__marker", "__no_time")
    checks = [
        _Check("__why_line", "(line)", "__bad_text"),
        _Check("__why_time", "timestamp", "__bad_text"),
    ]
    messages = {
        ("(line)", _MALFORMED): "not a Prometheus sample 'metric{labels} value [timestamp_ms]'",
        ("timestamp", _NO_TIME): "sample has no timestamp, no time line before it (ISO 8601 "
        "or unix seconds alone on a line) and no scrape_time was given",
    }
    parsed, problems = _problems_and_bad_rows(parsed, file, checks, on_bad_line, messages)
    parsed = parsed.drop("__why_line", "__bad_text", "__why_time")

    # Label text is parsed once per distinct series.
    metric_code = {m: i for i, m in enumerate(_DCGM_METRICS)}
    series_table = (
        parsed.select(pl.col("series").unique())
        .with_columns(series_text=pl.col("series").cast(pl.String))
        .with_columns(
            metric=pl.col("series_text").str.extract(r"^([^{\s]+)", 1),
            host=pl.coalesce(_label("Hostname"), _label("host")),
            gpu_uuid_label=pl.coalesce(_label("UUID"), _label("uuid")),
            mig=_label("GPU_I_ID"),
            mig_profile=_label("GPU_I_PROFILE"),
            gpu_index=_label("gpu").cast(pl.Int32, strict=False),
            gpu_model=_label("modelName"),
            resource_id=pl.coalesce([_label(n) for n in RESOURCE_LABELS]),
            # Prometheus renames a target's labels that clash with its own to exported_*.
            **{k: pl.coalesce(_label(f"exported_{k}"), _label(k)) for k in _WORKLOAD_LABELS},
        )
        .with_columns(
            m=pl.col("metric").replace_strict(metric_code, default=None, return_dtype=pl.UInt8),
            gpu_uuid=pl.when(pl.col("mig").is_not_null() & (pl.col("mig") != ""))
            .then(pl.col("gpu_uuid_label") + "/" + pl.col("mig"))
            .otherwise(pl.col("gpu_uuid_label")),
            mig_instance="mig",
            gpu_share=_mig_share(pl.col("mig_profile"), pl.col("gpu_model")),
        )
        .filter(pl.col("m").is_not_null())
    )
    # One GPU (or MIG instance) may be held by different workloads over time: each is its own
    # series here; the time-weighting works per GPU (SERIES_KEY).
    gpu_keys = ["host", "gpu_uuid", "gpu_index", *_WORKLOAD_LABELS]
    gpus = (
        series_table.group_by(gpu_keys)
        .agg(
            pl.col("gpu_model", "resource_id", "mig_instance", "mig_profile").drop_nulls().first(),
            pl.col("gpu_share").min(),
        )
        .sort(gpu_keys, nulls_last=True)
        .with_row_index("gpu")
    )
    series_table = series_table.join(gpus.select("gpu", *gpu_keys), on=gpu_keys, nulls_equal=True)
    long = parsed.lazy().join(
        series_table.lazy().select("series", "m", "gpu"), on="series", how="inner"
    )
    maximum = (
        pl.when(pl.col("m").is_in([metric_code[r] for r in _DCGM_RATIOS]))
        .then(pl.lit(1.0))
        .when(pl.col("m") == metric_code[GPU_UTIL])
        .then(pl.lit(100.0))
    )
    value = pl.col("value")
    why = (
        pl.when(value.is_nan() | value.is_infinite())
        .then(pl.lit(_NOT_A_NUMBER, pl.UInt8))
        .when(value >= SENTINEL_MIN)
        .then(pl.lit(_SENTINEL, pl.UInt8))
        .when(value < 0)
        .then(pl.lit(_NEGATIVE, pl.UInt8))
        .when(value > maximum)
        .then(pl.lit(_CLAMPED, pl.UInt8))
    )
    long = long.with_columns(__why=why, __raw=value).with_columns(
        value=pl.when(pl.col("__why").is_null())
        .then(value)
        .when(pl.col("__why") == _CLAMPED)
        .then(maximum)
    )
    long_df = long.collect(engine="streaming")
    counted = (
        long_df.lazy()
        .filter(pl.col("__why").is_not_null())
        .group_by("m", "__why")
        .agg(
            rows=pl.len(),
            first_row=pl.col("source_row").min(),
            example=pl.col("__raw").sort_by("source_row").first().cast(pl.String),
        )
        .sort("m", "__why")
        .collect()
    )
    for m, why_code, rows, first_row, example in counted.iter_rows():
        problems.append(
            TelemetryProblem(file, _DCGM_METRICS[m], _REASONS[why_code], rows, first_row, example)
        )

    # One column per metric, then one row per (GPU, time): a single integer key groups fastest.
    # A metric given twice for the same GPU and time (a repeated scrape) keeps the larger value.
    wide = (
        long_df.lazy()
        .select(
            __key=pl.col("gpu").cast(pl.Int64) * _MS_LIMIT + pl.col("ms"),
            source_row="source_row",
            **{
                f"__{name}": pl.when(pl.col("m") == code).then(pl.col("value"))
                for name, code in metric_code.items()
            },
        )
        .group_by("__key")
        .agg(
            pl.col("source_row").min(),
            *(pl.col(f"__{name}").max() for name in metric_code),
        )
        .select(
            "source_row",
            gpu=(pl.col("__key") // _MS_LIMIT).cast(pl.UInt32),
            ms=pl.col("__key") % _MS_LIMIT,
            __gr=pl.col(f"__{GR_ENGINE_ACTIVE}"),
            __util=pl.col(f"__{GPU_UTIL}"),
            memory_used_mib=pl.col(f"__{FB_USED}"),
            __free=pl.col(f"__{FB_FREE}"),
            __reserved=pl.col(f"__{FB_RESERVED}"),
            power_w=pl.col(f"__{POWER_USAGE}"),
            sm_active=pl.col(f"__{SM_ACTIVE}"),
            tensor_active=pl.col(f"__{TENSOR_ACTIVE}"),
            dram_active=pl.col(f"__{DRAM_ACTIVE}"),
        )
        .join(gpus.lazy(), on="gpu", how="left")
        .with_columns(
            time=_epoch_to_utc(pl.col("ms"), "ms"),
            busy=pl.coalesce(pl.col("__gr"), pl.col("__util") / 100),
            busy_source=pl.when(pl.col("__gr").is_not_null())
            .then(pl.lit(GR_ENGINE_ACTIVE))
            .when(pl.col("__util").is_not_null())
            .then(pl.lit(GPU_UTIL)),
            memory_total_mib=pl.col("memory_used_mib")
            + pl.col("__free")
            + pl.col("__reserved").fill_null(0.0),
        )
        .sort("source_row")
        .collect(engine="streaming")
    )
    out = _to_schema(wide, source_format=DCGM_PROMETHEUS, source_file=file)
    return TelemetryRead(out.lazy(), problems)


# --------------------------------------------------------------------------------------------
# Any file, and the mapping to billed resources

_KNOWN_LAYOUTS = (
    "nvidia-smi --query-gpu CSV with a header naming timestamp and utilization.gpu",
    "the same without a header (noheader), its lines starting with fields like "
    "'2026/11/26 18:52:07.374'",
    "nvidia-smi dmon output ('#Time gpu … sm …' header lines)",
    "an NVML samples CSV (header with unix_time and utilization_gpu_pct)",
    "dcgm-exporter Prometheus text (DCGM_FI_… sample lines or # HELP / # TYPE)",
)
_PROMETHEUS_SAMPLE = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*(\{.*\})?\s+\S+")


def detect_telemetry_format(path: str | Path) -> str:
    """Which of :data:`TELEMETRY_FORMATS` a file is, from its first non-empty line."""
    path = Path(path)
    first = _first_line(path)
    stripped = first.strip()
    if re.match(r"#\s*(Date|Time|gpu)\b", stripped):
        return NVIDIA_SMI_DMON
    if (
        stripped.startswith(("# HELP", "# TYPE"))
        or (_PROMETHEUS_SAMPLE.match(stripped) and stripped.startswith("DCGM_"))
        or _TIME_LINE.match(stripped)  # the time of the first scrape, then its lines
    ):
        return DCGM_PROMETHEUS
    names = [c.strip().split(" [")[0] for c in stripped.split(",")]
    if ("timestamp" in names and "utilization.gpu" in names) or _is_headerless_query(stripped):
        return NVIDIA_SMI_QUERY_CSV
    if "unix_time" in names and "utilization_gpu_pct" in names:
        return NVML_SAMPLES_CSV
    raise TelemetryFormatError(
        path,
        1,
        None,
        f"not a known GPU telemetry format (first line {first[:120]!r}); expected one of: "
        + "; ".join(_KNOWN_LAYOUTS),
    )


def read_gpu_mapping(path: str | Path) -> pl.DataFrame:
    """A CSV mapping GPUs to billed resources: ``resource_id`` with ``gpu_uuid`` and/or ``host``.

    A row with ``gpu_uuid`` maps that GPU; a row with only ``host`` maps every GPU of the
    host. A row may also name, in ``file``, the telemetry files (a file-name pattern such as
    ``gpu-7-*.csv``) written on its host: samples of those files that name no host (an NVML
    log of a one-GPU machine) take the row's ``host``. Other columns (notes, instance type)
    are ignored. Errors name file, row and column.
    """
    path = Path(path)
    raw = pl.read_csv(path, infer_schema=False)
    return _check_mapping(raw, str(path), first_row=2)


def _check_mapping(raw: pl.DataFrame, file: str, first_row: int) -> pl.DataFrame:
    raw = raw.rename({c: c.strip() for c in raw.columns})
    if "resource_id" not in raw.columns:
        raise TelemetryFormatError(
            file,
            first_row - 1 if first_row > 1 else None,
            "resource_id",
            f"missing column (columns: {raw.columns})",
        )
    if "gpu_uuid" not in raw.columns and "host" not in raw.columns:
        raise TelemetryFormatError(
            file,
            first_row - 1 if first_row > 1 else None,
            "gpu_uuid",
            "needs a gpu_uuid or a host column",
        )
    text = {
        c: (
            pl.col(c).cast(pl.String).str.strip_chars()
            if c in raw.columns
            else pl.lit(None, pl.String)
        )
        for c in ("gpu_uuid", "host", "resource_id", "file")
    }
    df = raw.with_row_index("row", offset=first_row).select(
        pl.col("row").cast(pl.Int64), **{k: pl.when(v != "").then(v) for k, v in text.items()}
    )
    df = df.filter(~pl.all_horizontal(pl.col("gpu_uuid", "host", "resource_id").is_null()))
    for check, column, message in (
        (pl.col("resource_id").is_null(), "resource_id", "empty resource_id"),
        (
            pl.col("gpu_uuid").is_null() & pl.col("host").is_null(),
            "gpu_uuid",
            "neither gpu_uuid nor host given",
        ),
    ):
        bad = df.filter(check)
        if bad.height:
            raise TelemetryFormatError(file, bad["row"][0], column, message, bad.height)
    for key in ("gpu_uuid", "host"):
        rows = df.filter(pl.col(key).is_not_null())
        if key == "host":
            rows = rows.filter(pl.col("gpu_uuid").is_null())
        clash = (
            rows.group_by(key)
            .agg(pl.col("resource_id").n_unique().alias("n"), pl.col("row").sort())
            .filter(pl.col("n") > 1)
            .sort(pl.col("row").list.first())
        )
        if clash.height:
            first = clash.row(0, named=True)
            raise TelemetryFormatError(
                file,
                first["row"][1],
                "resource_id",
                f"{key} {first[key]!r} maps to more than one resource_id (rows {first['row']})",
            )
    files = df.filter(pl.col("file").is_not_null() & pl.col("host").is_null())
    if files.height:
        raise TelemetryFormatError(
            file, files["row"][0], "host", "a row naming a file must name its host", files.height
        )
    return df.select("gpu_uuid", "host", "resource_id", "file", source_row="row")


def apply_gpu_mapping(samples: pl.LazyFrame, mapping: pl.DataFrame) -> pl.LazyFrame:
    """Fill a null ``resource_id``: by ``gpu_uuid`` first, then by ``host``."""
    by_uuid = (
        mapping.filter(pl.col("gpu_uuid").is_not_null())
        .select("gpu_uuid", __by_uuid="resource_id")
        .unique("gpu_uuid")
    )
    by_host = (
        mapping.filter(pl.col("gpu_uuid").is_null() & pl.col("host").is_not_null())
        .select("host", __by_host="resource_id")
        .unique("host")
    )
    return (
        samples.join(by_uuid.lazy(), on="gpu_uuid", how="left", maintain_order="left")
        .join(by_host.lazy(), on="host", how="left", maintain_order="left")
        .with_columns(resource_id=pl.coalesce("resource_id", "__by_uuid", "__by_host"))
        .select(GPU_SAMPLES_SCHEMA.names())
    )


def gpu_samples(
    paths: str | Path | Iterable[str | Path],
    mapping: pl.DataFrame | str | Path | None = None,
    *,
    day: date | None = None,
    host: str | None = None,
    scrape_time: datetime | None = None,
    query_gpu: str | Iterable[str] | None = None,
    time_zone: str = "UTC",
    on_bad_line: OnBadLine = "raise",
) -> TelemetryRead:
    """All samples of ``paths`` (any of :data:`TELEMETRY_FORMATS`, detected) in one frame.

    ``mapping`` (a frame or CSV, see :func:`read_gpu_mapping`) fills ``resource_id`` where the
    telemetry has none (and ``host`` for files its ``file`` patterns name). ``day`` is needed
    for dmon ``-o T`` files, ``host`` fills the host of formats that do not carry one,
    ``scrape_time`` stamps Prometheus lines without a timestamp (or a time line before them),
    ``query_gpu`` names the fields of headerless nvidia-smi CSVs that have no ``<file>.query``
    sidecar.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if mapping is not None:
        if not isinstance(mapping, pl.DataFrame):
            mapping = read_gpu_mapping(mapping)
        else:
            mapping = _check_mapping(mapping, "mapping frame", first_row=1)
    hosts_of_files = (
        []
        if mapping is None
        else mapping.filter(pl.col("file").is_not_null()).select("file", "host").rows()
    )

    def read(path: str | Path) -> TelemetryRead:
        got = read_one(path)
        name = Path(path).name
        named = [h for pattern, h in hosts_of_files if fnmatch.fnmatchcase(name, pattern)]
        if not named:
            return got
        return TelemetryRead(
            got.samples.with_columns(host=pl.coalesce("host", pl.lit(named[0]))), got.problems
        )

    def read_one(path: str | Path) -> TelemetryRead:
        kind = detect_telemetry_format(path)
        if kind == NVIDIA_SMI_QUERY_CSV:
            return read_nvidia_smi_query_csv(
                path, host, query_gpu=query_gpu, time_zone=time_zone, on_bad_line=on_bad_line
            )
        if kind == NVIDIA_SMI_DMON:
            return read_nvidia_smi_dmon(
                path, day, host, time_zone=time_zone, on_bad_line=on_bad_line
            )
        if kind == NVML_SAMPLES_CSV:
            return read_nvml_samples_csv(path, host, on_bad_line=on_bad_line)
        return read_dcgm_prometheus(path, scrape_time, on_bad_line=on_bad_line)

    # Files are parsed side by side: much of a file's parse runs on one core, and polars
    # releases the GIL while it works.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        reads = list(pool.map(read, paths))
    frames = [r.samples for r in reads]
    problems = [problem for r in reads for problem in r.problems]
    samples = pl.concat(frames) if frames else pl.LazyFrame(schema=GPU_SAMPLES_SCHEMA)
    if mapping is not None:
        samples = apply_gpu_mapping(samples, mapping)
    return TelemetryRead(samples, problems)


# --------------------------------------------------------------------------------------------
# Time-weighted busy

SERIES_KEY = ("host", "gpu_uuid", "gpu_index")


def _series_table(samples: pl.LazyFrame) -> pl.DataFrame:
    """One row per GPU (:data:`SERIES_KEY`): a small integer ``__series``, a hash, its model."""
    key = list(SERIES_KEY)
    return (
        samples.group_by(key)
        .agg(pl.col("gpu_model").drop_nulls().first())
        .sort(key, nulls_last=True)
        .with_row_index("__series")
        .with_columns(__hash=pl.struct(key).hash())
        .collect()
    )


def _intervals(
    samples: pl.LazyFrame,
    series: pl.DataFrame,
    *,
    max_gap: timedelta | None,
    value_describes: ValueDescribes,
    columns: Iterable[str | pl.Expr] = (),
) -> pl.LazyFrame:
    """Each sample's ``__series``, ``time_us``, ``busy``, ``columns`` and the interval its value
    describes, ``start_us`` to ``end_us`` (microseconds since 1970).

    With ``value_describes="preceding"`` (the default, see the module doc) a sample covers the
    time back to the previous sample of its GPU; with ``"following"`` the time up to the next
    one. A gap up to ``max_gap`` (default: 5 × the GPU's median sample interval, its sampling
    period) is covered whole; after a longer one (a sampler or machine that stopped) the
    sample covers one sampling period only, so the stop stays uncovered rather than filled
    with a stale or future value. The first sample of a GPU (``"following"``: the last) covers
    nothing, as nothing says how far back (forward) its value reaches.

    For speed the GPU is found by a hash of its key (the full key when two GPUs' hashes
    collide), and only narrow columns are sorted, by one Int128 key (GPU, time): sorting the
    table by its text keys, or by two integer columns, takes several times longer.
    """
    if value_describes not in ("preceding", "following"):
        raise ValueError(
            f"value_describes must be 'preceding' or 'following', not {value_describes!r}"
        )
    key = list(SERIES_KEY)
    if series["__hash"].n_unique() == series.height:
        with_series = samples.with_columns(__hash=pl.struct(key).hash()).join(
            series.lazy().select("__hash", "__series"), on="__hash", how="left"
        )
    else:
        with_series = samples.join(
            series.lazy().select("__series", *key), on=key, how="left", nulls_equal=True
        )
    order = pl.col("__series").cast(pl.Int128) * (1 << 64) + pl.col("time_us").cast(pl.Int128)
    out = (
        with_series.select(
            "__series", pl.col("time").cast(pl.Int64).alias("time_us"), "busy", *columns
        )
        .sort(order)
        .with_columns(__new=pl.col("__series").ne_missing(pl.col("__series").shift(1)))
        .with_columns(
            __gap_prev=pl.when(~pl.col("__new")).then(
                pl.col("time_us") - pl.col("time_us").shift(1)
            )
        )
        .with_columns(__gap_next=pl.col("__gap_prev").shift(-1))
    )
    # The GPU's sampling period (its median interval) and the longest gap still taken as
    # covered (``max_gap``, default 5 periods: a missed sample or two).
    # Zero gaps are the same reading repeated (one row per Kubernetes workload sharing the GPU):
    # they cover nothing and say nothing of the sampling period.
    periods = out.group_by("__series").agg(
        __period=pl.col("__gap_prev").filter(pl.col("__gap_prev") > 0).median()
    )
    out = out.join(periods, on="__series", how="left", maintain_order="left").with_columns(
        pl.col("__period").round().cast(pl.Int64)
    )
    if max_gap is None:
        out = out.with_columns(__cap=pl.col("__period") * 5)
    else:
        out = out.with_columns(__cap=pl.lit(max_gap // timedelta(microseconds=1), pl.Int64))
    gap = pl.col("__gap_prev" if value_describes == "preceding" else "__gap_next")
    # Beyond the cap the sampler (or the machine) was stopped: the sample describes its own
    # sampling period only, and the rest of the gap stays uncovered (unknown, not idle).
    length = (
        pl.when(gap.is_null())
        .then(pl.lit(0, pl.Int64))
        .when(gap <= pl.col("__cap"))
        .then(gap)
        .otherwise(pl.min_horizontal(gap, pl.col("__period"), pl.col("__cap")))
    )
    if value_describes == "preceding":
        bounds = {"start_us": pl.col("time_us") - length, "end_us": pl.col("time_us")}
    else:
        bounds = {"start_us": pl.col("time_us"), "end_us": pl.col("time_us") + length}
    return out.with_columns(**bounds).drop("__new", "__gap_prev", "__gap_next", "__cap", "__period")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_micros(moment: datetime | float | int) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("give an aware datetime (or unix seconds), not a naive one")
        return (moment - _EPOCH) // timedelta(microseconds=1)
    return int(round(float(moment) * 1_000_000))


def busy_ratio_between(
    samples: pl.LazyFrame,
    start: datetime | float,
    end: datetime | float,
    *,
    max_gap: timedelta | None = None,
    value_describes: ValueDescribes = "preceding",
) -> float | None:
    """Time-weighted busy fraction over ``[start, end)`` (aware datetimes or unix seconds).

    Each sample covers an interval as in :func:`busy_by_gpu_hour`; the parts inside
    ``[start, end)`` are weighed by their length. Pooled over every GPU in ``samples`` (filter
    first for one GPU). Only time with a known busy value counts; None when no telemetry covers
    the interval (unknown, not idle).
    """
    if _as_micros(end) <= _as_micros(start):
        raise ValueError("end must be after start")
    per_gpu = utilization_by_gpu(
        samples, start, end, max_gap=max_gap, value_describes=value_describes
    )
    covered = per_gpu["covered_seconds"].sum()
    return per_gpu["busy_seconds"].sum() / covered if covered else None


# What each interval adds up, per GPU: seconds weighed by the GPU share (a MIG instance's part
# of its GPU). ``busy`` and the profiling ratios count only where they are known; the profiled
# time is where SM activity is known; inefficient time is busy time the SMs were not active.
def _weighted_sums(length: pl.Expr) -> dict[str, pl.Expr]:
    weight = length * pl.col("gpu_share").fill_null(1.0)
    busy_known = pl.col("busy").is_not_null()
    sm_known = pl.col("sm_active").is_not_null()

    def seen(column: str) -> pl.Expr:
        known = pl.col(column).is_not_null()
        return pl.when(known.any()).then((weight * pl.col(column)).filter(known).sum())

    return {
        "busy_seconds": (weight * pl.col("busy")).filter(busy_known).sum(),
        "covered_seconds": weight.filter(busy_known).sum(),
        "profiled_seconds": weight.filter(sm_known).sum(),
        "sm_active_seconds": seen("sm_active"),
        "tensor_active_seconds": seen("tensor_active"),
        "dram_active_seconds": seen("dram_active"),
        "inefficient_seconds": pl.when((busy_known & sm_known).any()).then(
            (weight * (pl.col("busy") - pl.col("sm_active")).clip(lower_bound=0))
            .filter(busy_known & sm_known)
            .sum()
        ),
    }


SUMMED_SECONDS = (
    "busy_seconds",
    "covered_seconds",
    "profiled_seconds",
    "sm_active_seconds",
    "tensor_active_seconds",
    "dram_active_seconds",
    "inefficient_seconds",
)
_PROFILING_RATIOS = {
    "sm_active_ratio": "sm_active_seconds",
    "tensor_active_ratio": "tensor_active_seconds",
    "dram_active_ratio": "dram_active_seconds",
}


def _ratios() -> list[pl.Expr]:
    """``busy_ratio`` (busy / covered) and the profiling ratios (over the profiled time); null
    where nothing says (unknown, not zero)."""
    return [
        pl.when(pl.col("covered_seconds") > 0)
        .then(pl.col("busy_seconds") / pl.col("covered_seconds"))
        .alias("busy_ratio"),
        *(
            pl.when(pl.col("profiled_seconds") > 0)
            .then(pl.col(seconds) / pl.col("profiled_seconds"))
            .alias(ratio)
            for ratio, seconds in _PROFILING_RATIOS.items()
        ),
    ]


_MEASURES = ["gpu_share", "sm_active", "tensor_active", "dram_active"]


def utilization_by_gpu(
    samples: pl.LazyFrame,
    start: datetime | float | None = None,
    end: datetime | float | None = None,
    *,
    max_gap: timedelta | None = None,
    value_describes: ValueDescribes = "preceding",
) -> pl.DataFrame:
    """Per GPU (:data:`SERIES_KEY`) over ``[start, end)`` (either open): ``gpu`` (a readable
    name: the UUID, else host and ``gpu N``), ``samples`` (taken in the window), ``seconds``
    (covered by a busy value), the time-weighted ``busy_ratio`` and the profiling ratios
    (``sm_active_ratio``, ``tensor_active_ratio``, ``dram_active_ratio``; null where the
    capture has no such field), with the seconds they come from."""
    lo = None if start is None else _as_micros(start)
    hi = None if end is None else _as_micros(end)
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError("end must be after start")
    series = _series_table(samples)
    intervals = _intervals(
        samples, series, max_gap=max_gap, value_describes=value_describes, columns=_MEASURES
    )
    clip_lo = pl.col("start_us") if lo is None else pl.max_horizontal("start_us", pl.lit(lo))
    clip_hi = pl.col("end_us") if hi is None else pl.min_horizontal("end_us", pl.lit(hi))
    inside = pl.lit(True)
    taken = pl.col("time_us").is_not_null()  # a column, so that it counts rows in the groups
    if lo is not None:
        inside = inside & (pl.col("end_us") > lo)
        taken = taken & (pl.col("time_us") >= lo)
    if hi is not None:
        inside = inside & (pl.col("start_us") < hi)
        taken = taken & (pl.col("time_us") < hi)
    length = (clip_hi - clip_lo).clip(lower_bound=0).cast(pl.Float64) / 1e6
    sums = _weighted_sums(pl.col("__length"))
    index = pl.format("gpu {}", pl.col("gpu_index"))
    name = pl.coalesce(
        "gpu_uuid", pl.concat_str([pl.col("host"), index], separator=" "), index, "host"
    ).fill_null("(unnamed GPU)")
    return (
        intervals.with_columns(__length=pl.when(inside).then(length).otherwise(0.0))
        .group_by("__series")
        .agg(samples=taken.sum().cast(pl.Int64), **sums)
        .join(series.lazy().drop("__hash"), on="__series", how="left")
        .with_columns(_ratios())
        .with_columns(gpu=name, seconds="covered_seconds")
        .sort(list(SERIES_KEY), nulls_last=True)
        .select(
            "gpu",
            *SERIES_KEY,
            "gpu_model",
            "samples",
            "seconds",
            "busy_ratio",
            *_PROFILING_RATIOS,
            *SUMMED_SECONDS,
        )
        .collect()
    )


def _by_hour(intervals: pl.LazyFrame) -> pl.LazyFrame:
    """Each interval split at UTC hour boundaries: ``hour_us``, ``__piece`` (seconds of the
    interval in that hour) and ``__in_hour`` (the sample itself was taken in that hour)."""
    first_hour = pl.col("start_us").floordiv(_HOUR_US)
    last_hour = pl.max_horizontal(
        (pl.col("end_us") - 1).floordiv(_HOUR_US),
        pl.col("time_us").floordiv(_HOUR_US),
        first_hour,
    )
    hour = (pl.col("__h0") + pl.col("__k")) * _HOUR_US
    piece = (
        pl.min_horizontal(pl.col("end_us"), hour + _HOUR_US)
        - pl.max_horizontal(pl.col("start_us"), hour)
    ).clip(lower_bound=0)
    in_hour = pl.col("time_us").floordiv(_HOUR_US) == pl.col("__h0") + pl.col("__k")
    return (
        intervals.with_columns(
            __h0=first_hour,
            __k=pl.int_ranges(0, last_hour - first_hour + 1, dtype=pl.Int64),
        )
        .explode("__k")
        .with_columns(hour_us=hour, __piece=piece.cast(pl.Float64) / 1e6, __in_hour=in_hour)
    )


BUSY_HOUR_COLUMNS = (
    "resource_id",
    "host",
    "gpu_uuid",
    "gpu_index",
    "gpu_model",
    "hour",
    *SUMMED_SECONDS,
    "coverage",
    "busy_ratio",
    *_PROFILING_RATIOS,
    "peak_memory_used_mib",
    "memory_total_mib",
    "samples",
    "busy_source",
)


def busy_by_gpu_hour(
    samples: pl.LazyFrame,
    max_gap: timedelta | None = None,
    *,
    value_describes: ValueDescribes = "preceding",
) -> pl.LazyFrame:
    """Busy time per GPU and UTC hour, time-weighted.

    Each sample's value holds over the interval it describes: by default (``"preceding"``) from
    the previous sample of the same GPU up to it, at most ``max_gap`` (default 5 × that GPU's
    median sample interval); see the module doc for why. An interval that crosses an hour
    boundary is split between the hours. Seconds are GPU-seconds: a MIG instance's count at
    its ``gpu_share`` of the GPU.

    One row per (resource_id, host, gpu_uuid, gpu_index, hour): ``busy_seconds`` (Σ seconds ×
    busy), ``covered_seconds`` (seconds with a known busy value), ``profiled_seconds`` (with a
    known SM activity), ``sm_active_seconds`` / ``tensor_active_seconds`` /
    ``dram_active_seconds`` (Σ seconds × ratio, null when the capture has no such field),
    ``inefficient_seconds`` (Σ seconds × (busy − SM active), where both are known),
    ``coverage`` (covered / 3600), ``busy_ratio`` (busy / covered; null when nothing is
    covered: unknown, not idle), ``sm_active_ratio``, ``tensor_active_ratio``,
    ``dram_active_ratio`` (over the profiled time), ``peak_memory_used_mib`` and ``samples``
    (over the samples taken in the hour), ``memory_total_mib``, ``gpu_model``, ``busy_source``
    (the metrics used, joined by ``,``).
    """
    series = _series_table(samples)
    intervals = _intervals(
        samples,
        series,
        max_gap=max_gap,
        value_describes=value_describes,
        columns=[
            "memory_used_mib",
            "memory_total_mib",
            *_MEASURES,
            pl.col("resource_id").cast(pl.Categorical),
            pl.col("busy_source").cast(pl.Categorical),
        ],
    )
    pieces = _by_hour(intervals)
    groups = ["__series", "resource_id", "hour_us"]
    # The metrics used, in two steps: a per-group unique-and-join is several times slower.
    sources = (
        pieces.group_by(*groups, "busy_source")
        .agg()
        .drop_nulls("busy_source")
        .group_by(groups)
        .agg(pl.col("busy_source").cast(pl.String).sort().str.join(","))
    )
    return (
        pieces.group_by(groups)
        .agg(
            **_weighted_sums(pl.col("__piece")),
            peak_memory_used_mib=pl.col("memory_used_mib").filter(pl.col("__in_hour")).max(),
            memory_total_mib=pl.col("memory_total_mib").max(),
            samples=pl.col("__in_hour").sum().cast(pl.Int64),
        )
        .join(sources, on=groups, how="left")
        .join(series.lazy().drop("__hash"), on="__series", how="left")
        .with_columns(
            pl.col("resource_id").cast(pl.String),
            hour=_epoch_to_utc(pl.col("hour_us"), "us"),
            coverage=pl.col("covered_seconds") / 3600,
        )
        .with_columns(_ratios())
        .select(BUSY_HOUR_COLUMNS)
        .sort(["resource_id", "host", "gpu_uuid", "gpu_index", "hour"], nulls_last=True)
    )


def sum_seen(column: str) -> pl.Expr:
    """Σ of a column, null when every part is null (a field no file had)."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).alias(column)


def combined_busy_hours(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """``busy_by_gpu_hour`` tables of several files as one: a GPU-hour that two files share
    (a log rotated mid-hour) adds its seconds and keeps the higher peak.

    Reading a period file by file keeps memory to one file's samples; the price is that each
    file's first sample of a GPU covers nothing (one sampling period per GPU and file)."""
    frames = [part for part in parts if part.height]
    if not frames:
        return busy_by_gpu_hour(pl.LazyFrame(schema=GPU_SAMPLES_SCHEMA)).collect()
    key = ["resource_id", "host", "gpu_uuid", "gpu_index", "hour"]
    return (
        pl.concat(frames)
        .group_by(key)
        .agg(
            pl.col("gpu_model").drop_nulls().first(),
            *(sum_seen(c) for c in SUMMED_SECONDS),
            pl.col("samples").sum(),
            pl.col("peak_memory_used_mib", "memory_total_mib").max(),
            pl.col("busy_source")
            .str.split(",")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .drop_nulls()
            .unique()
            .sort()
            .str.join(","),
        )
        .with_columns(
            pl.col("busy_seconds", "covered_seconds", "profiled_seconds").fill_null(0.0),
            coverage=pl.col("covered_seconds") / 3600,
        )
        .with_columns(_ratios())
        .select(frames[0].columns)
        .sort(key, nulls_last=True)
    )


# --------------------------------------------------------------------------------------------
# Who held a GPU: Kubernetes workloads and MIG instances

WORKLOAD_HOUR_COLUMNS = (
    "resource_id",
    "host",
    "gpu_uuid",
    "mig_instance",
    "mig_profile",
    "namespace",
    "pod",
    "container",
    "hour",
    "held_seconds",
)


def held_by_workload_hour(
    samples: pl.LazyFrame,
    max_gap: timedelta | None = None,
    *,
    value_describes: ValueDescribes = "preceding",
) -> pl.LazyFrame:
    """GPU-seconds each workload (``namespace``, ``pod``, ``container``; all null: none) held
    each GPU or MIG instance, per UTC hour.

    Time is held whether or not the workload kept the GPU busy: it is what the workload kept
    others from using. A sample's interval (as in :func:`busy_by_gpu_hour`) goes to the
    workloads the sample names; several at one time (a time-sliced GPU shared by pods) split
    it equally. A MIG instance's time counts at its ``gpu_share``. ``gpu_uuid`` is the
    physical GPU's (a MIG instance's ``/GPU_I_ID`` dropped; ``mig_instance`` keeps it).
    """
    series = _series_table(samples)
    intervals = _intervals(
        samples,
        series,
        max_gap=max_gap,
        value_describes=value_describes,
        columns=[
            "gpu_share",
            *(pl.col(c).cast(pl.Categorical) for c in ("resource_id", *_WORKLOAD_LABELS)),
            "mig_instance",
            "mig_profile",
        ],
    )
    # Rows repeated for several workloads at one time: the first took the interval, the
    # others none; each gets an equal part of it. Only workload labels repeat a GPU's rows, so
    # telemetry without them (nvidia-smi, NVML) skips the windows, a third of the work.
    labelled = (
        samples.select(pl.any_horizontal(pl.col(*_WORKLOAD_LABELS).is_not_null()).any())
        .collect()
        .item()
    )
    at = ["__series", "time_us"]
    length = pl.col("end_us") - pl.col("start_us")
    shared = (
        intervals
        if not labelled
        else intervals.with_columns(
            end_us=pl.col("time_us")
            + (length.max().over(at) // pl.len().over(at))
            * (1 if value_describes == "following" else 0),
            start_us=pl.col("time_us")
            - (length.max().over(at) // pl.len().over(at))
            * (0 if value_describes == "following" else 1),
        )
    )
    groups = ["__series", "resource_id", *_WORKLOAD_LABELS, "mig_instance", "mig_profile"]
    return (
        _by_hour(shared)
        .group_by(*groups, "hour_us")
        .agg(held_seconds=(pl.col("__piece") * pl.col("gpu_share").fill_null(1.0)).sum())
        .join(series.lazy().select("__series", "host", "gpu_uuid"), on="__series", how="left")
        .with_columns(
            pl.col("resource_id", *_WORKLOAD_LABELS).cast(pl.String),
            gpu_uuid=pl.when(pl.col("mig_instance").is_not_null())
            .then(pl.col("gpu_uuid").str.replace(r"/[^/]*$", ""))
            .otherwise(pl.col("gpu_uuid")),
            hour=_epoch_to_utc(pl.col("hour_us"), "us"),
        )
        .filter(pl.col("held_seconds") > 0)
        .select(WORKLOAD_HOUR_COLUMNS)
        .sort(list(WORKLOAD_HOUR_COLUMNS[:-1]), nulls_last=True)
    )


def combined_workload_hours(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """``held_by_workload_hour`` tables of several files as one (seconds added)."""
    frames = [part for part in parts if part.height]
    if not frames:
        return held_by_workload_hour(pl.LazyFrame(schema=GPU_SAMPLES_SCHEMA)).collect()
    key = list(WORKLOAD_HOUR_COLUMNS[:-1])
    return (
        pl.concat(frames)
        .group_by(key)
        .agg(pl.col("held_seconds").sum())
        .select(WORKLOAD_HOUR_COLUMNS)
        .sort(key, nulls_last=True)
    )
