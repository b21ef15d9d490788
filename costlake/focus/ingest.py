"""Turn a period's landed deliveries into FOCUS Parquet for its (provider, billing period).

Each file is published in slices by the streaming engine, each slice read twice: once for the
few columns its tag keys come from, then in one run that writes the FOCUS rows and the
rejected rows (staged Parquet parts) and sums the bill's own totals per currency. A Parquet
file's slices are read from the file itself; a CSV file, which cannot be read in part, is
first read once into a working file of its normalized rows. Memory stays bounded whatever the
file's size. When every file of the delivery has been read, the staged period is audited
(``costlake.focus.audit``: money reconciled to the bill, FOCUS schema, finite amounts) and
published only if it passes; otherwise ``AuditFailed`` says why and the lake keeps its previous
version.

Validation (docs/lake.md, "What is refused and what is rejected"): a file whose header names a
column twice or lacks a required one, that cannot be decoded, or that ends mid-row fails the
delivery before anything is written. A row that cannot be read as its dataset's (more fields
than the header, a currency outside ISO 4217, an amount that is not a finite number, a value
that does not parse) is a counted reject with its reason. Exact duplicate rows (equal in all
the lake keeps of them) are counted, not removed: a bill may repeat a line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from costlake.commitments.dataset import (
    LINK_COLUMNS,
    commitment_lines,
    contract_commitments,
    with_contract_applied,
)
from costlake.focus import parsing
from costlake.focus.audit import AuditOutcome, period_audit
from costlake.focus.currency import iso_4217_codes
from costlake.focus.deliveries import Delivery, DeliveryError
from costlake.focus.lake import AuditFailed, Lake, StagedPeriod, partition_dir
from costlake.focus.readers import (
    ROW_COLUMN,
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    WELL_SHAPED,
    Misshapen,
    csv_problem,
    cut_last_line,
    file_format,
    misshapen_rows,
    ndjson_problem,
    parquet_copy,
    parquet_slices,
    scan_export,
    source_columns,
)
from costlake.focus.schema import (
    CONTRACT_COMMITMENT_TABLE,
    FOCUS_FILE_METADATA,
    RAW_COST,
    RAW_CURRENCY,
    RAW_TAGS,
    REJECT_REASON,
    ROW_HASH,
    ROW_PROBLEM,
    WORKING_COLUMNS,
    contract_commitment_arrow_schema,
    focus_polars_schema,
)
from costlake.providers.datasets import SourceDataset
from costlake.providers.registry import source_datasets
from costlake.tags.rules import (
    TagRules,
    found_tags,
    load_tag_rules,
    tag_columns,
    tag_keys,
    with_tag_columns,
)

log = logging.getLogger(__name__)
SLICE_ROWS = 262_144  # source rows per streaming run (a slice's memory grows with its rows)
PROGRESS_SECONDS = 5.0  # at most one progress line this often, and one at the end
OTHER_PERIOD = "x_OtherPeriod"  # working flag: the row belongs to another billing period
# Staged beside the period's tables, never published: each file's commitment-linked rows, grouped
# into the Contract Commitment table once every file is read.
COMMITMENT_LINES = "_commitment_lines"
# Working column: a 64-bit hash of a row's tag key (``RAW_TAGS``, and the account where tag
# rules have account defaults), by which the tags found once per distinct key are joined back:
# a join on the 600-byte text itself took about a third more CPU than one on this key.
TAGS_KEY = "x_RawTagsKey"
# Column of the found tags table: what the dataset's ``tags_problem`` says of a key's raw tags.
TAGS_PROBLEM = "__tags_problem"
WORK_ROW_GROUP_ROWS = 20_000  # small row groups: a CSV file's working file is read in slices


@dataclass
class IngestReport:
    """What a period's deliveries became: counts and money, recorded beside the period in the lake.

    ``rows_read`` counts source rows; ``rows_written`` counts FOCUS rows, which can be more
    (an unused commitment becomes a row of its own).
    """

    provider: str
    billing_period: str
    source_dataset: str
    delivery_id: str
    files: list[str]
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rejected_cost_rows: int = 0
    rows_other_periods: int = 0  # left to their own period's delivery (``spans_periods``)
    # Rows that repeat an earlier row of the same file value for value (kept, and reconciled).
    duplicate_rows: int = 0
    bill_totals: dict[str, float] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    ingested_at: str = ""  # UTC, ISO 8601: when this delivery replaced the period
    # The staged version's audit (not part of ``ingest.json``, which is written before it).
    audit: tuple[AuditOutcome, ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        """The ``ingest.json`` record of the period."""
        record = asdict(self)
        del record["audit"]
        return json.dumps(record, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IngestReport:
        """Read back an ``ingest.json`` record."""
        return cls(**json.loads(text))


def ingest_delivery(
    delivery: Delivery,
    landed: Path,
    lake: Lake,
    progress: Callable[[str], None] | None = None,
    tag_rules: TagRules | None = None,
) -> IngestReport:
    """Normalize every file of a landed delivery, audit it and replace its period in the lake
    (``AuditFailed`` when the audit fails: nothing is then published)."""
    return ingest_deliveries([(delivery, landed)], lake, progress, tag_rules)


def combined_delivery_id(deliveries: list[Delivery]) -> str:
    """The id of a period built from one delivery per account: theirs, joined in a fixed order,
    so the period changes whenever any account's delivery does."""
    return "+".join(sorted(d.delivery_id for d in deliveries))


