"""The Parquet lake: Hive-partitioned tables replaced whole per (provider, billing period).

Layout under one root (a local folder, or an object store URL such as ``s3://bucket/lake``)::

    focus/provider=aws/billing_period=2026-11/part-00000.parquet
    rejects/provider=aws/billing_period=2026-11/part-00000.parquet
    ingests/provider=aws/billing_period=2026-11/ingest.json
    raw/provider=aws/billing_period=2026-11/<delivery id>/...

A period's new version goes through **write, audit, publish**, all under the period's lock
(``costlake.focus.lock``):

1. *write*: every table of the period is written aside, to
   ``_staging/<provider>/<period>/<stage id>/<table partition>/``;
2. *audit*: the caller's blocking checks (``costlake.focus.audit``) run on the staged files;
   a failure publishes nothing, moves the staging to ``_failed/<provider>/<period>/<stage id>/``
   with an ``audit.txt`` saying why, and raises ``AuditFailed`` naming it;
3. *publish*: a journal ``_journal/<provider>/<period>.json`` listing the tables is written (the
   intent), every table is put in place, and the journal is removed.

A crash before the journal leaves the previous version untouched and a dead staging folder; a
crash after it leaves an audited version half in place. Whoever next takes the period's lock
(the next run of it, or any writable ``Lake`` opened while the period is free) rolls the
journal forward and deletes dead staging, so readers converge on one whole version.

Putting a table in place: on a local filesystem, the staged folder and the published one
exchange names in one step (Linux ``renameat2``; elsewhere two renames, the previous folder
first moved into the staging folder's ``_previous/``). Object stores have no rename, and an
upload cut short still becomes an object: so on a remote root each table's parts are merged into
one file uploaded to the remote staging folder, and a server-side copy replaces the published
object in one step (readers see the old file or the new one, never a torn one). Raw landed
deliveries live in the lake itself (``raw/``), local or remote, so a step in another process or
container finds them (``worked_on_locally``); the local half of a remote lake's staging is a
scratch folder in the user's cache folder, never the working folder.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from platformdirs import user_cache_path

from costlake.focus.audit import AuditOutcome, blocking_failures, failure_reason
from costlake.focus.deliveries import DeliveryError
from costlake.focus.lock import (
    FileLock,
    Lock,
    NoLock,
    S3Lock,
    acquire,
    holder_label,
    s3_lock_client,
)
from costlake.focus.schema import (
    CONTRACT_COMMITMENT_TABLE,
    FOCUS_TABLE_VERSION,
    contract_commitment_arrow_schema,
    focus_arrow_schema,
    focus_polars_schema,
)

log = logging.getLogger(__name__)
# The tables of a period's ingest, published together (ingests last: it says the period is done).
TABLES = ("focus", "rejects", CONTRACT_COMMITMENT_TABLE, "ingests")
# Tables whose files carry the lake contract's version (``costlake_table_version``).
VERSIONED_TABLES = ("focus", CONTRACT_COMMITMENT_TABLE)
VERSION_KEY = b"costlake_table_version"
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


HIVE_KEYS = ("provider", "billing_period")  # the partition folders' keys, outermost first
# Scratch space of a remote lake's staging: per user, never the working folder.
DEFAULT_WORK_DIR = user_cache_path("costlake") / "work"
PUBLISHED_PART = "part-00000.parquet"  # a remote partition is one file, replaced in one step
STAGING, FAILED, JOURNAL, LOCKS = "_staging", "_failed", "_journal", "_locks"
ALL_PROVIDERS = "_all"  # the scope of marts that span the providers (partitioned by period)
LOCK_WAIT_SECONDS = 600.0  # how long a run waits for another run of its period to finish
FAILED_KEPT = 5  # failed stagings kept per period for inspection, newest first
AT_FDCWD, RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>

# Period locks this process holds, by (lake root, scope, thread): a run that holds its period
# (the focus asset around an ingest) takes it again without waiting on itself.
_HELD: dict[tuple[str, str, int], list[Any]] = {}


def partition_dir(table: str, provider: str | None, billing_period: str) -> str:
    """Relative folder of one (provider, billing period) of a table; a mart that spans the
    providers (``provider`` None) is partitioned by billing period alone."""
    if provider is None:
        return f"{table}/billing_period={billing_period}"
    return f"{table}/provider={provider}/billing_period={billing_period}"


def period_scope(provider: str | None, billing_period: str) -> str:
    """``<provider>/<period>``: what one lock, one journal and one staging folder cover."""
    return f"{provider or ALL_PROVIDERS}/{billing_period}"


class AuditFailed(DeliveryError):
    """A staged version failed a blocking check: nothing was published. (A ``DeliveryError``:
    whoever reports a delivery that cannot be ingested reports this one the same way.)

    ``outcomes`` are every check's verdict; ``kept`` is the lake-relative folder the failed
    version is kept in (``kept_at`` the same as a path or URL); ``report`` is set by whoever
    staged it (the ingest's ``IngestReport``).
    """

    def __init__(
        self, scope: str, outcomes: Sequence[AuditOutcome], kept: str, kept_at: str
    ) -> None:
        self.scope = scope
        self.outcomes = tuple(outcomes)
        self.kept = kept
        self.kept_at = kept_at
        self.report: Any = None
        super().__init__(
            f"{scope.replace('/', ' ')}: {failure_reason(outcomes)}. Nothing was published: "
            f"the period keeps its previous version, if it had one. The failed version is kept "
            f"in {kept_at}"
        )


class LakeVersionError(RuntimeError):
    """Periods of a table were written by another version of the lake contract."""


def _contract_schema(table: str) -> pa.Schema | None:
    if table == "focus":
        return focus_arrow_schema()
    if table == CONTRACT_COMMITMENT_TABLE:
        return contract_commitment_arrow_schema()
    return None


class Lake:
    """Read and replace partitions of the lake at ``root``."""

    def __init__(
        self,
        root: str | Path,
        work_dir: str | Path = DEFAULT_WORK_DIR,
        read_only: bool = False,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        """``read_only`` opens the lake for reading alone: no folder is created and nothing a
        killed run left is repaired (``costlake sources check`` promises to write nothing).
        ``lock_wait_seconds``: how long a write waits for another run of its period."""
        root = str(root)
        self.root = root
        self.lock_wait_seconds = lock_wait_seconds
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
        self._s3: tuple[Any, str, str] | None = None
        if not read_only:
            self.recover()

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

    def stale_periods(self, table: str = "focus") -> dict[str, list[str]]:
        """Partitions of a versioned table written by another table version than this code's:
        ``{version: [partition folder, ...]}`` (the version "none" for files without one).

        Reads one Parquet footer per file, nothing else."""
        stale: dict[str, list[str]] = {}
        if table not in VERSIONED_TABLES:
            return stale
        for path in self.files(table):
            with self.fs.open_input_file(path) as source:
                metadata = pq.read_metadata(source).metadata or {}
            version = metadata.get(VERSION_KEY, b"none").decode()
            if version != FOCUS_TABLE_VERSION:
                folder = path.rsplit("/", 1)[0].removeprefix(self.path(table)).strip("/")
                periods = stale.setdefault(version, [])
                if folder not in periods:
                    periods.append(folder)
        return stale

    def check_versions(self, table: str = "focus") -> None:
        """Refuse to read a table holding periods of another table version: a reader would get
        a mix of contracts. The error names the periods to rebuild."""
        stale = self.stale_periods(table)
        if not stale:
            return
        listed = "; ".join(
            f"version {version}: {', '.join(folders)}" for version, folders in sorted(stale.items())
        )
        raise LakeVersionError(
            f"lake {self.root}: table {table!r} has periods written by another table version "
            f"than {FOCUS_TABLE_VERSION} ({listed}); rebuild them with `costlake run --period "
            "YYYY-MM --provider P` (docs/lake.md, Versions) before reading the table"
        )

    def scan(self, table: str = "focus") -> pl.LazyFrame:
        """A lazy view of a whole table with ``provider`` and ``billing_period`` columns.

        A versioned table (focus, focus_contract_commitments) is read only when every period
        was written by this table version (``LakeVersionError`` otherwise).
        """
        files = self.files(table)
        if not files:
            raise FileNotFoundError(f"table {table!r} has no data in lake {self.root}")
        self.check_versions(table)
        if self.remote:
            return pl.scan_pyarrow_dataset(self._remote_dataset(table, files))
        schema = focus_polars_schema() if table == "focus" else None
        return pl.scan_parquet(files, schema=schema, hive_partitioning=True)

    def _remote_dataset(self, table: str, files: list[str]) -> ds.Dataset:
        """A remote table's files as one dataset with a column per partition key, as polars'
        Hive reading gives locally: the keys its folders have (a mart that spans the providers
        has no ``provider``), except those the files hold as a column of their own (the
        ``forecasts`` mart's ``billing_period``), which are read from the files."""
        columns = ds.dataset(files, filesystem=self.fs).schema.names
        folders = files[0].removeprefix(self.path(table))
        keys = [k for k in HIVE_KEYS if f"/{k}=" in folders and k not in columns]
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive")
        return ds.dataset(
            files,
            filesystem=self.fs,
            partitioning=partitioning,
            partition_base_dir=self.path(table),
        )

    def scan_partition(self, table: str, provider: str | None, billing_period: str) -> pl.LazyFrame:
        """A lazy view of one partition's files (without the Hive columns)."""
        return self.scan_folder(partition_dir(table, provider, billing_period), table)

    def scan_folder(self, relative: str, table: str) -> pl.LazyFrame:
        """A lazy view of the Parquet files under a folder (a partition, or a staged one) of
        ``table``; empty, with the table's schema, when there are none."""
        files = self.files(relative)
        if not files:
            schema = _contract_schema(table) or REJECTS_SCHEMA
            return pl.from_arrow(schema.empty_table()).lazy()
        if self.remote:
            return pl.scan_pyarrow_dataset(ds.dataset(files, filesystem=self.fs))
        return pl.scan_parquet(files, hive_partitioning=False)

    # --- where things are ---------------------------------------------------------------------

    def describe(self, relative: str) -> str:
        """A lake path as a person finds it: a local path, or the object store URL."""
        if self.remote:
            return f"{self.root.split('://', 1)[0]}://{self.path(relative)}"
        return self.path(relative)

    def view(self, relative: str) -> Lake:
        """A folder of this lake read as a lake of its own, read-only: a failed version kept
        under ``_failed/`` has the lake's layout, and is inspected like one."""
        if not self.remote:
            return Lake(self.path(relative), read_only=True)
        url, _, options = self.root.partition("?")
        view = Lake(f"{url.rstrip('/')}/{relative}?{options}", self.work.parent, read_only=True)
        view.lock_wait_seconds = self.lock_wait_seconds
        return view

    def _names(self, relative: str) -> list[str]:
        """Names of the files and folders directly under a lake folder."""
        selector = pafs.FileSelector(self.path(relative), allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector))

    def _delete_tree(self, relative: str) -> None:
        """A folder of the lake gone, with its local half on a remote lake."""
        if self.exists(relative):
            self.fs.delete_dir(self.path(relative))
        if self.remote:
            shutil.rmtree(self.local_path(relative), ignore_errors=True)

    def _write_text(self, relative: str, text: str) -> None:
        """A small file written whole: beside its name then renamed on a local lake; one PUT
        (atomic) on an object store."""
        folder = relative.rsplit("/", 1)[0]
        self.fs.create_dir(self.path(folder), recursive=True)
        target = relative if self.remote else f"{relative}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(self.path(target)) as stream:
            stream.write(text.encode())
        if target != relative:
            self.fs.move(self.path(target), self.path(relative))

    # --- the period lock ----------------------------------------------------------------------

    def _lock(self, scope: str, run: str | None = None) -> Lock:
        label = holder_label(run)
        if not self.remote:
            return FileLock(Path(self.base) / LOCKS / f"{scope}.lock", label)
        if self.root.startswith("s3://"):
            if self._s3 is None:
                self._s3 = s3_lock_client(self.root)
            client, bucket, prefix = self._s3
            key = "/".join(p for p in (prefix, LOCKS, f"{scope}.json") if p)
            return S3Lock(client, bucket, key, label)
        return NoLock(self.root.split("?", 1)[0])

    @contextmanager
    def period_lock(
        self,
        provider: str | None,
        billing_period: str,
        wait_seconds: float | None = None,
        run: str | None = None,
    ) -> Iterator[Lock]:
        """Hold the period for this run: wait up to ``wait_seconds`` (default: the lake's
        ``lock_wait_seconds``) for another run of it to finish, else raise ``LockBusy`` naming
        that run. Once taken, it first repairs what a dead run of the period left (its journal
        rolled forward, its staging deleted). Re-entrant in one thread.

        ``run`` names this run in the messages of those who wait (a Dagster run id)."""
        scope = period_scope(provider, billing_period)
        key = (self.base, scope, threading.get_ident())
        if key in _HELD:
            _HELD[key][1] += 1
            try:
                yield _HELD[key][0]
            finally:
                _HELD[key][1] -= 1
            return
        lock = self._lock(scope, run)
        acquire(lock, scope, self.lock_wait_seconds if wait_seconds is None else wait_seconds)
        _HELD[key] = [lock, 1]
        try:
            self._repair(scope)
            yield lock
        finally:
            del _HELD[key]
            lock.release()

    # --- repairing what a killed run left ------------------------------------------------------

    def recover(self) -> list[str]:
        """Repair every period a dead run left a journal or staging in, and that no run holds
        now (a live run's work is left alone). Returns the scopes repaired."""
        repaired = []
        for scope in self._scopes_left():
            if any(held[:2] == (self.base, scope) for held in _HELD):
                continue  # this process is writing it
            lock = self._lock(scope)
            if not lock.try_acquire():
                continue
            try:
                self._repair(scope)
                repaired.append(scope)
            finally:
                lock.release()
        return repaired

    def _scopes_left(self) -> list[str]:
        scopes = set()
        for provider in self._names(JOURNAL):
            for name in self._names(f"{JOURNAL}/{provider}"):
                if name.endswith(".json"):
                    scopes.add(f"{provider}/{name.removesuffix('.json')}")
        for provider in self._names(STAGING):
            scopes |= {f"{provider}/{period}" for period in self._names(f"{STAGING}/{provider}")}
        if self.remote and self.local_path(STAGING).is_dir():
            scopes |= {
                f"{p.parent.name}/{p.name}"
                for p in self.local_path(STAGING).glob("*/*")
                if p.is_dir()
            }
        return sorted(scopes)

    def _repair(self, scope: str) -> None:
        """Under the period's lock: finish a publish a dead run began, delete dead staging."""
        journal = self.read_text(f"{JOURNAL}/{scope}.json")
        if journal is not None:
            log.warning("%s: finishing the publish a stopped run began", scope)
            self._apply(json.loads(journal))
        provider, period = scope.split("/")
        for name in self._names(f"{JOURNAL}/{provider}"):
            if name.startswith(f"{period}.json.") and name.endswith(".tmp"):
                self.fs.delete_file(self.path(f"{JOURNAL}/{provider}/{name}"))  # never in place
        if self.exists(f"{STAGING}/{scope}") or self.local_path(f"{STAGING}/{scope}").exists():
            log.info("%s: deleting the staging of a stopped run", scope)
            self._delete_tree(f"{STAGING}/{scope}")

    # --- write, audit, publish -----------------------------------------------------------------

    @contextmanager
    def staged_period(
        self,
        provider: str | None,
        billing_period: str,
        tables: tuple[str, ...] = TABLES,
        audit: Callable[[StagedPeriod], Sequence[AuditOutcome]] | None = None,
        wait_seconds: float | None = None,
    ) -> Iterator[StagedPeriod]:
        """Write a period of ``tables`` aside, then audit and publish it, under its lock.

        On a clean exit of the block the staged tables are audited with ``audit`` (their
        outcomes land in ``staged.outcomes``); if a blocking outcome failed, nothing is
        published, the staging is kept under ``_failed/`` and ``AuditFailed`` is raised;
        otherwise every table written is published together, through the journal. On an
        exception in the block the staging is deleted and the lake is left as it was.
        """
        with self.period_lock(provider, billing_period, wait_seconds) as lock:
            staged = StagedPeriod(self, provider, billing_period, lock)
            try:
                yield staged
                self._seal(staged, tables)
                staged.outcomes = tuple(audit(staged)) if audit else ()
                failed = blocking_failures(staged.outcomes)
                if not failed:
                    lock.keep_alive()  # S3: LockLost if another run took the lease
            except BaseException:  # only our own staging: a lost S3 lease has a new holder
                self._delete_tree(staged.base)
                raise
            if failed:
                kept = self._keep_failed(staged, failed)
                raise AuditFailed(staged.scope, staged.outcomes, kept, self.describe(kept))
            self._publish(staged, tables)

    def _seal(self, staged: StagedPeriod, tables: tuple[str, ...]) -> None:
        """Remote lake: each staged table's parts merged into one object in the remote staging
        folder (the ingest record as it is), where the audit reads them."""
        if not self.remote:
            return
        for table in tables:
            local = self.local_path(staged.table_dir(table))
            if not local.is_dir():
                continue
            parts = sorted(local.glob("*.parquet"))
            names = [PUBLISHED_PART] if parts else sorted(p.name for p in local.iterdir())
            for name in names:
                target = self.path(f"{staged.table_dir(table)}/{name}")
                with self.fs.open_output_stream(target) as stream:
                    if parts:
                        _merge_parquet(parts, stream)
                    else:
                        stream.write((local / name).read_bytes())
            shutil.rmtree(local)

    def _publish(self, staged: StagedPeriod, tables: tuple[str, ...]) -> None:
        """Put every staged table in place: the journal first, so a crash part-way is finished
        by the next holder of the lock, then the tables, then the journal removed."""
        written = [t for t in tables if self.exists(staged.table_dir(t))]
        journal: dict[str, Any] = {
            "provider": staged.provider,
            "billing_period": staged.billing_period,
            "stage": staged.base,
            "tables": written,
        }
        if not self.remote:  # how a repair tells a staged folder already moved in
            journal["inodes"] = {
                t: Path(self.path(staged.table_dir(t))).stat().st_ino for t in written
            }
        self._write_text(f"{JOURNAL}/{staged.scope}.json", json.dumps(journal, indent=2))
        self._apply(journal)

    def _apply(self, journal: dict[str, Any]) -> None:
        """Put a journal's staged tables in place (again: every step can be redone), then
        remove the journal and the staging."""
        provider, period, stage = journal["provider"], journal["billing_period"], journal["stage"]
        for table in journal["tables"]:
            final = partition_dir(table, provider, period)
            if self.remote:
                self._copy_in(f"{stage}/{final}", final)
            else:
                previous = f"{stage}/_previous/{final}"
                self._swap_in(f"{stage}/{final}", final, previous, journal["inodes"][table])
        scope = period_scope(provider, period)
        self.fs.delete_file(self.path(f"{JOURNAL}/{scope}.json"))
        self._delete_tree(f"{STAGING}/{scope}")  # ours, and any a dead run of the period left

    def _swap_in(self, staged: str, final: str, previous: str, inode: int) -> None:
        """Local lake: the staged folder (``inode``) put in place of the published one.

        Where the filesystem can exchange two names in one step (Linux ``renameat2``), it
        does, so a reader never finds the period missing; elsewhere the previous folder is
        renamed aside into the staging first. Every state a crash can leave is recognised:
        the new folder already in place (by its inode), or still staged.
        """
        final_path = self.path(final)
        if self.exists(final) and Path(final_path).stat().st_ino == inode:
            return  # in place already; the staged name holds the previous version, if any
        if not self.exists(staged):
            raise RuntimeError(f"{self.path(staged)}: the staged version to publish is missing")
        if self.exists(final):
            if _exchange(self.path(staged), final_path):
                return
            self.fs.create_dir(self.path(previous.rsplit("/", 1)[0]), recursive=True)
            self.fs.move(final_path, self.path(previous))
        self.fs.create_dir(self.path(final.rsplit("/", 1)[0]), recursive=True)
        self.fs.move(self.path(staged), final_path)

    def _copy_in(self, staged: str, final: str) -> None:
        """Remote lake: each staged object copied over its published name (one step each),
        then published objects the new version does not have deleted."""
        names = [path.rsplit("/", 1)[-1] for path in self.files(staged, suffix="")]
        for name in names:
            self.fs.copy_file(self.path(f"{staged}/{name}"), self.path(f"{final}/{name}"))
        for path in self.files(final, suffix=""):
            if path.rsplit("/", 1)[-1] not in names:
                self.fs.delete_file(path)

    def _keep_failed(self, staged: StagedPeriod, failed: Sequence[AuditOutcome]) -> str:
        """Move a staging that failed its audit to ``_failed/`` with the reason beside it;
        returns where (lake-relative). Only the newest ``FAILED_KEPT`` per period are kept."""
        target = f"{FAILED}/{staged.scope}/{staged.stage_id}"
        if self.remote:
            prefix = self.path(staged.base)
            for path in self.files(staged.base, suffix=""):
                self.fs.move(path, self.path(target) + path.removeprefix(prefix))
        else:
            self.fs.create_dir(self.path(target.rsplit("/", 1)[0]), recursive=True)
            self.fs.move(self.path(staged.base), self.path(target))
        self._delete_tree(f"{STAGING}/{staged.scope}")
        lines = [
            f"{o.check}: FAILED\n" + "".join(f"  {line}\n" for line in o.lines) for o in failed
        ]
        self._write_text(f"{target}/audit.txt", "".join(lines))
        older = [n for n in self._names(f"{FAILED}/{staged.scope}") if n < staged.stage_id]
        for old in older[: max(0, len(older) - FAILED_KEPT + 1)]:
            self._delete_tree(f"{FAILED}/{staged.scope}/{old}")
        return target


class StagedPeriod:
    """Files of one (provider, billing period) being written aside, then audited there."""

    def __init__(
        self, lake: Lake, provider: str | None, billing_period: str, lock: Lock | None = None
    ) -> None:
        self.lake = lake
        self.provider = provider
        self.billing_period = billing_period
        self.lock = lock
        self.scope = period_scope(provider, billing_period)
        # Sortable by time, so the newest failed stagings are the last names.
        self.stage_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}"
        self.base = f"{STAGING}/{self.scope}/{self.stage_id}"
        self.outcomes: tuple[AuditOutcome, ...] = ()

    def table_dir(self, table: str) -> str:
        """Lake-relative staging folder of one table's partition."""
        return f"{self.base}/{partition_dir(table, self.provider, self.billing_period)}"

    def part_path(self, table: str, part: int, chunk: int | None = None) -> str:
        """Local path of ``part-<n>.parquet`` of a staged table (its folder is created), or of
        ``part-<n>-<chunk>.parquet`` for one slice of a file read in several."""
        if self.lock is not None:
            self.lock.keep_alive()
        folder = self.lake.local_path(self.table_dir(table))
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{part:05d}" if chunk is None else f"part-{part:05d}-{chunk:04d}"
        return str(folder / f"{name}.parquet")

    def write_text(self, table: str, name: str, text: str) -> None:
        """A small text file (such as the ingest record) in a staged table's partition."""
        folder = self.lake.local_path(self.table_dir(table))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)

    def scan(self, table: str) -> pl.LazyFrame:
        """The staged rows of a table, as the audit reads them (after the block's end)."""
        return self.lake.scan_folder(self.table_dir(table), table)

    def schemas(self, table: str) -> dict[str, pa.Schema]:
        """Each staged Parquet file's schema, by file name (after the block's end)."""
        return {
            path.rsplit("/", 1)[-1]: pq.read_schema(path, filesystem=self.lake.fs)
            for path in self.lake.files(self.table_dir(table))
        }


def _exchange(first: str, second: str) -> bool:
    """Swap two existing paths in one step: Linux ``renameat2(RENAME_EXCHANGE)``. False where
    the platform or filesystem cannot, and the caller renames in two steps instead."""
    rename = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if rename is None:
        return False
    if rename(AT_FDCWD, first.encode(), AT_FDCWD, second.encode(), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), second)


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
