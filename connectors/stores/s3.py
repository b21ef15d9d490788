"""An S3 bucket (or an S3-compatible store) as a FileStore, so AWS exports are read in place.

Credentials come only from boto3's own chain (a named profile, the environment, an instance or
task role, SSO): this module never takes keys, so none end up in configuration or messages.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.stores.files import GuardedStream, StoredObject, safe_key, url_without_userinfo
from costlake.focus.deliveries import DeliveryError

# botocore retries throttling (503 SlowDown, 429) and 5xx answers, and connection errors before a
# response arrives, with exponential backoff and jitter; "standard" mode also caps retries with a
# token bucket so an outage is not hammered. max_attempts counts retries after the first try.
RETRIES = {"mode": "standard", "max_attempts": 8}
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60  # per socket read, not per object: a large export streams for longer
MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}
# What a body's read() raises when the connection breaks mid-object: botocore wraps urllib3's
# errors (ResponseStreamingError, IncompleteReadError, ReadTimeoutError); the rest are there in
# case a version lets one through unwrapped.
STREAM_ERRORS = (BotoCoreError, Urllib3Error, OSError)


class S3FileStore:
    """Read-only access to one bucket: the FileStore the AWS delivery finders and landing use.

    Throttling and 5xx answers are retried by botocore with backoff (``RETRIES``); a download cut
    off mid-object is not retried here but surfaces as an ``OSError`` naming the object, which
    landing turns into a ``DeliveryError`` (the next run fetches the delivery again).
    """

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        """``endpoint_url`` points at an S3-compatible store (or a test server); ``client``, if
        given, is used as is (region, profile and endpoint then only describe it)."""
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        if client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            config = Config(
                retries=RETRIES,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
            )
            client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client

    def uri(self, key: str) -> str:
        """``s3://bucket/key``, the name messages use for an object."""
        return f"s3://{self.bucket}/{key}"

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under the folder ``prefix``, recursively, sorted by key.

        As with LocalFileStore, a prefix names a folder: ``cur`` lists ``cur/…`` and not
        ``cur2/…``. Empty "folder/" marker objects are not files and are left out.
        """
        folder = safe_key(prefix).rstrip("/") + "/" if prefix else ""
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):
                    continue
                found.append(
                    StoredObject(item["Key"], item["Size"], item["LastModified"].timestamp())
                )
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """A stream of the object's bytes, read from the network as the caller reads.

        An object gone since it was listed is a ``DeliveryError``; any other failure to fetch it
        (after botocore's retries) is an ``OSError`` naming it, as a failed local read would be.
        """
        uri = self.uri(safe_key(key))
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING_KEY_CODES:
                raise DeliveryError(
                    f"{uri} disappeared after listing (deleted or replaced while being read)"
                ) from exc
            raise OSError(f"{uri}: cannot fetch: {exc}") from exc
        except BotoCoreError as exc:
            raise OSError(f"{uri}: cannot fetch: {exc}") from exc
        # A file-like object: read(n), readinto, close and `with` are what readers use.
        body = response["Body"]
        return cast(BinaryIO, GuardedStream(body, uri, STREAM_ERRORS, body.close))

    def describe(self) -> str:
        """``s3://bucket``, and the endpoint if not AWS's; never credentials."""
        if not self.endpoint_url:
            return f"s3://{self.bucket}"
        return f"s3://{self.bucket} at {url_without_userinfo(self.endpoint_url)}"
