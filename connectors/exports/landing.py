"""Copy a delivery's files from its store into the local raw landing folder, verified.

A file is streamed in chunks to ``<name>.partial`` and renamed only when its size matches what
the store listed, so a partial download never becomes part of a delivery.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from connectors.stores.files import FileStore
from costlake.focus.deliveries import Delivery, DeliveryError

CHUNK_BYTES = 8 << 20
RECORD = "delivery.json"


def landed_delivery(folder: Path) -> Delivery | None:
    """The delivery already landed in ``folder``, if its record is there."""
    record = folder / RECORD
    return Delivery.from_json(record.read_text()) if record.exists() else None


def land_delivery(
    store: FileStore, delivery: Delivery, folder: Path, earlier: tuple[Path, ...] = ()
) -> Path:
    """Land every file of ``delivery`` in ``folder`` and write its record last.

    A delivery already landed there with the same id and sizes is not fetched again. When the
    delivery says its files are never rewritten (``extra["files_immutable"]``: OCI's reports), a
    file already landed with the same name and size in one of the ``earlier`` folders is linked
    from there instead of downloaded again.
    """
    previous = landed_delivery(folder)
    if previous == delivery and all((folder / Path(f.path).name).exists() for f in delivery.files):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).unlink(missing_ok=True)
    reusable = _landed_files(earlier) if delivery.extra.get("files_immutable") else {}
    for item in delivery.files:
        target = folder / Path(item.path).name
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            landed = reusable.get((item.path, item.size))
            if landed is not None:
                _link_or_copy(landed, partial)
            else:
                with store.open(item.path) as source, open(partial, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_BYTES)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise DeliveryError(f"{item.path}: download failed: {exc}") from exc
        size = partial.stat().st_size
        if item.size is not None and size != item.size:
            partial.unlink()
            raise DeliveryError(f"{item.path}: fetched {size} bytes, the store listed {item.size}")
        partial.replace(target)
    (folder / RECORD).write_text(delivery.to_json())
    return folder


def _landed_files(folders: tuple[Path, ...]) -> dict[tuple[str, int | None], Path]:
    """(store path, size) → local file, over the complete landings among ``folders``."""
    found = {}
    for folder in folders:
        delivery = landed_delivery(folder)
        for item in delivery.files if delivery else ():
            local = folder / Path(item.path).name
            if local.exists() and local.stat().st_size == item.size:
                found[(item.path, item.size)] = local
    return found


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the filesystem allows one (no bytes copied), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