def ingest_deliveries(
    landed: list[tuple[Delivery, Path]],
    lake: Lake,
    progress: Callable[[str], None] | None = None,
    tag_rules: TagRules | None = None,
) -> IngestReport:
    """Normalize every file of the period's landed deliveries (one per configured account) and
    replace the period in the lake with all of them at once.

    Each ``(delivery, folder)`` pair names the folder holding that delivery's files under their
    base names. Any unreadable file or missing column fails the whole period and leaves the
    lake's previous version; so does a failed audit of the staged version (``AuditFailed``,
    carrying this report, every check's outcome and where the failed version is kept); the
    report's ``audit`` holds the outcomes of a published one. ``tag_rules`` (default: the
    shipped ``costlake/data/tags.yaml``) fill the ``x_tag_*`` columns.
    """
    rules = tag_rules or load_tag_rules()
    deliveries = [delivery for delivery, _ in landed]
    if len({(d.provider, d.billing_period) for d in deliveries}) != 1:
        raise DeliveryError("deliveries of different providers or periods cannot share a period")
    plans = [(delivery, folder, _checked_dataset(delivery, folder)) for delivery, folder in landed]
    first = deliveries[0]
    report = IngestReport(
        first.provider,
        first.billing_period,
        "+".join(sorted({d.source_dataset for d in deliveries})),
        combined_delivery_id(deliveries),
        files=[f.path for d in deliveries for f in d.files],
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    total = len(report.files)
    next_progress = time.monotonic() + PROGRESS_SECONDS
    part = 0

    def audit(staged: StagedPeriod) -> tuple[AuditOutcome, ...]:
        focus = staged.scan("focus")
        schemas = staged.schemas("focus")
        return period_audit(focus, schemas, report.bill_totals, report.rejected_cost_rows)

    try:
        with lake.staged_period(first.provider, first.billing_period, audit=audit) as staged:
            for delivery, folder, dataset in plans:
                for delivery_file in delivery.files:
                    path = folder / Path(delivery_file.path).name
                    _ingest_file(
                        path, delivery_file.path, delivery, dataset, staged, part, report, rules
                    )
                    part += 1
                    if progress and (time.monotonic() >= next_progress or part == total):
                        progress(f"{part}/{total} files, {report.rows_read:,} rows read so far")
                        next_progress = time.monotonic() + PROGRESS_SECONDS
            _write_contract_commitments(staged)
            staged.write_text("ingests", "ingest.json", report.to_json())
    except AuditFailed as exc:
        exc.report = report
        raise
    report.audit = staged.outcomes
    return report


def _write_contract_commitments(staged: StagedPeriod) -> None:
    """The period's Contract Commitment table from every file's linked rows (always written,
    empty when no commitment applies, so the table has every period focus has)."""
    parts = sorted(staged.lake.local_path(staged.table_dir(COMMITMENT_LINES)).glob("*.parquet"))
    target = staged.part_path(CONTRACT_COMMITMENT_TABLE, 0)
    if not parts:
        pq.write_table(contract_commitment_arrow_schema().empty_table(), target)
        return
    contract_commitments(pl.scan_parquet(parts)).sink_parquet(
        target, metadata=FOCUS_FILE_METADATA, engine="streaming"
    )


def _checked_dataset(delivery: Delivery, landed: Path) -> SourceDataset:
    """The delivery's dataset, once every landed file has the columns it needs: checked before
    anything is written."""
    dataset = source_datasets().get(delivery.source_dataset)
    if dataset is None:
        raise DeliveryError(f"{delivery.manifest_path}: unknown dataset {delivery.source_dataset}")
    names = [Path(f.path).name for f in delivery.files]
    if len(set(names)) != len(names):
        raise DeliveryError(f"{delivery.manifest_path}: two data files share a base name")
    for delivery_file, name in zip(delivery.files, names, strict=True):
        columns = source_columns(landed / name, delivery_file.path, dataset.ndjson_schema)
        duplicated = duplicate_columns(columns, dataset.rename(columns))
        if duplicated:
            raise DeliveryError(
                f"{delivery_file.path}: duplicate column(s) {'; '.join(duplicated)}: "
                "which one holds the values cannot be known"
            )
        missing = dataset.required(columns)
        if missing:
            raise DeliveryError(
                f"{delivery_file.path}: missing required column(s) {', '.join(missing)} "
                f"for {delivery.source_dataset}"
            )
        if file_format(name) == "csv":
            line = cut_last_line(landed / name, columns)
            if line is not None:
                raise DeliveryError(
                    f"{delivery_file.path}: line {line} ends before its {len(columns)} fields "
                    "with no newline after it: the file is cut short"
                )
    return dataset


def duplicate_columns(columns: list[str], rename: dict[str, str]) -> list[str]:
    """Header names that appear more than once, and names the dataset reads as one column
    (``lineItem/UnblendedCost`` and ``line_item_unblended_cost``), described for an error."""
    positions: dict[str, list[int]] = {}
    for number, column in enumerate(columns, start=1):
        positions.setdefault(column, []).append(number)
    found = [
        f"{column} (columns {', '.join(map(str, at))})"
        for column, at in positions.items()
        if len(at) > 1
    ]
    readers: dict[str, list[str]] = {}
    for column in positions:
        readers.setdefault(rename[column], []).append(column)
    found += [
        f"{' and '.join(names)} (both read as {target})"
        for target, names in readers.items()
        if len(names) > 1
    ]
    return found


def ingested_delivery_id(lake: Lake, provider: str, billing_period: str) -> str | None:
    """The id of the delivery the lake holds for a period (its ``ingests`` record), if any."""
    text = lake.read_text(f"{partition_dir('ingests', provider, billing_period)}/ingest.json")
    return IngestReport.from_json(text).delivery_id if text else None


def normalized_rows(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    rows: tuple[int, int] | None = None,
    misshapen: Misshapen = WELL_SHAPED,
) -> pl.LazyFrame:
    """The FOCUS rows of one file (or its ``rows`` slice) with lineage, reject reasons and the
    bill's own cost and currency as the source gave them (``WORKING_COLUMNS``), as one lazy
    streaming plan; a CSV file's ``misshapen`` rows (``readers.misshapen_rows``) are rejects."""
    frame = _source_rows(path, file_name, delivery, dataset, rows, misshapen)
    return frame if dataset.expand is None else dataset.expand(frame)


def _source_rows(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    rows: tuple[int, int] | None,
    misshapen: Misshapen,
) -> pl.LazyFrame:
    """``normalized_rows`` before the dataset's ``expand``: one row per source row, with its
    ``ROW_HASH`` (``_row_hash``), which the rows ``expand`` adds do not carry."""
    raw = scan_export(path, file_name, dataset.ndjson_schema, rows, misshapen)
    columns = [c for c in raw.collect_schema().names() if c not in (ROW_COLUMN, ROW_PROBLEM)]
    renamed = dataset.rename(columns)
    currency = dataset.currency_column
    # ISO 4217 codes compare upper case ("usd" is USD), in the lake too; amounts are never
    # converted. A row that cannot be placed (another number of fields than the header) has no
    # known cost.
    readable = pl.col(ROW_PROBLEM).is_null()
    raw = (
        raw.rename(renamed)
        .with_columns(pl.col(currency).cast(pl.String).str.strip_chars().str.to_uppercase())
        .with_columns(
            x_Provider=pl.lit(delivery.provider),
            x_SourceDataset=pl.lit(delivery.source_dataset),
            x_DeliveryId=pl.lit(delivery.delivery_id),
            x_SourceFile=pl.lit(file_name),
            **{
                RAW_COST: pl.when(readable).then(pl.col(dataset.cost_column)),
                RAW_CURRENCY: pl.when(readable).then(pl.col(currency)),
                ROW_PROBLEM: pl.when(readable)
                .then(
                    pl.when(~pl.col(currency).is_in(iso_4217_codes())).then(
                        pl.lit(f"{currency} is not an ISO 4217 currency code")
                    )
                )
                .otherwise(pl.col(ROW_PROBLEM)),
            },
        )
    )
    frame = dataset.normalize(raw)
    return frame.with_columns(_row_hash(frame, dataset))


def _file_plan(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    rows: tuple[int, int] | None,
    misshapen: Misshapen,
) -> pl.LazyFrame:
    """``normalized_rows`` with the commitment links (``with_contract_applied``), non-finite
    amounts rejected, and ``OTHER_PERIOD`` marking rows of another billing period.

    Such rows are rejected, except in datasets whose files span periods: there they belong to
    their own period's delivery and this one leaves them out.
    """
    period_start = datetime.strptime(delivery.billing_period, "%Y-%m").replace(tzinfo=UTC)
    other = pl.col(REJECT_REASON).is_null() & (pl.col("BillingPeriodStart") != period_start)
    frame = normalized_rows(path, file_name, delivery, dataset, rows, misshapen)
    frame = frame.with_columns(
        _finite_or_rejected(), pl.col("PricingCurrency").str.strip_chars().str.to_uppercase()
    )
    frame = with_contract_applied(frame, delivery.provider)
    if dataset.spans_periods:
        return frame.with_columns(other.fill_null(False).alias(OTHER_PERIOD))
    message = (
        f"BillingPeriodStart is not the start of the delivery's period {delivery.billing_period}"
    )
    return frame.with_columns(
        pl.when(other).then(pl.lit(message)).otherwise(pl.col(REJECT_REASON)).alias(REJECT_REASON),
        pl.lit(False).alias(OTHER_PERIOD),
    )


def _row_hash(frame: pl.LazyFrame, dataset: SourceDataset) -> pl.Expr:
    """``ROW_HASH``: a hash of a source row's normalized values (lineage and working columns
    aside), null for a row whose fields cannot be placed. The lake keeps these values and what
    follows from them alone (the rows ``expand`` adds, the commitment links), so equal hashes
    are exact duplicates in the lake.

    The row's columns, not the source's: hashing every source column would parse and decode
    columns the mapping never reads (Parquet's column projection would be lost). ``Tags`` of a
    dataset that builds it per distinct raw value is left to ``RAW_TAGS``, which it comes from.
    """
    names = frame.collect_schema().names()
    skip = {ROW_COLUMN, ROW_HASH, *WORKING_COLUMNS, *LINK_COLUMNS}
    if RAW_TAGS in names and dataset.tags_from_raw is not None:
        skip.add("Tags")
    reason = pl.col(REJECT_REASON)
    placeable = ~(reason.str.starts_with(TOO_MANY_FIELDS) | reason.str.starts_with(TOO_FEW_FIELDS))
    # Each column hashed with its own seed (a value moved to another column changes the
    # hash), the hashes added with wrap-around: half the CPU of hashing the row as a struct.
    kept = [n for n in names if n not in skip]
    row = pl.sum_horizontal(pl.col(name).hash(seed) for seed, name in enumerate(kept))
    return pl.when(placeable.fill_null(True)).then(row).alias(ROW_HASH)


def _finite_or_rejected() -> pl.Expr:
    """The reject reason, or for a row still good that holds NaN or ±inf in a FOCUS number
    column (one computed from finite inputs, such as a sum that overflows, or a nested amount)
    a reason naming it: no non-finite number reaches the lake."""
    reason = pl.col(REJECT_REASON)
    expr = pl.when(reason.is_not_null()).then(reason)
    for name, dtype in focus_polars_schema().items():
        if dtype == pl.Float64:
            message = f"{name} is not a finite number"
            expr = expr.when(~pl.col(name).is_finite()).then(pl.lit(message))
    return expr.otherwise(None).alias(REJECT_REASON)


def _ingest_file(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    staged: StagedPeriod,
    part: int,
    report: IngestReport,
    rules: TagRules,
) -> None:
    """Stream one file into its focus and rejects parts, with the bill's totals on the side.

    The file's rows are published in slices of at most ``SLICE_ROWS`` source rows
    (``_working_slices``), one streaming run each, so memory stays flat in the file's rows.

    Exact duplicates are counted over the whole file: each slice gives its source rows'
    hashes, and a file holds (its hashed rows) - (its distinct hashes).
    """
    accounts = ["x_Provider", "SubAccountId"] if rules.account_defaults else []
    tag_key = [RAW_TAGS, *accounts]
    last_row = 0
    hashes: list[pl.Series] = []
    try:
        with parquet_copy(path, file_name, dataset.ndjson_schema) as readable:
            work_path = staged.part_path("focus", part) + ".work"
            slices = _working_slices(
                readable, file_name, delivery, dataset, work_path, tag_key, rules
            )
            for work, found, columns, chunk in slices:
                hashed, last = _publish_slice(
                    work, found, columns, dataset, staged, (part, chunk), report, rules
                )
                hashes.append(hashed)
                last_row = max(last_row, last)
    except (pl.exceptions.PolarsError, OSError) as exc:
        where = _read_problem(path, dataset)
        raise DeliveryError(f"{file_name}: cannot read the file: {where or exc}") from exc
    # Row numbers are the file's, dense and 1-based: the file holds its last row's number.
    report.rows_read += last_row
    hashed = pl.concat(hashes)
    duplicates = hashed.len() - hashed.n_unique()
    if duplicates:
        log.warning("%s rows of %s repeat an earlier row exactly", duplicates, file_name)
    report.duplicate_rows += duplicates


def _working_slices(
    readable: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    work_path: str,
    tag_key: list[str],
    rules: TagRules,
) -> Iterator[tuple[pl.LazyFrame, pl.DataFrame, list[str], int | None]]:
    """The file's normalized rows (``_working_plan``) in slices of at most ``SLICE_ROWS``
    source rows, each with the found tags of every tag key seen so far in the file
    (``_found_tags_of``), the plan's columns and its slice number (None for a file in one
    slice). Each slice is then one streaming run.

    A Parquet file (or a JSON lines file's Parquet copy) is read in slices straight from the
    file (``parquet_slices``): reading its tag keys' few columns first costs little (column
    projection). A CSV file cannot be read in part (nor a few of its columns without reading
    it all): it is read once into a working file (``_write_working_file``), then taken in
    ranges of source rows (its row groups are small, so a range reads little more than its
    own). Either way a source row's FOCUS rows stay in one slice. One run over a whole CSV file
    held memory growing with its rows (1.2 GB at 1M rows, 2.0 GB at 5M).

    A key's tags are read once per file, in the slice it first appears in: a bill repeats a
    resource's tags all through the file (the 1M-row benchmark files hold 52,768 distinct
    keys, about 47,000 in each 200,000 rows).
    """
    known: pl.DataFrame | None = None
    try:
        if readable.suffix == ".parquet":
            slices = parquet_slices(readable, SLICE_ROWS)

            def found_of(rows: tuple[int, int], known: pl.DataFrame | None) -> pl.DataFrame:
                key_rows = _tag_key_rows(readable, file_name, delivery, dataset, rows, tag_key)
                return _found_tags_of(key_rows, known, tag_key, dataset, rules)

            # The next slice's tag keys are read while this slice is published: that read
            # runs on about one core, the slice's run on both.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costlake-keys") as pool:
                pending = pool.submit(found_of, slices[0], known)
                for number, rows in enumerate(slices):
                    known = _with_found(known, pending.result())
                    if number + 1 < len(slices):
                        pending = pool.submit(found_of, slices[number + 1], known)
                    plan, columns = _working_plan(
                        readable, file_name, delivery, dataset, rows, WELL_SHAPED, tag_key
                    )
                    yield plan, known, columns, None if len(slices) == 1 else number
            return
        columns = _write_working_file(readable, file_name, delivery, dataset, work_path, tag_key)
        work = pl.scan_parquet(work_path)
        last = work.select(pl.col(ROW_COLUMN).max()).collect().item() or 0
        starts = list(range(1, last + 1, SLICE_ROWS)) or [1]
        for number, first in enumerate(starts):
            work_slice = work.filter(pl.col(ROW_COLUMN).is_between(first, first + SLICE_ROWS - 1))
            known = _with_found(known, _found_tags_of(work_slice, known, tag_key, dataset, rules))
            yield work_slice, known, columns, None if len(starts) == 1 else number
    finally:
        Path(work_path).unlink(missing_ok=True)


def _with_found(known: pl.DataFrame | None, found: pl.DataFrame) -> pl.DataFrame:
    """The found tags of the keys seen so far, and of the keys a new slice adds."""
    return found if known is None else pl.concat([known, found], rechunk=False)


def _working_plan(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    rows: tuple[int, int] | None,
    misshapen: Misshapen,
    tag_key: list[str],
) -> tuple[pl.LazyFrame, list[str]]:
    """``_file_plan`` and its columns in order. A dataset that builds ``Tags`` from
    ``RAW_TAGS`` leaves it to later (per distinct value), and the rows get ``TAGS_KEY``
    (``_tag_key``)."""
    plan = _file_plan(path, file_name, delivery, dataset, rows, misshapen)
    names = plan.collect_schema().names()
    if _builds_tags(dataset, names):
        plan = plan.drop("Tags").with_columns(_tag_key(tag_key))
    return plan, names


def _builds_tags(dataset: SourceDataset, names: list[str]) -> bool:
    """Whether the ingest builds ``Tags`` per distinct ``RAW_TAGS`` value for these rows."""
    return dataset.tags_from_raw is not None and RAW_TAGS in names


def _tag_key(tag_key: list[str]) -> pl.Expr:
    """``TAGS_KEY``: the hash of a row's ``tag_key`` columns."""
    return pl.struct(tag_key).hash().alias(TAGS_KEY)


def _tag_key_rows(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    rows: tuple[int, int] | None,
    tag_key: list[str],
) -> pl.LazyFrame:
    """The rows of a Parquet file (or slice) as far as their tag keys go: one per source row
    (``_source_rows``), with ``TAGS_KEY``. A plan over these columns reads only the source
    columns they come from; the expanded rows' would read the columns ``expand`` tests."""
    frame = _source_rows(path, file_name, delivery, dataset, rows, WELL_SHAPED)
    if not _builds_tags(dataset, frame.collect_schema().names()):
        return frame
    return frame.with_columns(_tag_key(tag_key))


def _write_working_file(
    path: Path,
    file_name: str,
    delivery: Delivery,
    dataset: SourceDataset,
    target: str,
    tag_key: list[str],
) -> list[str]:
    """The one pass over a CSV file: every row normalized (``_working_plan``), streamed to
    ``target`` (Parquet, lz4); the plan's columns in order.

    The file's field counts come from pyarrow's parser (``misshapen_rows``), which runs in a
    thread beside the polars pass, both streaming the file. The pass assumes every row has the
    header's fields, as a delivery's rows nearly always do; when some do not, it runs again
    with them flagged as rejects.
    """

    def sink(misshapen: Misshapen) -> list[str]:
        plan, names = _working_plan(path, file_name, delivery, dataset, None, misshapen, tag_key)
        plan.sink_parquet(
            target, compression="lz4", row_group_size=WORK_ROW_GROUP_ROWS, engine="streaming"
        )
        return names

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costlake-fields") as pool:
        counted = pool.submit(misshapen_rows, path, file_name)
        try:
            names = sink(WELL_SHAPED)
        finally:
            misshapen = counted.result()
    return sink(misshapen) if misshapen else names


def _found_tags_of(
    key_rows: pl.LazyFrame,
    known: pl.DataFrame | None,
    tag_key: list[str],
    dataset: SourceDataset,
    rules: TagRules,
) -> pl.DataFrame:
    """The found tags (``found_tags``) of the distinct tag keys of ``key_rows`` (a slice's
    ``_tag_key_rows``, or its working rows) that ``known`` (the earlier slices' found tags)
    lacks. With ``TAGS_KEY`` (tags built from ``RAW_TAGS``): by that key, with the ``Tags`` the
    dataset builds and what its ``tags_problem`` says of them (``TAGS_PROBLEM``)."""
    keys = _distinct_tag_keys(key_rows, known, tag_key, rules)
    if TAGS_KEY not in keys.schema:
        return found_tags(keys, rules)
    problem = pl.lit(None, pl.String)
    if dataset.tags_problem is not None:
        problem = dataset.tags_problem(pl.col(RAW_TAGS))
    keys = keys.with_columns(
        dataset.tags_from_raw(keys.schema[RAW_TAGS]).alias("Tags"), problem.alias(TAGS_PROBLEM)
    )
    found = found_tags(keys, rules).drop(tag_key[1:])
    return pl.concat([keys.select(TAGS_KEY, TAGS_PROBLEM), found], how="horizontal")


def _distinct_tag_keys(
    key_rows: pl.LazyFrame, known: pl.DataFrame | None, tag_key: list[str], rules: TagRules
) -> pl.DataFrame:
    """The distinct tag keys of ``key_rows`` not in ``known``, rejected rows' too: testing for
    a reject would compute every column. With ``TAGS_KEY``: that key and its ``tag_key``
    columns; without: the ``tag_keys`` of their ``Tags``.

    Each key's columns are taken from its first source row: a ``group_by`` keeping the first
    raw tags of each key held them all (a struct of 40 columns in legacy CUR and OCI: 1.7 GB
    for 300k rows, against 0.7 GB this way).
    """
    if TAGS_KEY not in key_rows.collect_schema():
        keys = tag_keys(key_rows, rules).collect(engine="streaming")
        if known is None:
            return keys
        return keys.join(known, on=keys.columns, how="anti", nulls_equal=True)
    firsts = key_rows.group_by(TAGS_KEY).agg(pl.col(ROW_COLUMN).min())
    firsts = firsts.collect(engine="streaming")
    if known is not None:
        firsts = firsts.join(known, on=TAGS_KEY, how="anti")
    keys = key_rows.select(ROW_COLUMN, TAGS_KEY, *tag_key)
    if firsts.is_empty():  # every key seen before: no second read
        return keys.drop(ROW_COLUMN).clear().collect()
    keys = keys.filter(pl.col(ROW_COLUMN).is_in(firsts[ROW_COLUMN].implode()))
    return keys.drop(ROW_COLUMN).unique(TAGS_KEY).collect(engine="streaming")


def _publish_slice(
    work: pl.LazyFrame,
    found: pl.DataFrame,
    columns: list[str],
    dataset: SourceDataset,
    staged: StagedPeriod,
    part: tuple[int, int | None],
    report: IngestReport,
    rules: TagRules,
) -> tuple[pl.Series, int]:
    """One slice of a file's working rows (``_working_slices``) into the parts ``part`` (file
    number, slice number) of the focus and rejects tables; its source rows' hashes
    (``ROW_HASH``) and its last source row's number.

    The tags ``found`` once per distinct key (``_found_tags_of``: reading them row by row cost
    10 times the rest of the ingest) are joined onto the rows. Then one streaming run writes
    the focus part, the rejects and the commitment-linked rows, and sums the bill's totals
    and hashes.
    """
    focus_path = staged.part_path("focus", *part)
    rejects_path = staged.part_path("rejects", *part)
    lines_path = staged.part_path(COMMITMENT_LINES, *part)
    on: list[str] | None = None
    if TAGS_KEY in work.collect_schema():  # Tags itself is built per distinct raw value
        work = _with_tags_problems(work, found)
        found, on = found.drop(TAGS_PROBLEM), [TAGS_KEY]
    # Every row gets its tag columns (rejected rows too: they are not kept), then every output
    # below reads these rows, computed once in one streaming run. A join in one output alone
    # made the engine hold all the rows for it: 2.8 GB for a 1M-row CSV file in one slice.
    work = with_tag_columns(work.drop(RAW_TAGS, strict=False), rules, found, on).cache()
    # The bill's totals come from its own cost and currency text, not from the mapped
    # columns, so a mapping mistake shows up as a reconciliation failure. Rows are 1-based
    # and dense.
    raw_cost = work.collect_schema()[RAW_COST]
    in_period = ~pl.col(OTHER_PERIOD)
    bill = work.group_by(RAW_CURRENCY).agg(
        parsing.number(RAW_COST, raw_cost).filter(in_period).sum().alias("cost"),
        pl.col(ROW_COLUMN).max().alias("rows"),
        in_period.sum().alias("rows_in_period"),
        pl.col(OTHER_PERIOD).sum().alias("rows_other_periods"),
    )
    focus = work.filter(in_period).drop(OTHER_PERIOD)
    # One hash per source row (the rows ``expand`` adds have none): duplicates are counted in
    # source rows, over the whole file. Their distinct values are counted at its end: a
    # ``unique`` here would hold a hash table growing with the file's rows.
    hashes = focus.select(pl.col(ROW_HASH).drop_nulls())
    accepted = focus.filter(pl.col(REJECT_REASON).is_null())
    bad = focus.filter(pl.col(REJECT_REASON).is_not_null()).select(
        "x_Provider",
        "x_SourceDataset",
        "x_DeliveryId",
        "x_SourceFile",
        "x_SourceRow",
        pl.col(REJECT_REASON).alias("reason"),
        pl.col(RAW_COST).cast(pl.String).alias("raw_cost"),
    )
    working = {*WORKING_COLUMNS, *LINK_COLUMNS, TAGS_KEY}
    kept = {n for n in accepted.collect_schema().names() if n not in working}
    names = [n for n in columns if n in kept]
    names += [n for n in tag_columns(rules) if n not in names]
    tagged = accepted.select(names)
    # One streaming run for every output: the engine computes the rows once for all of them.
    _, _, _, totals, hashed = pl.collect_all(
        [
            # zstd level 1: ~10 % less CPU than the default level for ~5 % larger files.
            tagged.sink_parquet(
                focus_path, metadata=FOCUS_FILE_METADATA, compression_level=1, lazy=True
            ),
            commitment_lines(accepted).sink_parquet(lines_path, lazy=True),
            bad.sink_parquet(rejects_path, lazy=True),
            bill,
            hashes,
        ],
        engine="streaming",
    )
    for row in totals.iter_rows(named=True):
        currency, cost = row[RAW_CURRENCY], row["cost"]
        # Rows with no currency and no cost (unplaceable rows) add no bill total of their own.
        if row["rows_in_period"] and (currency is not None or cost):
            report.bill_totals[str(currency)] = report.bill_totals.get(str(currency), 0.0) + cost
    report.rows_other_periods += int(totals["rows_other_periods"].sum())
    report.rows_written += pq.read_metadata(focus_path).num_rows
    _count_rejects(pl.read_parquet(rejects_path), report)
    return hashed[ROW_HASH], int(totals["rows"].max() or 0)


def _with_tags_problems(work: pl.LazyFrame, found: pl.DataFrame) -> pl.LazyFrame:
    """The working rows, those whose tags the dataset's ``tags_problem`` refuses (``found``'s
    ``TAGS_PROBLEM``) rejected with its reason, unless they have one already."""
    bad = found.select(TAGS_KEY, TAGS_PROBLEM).drop_nulls(TAGS_PROBLEM)
    if bad.is_empty():
        return work
    reason = pl.col(TAGS_KEY).replace_strict(bad[TAGS_KEY], bad[TAGS_PROBLEM], default=None)
    return work.with_columns(pl.coalesce(pl.col(REJECT_REASON), reason).alias(REJECT_REASON))


def _read_problem(path: Path, dataset: SourceDataset) -> str | None:
    """Where a file that failed to read goes wrong (line and what), when that can be told."""
    fmt = file_format(path.name)
    if fmt in ("csv", "csv.gz"):
        return csv_problem(path)
    if fmt == "ndjson" and dataset.ndjson_schema is not None:
        return ndjson_problem(path, dataset.ndjson_schema)
    return None


def _count_rejects(rejects: pl.DataFrame, report: IngestReport) -> None:
    """Count rejected rows, those that carry cost, and rows per reason."""
    if rejects.is_empty():
        return
    report.rows_rejected += rejects.height
    parsed = pl.col("raw_cost").cast(pl.Float64, strict=False)
    carries_cost = pl.col("raw_cost").is_not_null() & (parsed.is_null() | (parsed != 0))
    # A row whose fields cannot be placed may carry any amount: its cost is unknown.
    carries_cost |= pl.col("reason").str.starts_with(TOO_MANY_FIELDS)
    carries_cost |= pl.col("reason").str.starts_with(TOO_FEW_FIELDS)
    report.rejected_cost_rows += rejects.filter(carries_cost).height
    reasons = rejects.group_by(pl.col("reason").str.split(":").list.first()).len()
    for reason, count in reasons.iter_rows():
        report.reject_reasons[reason] = report.reject_reasons.get(reason, 0) + count
    log.warning("%s rows rejected in %s", rejects.height, rejects["x_SourceFile"][0])
