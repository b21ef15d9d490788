"""Who may write a (provider, billing period) of the lake: one run at a time.

A period is staged, audited and published under its lock, so two runs never interleave their
tables; a second run waits a bounded time and then fails naming the holder.

- Local lake: an OS file lock (``flock``) on ``_locks/<provider>/<period>.lock``. The kernel
  releases it when the holder's process ends, however it ends, so a killed run never leaves a
  stale lock behind. The file's text only names the holder for the waiters' messages. (A local
  disk: ``flock`` over NFS is not to be trusted.)
- S3 lake: a lock object ``_locks/<provider>/<period>.json`` created with a conditional write
  (``If-None-Match: *``), which S3 lets exactly one of two writers win. The object holds a lease:
  the holder renews it (``If-Match`` its own ETag) while it works, and a waiter takes over only a
  lease that has expired, again with ``If-Match`` on the expired object's ETag, so two waiters
  cannot both win. A holder whose renewal fails has lost the lock and stops before publishing.
- Other object stores (``gs://``, ``abfs://``): pyarrow offers no conditional write, so there is
  no lock; the lake warns once and runs of one period must be kept apart by the orchestrator.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2
LEASE_SECONDS = 600.0  # an S3 lock not renewed for this long belongs to a dead run
RENEW_AFTER_SECONDS = LEASE_SECONDS / 4


class LockBusy(RuntimeError):
    """Another run holds the period's lock (the message names it)."""


class LockLost(RuntimeError):
    """The lease ran out and another run took the lock: this run must not publish."""


def holder_label(run: str | None = None) -> str:
    """Who holds a lock, for the messages of those who wait: host, process and run."""
    who = f"{socket.gethostname()} pid {os.getpid()}"
    return f"{who} ({run})" if run else who


def _record(label: str, expires: float | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "holder": label,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
        "token": uuid.uuid4().hex,
    }
    if expires is not None:
        record["expires_at"] = expires
    return record


def _busy(scope: str, waited: float, record: dict[str, Any] | None) -> LockBusy:
    holder = "an unknown run"
    if record:
        holder = f"{record.get('holder', 'an unknown run')} since {record.get('since', '?')}"
    return LockBusy(
        f"period {scope} is being written by {holder}; waited {waited:.0f} s for it to finish"
    )


class Lock(Protocol):
    """What the lake needs of a period lock."""

    def try_acquire(self) -> bool: ...
    def keep_alive(self) -> None: ...
    def release(self) -> None: ...
    def holder(self) -> dict[str, Any] | None: ...


def acquire(lock: Lock, scope: str, wait_seconds: float) -> None:
    """Take ``lock``, waiting up to ``wait_seconds``; else raise ``LockBusy`` naming the holder."""
    started = time.monotonic()
    while not lock.try_acquire():
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise _busy(scope, waited, lock.holder())
        time.sleep(POLL_SECONDS)


class FileLock:
    """``flock`` on a file of a local lake; released by the kernel if the process dies."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_record(self.label)).encode(), 0)
        self.fd = fd
        return True

    def keep_alive(self) -> None:
        """Nothing to renew: the lock lives as long as the process."""

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None

    def holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None


class S3Lock:
    """A leased lock object in S3, taken and handed over with conditional writes."""

    def __init__(self, client: Any, bucket: str, key: str, label: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.label = label
        self.etag: str | None = None
        self.renewed = 0.0

    def _put(self, **condition: str) -> str | None:
        """Write a fresh lease under ``condition``; its ETag, or None when the condition failed."""
        from botocore.exceptions import ClientError

        body = json.dumps(_record(self.label, time.time() + LEASE_SECONDS)).encode()
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=body, **condition
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return None
            raise
        self.renewed = time.monotonic()
        return answer["ETag"]

    def _current(self) -> tuple[str, dict[str, Any]] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return answer["ETag"], json.loads(answer["Body"].read())

    def try_acquire(self) -> bool:
        self.etag = self._put(IfNoneMatch="*")
        if self.etag is None:
            current = self._current()
            if current and current[1].get("expires_at", 0) < time.time():
                # An expired lease: take it over, unless another waiter already did.
                self.etag = self._put(IfMatch=current[0])
        return self.etag is not None

    def keep_alive(self) -> None:
        """Renew the lease when a quarter of it has passed; ``LockLost`` if it was taken."""
        if self.etag is None or time.monotonic() - self.renewed < RENEW_AFTER_SECONDS:
            return
        etag = self._put(IfMatch=self.etag)
        if etag is None:
            self.etag = None
            raise LockLost(
                f"s3://{self.bucket}/{self.key}: the lease ran out and another run took it"
            )
        self.etag = etag

    def release(self) -> None:
        from botocore.exceptions import ClientError

        if self.etag is None:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except ClientError as exc:  # taken over after our lease ran out: not ours to delete
            log.warning("lock %s was no longer ours on release: %s", self.key, exc)
        self.etag = None

    def holder(self) -> dict[str, Any] | None:
        current = self._current()
        return current[1] if current else None


class NoLock:
    """A store without conditional writes: every try succeeds (see the module's docstring)."""

    warned = False

    def __init__(self, where: str) -> None:
        if not NoLock.warned:
            log.warning(
                "%s: this object store offers no conditional write; runs of one period are not "
                "kept apart by the lake (let the orchestrator run one at a time)",
                where,
            )
            NoLock.warned = True

    def try_acquire(self) -> bool:
        return True

    def keep_alive(self) -> None:
        """Nothing held."""

    def release(self) -> None:
        """Nothing held."""

    def holder(self) -> dict[str, Any] | None:
        return None


def s3_lock_client(root: str) -> tuple[Any, str, str]:
    """A boto3 S3 client for a lake URL (its endpoint, scheme and region options), its bucket
    and key prefix. Credentials come from boto3's own chain."""
    import boto3

    parts = urlsplit(root)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    endpoint = None
    if "endpoint_override" in options:
        override = options["endpoint_override"]
        scheme = options.get("scheme", "https")
        endpoint = override if "://" in override else f"{scheme}://{override}"
    client = boto3.session.Session(region_name=options.get("region")).client(
        "s3", endpoint_url=endpoint
    )
    return client, parts.netloc, parts.path.strip("/")
