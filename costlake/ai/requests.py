"""Application request logs as one ``llm_requests`` table: one row per model call.

The bill says what the models cost per account and day; only the application's own logs say
which query, project, team and user made each call. This module reads the four shapes those logs
come in and returns them as one table shaped like an OpenTelemetry GenAI client span
(``LLM_REQUESTS_SCHEMA``), so that spend can later be split across queries and projects.

Formats (``detect_log_format`` tells them apart by content), and what ``source_row`` counts:

- ``otlp_json``: the OTLP/HTTP JSON encoding of ``ExportTraceServiceRequest``; one request per
  line (the Collector's file exporter) or one JSON document. ``source_row`` is the request's
  line (its spans share it; ``request_id``, the span id, tells them apart).
- ``otel_jsonl``: one flat JSON object per span and line, the attribute names as keys;
  ``source_row`` is the line.
- ``litellm_spend_logs``: LiteLLM's ``LiteLLM_SpendLogs`` table, exported as CSV (``psql \\copy``;
  ``source_row`` is the record, header excluded), JSON lines (the line) or a JSON array (the
  ``/spend/logs`` API; the position). The hashed ``api_key``, ``messages``, ``response`` and
  ``proxy_server_request`` are never read, and nothing of ``metadata`` but the fields named in
  ``METADATA_PATHS``.
- ``openai_usage``: pages of ``GET /v1/organization/usage/completions`` (one page, a list of pages,
  or JSON lines of pages); one row per bucket result (``source_row`` counts results through the
  file; ``request_id`` is ``<file>:<source_row>``), ``requests = num_model_requests``,
  ``trace_id`` and ``latency_ms`` null, times the bucket's bounds. ``batch`` is not kept (the
  schema has no column for it; the Batch API discount has to come from the bill).

Which spans are model calls: ``gen_ai.operation.name`` in ``chat``, ``text_completion``,
``generate_content``, ``embeddings``; or any other (or no: older instrumentations) operation
name with a ``gen_ai.request.model``. Agent and tool spans (``invoke_agent``, ``create_agent``,
``execute_tool``) are skipped even when they carry a model and token totals: those totals repeat
their child calls' and would count twice. Skipped spans are counted (``LogRead.skipped``).

Token conventions. ``input_tokens`` counts all input tokens, cached ones included, as OpenAI and
the OTel semantic conventions do; ``cache_read_tokens`` and ``cache_write_tokens`` are the part of
it read from and written to the prompt cache, ``reasoning_tokens`` the part of ``output_tokens``
spent reasoning. Per source:

- OTel (both formats): ``gen_ai.usage.input_tokens`` (or the older ``gen_ai.usage.prompt_tokens``)
  includes the cache tokens (``gen_ai.usage.cache_read.input_tokens`` and
  ``gen_ai.usage.cache_creation.input_tokens``, or the older underscore names). But some
  instrumentations copy Anthropic's native usage, where ``input_tokens`` is only the uncached
  part and cache reads and writes are reported beside it. A span is read in that separate
  convention (and its input becomes ``input + cache_read + cache_write``) when its total says so
  (``gen_ai.usage.total_tokens`` = input + cache + output) or when it cannot be inclusive
  (input < cache_read + cache_write). A separate-convention span whose uncached input is at least
  its cache tokens and that has no total cannot be told apart and is read as inclusive.
- LiteLLM: ``prompt_tokens`` follows OpenAI (includes the cache); cache tokens come from
  ``metadata.usage_object`` (``prompt_tokens_details.cached_tokens`` or
  ``cache_read_input_tokens``; ``cache_creation_input_tokens``). The same rule as OTel catches the
  separate convention of older LiteLLM versions.
- OpenAI usage API: ``input_tokens`` includes ``input_cached_tokens``; no cache writes.

A count the record does not carry is null (unknown), not 0.

Other conventions: ``status`` is ``error`` for OTel status code 2 (``ERROR``), an ``error.type``
attribute or ``otel.status_code = ERROR``, and LiteLLM ``status = failure``; else ``ok``.
``error_type`` is the OTel ``error.type`` attribute (``openai.RateLimitError``, ``timeout``),
null elsewhere. A retry needs no column of its own: it is a later call of the same trace and
model after a failure (``costlake.ai.failures``).
``user_id``: OTel ``user.id`` then ``enduser.id``; LiteLLM ``user`` then ``end_user``; usage API
``user_id``. The tags come from attributes named exactly as the column, or prefixed
``costlake.`` or ``tag.`` (span before resource, then exact name before ``costlake.`` before
``tag.``); ``environment`` falls back to OTel's ``deployment.environment.name``. LiteLLM tags
come from ``request_tags`` (``"key:value"``), then ``metadata.spend_logs_metadata`` (where
LiteLLM logs a request's own metadata); ``team`` falls back to the key's team alias
(``metadata.user_api_key_team_alias``), then ``team_id``. LiteLLM
``model_requested`` is ``model_group`` (what the client asked for), ``model_responded`` is
``model`` (the deployment called). LiteLLM proxy-cache hits (``cache_hit``: answered by the proxy,
not billed by the provider) stay in the table like any call: the schema has no column for it.

Bad records (bad JSON, a token count that is not a non-negative integer, no model, a missing or
unreadable time, an end before the start, no id) are left out of the table and reported, never
dropped silently: every reader returns a ``LogRead`` of the rows, the ``LogProblem`` list (file,
row, column, what was expected) and the skipped count. ``llm_requests`` raises
``LogProblemsError`` when there is any problem; ``read_llm_requests`` returns them.

JSON is parsed by polars (``read_ndjson``/``read_json``, and ``str.json_decode`` for LiteLLM's
JSON columns) with an explicit schema whose leaves are all strings (a number stays exact, and a
wrong type becomes a reported value instead of a failed file), and OTLP JSON lines by pyarrow,
several times faster than polars on that deep nesting. Python's ``json`` only looks at records
that failed, to say why, and reads the small usage API pages. A file parses in one pass when all
its records are good; a bad record costs a few more parses of halves of the file, to find it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from costlake.tags.keys import TAG_KEYS

UTC_MICROS = pl.Datetime("us", "UTC")
# The request's model is its own column, not a tag of the request.
TAG_COLUMNS = tuple(key for key in TAG_KEYS if key != "model")
TAG_PREFIXES = ("", "costlake.", "tag.")

LLM_REQUESTS_SCHEMA = pl.Schema(
    [
        ("request_id", pl.String),
        ("trace_id", pl.String),
        ("start_time", UTC_MICROS),
        ("end_time", UTC_MICROS),
        ("day", pl.Date),
        ("provider", pl.String),
        ("model_requested", pl.String),
        ("model_responded", pl.String),
        ("input_tokens", pl.Int64),
        ("cache_read_tokens", pl.Int64),
        ("cache_write_tokens", pl.Int64),
        ("output_tokens", pl.Int64),
        ("reasoning_tokens", pl.Int64),
        ("requests", pl.Int64),
        ("status", pl.String),
        ("error_type", pl.String),
        ("latency_ms", pl.Float64),
        ("user_id", pl.String),
        *[(tag, pl.String) for tag in TAG_COLUMNS],
        ("source_format", pl.String),
        ("source_file", pl.String),
        ("source_row", pl.Int64),
    ]
)

OTLP_JSON = "otlp_json"
OTEL_JSONL = "otel_jsonl"
LITELLM_SPEND_LOGS = "litellm_spend_logs"
OPENAI_USAGE = "openai_usage"
LOG_FORMATS = (OTLP_JSON, OTEL_JSONL, LITELLM_SPEND_LOGS, OPENAI_USAGE)

# Who billed the call: the cloud (its bill lines are in the lake) or the API vendor. Keys are
# OTel ``gen_ai.provider.name`` values, older ``gen_ai.system`` values and LiteLLM
# ``custom_llm_provider`` values, lower case; any other value passes through lower-cased.
PROVIDER_ALIASES = {
    # OpenTelemetry
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "gcp.vertex_ai": "gcp",
    "gcp.gen_ai": "gcp",
    "gcp.gemini": "google",
    "oci.genai": "oci",
    "oci.generative_ai": "oci",
    "mistral_ai": "mistral",
    # LiteLLM
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "sagemaker": "aws",
    "sagemaker_chat": "aws",
    "azure_ai": "azure",
    "azure_text": "azure",
    "vertex_ai": "gcp",
    "vertex_ai_beta": "gcp",
    "gemini": "google",
    "text-completion-openai": "openai",
    "cohere_chat": "cohere",
}

MODEL_CALL_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")
AGENT_OPERATIONS = ("invoke_agent", "create_agent", "execute_tool")


@dataclass(frozen=True)
class LogProblem:
    """One bad record: ``row`` is the record's ``source_row`` (for a record that cannot be read
    at all: not JSON, or not of the format's shape, its line or its position in a JSON array),
    ``column`` the field at fault (empty for the whole record), ``problem`` what was expected."""

    file: str
    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.problem}"


class LogRead(NamedTuple):
    """What a reader returns: the good rows, the bad records left out, and how many records
    were skipped because they are not model calls (agent, tool and non-GenAI spans)."""

    rows: pl.LazyFrame
    problems: list[LogProblem]
    skipped: int


class LogFormatError(ValueError):
    """A file that is not one of the request log formats, or lacks its required columns."""


class LogProblemsError(ValueError):
    """Request logs with bad records; ``problems`` lists them all."""

    def __init__(self, problems: list[LogProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad request log record(s):\n{shown}{more}")


# ---------------------------------------------------------------------------------------------
# Public entry points


def detect_log_format(path: Path) -> str:
    """The request log format of ``path``, from its content (the extension only separates CSV):
    one of ``LOG_FORMATS``. Raises ``LogFormatError`` naming the file when it is none of them."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1 << 16).lstrip(b"\xef\xbb\xbf")
    text = head.decode("utf-8", errors="replace")
    start = text.lstrip()
    if start.startswith(("{", "[")):
        if '"resourceSpans"' in text:
            return OTLP_JSON
        if "organization.usage." in text or (
            '"object"' in text and ('"bucket"' in text or '"page"' in text)
        ):
            return OPENAI_USAGE
        if '"request_id"' in text and ('"call_type"' in text or '"startTime"' in text):
            return LITELLM_SPEND_LOGS
        if '"gen_ai.' in text and ('"span_id"' in text or '"trace_id"' in text):
            return OTEL_JSONL
    elif start:
        header = next(csv.reader([start.splitlines()[0]]), [])
        if {"request_id", "startTime", "endTime"} <= {h.strip() for h in header}:
            return LITELLM_SPEND_LOGS
    first = start.splitlines()[0][:120] if start else "(empty file)"
    raise LogFormatError(
        f"{path.name}: not a known LLM request log (expected OTLP JSON, OTel JSON lines, "
        f"LiteLLM spend logs or OpenAI usage API pages); it starts with: {first!r}"
    )


