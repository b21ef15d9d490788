"""The other process of the publish tests: ``python publish_child.py COMMAND ARGS...``.

Each command is one run a test needs beside itself: an ingest, an ingest that dies (os._exit,
no cleanup, no unwinding) just before its Nth publish step, a run that holds a period's lock
until told to let go, a writer killed in the middle of staging.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs

import costlake.focus.lake as lake_module
from connectors.exports.aws import find_aws_deliveries
from connectors.stores.files import LocalFileStore
from costlake.focus import lock as lake_lock
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake

PERIOD = "2026-11"
DIED = 17  # the exit status of a run killed at its step
LEASE_SECONDS = 2.0


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def ingest(lake: Lake, bucket: str) -> None:
    store = LocalFileStore(Path(bucket))
    delivery = find_aws_deliveries(store)[PERIOD]
    ingest_delivery(delivery, store.local_path(delivery.files[0].path).parent, lake)


class Dying(pafs.FileSystemHandler):
    """The lake's own filesystem, calling ``step`` before each rename, copy or delete."""

    def __init__(self, real: pafs.FileSystem, step) -> None:
        self.real = real
        self.step = step

    def get_type_name(self):
        return "dying-" + self.real.type_name

    def equals(self, other):
        return self is other

    def normalize_path(self, path):
        return self.real.normalize_path(path)

    def get_file_info(self, paths):
        return self.real.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.real.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.real.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.step()
        self.real.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.step()
        self.real.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise NotImplementedError("never asked of a lake")

    def delete_file(self, path):
        self.step()
        self.real.delete_file(path)

    def move(self, src, dest):
        self.step()
        self.real.move(src, dest)

    def copy_file(self, src, dest):
        self.step()
        self.real.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.real.open_input_stream(path)

    def open_input_file(self, path):
        return self.real.open_input_file(path)

    def open_output_stream(self, path, metadata):
        return self.real.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        return self.real.open_append_stream(path, metadata=metadata)


def crashing_ingest(root: str, bucket: str, work: str, die_at: str, mode: str) -> None:
    """Ingest, dying just before publish step ``die_at``; ``mode`` "rename" stands for a
    filesystem that cannot exchange two names (each exchange attempt is still a step)."""
    steps = [0]

    def step() -> None:
        steps[0] += 1
        if steps[0] == int(die_at):
            os._exit(DIED)

    real_exchange = lake_module._exchange

    def exchange(first: str, second: str) -> bool:
        step()
        return real_exchange(first, second) if mode == "exchange" else False

    lake_module._exchange = exchange
    lake_lock.LEASE_SECONDS = LEASE_SECONDS  # an S3 lock left by the killed run expires soon
    lake = Lake(root, work_dir=work)
    lake.fs = pafs.PyFileSystem(Dying(lake.fs, step))
    ingest(lake, bucket)


def hold(root: str, ready: str, release: str) -> None:
    """Hold the period's lock until ``release`` exists; then note the delivery ids the period
    held just before letting go (nobody published while this run held it)."""
    lake = Lake(root)
    with lake.period_lock("aws", PERIOD, run="run-holder"):
        Path(ready).write_text("")
        wait_for(Path(release))
        focus = lake.scan_partition("focus", "aws", PERIOD).collect()
        Path(f"{ready}.seen").write_text(json.dumps(sorted(set(focus["x_DeliveryId"]))))


def stage_and_die(root: str, staging: str) -> None:
    """Start writing the period, say where, and die there once ``<staging>.kill`` exists."""
    lake = Lake(root)
    with lake.staged_period("aws", PERIOD) as staged:
        staged.write_text("ingests", "ingest.json", "half written")
        Path(staging).write_text(staged.base)
        wait_for(Path(f"{staging}.kill"))
        os._exit(9)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "ingest":
        ingest(Lake(args[0]), args[1])
    else:
        {"crash": crashing_ingest, "hold": hold, "stage-and-die": stage_and_die}[command](*args)
