"""A small interface over where exports live, so one reader serves a local folder and S3 alike."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit, urlunsplit

from costlake.focus.deliveries import DeliveryError, DeliveryFile


@dataclass(frozen=True)
class StoredObject:
    """An object in a store: its key relative to the store root, size and modification time."""

    key: str
    size: int
    modified: float


class FileStore(Protocol):
    """Read-only access to an export bucket or folder."""

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under the folder ``prefix`` (``cur`` lists ``cur/…``, not ``cur2/…``),
        recursively."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A binary stream of the object's bytes; the caller closes it."""
        ...

    def describe(self) -> str:
        """Where the store points, for messages (never with credentials)."""
        ...


def safe_key(key: str) -> str:
    """Refuse keys that would escape the store root (``..``, absolute paths)."""
    parts = PurePosixPath(key).parts
    if key.startswith("/") or ".." in parts:
        raise ValueError(f"refusing object key outside the store: {key!r}")
    return key


class LocalFileStore:
    """A local folder laid out like the provider's bucket: the embedded default and the tests'.

    Everything read stays inside the folder: a symbolic link in it that leads outside (a file,
    or a folder) is refused with an error naming it, never followed. Links to folders inside
    are not followed either (a mirror made by ``aws s3 sync`` or ``azcopy`` has none).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _outside(self, path: Path) -> DeliveryError:
        return DeliveryError(
            f"{path}: a symbolic link to {path.resolve()}, outside the export folder "
            f"{self.root}: refused (copy the file into the folder instead)"
        )

    def _inside(self, key: str) -> Path:
        """The file of ``key``, refused when it (or a link on the way) leads outside the root."""
        path = self.root / safe_key(key)
        if not path.resolve().is_relative_to(self.root):
            raise self._outside(path)
        return path

    def list(self, prefix: str) -> list[StoredObject]:
        base = self._inside(prefix) if prefix else self.root
        if not base.exists():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                if path.is_symlink() and not path.resolve().is_relative_to(self.root):
                    raise self._outside(path)
            for name in filenames:
                path = Path(dirpath) / name
                stat = path.stat()
                key = path.relative_to(self.root).as_posix()
                found.append(StoredObject(key, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        return open(self._inside(key), "rb")

    def local_path(self, key: str) -> Path:
        """The file on disk, for readers that are faster on a path than on a stream."""
        return self._inside(key)

    def describe(self) -> str:
        return f"local folder {self.root}"


def listed_files(
    store: FileStore, keys: list[str], manifest_key: str, sizes: dict[str, int] | None = None
) -> tuple[DeliveryFile, ...]:
    """The files a manifest names, each checked to exist in the store with the size it lists.

    ``sizes`` are the sizes the manifest itself states, where it states them.
    """
    if not keys:
        raise DeliveryError(f"{manifest_key}: manifest names no data files")
    listed: dict[str, int] = {}
    for folder in {k.rsplit("/", 1)[0] for k in keys}:
        listed.update({o.key: o.size for o in store.list(folder + "/")})
    files = []
    for key in keys:
        safe_key(key)
        if key not in listed:
            raise DeliveryError(
                f"{manifest_key}: names data file {key}, which is not in {store.describe()}"
            )
        stated = (sizes or {}).get(key)
        if stated is not None and stated != listed[key]:
            raise DeliveryError(
                f"{manifest_key}: {key} is {listed[key]} bytes, the manifest says {stated}"
            )
        files.append(DeliveryFile(key, listed[key]))
    return tuple(files)


class GuardedStream(io.RawIOBase):
    """A cloud object's streaming body whose connection errors are OSErrors naming the object,
    so readers that handle a failed read (landing, manifest reading) handle a broken download.

    ``source`` has ``readinto``; ``errors`` are what it raises when the connection breaks;
    ``close`` gives the connection back (or drops it if the body was not read to the end).
    """

    def __init__(
        self, source: Any, uri: str, errors: tuple[type[Exception], ...], close: Callable[[], Any]
    ) -> None:
        super().__init__()
        self._source = source
        self._uri = uri
        self._errors = errors
        self._close = close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._source.readinto(buffer)
        except self._errors as exc:
            raise OSError(f"{self._uri}: connection lost while reading: {exc}") from exc

    def close(self) -> None:
        if not self.closed:
            self._close()
        super().close()


def url_without_userinfo(url: str) -> str:
    """``url`` without any ``user:password@`` part, so it is safe to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
