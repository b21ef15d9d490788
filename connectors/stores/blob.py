"""Azure Cost Management exports read straight from their storage container.

``AzureBlobStore`` is the ``FileStore`` of an Azure Blob Storage container, so
``find_azure_deliveries`` and ``land_delivery`` work on the real export as on a local copy.
Credentials never come from costlake's configuration: either ``DefaultAzureCredential`` (the
SDK's chain: environment, workload or managed identity, Azure CLI) finds them, or a connection
string (Azurite, SAS) is read from an environment variable whose *name* is configured.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContainerClient, ExponentialRetry

from connectors.stores.files import StoredObject, safe_key
from costlake.focus.deliveries import DeliveryError

# One ranged GET per chunk: a blob is never held in memory whole, and the first request of a
# download is no bigger than the others (the SDK's default first request is 32 MiB).
CHUNK_BYTES = 8 << 20
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def retry_policy() -> ExponentialRetry:
    """The storage SDK's exponential retry, with bounds chosen for a nightly job.

    Retried: connection errors (the request never reached the service), responses cut off or
    timed out (``ServiceResponseError``), 408, and every 5xx except 501 and 505, which covers
    Blob Storage's throttling (503 Server Busy, 500 Operation Timeout). Not retried: other 4xx
    (404, 403, 412, and 429, which Blob Storage does not use for throttling). Six retries, after
    1 + 2**n seconds (3, 5, 9, 17, 33, 65; ±1 s jitter): a throttled partition gets two minutes
    to recover. A body cut off while it streams is re-requested up to twice by the SDK's
    downloader (1 s apart) before the read fails.
    """
    return ExponentialRetry(
        initial_backoff=1,
        increment_base=2,
        retry_total=6,
        retry_connect=6,
        retry_read=6,
        retry_status=6,
        random_jitter_range=1,
    )


def _client_options() -> dict[str, Any]:
    """Retries, timeouts and chunking of every client this module builds."""
    return {
        "retry_policy": retry_policy(),
        "connection_timeout": 20,
        "read_timeout": 120,
        "max_single_get_size": CHUNK_BYTES,
        "max_chunk_get_size": CHUNK_BYTES,
    }


def _is_folder(blob: BlobProperties) -> bool:
    """A directory entry of a hierarchical namespace, or a "folder/" marker: not a file."""
    metadata = {k.lower(): v for k, v in (blob.metadata or {}).items()}
    return blob.name.endswith("/") or metadata.get("hdi_isfolder", "").lower() == "true"


class _BlobChunks(io.RawIOBase):
    """A blob's download as a raw stream: one ranged GET per chunk, fetched as it is read.

    A failure mid-read becomes an ``OSError`` naming the blob, which landing turns into a
    ``DeliveryError`` after deleting its partial file.
    """

    def __init__(self, chunks: Iterator[bytes], name: str) -> None:
        super().__init__()
        self._chunks = chunks
        self._name = name
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                chunk = next(self._chunks, None)
            except AzureError as exc:
                raise OSError(f"{self._name}: reading the blob failed: {exc}") from exc
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class AzureBlobStore:
    """The ``FileStore`` of one Azure Blob Storage container; keys are blob names."""

    def __init__(self, client: ContainerClient) -> None:
        """Wrap a ready client as it is (tests pass one with small chunks; production code
        uses ``from_account`` or ``from_connection_string``, which configure retries)."""
        self.client = client

    @classmethod
    def from_account(
        cls, account_url: str, container: str, credential: Any | None = None
    ) -> AzureBlobStore:
        """The container at ``https://<account>.blob.core.windows.net``.

        Without ``credential``, ``DefaultAzureCredential`` finds one, so no secret is ever
        configured. A SAS token in the URL is refused: it belongs in a connection string held
        in the environment (``from_connection_string``).
        """
        parts = urlsplit(account_url)
        if parts.query or parts.username or parts.password:
            raise ValueError(
                "account_url must not carry credentials (SAS token or user info): use "
                "DefaultAzureCredential, or a connection string in an environment variable"
            )
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        client = ContainerClient(account_url, container, credential=credential, **_client_options())
        return cls(client)

    @classmethod
    def from_connection_string(cls, conn_str_env_var: str, container: str) -> AzureBlobStore:
        """The container named in the connection string held by environment variable
        ``conn_str_env_var`` (for Azurite and SAS users). Only the variable's name is ever
        configured; its value is not echoed in any message."""
        if not _ENV_NAME.fullmatch(conn_str_env_var):
            raise ValueError(
                "from_connection_string takes the NAME of an environment variable holding the "
                "connection string, not the string itself"
            )
        conn_str = os.environ.get(conn_str_env_var, "").strip()
        if not conn_str:
            raise ValueError(
                f"environment variable {conn_str_env_var} is not set or empty: it should hold "
                "the storage connection string"
            )
        try:
            client = ContainerClient.from_connection_string(
                conn_str, container, **_client_options()
            )
        except ValueError as exc:
            # The SDK's messages do not quote the string; say where it came from.
            raise ValueError(
                f"environment variable {conn_str_env_var} does not hold a usable storage "
                f"connection string: {exc}"
            ) from None
        return cls(client)

    def list(self, prefix: str) -> list[StoredObject]:
        """Every blob under the folder ``prefix``, recursively, sorted by name.

        As with the other stores, a prefix names a folder: ``exports`` lists ``exports/…`` and
        not ``exports2/…``. Directory entries are left out: an account with a hierarchical
        namespace (Data Lake Storage) lists each folder as an empty blob marked
        ``hdi_isfolder``.
        """
        folder = safe_key(prefix).rstrip("/") + "/" if prefix else None
        try:
            blobs = [
                StoredObject(b.name, b.size, b.last_modified.timestamp())
                for b in self.client.list_blobs(name_starts_with=folder, include=["metadata"])
                if not _is_folder(b)
            ]
        except ResourceNotFoundError as exc:
            raise DeliveryError(f"{self.describe()} does not exist ({exc.error_code})") from exc
        except AzureError as exc:
            where = f"{folder or 'all blobs'} in {self.describe()}"
            raise OSError(f"listing {where} failed: {exc}") from exc
        return sorted(blobs, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """The blob's bytes as a stream that downloads one chunk at a time as it is read."""
        try:
            download = self.client.download_blob(key)
        except ResourceNotFoundError as exc:
            raise DeliveryError(
                f"{key}: blob disappeared from {self.describe()} after it was listed "
                f"({exc.error_code})"
            ) from exc
        except AzureError as exc:
            raise OSError(f"{key}: reading the blob failed: {exc}") from exc
        raw = _BlobChunks(download.chunks(), key)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 20))

    def describe(self) -> str:
        """Account URL and container, without query (a SAS token) or user info."""
        parts = urlsplit(self.client.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        account_path = parts.path.rstrip("/").rsplit("/", 1)[0]  # drop the container segment
        account_url = urlunsplit((parts.scheme, netloc, account_path, "", ""))
        return f"Azure container {self.client.container_name} at {account_url}"