def read_llm_requests(paths: Iterable[Path]) -> LogRead:
    """Every file's rows in one table, with all their problems and skipped counts."""
    frames: list[pl.LazyFrame] = []
    problems: list[LogProblem] = []
    skipped = 0
    for path in paths:
        read = READERS[detect_log_format(Path(path))](Path(path))
        frames.append(read.rows)
        problems.extend(read.problems)
        skipped += read.skipped
    rows = pl.concat(frames, how="vertical") if frames else LLM_REQUESTS_SCHEMA.to_frame().lazy()
    return LogRead(rows, problems, skipped)


def llm_requests(paths: Iterable[Path]) -> pl.LazyFrame:
    """The ``llm_requests`` table of ``paths``; raises ``LogProblemsError`` if any record is bad
    (use ``read_llm_requests`` to keep the good rows and handle the problems)."""
    read = read_llm_requests(paths)
    if read.problems:
        raise LogProblemsError(read.problems)
    return read.rows


# ---------------------------------------------------------------------------------------------
# Reading JSON


def _bad_json_reason(line: bytes, error: Exception) -> str:
    """Why one record failed: invalid JSON, not an object, or an unexpected shape."""
    try:
        value = json.loads(line)
    except ValueError as e:
        return f"not valid JSON ({e})"
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"unexpected shape ({detail[:160]})"


def _read_ndjson(data: bytes, schema: pl.Schema) -> pl.DataFrame:
    return pl.read_ndjson(data, schema=schema)


def _good_records(
    records: list[tuple[int, bytes]], schema: pl.Schema, file: str
) -> tuple[pl.DataFrame, list[LogProblem]]:
    """The records that parse, numbered, and a problem for each one that does not (found by
    halving: a bad record costs a few parses, not one per record)."""
    bad: dict[int, str] = {}
    stack = [records]
    while stack:
        chunk = stack.pop()
        try:
            _read_ndjson(b"\n".join(line for _, line in chunk), schema)
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as e:
            if len(chunk) == 1:
                bad[chunk[0][0]] = _bad_json_reason(chunk[0][1], e)
            else:
                stack += [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]]
    good = [(n, line) for n, line in records if n not in bad]
    frame = (
        _read_ndjson(b"\n".join(line for _, line in good), schema) if good else schema.to_frame()
    )
    frame = frame.with_columns(_row=pl.Series([n for n, _ in good], dtype=pl.Int64))
    problems = [LogProblem(file, n, "", reason) for n, reason in sorted(bad.items())]
    return frame, problems


def _numbered_lines(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, line) of the non-blank lines."""
    return [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _count_lines(path: Path) -> int:
    """Lines of a file (a last line without a newline counts), read in chunks."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _line_numbers(path: Path, height: int, lines: Future[int]) -> pl.Series:
    """Line numbers of the ``height`` records a JSON-lines reader read from ``path`` (readers
    skip blank lines); ``lines`` counts the file's lines (``_counting_lines``)."""
    if lines.result() == height:
        return pl.int_range(1, height + 1, dtype=pl.Int64, eager=True)
    return pl.Series([n for n, _ in _numbered_lines(path.read_bytes())], dtype=pl.Int64)


