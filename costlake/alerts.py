"""Which alerts are still to be delivered? The alert outbox, kept in the lake.

Producers (anomalies, budgets, ...) build ``Alert``s, whose text is already formatted, and
``Outbox.add`` them; one delivery step (``connectors.webhook.deliver_pending``) posts what is
pending and marks it delivered or failed. An alert stays pending until it is delivered, whatever
later runs think of the anomaly or budget it came from, and an id seen once is never added
again: the ``alert_id`` is stable across runs, so each alert is announced once.

The outbox is a folder of small JSON files under ``state/alert_outbox/`` in the lake, so it
follows the lake, not the working folder, and works the same on a local folder and an object
store. Each file is written whole, once, by one writer, so no run ever rewrites another's record
and a reader never sees half of one:

    <key>.json            the alert as it was added (written once: a second add is ignored)
    <key>.delivered.json  present once the webhook accepted it
    <key>.failed.json     attempts and the last error, while it is not delivered yet
    _delivery.lock        the lease of the run delivering now

``<key>`` is the alert id when it is a plain name (letters, digits, ``_``, ``-``), else the
sha256 of the id. On a local lake a file is written to a temporary name and then linked (a
record, which must not exist yet) or renamed (the others) into place, both atomic. On an object
store one upload is one object, visible whole or not at all.

Two runs at once: ``add`` creates a record only when none exists (on a local lake atomically,
by ``os.link``); delivery happens under ``delivering()``, a lease one run holds at a time, so
two runs never post the same pending alert. Object stores reached through pyarrow offer no
create-if-absent, so there the record check and the lease are best effort (a check, then a
write read back): runs over an object-store lake should not overlap (one Dagster run queue).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from costlake.focus.lake import Lake
from costlake.focus.periods import billing_period as normalized_period

OUTBOX_DIR = "state/alert_outbox"
LOCK_NAME = "_delivery.lock"
LEASE_SECONDS = 900.0  # a lease not renewed for this long was left by a run that died
MAX_ID_CHARS = 255  # Slack's limit on a block_id, which the alert id becomes
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RECORD, _DELIVERED, _FAILED = ".json", ".delivered.json", ".failed.json"


@dataclass(frozen=True)
class Alert:
    """One thing to announce. ``alert_id`` is stable across runs (the same anomaly or budget
    breach keeps it) and is also the Slack section's ``block_id``; ``lines`` are the message
    text, already formatted (plain text, no placeholders); ``kind`` names the producer
    (``anomaly``, ``budget``); ``billing_period`` is ``YYYY-MM``."""

    alert_id: str
    kind: str
    title: str
    lines: tuple[str, ...]
    severity: str
    billing_period: str

    def __post_init__(self) -> None:
        if not self.alert_id or len(self.alert_id) > MAX_ID_CHARS:
            raise ValueError(
                f"alert id must have 1 to {MAX_ID_CHARS} characters: {self.alert_id!r}"
            )
        lines = tuple(self.lines)
        for field, value in (
            ("kind", self.kind),
            ("title", self.title),
            ("severity", self.severity),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"alert {self.alert_id}: {field} must be non-empty text")
        if not all(isinstance(line, str) for line in lines):
            raise ValueError(f"alert {self.alert_id}: every line must be text (formatted)")
        object.__setattr__(self, "lines", lines)
        object.__setattr__(self, "billing_period", normalized_period(self.billing_period))


class OutboxError(ValueError):
    """A file of the outbox is not one this module wrote."""


def _key(alert_id: str) -> str:
    if _PLAIN_ID.fullmatch(alert_id):
        return alert_id
    return hashlib.sha256(alert_id.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


class Outbox:
    """The alerts of one lake, pending or delivered (see the module's docstring)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.fs = lake.fs
        self.folder = lake.path(OUTBOX_DIR)
        self._local = isinstance(lake.fs, pafs.LocalFileSystem)

    # --- files --------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def _write(self, name: str, data: bytes, *, exclusive: bool) -> bool:
        """Write a whole file; with ``exclusive`` only if it does not exist yet (False then)."""
        path = self._path(name)
        if not self._local:
            if exclusive and self.fs.get_file_info(path).type != pafs.FileType.NotFound:
                return False
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
            return True
        os.makedirs(self.folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            if not exclusive:
                os.replace(temp, path)
                return True
            try:
                os.link(temp, path)  # atomic, and fails if another run created it first
            except FileExistsError:
                return False
            return True
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)

    def _read(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        try:
            with self.fs.open_input_stream(path) as stream:
                text = stream.read().decode("utf-8")
        except FileNotFoundError:  # removed since (a lease released)
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError
        except (ValueError, TypeError):
            raise OutboxError(
                f"{path}: not an alert outbox record (expected a JSON object)"
            ) from None
        return data

    def _names(self) -> list[str]:
        selector = pafs.FileSelector(self.folder, allow_not_found=True)
        return sorted(
            i.base_name
            for i in self.fs.get_file_info(selector)
            if i.is_file and not i.base_name.startswith(".")
        )

    def _alert(self, name: str) -> tuple[str, Alert]:
        """(time added, alert) of one record file."""
        data = self._read(name)
        try:
            fields = dict(data["alert"])  # type: ignore[index]
            fields["lines"] = tuple(fields["lines"])
            return str(data["added"]), Alert(**fields)  # type: ignore[index]
        except (KeyError, TypeError, ValueError) as exc:
            raise OutboxError(f"{self._path(name)}: not an alert outbox record ({exc})") from None

    # --- the interface --------------------------------------------------------------------

    def add(self, alerts: Iterable[Alert]) -> int:
        """Make the alerts whose ids the outbox has never seen pending; the number added.
        A known id (pending or delivered) is left as it is, even if its text changed."""
        added = 0
        seen: set[str] = set()
        for alert in alerts:
            if alert.alert_id in seen:
                continue
            seen.add(alert.alert_id)
            record = _json({"alert": asdict(alert), "added": _now()})
            added += self._write(_key(alert.alert_id) + _RECORD, record, exclusive=True)
        return added

    def pending(self) -> list[Alert]:
        """Every alert not delivered yet, oldest first (then by id)."""
        names = set(self._names())
        found = []
        for name in names:
            if not name.endswith(_RECORD) or name.endswith((_DELIVERED, _FAILED)):
                continue
            key = name.removesuffix(_RECORD)
            if key + _DELIVERED not in names:
                found.append(self._alert(name))
        return [alert for _, alert in sorted(found, key=lambda f: (f[0], f[1].alert_id))]

    def mark_delivered(self, ids: Iterable[str]) -> None:
        """Record that the webhook accepted these alerts: they are never sent again."""
        for alert_id in ids:
            record = _json({"alert_id": alert_id, "delivered": _now()})
            self._write(_key(alert_id) + _DELIVERED, record, exclusive=False)

    def mark_failed(self, ids: Iterable[str], error: str) -> None:
        """Record a failed attempt (``error`` must hold no secret); the alerts stay pending."""
        for alert_id in ids:
            name = _key(alert_id) + _FAILED
            before = self._read(name) or {}
            attempts = int(before.get("attempts", 0)) + 1
            record = {"alert_id": alert_id, "attempts": attempts, "error": error, "at": _now()}
            self._write(name, _json(record), exclusive=False)

    def failures(self, alert_id: str) -> dict[str, Any] | None:
        """The failed attempts of an alert so far (attempts, last error, when), or None."""
        return self._read(_key(alert_id) + _FAILED)

    @contextmanager
    def delivering(
        self, wait: float = 120.0, lease: float = LEASE_SECONDS
    ) -> Iterator[DeliveryLease | None]:
        """The lease to deliver, held until the block ends; None when another run kept it for
        ``wait`` seconds (its alerts stay pending for the next run). A lease not renewed for
        ``lease`` seconds was left by a run that died, and is taken over."""
        token = uuid.uuid4().hex
        held = DeliveryLease(self, token)
        deadline = time.monotonic() + wait
        while not self._take_lock(token, lease):
            if time.monotonic() >= deadline:
                yield None
                return
            time.sleep(0.2)
        try:
            yield held
        finally:
            held.release()

    def _take_lock(self, token: str, lease: float) -> bool:
        data = _json({"token": token, "since": _now()})
        if self._write(LOCK_NAME, data, exclusive=True):
            return self._local or (self._read(LOCK_NAME) or {}).get("token") == token
        info = self.fs.get_file_info(self._path(LOCK_NAME))
        if info.type == pafs.FileType.File and time.time() - info.mtime.timestamp() > lease:
            self.fs.delete_file(self._path(LOCK_NAME))  # a dead run's lease
        return False


class DeliveryLease:
    """The right to deliver the outbox's pending alerts, held by one run at a time."""

    def __init__(self, outbox: Outbox, token: str) -> None:
        self.outbox = outbox
        self.token = token

    def renew(self) -> None:
        """Tell other runs this one is still delivering (call before each message)."""
        path = self.outbox._path(LOCK_NAME)
        if self.outbox._local:
            os.utime(path)
        else:
            self.outbox._write(
                LOCK_NAME, _json({"token": self.token, "since": _now()}), exclusive=False
            )

    def release(self) -> None:
        held = self.outbox._read(LOCK_NAME)
        if held is not None and held.get("token") == self.token:
            self.outbox.fs.delete_file(self.outbox._path(LOCK_NAME))
