"""The Parquet lake: Hive-partitioned tables replaced whole per (provider, billing period).

Layout under one root (a local folder, or an object store URL such as ``s3://bucket/lake``)::

    focus/provider=aws/billing_period=2026-11/part-00000.parquet
    rejects/provider=aws/billing_period=2026-11/part-00000.parquet
    ingests/provider=aws/billing_period=2026-11/ingest.json
    raw/provider=aws/billing_period=2026-11/<delivery id>/...

A period is written aside under ``_staging/`` and then swapped into place. On a local filesystem
the swap is two renames: the previous version is moved to ``_trash/`` (with a note saying where it
belongs) and the new one renamed in. A crash between the two leaves the previous version in
``_trash/``, and the next ``Lake`` opened on that root puts it back, so readers never lose a period.

Object stores have no rename, and an upload cut short still becomes an object. So on a remote
root the period is staged in a local scratch folder (the user's cache folder, never the working
folder), each table's parts are merged into one file
uploaded beside its final name as ``.<name>.<id>.uploading``, and a server-side copy puts it in
place: an object is replaced in
one step, so readers see the old file or the new one, never a mix or a torn file. Raw landed
deliveries live in the lake itself (``raw/``), local or remote: a step in another process or
container finds them there (``worked_on_locally``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from platformdirs import user_cache_path

from costlake.focus.schema import focus_arrow_schema, focus_polars_schema

TABLES = ("focus", "rejects", "ingests")
REJECTS_SCHEMA = pa.schema(
    [
        ("x_Provider", pa.string()),
        ("x_SourceDataset", pa.string()),
        ("x_DeliveryId", pa.string()),
        ("x_SourceFile", pa.string()),
        ("x_SourceRow", pa.int64()),
        ("reason", pa.string()),
        ("raw_cost", pa.string()),
    ]
)


HIVE = ds.partitioning(
    pa.schema([("provider", pa.string()), ("billing_period", pa.string())]), flavor="hive"
)
# Scratch space of a remote lake's staging: per user, never the working folder.
DEFAULT_WORK_DIR = user_cache_path("costlake") / "work"
PUBLISHED_PART = "part-00000.parquet"  # a remote partition is one file, replaced in one step


def partition_dir(table: str, provider: str | None, billing_period: str) -> str:
    """Relative folder of one (provider, billing period) of a table; a mart that spans the
    providers (``provider`` None) is partitioned by billing period alone."""
    if provider is None:
        return f"{table}/billing_period={billing_period}"
    return f"{table}/provider={provider}/billing_period={billing_period}"


class Lake:
    """Read and replace partitions of the lake at ``root``."""

    def __init__(
        self, root: str | Path, work_dir: str | Path = DEFAULT_WORK_DIR, read_only: bool = False
    ) -> None:
        """``read_only`` opens the lake for reading alone: no folder is created and no
        interrupted swap is restored (``costlake sources check`` promises to write nothing)."""
        root = str(root)
        self.root = root
        self.remote = "://" in root
        if self.remote:
            self.fs, self.base = _remote_filesystem(root)
            digest = hashlib.sha256(root.encode()).hexdigest()[:12]
            self.work = Path(work_dir).resolve() / f"lake-{digest}"
        else:
            self.fs = pafs.LocalFileSystem()
            self.base = str(Path(root).resolve())
            self.work = Path(self.base)
            if not read_only:
                self.fs.create_dir(self.base, recursive=True)
                self.restore_interrupted_swaps()

    def path(self, relative: str) -> str:
        """Absolute path (within the filesystem) of a lake-relative path."""
        return f"{self.base}/{relative}"

    def local_path(self, relative: str) -> Path:
        """Where a lake-relative path is worked on locally: in the lake itself, or for a remote
        lake in its local work folder (staging and raw landed deliveries)."""
        return self.work / relative

    @contextmanager
    def worked_on_locally(self, relative: str) -> Iterator[Path]:
        """A local folder holding the lake folder ``relative``, whose changes are the lake's
        once the block ends without error: the folder itself on a local lake; on a remote one
        a scratch copy, downloaded first, then new or changed files uploaded and removed
        ones deleted (raw landings: files that are written once, under new names)."""
        if not self.remote:
            folder = self.local_path(relative)
            folder.mkdir(parents=True, exist_ok=True)
            yield folder
            return
        with tempfile.TemporaryDirectory(prefix="costlake-") as scratch:
            folder = Path(scratch)
            remote = {p[len(self.path(relative)) + 1 :]: p for p in self.files(relative, "")}
            for name, path in remote.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                with self.fs.open_input_stream(path) as src, open(folder / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 8 << 20)
            before = {n: _signature(folder / n) for n in remote}
            yield folder
            now = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
            for name, local in sorted(now.items()):
                if before.get(name) != _signature(local):
                    target = f"{self.path(relative)}/{name}"
                    with open(local, "rb") as src, self.fs.open_output_stream(target) as dst:
                        shutil.copyfileobj(src, dst, 8 << 20)
            for name in sorted(set(remote) - set(now)):
                self.fs.delete_file(remote[name])

    def exists(self, relative: str) -> bool:
        """Whether a file or folder exists in the lake."""
        return self.fs.get_file_info(self.path(relative)).type != pafs.FileType.NotFound

    def read_text(self, relative: str) -> str | None:
        """A small text file of the lake, or None when it is absent."""
        if not self.exists(relative):
            return None
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return stream.read().decode()

    def write_text(self, relative: str, text: str) -> None:
        """Replace a small text file of the lake (the pipeline's state) whole: written aside
        and renamed on a local lake, one upload (atomic per object) on an object store."""
        if self.remote:
            self._write_text(relative, text)
            return
        target = Path(self.path(relative))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        partial.write_text(text)
        partial.replace(target)

    def files(self, relative: str, suffix: str = ".parquet") -> list[str]:
        """Files under a lake folder, sorted, as filesystem paths."""
        if not self.exists(relative):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(relative), recursive=True))
        return sorted(i.path for i in infos if i.is_file and i.path.endswith(suffix))

    def partitions(self, table: str) -> list[tuple[str, str]]:
        """(provider, billing period) pairs present in a table."""
        found = []
        for provider_dir in self._children(table):
            provider = provider_dir.rsplit("provider=", 1)[-1]
            for period_dir in self._children(f"{table}/provider={provider}"):
                found.append((provider, period_dir.rsplit("billing_period=", 1)[-1]))
        return sorted(found)

    def _children(self, relative: str) -> list[str]:
        if not self.exists(relative):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(relative)))
        return sorted(i.path for i in infos if i.type == pafs.FileType.Directory and "=" in i.path)

    def scan(self, table: str = "focus") -> pl.LazyFrame:
        """A lazy view of a whole table with ``provider`` and ``billing_period`` columns."""
        files = self.files(table)
        if not files:
            raise FileNotFoundError(f"table {table!r} has no data in lake {self.root}")
        if self.remote:
            found = ds.dataset(
                files, filesystem=self.fs, partitioning=HIVE, partition_base_dir=self.path(table)
            )
            return pl.scan_pyarrow_dataset(found)
        # The contract's schema: periods written by an older table version lack the newer x_
        # columns, which read as nulls until the period is rebuilt.
        schema = focus_polars_schema() if table == "focus" else None
        return pl.scan_parquet(
            files, schema=schema, hive_partitioning=True, missing_columns="insert"
        )

    def scan_partition(self, table: str, provider: str | None, billing_period: str) -> pl.LazyFrame:
        """A lazy view of one partition's files (without the Hive columns)."""
        files = self.files(partition_dir(table, provider, billing_period))
        if not files:
            schema = focus_arrow_schema() if table == "focus" else REJECTS_SCHEMA
            return pl.from_arrow(schema.empty_table()).lazy()
        if self.remote:
            return pl.scan_pyarrow_dataset(ds.dataset(files, filesystem=self.fs))
        return pl.scan_parquet(files, hive_partitioning=False)

    @contextmanager
    def staged_period(
        self, provider: str | None, billing_period: str, tables: tuple[str, ...] = TABLES
    ) -> Iterator[StagedPeriod]:
        """Write a period of ``tables`` aside; on a clean exit swap every table written into
        place (an ingest writes focus, rejects and ingests; a mart build writes its marts).

        On an exception the staged files are deleted and the lake is left as it was.
        """
        staged = StagedPeriod(self, provider, billing_period)
        try:
            yield staged
            for table in tables:
                final = partition_dir(table, provider, billing_period)
                if self.remote:
                    self._publish(self.local_path(staged.table_dir(table)), final)
                elif self.exists(staged.table_dir(table)):
                    self._swap_in(staged.table_dir(table), final)
        finally:
            shutil.rmtree(self.local_path(staged.base), ignore_errors=True)

    def _publish(self, staged: Path, final: str) -> None:
        """Put a staged table partition in place on a remote lake: its Parquet parts merged
        into one file (the ingest record as it is), uploaded aside, then copied over the old."""
        if not staged.exists():
            return
        parts = sorted(staged.glob("*.parquet"))
        names = [PUBLISHED_PART] if parts else sorted(p.name for p in staged.iterdir())
        for name in names:
            # Beside its final name, with a suffix no reader's *.parquet glob matches.
            upload = self.path(f"{final}/.{name}.{uuid.uuid4().hex}.uploading")
            try:
                with self.fs.open_output_stream(upload) as stream:
                    if parts:
                        _merge_parquet(parts, stream)
                    else:
                        stream.write((staged / name).read_bytes())
                self.fs.copy_file(upload, self.path(f"{final}/{name}"))
            finally:
                if self.fs.get_file_info(upload).is_file:
                    self.fs.delete_file(upload)
        for path in self.files(final, suffix=""):
            if path.rsplit("/", 1)[-1] not in names and not path.endswith(".uploading"):
                self.fs.delete_file(path)

    def _swap_in(self, staged: str, final: str) -> None:
        trash_id = uuid.uuid4().hex
        trash = f"_trash/{trash_id}"
        if self.exists(final):
            self._write_text(f"_trash/{trash_id}.json", json.dumps({"restore_to": final}))
            self.fs.create_dir(self.path("_trash"), recursive=True)
            self.fs.move(self.path(final), self.path(trash))
        self.fs.create_dir(self.path(final.rsplit("/", 1)[0]), recursive=True)
        self.fs.move(self.path(staged), self.path(final))
        if self.exists(trash):
            self.fs.delete_dir(self.path(trash))
        if self.exists(f"_trash/{trash_id}.json"):
            self.fs.delete_file(self.path(f"_trash/{trash_id}.json"))

    def restore_interrupted_swaps(self, min_age_seconds: float = 60.0) -> None:
        """Put back a previous version whose replacement never arrived (a crash mid-swap).

        A swap takes milliseconds, so only notes older than ``min_age_seconds`` are acted on:
        a swap in flight in another process is left alone.
        """
        infos = self.fs.get_file_info(pafs.FileSelector(self.path("_trash"), allow_not_found=True))
        cutoff = time.time() - min_age_seconds
        for info in infos:
            if not info.path.endswith(".json") or info.mtime.timestamp() > cutoff:
                continue
            note = info.path
            with self.fs.open_input_stream(note) as stream:
                restore_to = json.loads(stream.read())["restore_to"]
            trash = note.removesuffix(".json")
            if self.fs.get_file_info(trash).type == pafs.FileType.Directory:
                if self.exists(restore_to):
                    self.fs.delete_dir(trash)
                else:
                    self.fs.move(trash, self.path(restore_to))
            self.fs.delete_file(note)

    def _write_text(self, relative: str, text: str) -> None:
        self.fs.create_dir(self.path(relative.rsplit("/", 1)[0]), recursive=True)
        with self.fs.open_output_stream(self.path(relative)) as stream:
            stream.write(text.encode())


class StagedPeriod:
    """Files of one (provider, billing period) being written aside before the swap."""

    def __init__(self, lake: Lake, provider: str | None, billing_period: str) -> None:
        self.lake = lake
        self.provider = provider
        self.billing_period = billing_period
        self.base = f"_staging/{uuid.uuid4().hex}"

    def table_dir(self, table: str) -> str:
        """Lake-relative staging folder of one table's partition."""
        return f"{self.base}/{partition_dir(table, self.provider, self.billing_period)}"

    def part_path(self, table: str, part: int, chunk: int | None = None) -> str:
        """Local path of ``part-<n>.parquet`` of a staged table (its folder is created), or of
        ``part-<n>-<chunk>.parquet`` for one slice of a file read in several."""
        folder = self.lake.local_path(self.table_dir(table))
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{part:05d}" if chunk is None else f"part-{part:05d}-{chunk:04d}"
        return str(folder / f"{name}.parquet")

    def write_text(self, table: str, name: str, text: str) -> None:
        """A small text file (such as the ingest record) in a staged table's partition."""
        folder = self.lake.local_path(self.table_dir(table))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _remote_filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and base path of a lake URL; credentials come from the
    filesystem's own chain (environment, profiles, roles), never from the URL."""
    if "@" in root.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError(
            "lake root: credentials in the URL are refused; use the cloud SDK's own "
            "credential chain (environment variables, profiles, roles)"
        )
    try:
        return pafs.FileSystem.from_uri(root)
    except (pa.ArrowException, ValueError) as exc:
        scheme = root.split("://", 1)[0]
        raise ValueError(f"lake root: cannot open a {scheme}:// filesystem: {exc}") from exc


def _merge_parquet(parts: list[Path], sink: pa.NativeFile) -> None:
    """Parts with one schema written as one Parquet file, a row group at a time."""
    writer = None
    for part in parts:
        source = pq.ParquetFile(part)
        if writer is None:
            # Keep the parts' key-value metadata (FOCUS version, table version).
            kept = {k: v for k, v in (source.metadata.metadata or {}).items() if b"ARROW" not in k}
            schema = source.schema_arrow.with_metadata(kept)
            writer = pq.ParquetWriter(sink, schema, compression="zstd")
        for group in range(source.num_row_groups):
            writer.write_table(source.read_row_group(group))
    if writer is not None:
        writer.close()