@contextmanager
def _counting_lines(path: Path) -> Iterator[Future[int]]:
    """The lines of ``path`` counted in a thread, while the parser (which releases the GIL)
    reads the file: it costs a second read of the file, from the page cache."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(_count_lines, path)


def _first_line(path: Path) -> bytes:
    """The first non-blank line (up to 64 KB when it does not start an object)."""
    with open(path, "rb") as f:
        line = b""
        while not line.strip():
            line = f.readline(1 << 16)
            if not line:
                return b""
            if line.lstrip().startswith(b"{") and not line.endswith(b"\n"):
                line += f.readline()  # a long first record: the rest of its line
    return line.removeprefix(b"\xef\xbb\xbf")


def _is_json_lines(path: Path) -> bool:
    """One JSON object per line, rather than one document (an array, or a pretty-printed object)."""
    first = _first_line(path).strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def _no_records(schema: pl.Schema) -> pl.DataFrame:
    return schema.to_frame().with_columns(_row=pl.lit(None, pl.Int64))


def _json_records(
    path: Path, schema: pl.Schema, file: str
) -> tuple[pl.DataFrame, list[LogProblem]]:
    """The records of a JSON-lines file, or of one JSON document (an object, or an array of
    objects), read by polars with ``schema``, with ``_row``: the line (JSON lines) or the
    position in the array. Records that are not JSON objects of that shape are reported."""
    if _is_json_lines(path):
        with open(path, "rb") as f:
            byte_order_mark = f.read(3) == b"\xef\xbb\xbf"
        if not byte_order_mark:
            try:
                with _counting_lines(path) as lines:
                    frame = pl.read_ndjson(path, schema=schema)
                    return frame.with_columns(_row=_line_numbers(path, frame.height, lines)), []
            except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
                pass  # some record is bad: find which, line by line
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
        return _good_records(_numbered_lines(data), schema, file)
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        return _no_records(schema), []
    try:
        frame = pl.read_json(io.BytesIO(data), schema=schema)
        return frame.with_columns(_row=pl.int_range(1, frame.height + 1, dtype=pl.Int64)), []
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        pass
    try:
        document = json.loads(data)
    except ValueError as e:
        return _no_records(schema), [
            LogProblem(file, getattr(e, "lineno", 1), "", f"not valid JSON ({e})")
        ]
    items = document if isinstance(document, list) else [document]
    records = [(n, json.dumps(item).encode()) for n, item in enumerate(items, 1)]
    return _good_records(records, schema, file)


def _in_chunks(values: pl.Series, parts: int = 64) -> pl.Series:
    """``values`` in several chunks: polars decodes JSON text chunk by chunk, in parallel."""
    size = -(-values.len() // parts)
    if values.len() < 2 * parts:
        return values
    return pl.concat([values.slice(i, size) for i in range(0, values.len(), size)], rechunk=False)


def _json_column(
    frame: pl.DataFrame, column: str, dtype: pl.DataType, file: str
) -> tuple[pl.Series, list[LogProblem]]:
    """The JSON text in ``column`` decoded as ``dtype`` (null where empty); a value that is not
    JSON of that shape is reported and becomes null."""
    if column not in frame.columns:
        return pl.Series("v", [None] * frame.height, dtype=dtype), []
    if frame.schema[column] != pl.String:  # decoded already
        return frame.get_column(column).alias("v"), []
    try:  # fast, but one odd value fails the column: then read every value on its own
        # (the column alone in a frame: inside a wide frame polars decodes it ~3x slower)
        values = _in_chunks(frame.get_column(column)).to_frame()
        return values.select(pl.col(column).str.json_decode(dtype).alias("v")).to_series(), []
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        pass
    text = pl.col(column).str.replace_all(r"[\r\n]", " ")
    wrapped = frame.select(
        pl.concat_str(pl.lit('{"v":'), text.fill_null("null"), pl.lit("}")).str.join("\n")
    ).item()
    schema = pl.Schema({"v": dtype})
    data = wrapped.encode()
    try:
        return _read_ndjson(data, schema).get_column("v"), []
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        pass
    rows = frame.get_column("_row").to_list()
    records = list(enumerate(data.split(b"\n")))
    good, problems = _good_records(records, schema, file)
    positions = pl.DataFrame({"_row": pl.int_range(0, frame.height, dtype=pl.Int64, eager=True)})
    values = positions.join(good, on="_row", how="left").get_column("v")
    texts = frame.get_column(column)
    expected = "a JSON object" if isinstance(dtype, pl.Struct) else "a JSON list of strings"
    return values, [
        LogProblem(file, rows[p.row], column, f"expected {expected}, got {texts[p.row]!r:.80}")
        for p in problems
    ]


def _blank_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Empty strings as null (CSV cells, LiteLLM's ``""`` defaults), and all-null columns
    dropped: the expressions read an absent column as null (``_Columns``)."""
    if frame.height == 0:
        return frame
    empty = [c for c in frame.columns if frame.get_column(c).null_count() == frame.height]
    frame = frame.drop(empty)
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    blank = frame.select((pl.col(c).str.len_bytes() == 0).any().alias(c) for c in strings)
    return frame.with_columns(
        pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c)
        for c in strings
        if blank.get_column(c)[0]
    )


class _Columns:
    """Columns of a frame by name; one the frame does not have (no record carries it) is a
    null literal, so that a file pays only for the fields it has."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.names = set(frame.columns)

    def __call__(self, name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
        return pl.col(name) if name in self.names else pl.lit(None, dtype).alias(name)

    def first(self, names: Iterable[str], dtype: pl.DataType = pl.String) -> pl.Expr:
        """The first non-null of the present columns ``names``."""
        present = [pl.col(n) for n in names if n in self.names]
        if not present:
            return pl.lit(None, dtype)
        return pl.coalesce(present) if len(present) > 1 else present[0]

    def with_counts(self, frame: pl.DataFrame, names: Iterable[str]) -> pl.DataFrame:
        """``frame`` with each present count column ``name`` parsed once, as ``#name``: as an
        integer, and only if some value is not one, by the general ``_count``."""
        names = self.present(names)
        frame = frame.with_columns(
            pl.col(n).str.to_integer(strict=False).alias(f"#{n}") for n in names
        )
        odd = frame.select(
            ((pl.col(f"#{n}").is_null() & pl.col(n).is_not_null()) | (pl.col(f"#{n}") < 0))
            .any()
            .alias(n)
            for n in names
        )
        return frame.with_columns(_count(n).alias(f"#{n}") for n in names if odd.get_column(n)[0])

    def count(self, names: Iterable[str]) -> pl.Expr:
        """The first parsed count (``with_counts``) of the present columns ``names``."""
        present = [pl.col(f"#{n}") for n in names if n in self.names]
        if not present:
            return pl.lit(None, pl.Int64)
        return pl.coalesce(present) if len(present) > 1 else present[0]

    def present(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names]


def _wide(long: pl.DataFrame, keys: Iterable[str], height: int) -> pl.DataFrame:
    """One String column per key from ``long`` rows (``i``: target row, ``k``: key, ``v``: value);
    every key gets a column, null where absent. Scatter, not pivot: the table is long."""
    columns = {k: pl.Series(k, [], dtype=pl.String).extend_constant(None, height) for k in keys}
    for (key,), part in long.partition_by("k", as_dict=True, maintain_order=False).items():
        if key in columns:
            columns[key] = columns[key].scatter(part.get_column("i"), part.get_column("v"))
    return pl.DataFrame(list(columns.values()), schema={k: pl.String for k in columns})


# ---------------------------------------------------------------------------------------------
# Values, checks and the common finish


def _count(column: str) -> pl.Expr:
    """A token or request count from text: Int64, null where absent or not a non-negative
    integer (``12`` and ``12.0`` are counts, ``-3``, ``1.5`` and ``"many"`` are not)."""
    number = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(number.is_finite() & (number >= 0) & (number == number.floor())).then(
        number.cast(pl.Int64)
    )


# Tried in order, each only on the values the ones before did not read; the last is the slow
# general form (``_iso_time``).
TIME_FORMATS = (
    ("%Y-%m-%dT%H:%M:%S%.fZ", False),  # 2025-06-02T09:15:02.123Z (OTel, JavaScript)
    ("%Y-%m-%d %H:%M:%S%.f", False),  # 2025-06-02 09:15:02.123 (Postgres, naive UTC)
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),  # 2025-06-02T09:15:02.123+00:00 (Python isoformat)
)


def _times(frame: pl.DataFrame, column: str) -> pl.Series:
    """UTC times (microseconds) of a text column: ISO-8601 in any common spelling (``T`` or a
    space, any fraction, ``Z``, an offset, or none: naive times are UTC, as LiteLLM and Postgres
    write them) or digits only (Unix nanoseconds, as OTel writes them); null where unreadable.
    Most files use one spelling: each further form is tried only on what is left."""
    if column not in frame.columns:
        return pl.Series(column, [None] * frame.height, dtype=UTC_MICROS)
    text = frame.get_column(column)
    out = pl.Series(column, [None] * frame.height, dtype=UTC_MICROS)
    todo = text.is_not_null()
    sample = text.drop_nulls().head(1)  # its spelling first
    for fmt, aware in sorted(TIME_FORMATS, key=lambda f: _parse_time(sample, *f).null_count()):
        rows = todo.arg_true()
        if rows.len() == 0:
            return out
        parsed = _parse_time(text.gather(rows), fmt, aware)
        out = out.scatter(rows, parsed) if rows.len() < frame.height else parsed.alias(column)
        todo = out.is_null() & text.is_not_null()
    rows = todo.arg_true()
    if rows.len():
        rest = pl.DataFrame({column: text.gather(rows)}).select(_iso_time(column)).to_series()
        out = out.scatter(rows, rest)
    return out


def _parse_time(text: pl.Series, fmt: str, aware: bool) -> pl.Series:
    if aware:
        return text.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False)
    return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone("UTC")


def _iso_time(column: str) -> pl.Expr:
    """Any spelling ``_times`` reads, in one expression: the general, slower form (regular
    expressions normalize the text to one format)."""
    text = pl.col(column).str.strip_chars()
    iso = (
        text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"(T[0-9:.]+[+-]\d{2})$", "${1}:00")
    )
    iso = pl.when(iso.str.contains(r"T.*[+-]\d{2}:?\d{2}$")).then(iso).otherwise(iso + "+00:00")
    parsed = iso.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False
    )
    return pl.when(text.str.contains(r"^\d{1,19}$")).then(_nanos_time(text)).otherwise(parsed)


def _nanos_time(text: pl.Expr) -> pl.Expr:
    nanos = text.cast(pl.Int64, strict=False)
    return pl.from_epoch(nanos, time_unit="ns").dt.cast_time_unit("us").dt.replace_time_zone("UTC")


class _Check(NamedTuple):
    bad: pl.Expr  # true where the record is bad
    column: str  # the source field to name
    problem: pl.Expr  # String: what was expected


def _count_check(column: str) -> _Check:
    """A present count that is not a non-negative integer (parsed by ``_Columns.with_counts``)."""
    return _Check(
        pl.col(column).is_not_null() & pl.col(f"#{column}").is_null(),
        column,
        pl.format("expected a non-negative integer, got '{}'", pl.col(column)),
    )


def _time_check(parsed: str, raw: pl.Expr, column: str, expected: str) -> _Check:
    return _Check(
        pl.col(parsed).is_null(),
        column,
        pl.when(raw.is_null())
        .then(pl.lit("missing time"))
        .otherwise(pl.format(f"expected {expected}, got '{{}}'", raw)),
    )


def _required_check(values: list[pl.Expr], column: str, what: str) -> _Check:
    return _Check(pl.all_horizontal(v.is_null() for v in values), column, pl.lit(f"missing {what}"))


def _order_check(start: str, end: str, column: str) -> _Check:
    return _Check(
        pl.col(end) < pl.col(start),
        column,
        pl.format("end time {} is before start time {}", pl.col(end), pl.col(start)),
    )


def _checked(
    frame: pl.DataFrame, checks: list[_Check], file: str, where: pl.Expr | None = None
) -> tuple[pl.DataFrame, list[LogProblem]]:
    """The rows no check flags, and one problem per flag (rows in file order); ``where`` adds
    a prefix to each problem (which span of a line)."""
    if not checks or frame.height == 0:
        return frame, []
    flags = frame.select(*(c.bad.fill_null(False).alias(f"_bad{i}") for i, c in enumerate(checks)))
    any_bad = pl.any_horizontal(pl.all())
    if not flags.select(any_bad.any()).item():
        return frame, []
    mask = flags.select(any_bad).to_series()
    found = []
    positioned = frame.with_row_index("_position")
    for i, check in enumerate(checks):
        message = check.problem if where is None else pl.concat_str(where, check.problem)
        hits = positioned.filter(flags.get_column(f"_bad{i}")).select(
            "_position", "_row", pl.lit(check.column).alias("column"), message.alias("problem")
        )
        found.append(hits.with_columns(_order=pl.lit(i)))
    problems = pl.concat(found).sort("_position", "_order").drop("_position", "_order")
    return frame.filter(~mask), [
        LogProblem(file, row, column, problem) for row, column, problem in problems.iter_rows()
    ]


def _in_file_order(*lists: list[LogProblem]) -> list[LogProblem]:
    """Problems of one file by row (a stable sort: a row's problems keep their order)."""
    return sorted((p for problems in lists for p in problems), key=lambda p: p.row)


def _input_tokens(
    input_: pl.Expr, cache_read: pl.Expr, cache_write: pl.Expr, output: pl.Expr, total: pl.Expr
) -> pl.Expr:
    """All input tokens, cache included: ``input_`` as given when it already includes the cache
    (OpenAI / OTel), ``input_ + cache_read + cache_write`` when the record follows Anthropic's
    separate convention: an input below the cache proves it, a total of input + cache + output
    shows it."""
    cache = cache_read.fill_null(0) + cache_write.fill_null(0)
    separate = (cache > 0) & ((input_ < cache) | (total == input_ + cache + output.fill_null(0)))
    return pl.when(separate.fill_null(False)).then(input_ + cache).otherwise(input_)


def _provider(expr: pl.Expr) -> pl.Expr:
    name = expr.str.strip_chars().str.to_lowercase()
    return name.replace(PROVIDER_ALIASES)


def _table(frame: pl.DataFrame, fmt: str, file: str) -> pl.LazyFrame:
    """``frame`` (canonical columns, ``_row``) conformed to ``LLM_REQUESTS_SCHEMA``."""
    columns = frame.collect_schema().names()
    exprs: list[pl.Expr] = []
    for name, dtype in LLM_REQUESTS_SCHEMA.items():
        if name == "day":
            exprs.append(pl.col("start_time").dt.date().alias("day"))
        elif name == "latency_ms" and "latency_ms" not in columns:
            micros = (pl.col("end_time") - pl.col("start_time")).dt.total_microseconds()
            exprs.append((micros / 1000.0).alias(name))
        elif name == "source_format":
            exprs.append(pl.lit(fmt, pl.String).alias(name))
        elif name == "source_file":
            exprs.append(pl.lit(file, pl.String).alias(name))
        elif name == "source_row":
            exprs.append(pl.col("_row").cast(pl.Int64).alias(name))
        elif name in columns:
            exprs.append(pl.col(name).cast(dtype).alias(name))
        else:
            exprs.append(pl.lit(None, dtype).alias(name))
    return frame.lazy().select(exprs)


def _empty() -> pl.LazyFrame:
    return LLM_REQUESTS_SCHEMA.to_frame().lazy()


# ---------------------------------------------------------------------------------------------
# OpenTelemetry: both formats


OP = "gen_ai.operation.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
ERROR_TYPE = "error.type"
INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CACHE_READ_KEYS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
REASONING_KEYS = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
OTEL_COUNT_KEYS = (
    *INPUT_KEYS,
    *OUTPUT_KEYS,
    *CACHE_READ_KEYS,
    *CACHE_WRITE_KEYS,
    *REASONING_KEYS,
    *TOTAL_KEYS,
)
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")
USER_KEYS = ("user.id", "enduser.id")
ENVIRONMENT_FALLBACK_KEYS = ("deployment.environment.name", "deployment.environment")
# The attribute names a tag may be logged under (``team``, ``costlake.team``, ``tag.team``).
TAG_ATTRIBUTE_KEYS = tuple(prefix + tag for tag in TAG_COLUMNS for prefix in TAG_PREFIXES)
CONTEXT_KEYS = (*USER_KEYS, *TAG_ATTRIBUTE_KEYS, *ENVIRONMENT_FALLBACK_KEYS)  # span or resource
SPAN_KEYS = (
    OP,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    ERROR_TYPE,
    "otel.status_code",
    *PROVIDER_KEYS,
    *OTEL_COUNT_KEYS,
    *CONTEXT_KEYS,
)
RESOURCE_PREFIX = "resource:"


def _is_model_call(col: _Columns) -> pl.Expr:
    op = col(OP).str.strip_chars().str.to_lowercase()
    return op.is_in(MODEL_CALL_OPERATIONS) | (
        ~op.is_in(AGENT_OPERATIONS).fill_null(False)
        & (col(REQUEST_MODEL).is_not_null() | (op.is_null() & col(RESPONSE_MODEL).is_not_null()))
    )


def _span_then_resource(keys: list[str], has_resource: bool) -> list[str]:
    """The span's attributes ``keys``, then (OTLP) its resource's."""
    return keys + [RESOURCE_PREFIX + k for k in keys] if has_resource else keys


def _otel_rows(
    spans: pl.DataFrame, fmt: str, file: str, ids: dict[str, str], has_resource: bool
) -> LogRead:
    """Model-call spans as table rows. ``spans`` has one String column per attribute key (and per
    ``resource:`` key), ``_row``, and the span fields named in ``ids``: request_id, trace_id,
    start, end, status (the span status: code or text)."""
    spans = _blank_to_null(spans)
    col = _Columns(spans)
    calls = spans.filter(_is_model_call(col))
    skipped = spans.height - calls.height
    calls = col.with_counts(calls, OTEL_COUNT_KEYS)
    start, end = ids["start"], ids["end"]
    if fmt == OTLP_JSON:
        calls = calls.with_columns(_start=_nanos_time(col(start)), _end=_nanos_time(col(end)))
        expected = "Unix nanoseconds"
    else:
        calls = calls.with_columns(_start=_times(calls, start), _end=_times(calls, end))
        expected = "an ISO-8601 time"
    where = pl.format("span {}: ", col(ids["request_id"]).fill_null("?"))
    checks = [
        _required_check([col(ids["request_id"])], ids["request_id"], "span id"),
        _required_check([col(REQUEST_MODEL), col(RESPONSE_MODEL)], REQUEST_MODEL, "model"),
        _time_check("_start", col(start), start, expected),
        _time_check("_end", col(end), end, expected),
        _order_check("_start", "_end", end),
        *(_count_check(key) for key in col.present(OTEL_COUNT_KEYS)),
    ]
    good, problems = _checked(calls, checks, file, where if fmt == OTLP_JSON else None)

    status = col(ids["status"]).str.to_lowercase()
    failed = (
        status.is_in(["2", "error", "status_code_error"])
        | status.str.contains(r'"code"\s*:\s*("?2"?|"(status_code_)?error")')
        | (col("otel.status_code").str.to_lowercase() == "error")
        | col(ERROR_TYPE).is_not_null()
    ).fill_null(False)
    input_ = col.count(INPUT_KEYS)
    read = col.count(CACHE_READ_KEYS)
    write = col.count(CACHE_WRITE_KEYS)
    output = col.count(OUTPUT_KEYS)
    tags = {}
    for tag in TAG_COLUMNS:
        keys = _span_then_resource([prefix + tag for prefix in TAG_PREFIXES], has_resource)
        if tag == "environment":
            keys += _span_then_resource(list(ENVIRONMENT_FALLBACK_KEYS), has_resource)
        tags[tag] = col.first(keys)
    user_keys = _span_then_resource(list(USER_KEYS), has_resource)
    rows = good.select(
        col(ids["request_id"]).alias("request_id"),
        col(ids["trace_id"]).alias("trace_id"),
        pl.col("_start").alias("start_time"),
        pl.col("_end").alias("end_time"),
        _provider(col.first(PROVIDER_KEYS)).alias("provider"),
        col(REQUEST_MODEL).alias("model_requested"),
        col(RESPONSE_MODEL).alias("model_responded"),
        _input_tokens(input_, read, write, output, col.count(TOTAL_KEYS)).alias("input_tokens"),
        read.alias("cache_read_tokens"),
        write.alias("cache_write_tokens"),
        output.alias("output_tokens"),
        col.count(REASONING_KEYS).alias("reasoning_tokens"),
        pl.lit(1, pl.Int64).alias("requests"),
        pl.when(failed).then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        col(ERROR_TYPE).alias("error_type"),
        col.first(user_keys).alias("user_id"),
        *(expr.alias(tag) for tag, expr in tags.items()),
        "_row",
    )
    return LogRead(_table(rows, fmt, file), problems, skipped)


OTEL_JSONL_FIELDS = ("trace_id", "span_id", "start_time", "end_time", "status")
OTEL_JSONL_SCHEMA = pl.Schema({k: pl.String for k in (*OTEL_JSONL_FIELDS, *SPAN_KEYS)})


def read_otel_jsonl(path: Path) -> LogRead:
    """Spans written one flat JSON object per line (``trace_id``, ``span_id``, ISO-8601
    ``start_time``/``end_time``, ``status``, the attributes by name); others are skipped."""
    path = Path(path)
    frame, problems = _json_records(path, OTEL_JSONL_SCHEMA, path.name)
    ids = {
        "request_id": "span_id",
        "trace_id": "trace_id",
        "start": "start_time",
        "end": "end_time",
        "status": "status",
    }
    read = _otel_rows(frame, OTEL_JSONL, path.name, ids, has_resource=False)
    return LogRead(read.rows, _in_file_order(problems, read.problems), read.skipped)


def _otlp_schema(
    leaf: pa.DataType, double: pa.DataType, flag: pa.DataType, code: pa.DataType
) -> pa.Schema:
    """The part of the OTLP JSON shape that is read."""
    value = pa.struct(
        [("stringValue", leaf), ("intValue", leaf), ("doubleValue", double), ("boolValue", flag)]
    )
    attributes = pa.list_(pa.struct([("key", leaf), ("value", value)]))
    span = pa.struct(
        [
            ("traceId", leaf),
            ("spanId", leaf),
            ("startTimeUnixNano", leaf),
            ("endTimeUnixNano", leaf),
            ("attributes", attributes),
            ("status", pa.struct([("code", code)])),
        ]
    )
    resource_spans = pa.struct(
        [
            ("resource", pa.struct([("attributes", attributes)])),
            ("scopeSpans", pa.list_(pa.struct([("spans", pa.list_(span))]))),
        ]
    )
    return pa.schema([("resourceSpans", pa.list_(resource_spans))])


# Typed as the Collector writes it, for pyarrow (fast, but a number where a string is expected
# fails the file), and every leaf a string, for polars (robust, slower).
OTLP_ARROW_SCHEMA = _otlp_schema(pa.string(), pa.float64(), pa.bool_(), pa.int64())
OTLP_POLARS_SCHEMA = pl.from_arrow(
    _otlp_schema(pa.string(), pa.string(), pa.string(), pa.string()).empty_table()
).schema


OTLP_VALUE_FIELDS = ("stringValue", "intValue", "doubleValue", "boolValue")


def _otlp_requests(path: Path) -> tuple[pa.Table, pa.Array, list[LogProblem]]:
    """The requests of an OTLP JSON file as an Arrow table, their lines, and the bad ones."""
    if _is_json_lines(path):
        try:
            with _counting_lines(path) as lines:
                table = pj.read_json(
                    path,
                    read_options=pj.ReadOptions(block_size=16 << 20),
                    parse_options=pj.ParseOptions(
                        explicit_schema=OTLP_ARROW_SCHEMA, unexpected_field_behavior="ignore"
                    ),
                )
                return table, _line_numbers(path, table.num_rows, lines).to_arrow(), []
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a bad line, or numbers where the Collector writes strings: read robustly
    frame, problems = _json_records(path, OTLP_POLARS_SCHEMA, path.name)
    return frame.drop("_row").to_arrow(), frame.get_column("_row").to_arrow(), problems


def _attribute_values(attributes: pa.Array, keys: tuple[str, ...]) -> pl.DataFrame:
    """``i`` (the owner's position), ``k`` and ``v`` (the value as text) of the OTLP attributes
    named in ``keys``."""
    flat = pc.list_flatten(attributes)
    value = flat.field("value")
    frame = pl.DataFrame(
        {
            "i": pl.from_arrow(pc.list_parent_indices(attributes)).cast(pl.Int64),
            "k": pl.from_arrow(flat.field("key")).cast(pl.String),
            **{f: pl.from_arrow(value.field(f)) for f in OTLP_VALUE_FIELDS},
        }
    )
    values = pl.coalesce(pl.col(f).cast(pl.String) for f in OTLP_VALUE_FIELDS)
    return frame.filter(pl.col("k").is_in(keys)).select("i", "k", values.alias("v"))


def _hex_id(column: str) -> pl.Expr:
    """OTLP JSON writes ids in hex; a protobuf-JSON writer may have base64-encoded them."""
    value = pl.col(column)
    decoded = value.str.decode("base64", strict=False).bin.encode("hex")
    return (
        pl.when(value.str.contains(r"^[0-9a-fA-F]*$"))
        .then(value.str.to_lowercase())
        .otherwise(decoded)
    )


OTLP_FIELDS = {
    "request_id": "spanId",
    "trace_id": "traceId",
    "start": "startTimeUnixNano",
    "end": "endTimeUnixNano",
    "status": "status.code",
}


def _otlp_spans(resource_spans: pa.Array, lines: pa.Array) -> pl.DataFrame:
    """One row per span of ``resourceSpans`` lists: its fields, its attributes in ``SPAN_KEYS``
    (one column each) and its resource's in ``CONTEXT_KEYS`` (``resource:<key>``)."""
    resource_line = pc.take(lines, pc.list_parent_indices(resource_spans))
    resources = pc.list_flatten(resource_spans)
    scope_spans = resources.field("scopeSpans")
    span_lists = pc.list_flatten(scope_spans).field("spans")
    span_resource = pc.take(pc.list_parent_indices(scope_spans), pc.list_parent_indices(span_lists))
    spans = pc.list_flatten(span_lists)
    resource_attributes = _attribute_values(
        resources.field("resource").field("attributes"), CONTEXT_KEYS
    )
    resource_wide = _wide(resource_attributes, CONTEXT_KEYS, len(resources))
    resource_wide = resource_wide.rename({k: RESOURCE_PREFIX + k for k in CONTEXT_KEYS})
    fields = pl.DataFrame(
        {
            "_row": pl.from_arrow(pc.take(resource_line, span_resource)).cast(pl.Int64),
            "traceId": pl.from_arrow(spans.field("traceId")).cast(pl.String),
            "spanId": pl.from_arrow(spans.field("spanId")).cast(pl.String),
            "startTimeUnixNano": pl.from_arrow(spans.field("startTimeUnixNano")).cast(pl.String),
            "endTimeUnixNano": pl.from_arrow(spans.field("endTimeUnixNano")).cast(pl.String),
            "status.code": pl.from_arrow(spans.field("status").field("code")).cast(pl.String),
        }
    )
    return pl.concat(
        [
            fields.with_columns(_hex_id("traceId"), _hex_id("spanId")),
            _wide(_attribute_values(spans.field("attributes"), SPAN_KEYS), SPAN_KEYS, len(spans)),
            resource_wide[pl.from_arrow(span_resource).cast(pl.Int64)],
        ],
        how="horizontal",
    )


def read_otlp_json(path: Path) -> LogRead:
    """GenAI client spans of OTLP JSON ``ExportTraceServiceRequest``s (one per line, or one
    document); other spans are skipped and counted. ``source_row`` is the request's line."""
    path = Path(path)
    table, lines, problems = _otlp_requests(path)
    if table.num_rows == 0:
        return LogRead(_empty(), problems, 0)
    frames, offset = [], 0
    for chunk in table.column("resourceSpans").chunks:  # chunk by chunk: no copy into one
        frames.append(_otlp_spans(chunk, lines[offset : offset + len(chunk)]))
        offset += len(chunk)
    frame = pl.concat(frames, how="vertical")
    read = _otel_rows(frame, OTLP_JSON, path.name, OTLP_FIELDS, has_resource=True)
    return LogRead(read.rows, _in_file_order(problems, read.problems), read.skipped)


# ---------------------------------------------------------------------------------------------
# LiteLLM spend logs

LITELLM_COLUMNS = (
    "request_id",
    "call_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "startTime",
    "endTime",
    "model",
    "model_group",
    "custom_llm_provider",
    "user",
    "metadata",
    "request_tags",
    "team_id",
    "end_user",
    "session_id",
    "status",
)
LITELLM_REQUIRED = ("request_id", "startTime", "endTime", "model")
LITELLM_SCHEMA = pl.Schema({c: pl.String for c in LITELLM_COLUMNS})

# The fields of ``metadata`` that are read (every other one, ``user_api_key`` included, is not).
METADATA_PATHS = (
    ("usage_object", "prompt_tokens_details", "cached_tokens"),
    ("usage_object", "cache_read_input_tokens"),
    ("usage_object", "cache_creation_input_tokens"),
    ("usage_object", "prompt_tokens_details", "cache_creation_tokens"),
    ("usage_object", "completion_tokens_details", "reasoning_tokens"),
    ("additional_usage_values", "cache_read_input_tokens"),
    ("additional_usage_values", "cache_creation_input_tokens"),
    ("status",),
    ("trace_id",),
    ("user_api_key_team_alias",),
    ("spend_logs_metadata", "trace_id"),
    *(("spend_logs_metadata", key) for key in TAG_ATTRIBUTE_KEYS),
)
CACHE_READ_PATHS = (
    "metadata.usage_object.prompt_tokens_details.cached_tokens",
    "metadata.usage_object.cache_read_input_tokens",
    "metadata.additional_usage_values.cache_read_input_tokens",
)
CACHE_WRITE_PATHS = (
    "metadata.usage_object.cache_creation_input_tokens",
    "metadata.usage_object.prompt_tokens_details.cache_creation_tokens",
    "metadata.additional_usage_values.cache_creation_input_tokens",
)
REASONING_PATH = "metadata.usage_object.completion_tokens_details.reasoning_tokens"
LITELLM_COUNTS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    *CACHE_READ_PATHS,
    *CACHE_WRITE_PATHS,
    REASONING_PATH,
)


def _struct_dtype(paths: Iterable[tuple[str, ...]]) -> pl.Struct:
    """A nested struct with a String leaf at each path."""
    tree: dict = {}
    for path in paths:
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = None

    def build(node: dict) -> pl.Struct:
        return pl.Struct({k: pl.String if v is None else build(v) for k, v in node.items()})

    return build(tree)


METADATA_DTYPE = _struct_dtype(METADATA_PATHS)


def _field(column: str, path: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(column)
    for part in path:
        expr = expr.struct.field(part)
    return expr


def _arrow_type(dtype: pl.DataType, name: str) -> pa.DataType:
    """The Arrow type of a spend log field as LiteLLM writes it: counts as integers."""
    if isinstance(dtype, pl.Struct):
        return pa.struct([(f.name, _arrow_type(f.dtype, f.name)) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return pa.list_(pa.string())
    return pa.int64() if name.endswith("tokens") else pa.string()


# Typed as LiteLLM writes its JSON (counts as numbers, metadata an object, tags a list): read by
# pyarrow in one pass, ~2x faster than polars reading the JSON columns as text and decoding them.
LITELLM_DECODED = {"metadata": METADATA_DTYPE, "request_tags": pl.List(pl.String)}
LITELLM_ARROW_SCHEMA = pa.schema(
    [
        (name, _arrow_type(LITELLM_DECODED.get(name, dtype), name))
        for name, dtype in LITELLM_SCHEMA.items()
    ]
)


def _litellm_typed_json_lines(path: Path) -> pl.DataFrame | None:
    """The spend log JSON lines read by pyarrow as ``LITELLM_ARROW_SCHEMA`` (the counts back to
    text, ``metadata`` and ``request_tags`` decoded), or None if a record is not of that shape
    (JSON text in ``metadata``, a count as text, a bad line…): then polars reads it as text."""
    with open(path, "rb") as f:
        if f.read(3) == b"\xef\xbb\xbf":
            return None
    try:
        with _counting_lines(path) as lines:
            table = pj.read_json(
                path,
                read_options=pj.ReadOptions(block_size=16 << 20),
                parse_options=pj.ParseOptions(
                    explicit_schema=LITELLM_ARROW_SCHEMA, unexpected_field_behavior="ignore"
                ),
            )
            rows = _line_numbers(path, table.num_rows, lines)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(
        pl.col(name).cast(LITELLM_DECODED.get(name, dtype))
        for name, dtype in LITELLM_SCHEMA.items()
    )
    return frame.with_columns(_row=rows)


def _litellm_frame(path: Path) -> tuple[pl.DataFrame, list[LogProblem]]:
    """The spend log columns that are read, with ``_row``: text, except ``metadata`` and
    ``request_tags`` when already decoded (``_litellm_typed_json_lines``)."""
    first = _first_line(path).strip()
    if not first:
        return _no_records(LITELLM_SCHEMA), []
    if first.startswith(b"{") and _is_json_lines(path):
        frame = _litellm_typed_json_lines(path)
        if frame is not None:
            return frame, []
    if first.startswith((b"{", b"[")):
        return _json_records(path, LITELLM_SCHEMA, path.name)
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
        missing = [c for c in LITELLM_REQUIRED if c not in header]
        if missing:
            raise LogFormatError(
                f"{path.name}: LiteLLM spend log CSV without column(s) {', '.join(missing)}"
            )
        frame = pl.read_csv(
            path,
            columns=[c for c in LITELLM_COLUMNS if c in header],
            infer_schema=False,
            row_index_name="_row",
            row_index_offset=1,
        )
    except pl.exceptions.PolarsError as e:
        raise LogFormatError(f"{path.name}: unreadable CSV ({e})") from e
    frame = frame.with_columns(
        pl.col("_row").cast(pl.Int64),
        *(pl.lit(None, pl.String).alias(c) for c in LITELLM_COLUMNS if c not in header),
    )
    return frame, []


def read_litellm_spend_logs(path: Path) -> LogRead:
    """Rows of LiteLLM's ``LiteLLM_SpendLogs`` table, as CSV, JSON lines or a JSON array."""
    path, file = Path(path), Path(path).name
    frame, problems = _litellm_frame(path)
    frame = _blank_to_null(frame)
    metadata, metadata_problems = _json_column(frame, "metadata", METADATA_DTYPE, file)
    tags, tag_problems = _json_column(frame, "request_tags", pl.List(pl.String), file)
    problems += metadata_problems + tag_problems
    frame = _with_litellm_fields(frame, metadata, tags)
    bad_rows = {p.row for p in metadata_problems + tag_problems}
    if bad_rows:
        frame = frame.filter(~pl.col("_row").is_in(list(bad_rows)))
    col = _Columns(frame)
    frame = col.with_counts(frame, LITELLM_COUNTS)
    frame = frame.with_columns(_start=_times(frame, "startTime"), _end=_times(frame, "endTime"))
    checks = [
        _required_check([col("request_id")], "request_id", "request_id"),
        _required_check([col("model"), col("model_group")], "model", "model"),
        _time_check("_start", col("startTime"), "startTime", "an ISO-8601 time"),
        _time_check("_end", col("endTime"), "endTime", "an ISO-8601 time"),
        _order_check("_start", "_end", "endTime"),
        *(_count_check(c) for c in col.present(LITELLM_COUNTS)),
    ]
    good, found = _checked(frame, checks, file)
    problems = _in_file_order(problems, found)

    read = col.count(CACHE_READ_PATHS)
    write = col.count(CACHE_WRITE_PATHS)
    status = col.first(["status", "metadata.status"]).str.strip_chars().str.to_lowercase()
    provider = pl.coalesce(col("custom_llm_provider"), col("model").str.extract(r"^([^/]+)/", 1))
    tag_exprs = {}
    for tag in TAG_COLUMNS:
        keys = [f"request_tags:{p}{tag}" for p in TAG_PREFIXES]
        keys += [f"metadata.spend_logs_metadata.{p}{tag}" for p in TAG_PREFIXES]
        if tag == "team":
            keys += ["metadata.user_api_key_team_alias", "team_id"]
        tag_exprs[tag] = col.first(keys)
    trace_keys = ["metadata.trace_id", "metadata.spend_logs_metadata.trace_id", "session_id"]
    rows = good.select(
        col("request_id").alias("request_id"),
        col.first([*trace_keys, "request_id"]).alias("trace_id"),
        pl.col("_start").alias("start_time"),
        pl.col("_end").alias("end_time"),
        _provider(provider).alias("provider"),
        col.first(["model_group", "model"]).alias("model_requested"),
        col("model").alias("model_responded"),
        _input_tokens(
            col.count(["prompt_tokens"]),
            read,
            write,
            col.count(["completion_tokens"]),
            col.count(["total_tokens"]),
        ).alias("input_tokens"),
        read.alias("cache_read_tokens"),
        write.alias("cache_write_tokens"),
        col.count(["completion_tokens"]).alias("output_tokens"),
        col.count([REASONING_PATH]).alias("reasoning_tokens"),
        pl.lit(1, pl.Int64).alias("requests"),
        pl.when(status.is_in(["failure", "failed", "error"]).fill_null(False))
        .then(pl.lit("error"))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        col.first(["user", "end_user"]).alias("user_id"),
        *(expr.alias(tag) for tag, expr in tag_exprs.items()),
        "_row",
    )
    return LogRead(_table(rows, LITELLM_SPEND_LOGS, file), problems, 0)


def _with_litellm_fields(frame: pl.DataFrame, metadata: pl.Series, tags: pl.Series) -> pl.DataFrame:
    """``frame`` with one column per read ``metadata`` field (``metadata.a.b``, blank as null)
    and per tag key in ``request_tags`` (``request_tags:<key>``)."""
    fields = pl.DataFrame({"_metadata": metadata}).select(
        _field("_metadata", p).alias(".".join(("metadata", *p))) for p in METADATA_PATHS
    )
    pairs = (
        pl.DataFrame({"t": tags})
        .with_row_index("i")
        .explode("t")
        .select(pl.col("i").cast(pl.Int64), pl.col("t").str.splitn(":", 2).alias("kv"))
        .select("i", k=pl.col("kv").struct.field("field_0"), v=pl.col("kv").struct.field("field_1"))
        .filter(pl.col("k").is_in(TAG_ATTRIBUTE_KEYS) & pl.col("v").is_not_null())
        .with_columns(pl.col("v").str.strip_chars())
    )
    tag_columns = _wide(pairs, TAG_ATTRIBUTE_KEYS, frame.height)
    tag_columns = tag_columns.rename({k: f"request_tags:{k}" for k in TAG_ATTRIBUTE_KEYS})
    return _blank_to_null(pl.concat([frame, fields, tag_columns], how="horizontal"))


# ---------------------------------------------------------------------------------------------
# OpenAI usage API

USAGE_FIELDS = (
    "start_time",
    "end_time",
    "input_tokens",
    "input_cached_tokens",
    "output_tokens",
    "num_model_requests",
    "model",
    "project_id",
    "user_id",
)
USAGE_COUNTS = ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests")


def _usage_pages(data: bytes, file: str) -> tuple[list[tuple[int, object]], list[LogProblem]]:
    """(line or position, page) of a file holding one page, a list of pages, or JSON lines."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        pages, problems = [], []
        for n, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    pages.append((n, json.loads(line)))
                except ValueError as e:
                    problems.append(LogProblem(file, n, "", f"not valid JSON ({e})"))
        return pages, problems
    if isinstance(document, list):
        return list(enumerate(document, 1)), []
    return [(1, document)], []


def _usage_text(value: object) -> str | None:
    """A result field as the text the checks read (JSON ``true`` stays visibly wrong)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def read_openai_usage(path: Path) -> LogRead:
    """One row per result of OpenAI ``/v1/organization/usage/completions`` pages."""
    path = Path(path)
    file = path.name
    pages, problems = _usage_pages(path.read_bytes(), file)
    rows: list[dict[str, str | int | None]] = []
    for where, page in pages:
        buckets = page.get("data") if isinstance(page, dict) else None
        if not isinstance(buckets, list):
            problems.append(
                LogProblem(file, where, "data", "expected a usage page: an object with a data list")
            )
            continue
        for bucket in buckets:
            results = (
                bucket.get("results", bucket.get("result")) if isinstance(bucket, dict) else None
            )
            if not isinstance(results, list):
                problems.append(
                    LogProblem(file, where, "results", "expected a bucket with a results list")
                )
                continue
            for result in results:
                row = {"_row": len(rows) + 1}
                row |= {f: _usage_text(bucket.get(f)) for f in ("start_time", "end_time")}
                if isinstance(result, dict):
                    row |= {f: _usage_text(result.get(f)) for f in USAGE_FIELDS[2:]}
                rows.append(row)
    schema = pl.Schema({"_row": pl.Int64, **{f: pl.String for f in USAGE_FIELDS}})
    frame = _blank_to_null(pl.DataFrame(rows, schema=schema))
    col = _Columns(frame)
    frame = col.with_counts(frame, (*USAGE_COUNTS, "start_time", "end_time"))
    frame = frame.with_columns(
        _start=pl.from_epoch(col.count(["start_time"]), time_unit="s"),
        _end=pl.from_epoch(col.count(["end_time"]), time_unit="s"),
    ).with_columns(
        pl.col("_start", "_end").dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
    )
    checks = [
        _time_check("_start", col("start_time"), "start_time", "Unix seconds"),
        _time_check("_end", col("end_time"), "end_time", "Unix seconds"),
        _order_check("_start", "_end", "end_time"),
        _required_check([col("model")], "model", "model (export the usage grouped by model)"),
        *(_count_check(c) for c in col.present(USAGE_COUNTS)),
    ]
    good, found = _checked(frame, checks, file)
    problems = _in_file_order(problems, found)
    cached = col.count(["input_cached_tokens"])
    output = col.count(["output_tokens"])
    no_count = pl.lit(None, pl.Int64)
    table = good.select(
        pl.format("{}:{}", pl.lit(file), pl.col("_row")).alias("request_id"),
        pl.col("_start").alias("start_time"),
        pl.col("_end").alias("end_time"),
        pl.lit("openai").alias("provider"),
        col("model").alias("model_requested"),
        col("model").alias("model_responded"),
        _input_tokens(col.count(["input_tokens"]), cached, no_count, output, no_count).alias(
            "input_tokens"
        ),
        cached.alias("cache_read_tokens"),
        output.alias("output_tokens"),
        col.count(["num_model_requests"]).alias("requests"),
        pl.lit("ok").alias("status"),
        pl.lit(None, pl.Float64).alias("latency_ms"),
        col("user_id").alias("user_id"),
        col("project_id").alias("project"),
        "_row",
    )
    return LogRead(_table(table, OPENAI_USAGE, file), problems, 0)


READERS = {
    OTLP_JSON: read_otlp_json,
    OTEL_JSONL: read_otel_jsonl,
    LITELLM_SPEND_LOGS: read_litellm_spend_logs,
    OPENAI_USAGE: read_openai_usage,
}
