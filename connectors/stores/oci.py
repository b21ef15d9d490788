"""An OCI Object Storage bucket as a FileStore, so OCI usage reports are read in place.

Oracle writes a tenancy's cost and FOCUS reports into a bucket named after the tenancy OCID, in
the namespace ``bling``, in the home region; ``find_oci_deliveries`` and ``land_delivery`` read
it through this store as they read a local copy.

Credentials come only from OCI's own mechanisms: a profile of OCI's config file (its key file
stays where the file says) or the instance principal of the host. This module never takes keys
as arguments, so none end up in costlake's configuration or messages.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO, cast

import oci
import urllib3
from circuitbreaker import CircuitBreakerError
from oci.exceptions import ServiceError
from oci.object_storage import ObjectStorageClient

from connectors.stores.files import GuardedStream, StoredObject, safe_key, url_without_userinfo
from costlake.focus.deliveries import DeliveryError

# The SDK's default strategy, spelled out because the client only applies it when asked: up to
# 8 attempts within 600 s, exponential backoff from 1 s (doubling, at most 30 s apart, plus up
# to 1 s of jitter), on timeouts and connection errors, 429 (throttling), 409
# IncorrectState/LockConflict and every 5xx except 501. Only a request that has not yet
# answered with a 2xx is retried: a body cut off while it streams is not (see ``open``).
RETRY_STRATEGY = oci.retry.DEFAULT_RETRY_STRATEGY
TIMEOUT_SECONDS = (10, 60)  # connect; per socket read, not per object
LIST_FIELDS = "name,size,timeCreated"
BUFFER_BYTES = 1 << 20
# What reading a body raises when the connection breaks mid-object: urllib3's ProtocolError
# (IncompleteRead: fewer bytes than Content-Length), ReadTimeoutError, or a socket's OSError.
STREAM_ERRORS = (urllib3.exceptions.HTTPError, OSError)
# What a call raises when no answer came: the SDK's vendored requests errors (all OSErrors),
# and the circuit breaker's refusal after repeated failures.
CALL_ERRORS = (OSError, CircuitBreakerError)


class OciObjectStore:
    """Read-only access to one bucket: the FileStore the OCI delivery finder and landing use.

    Real clients (``from_config_file``, ``with_instance_principals``) retry with
    ``RETRY_STRATEGY``; a download cut off mid-object surfaces as an ``OSError`` naming the
    object, which landing turns into a ``DeliveryError`` (the next run fetches it again).
    """

    def __init__(
        self, client: ObjectStorageClient, namespace: str, bucket: str, endpoint: str | None = None
    ) -> None:
        """Wrap a ready client as it is (tests pass one without retries); ``endpoint`` only
        names a non-default service endpoint in ``describe``."""
        self.client = client
        self.namespace = namespace
        self.bucket = bucket
        self.endpoint = endpoint

    @classmethod
    def from_config_file(
        cls,
        bucket: str,
        namespace: str = "bling",
        profile: str = "DEFAULT",
        config_file: str | None = None,
        region: str | None = None,
        service_endpoint: str | None = None,
    ) -> OciObjectStore:
        """The bucket, signed with a profile of OCI's config file (``~/.oci/config``, or
        ``OCI_CONFIG_FILE``, unless ``config_file`` names one).

        ``region`` overrides the profile's (the reports live in the tenancy's home region);
        ``service_endpoint`` points at a private or dedicated endpoint.
        """
        location = config_file or oci.config.DEFAULT_LOCATION
        config = oci.config.from_file(file_location=location, profile_name=profile)
        if region:
            config["region"] = region
        client = ObjectStorageClient(
            config,
            service_endpoint=service_endpoint,
            retry_strategy=RETRY_STRATEGY,
            timeout=TIMEOUT_SECONDS,
        )
        return cls(client, namespace, bucket, service_endpoint)

    @classmethod
    def with_instance_principals(
        cls,
        bucket: str,
        namespace: str = "bling",
        region: str | None = None,
        service_endpoint: str | None = None,
    ) -> OciObjectStore:
        """The bucket, signed as the OCI instance this runs on (a dynamic group's policy grants
        it read access): no config file, no key. ``region`` defaults to the instance's own."""
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        client = ObjectStorageClient(
            {"region": region} if region else {},
            signer=signer,
            service_endpoint=service_endpoint,
            retry_strategy=RETRY_STRATEGY,
            timeout=TIMEOUT_SECONDS,
        )
        return cls(client, namespace, bucket, service_endpoint)

    def uri(self, key: str) -> str:
        """``oci://bucket@namespace/key``, the name messages use for an object."""
        return f"oci://{self.bucket}@{self.namespace}/{key}"

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under the folder ``prefix``, recursively, sorted by name.

        As with the other stores, a prefix names a folder: ``reports/cost-csv`` lists
        ``reports/cost-csv/…`` and not ``reports/cost-csv2/…``. Empty "folder/" marker objects
        (what the console's "Create Folder" makes) are not files and are left out.
        """
        return self._list(_folder(prefix), None)

    def list_after(self, prefix: str, last_name: str) -> list[StoredObject]:
        """The objects under the folder ``prefix`` whose names sort after ``last_name``: the
        report files written since the last one ingested (OCI's names increase with time).

        The listing starts at ``last_name`` on the service's side, so older objects are not
        listed again. OCI's ``start`` is inclusive (names >= start), so the object named
        ``last_name`` itself comes back and is dropped here. (``startAfter`` is exclusive, but
        the SDK's pagination continues with ``start``, and how the two combine is not
        documented.)
        """
        return [o for o in self._list(_folder(prefix), last_name or None) if o.key > last_name]

    def _list(self, folder: str, start: str | None) -> list[StoredObject]:
        """Every page of ``ListObjects`` under ``folder`` (from ``start``), as StoredObjects."""
        options: dict[str, Any] = {"fields": LIST_FIELDS}
        if folder:
            options["prefix"] = folder
        if start:
            options["start"] = start
        where = f"{folder or 'all objects'} in {self.describe()}"
        try:
            response = oci.pagination.list_call_get_all_results(
                self.client.list_objects, self.namespace, self.bucket, **options
            )
        except ServiceError as exc:
            if exc.status == 404:
                # OCI answers 404 both for a missing bucket and for one this principal may not
                # read, so as not to reveal which buckets exist.
                raise DeliveryError(
                    f"{self.describe()} not found: no such bucket, or no policy lets this "
                    f"principal read it ({exc.code})"
                ) from exc
            raise OSError(f"listing {where} failed: {_service_error(exc)}") from exc
        except CALL_ERRORS as exc:
            raise OSError(f"listing {where} failed: {exc}") from exc
        found = [
            StoredObject(o.name, o.size, o.time_created.timestamp())
            for o in response.data.objects
            if not o.name.endswith("/")
        ]
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """A stream of the object's bytes, read from the network in chunks as the caller reads.

        An object gone since it was listed is a ``DeliveryError``; any other failure to fetch it
        (after the client's retries) is an ``OSError`` naming it, as a failed local read would be.
        """
        uri = self.uri(safe_key(key))
        try:
            response = self.client.get_object(self.namespace, self.bucket, key)
        except ServiceError as exc:
            if exc.status == 404:
                raise DeliveryError(
                    f"{uri} disappeared after listing (deleted or replaced while being read)"
                ) from exc
            raise OSError(f"{uri}: cannot fetch: {_service_error(exc)}") from exc
        except CALL_ERRORS as exc:
            raise OSError(f"{uri}: cannot fetch: {exc}") from exc
        # response.data is the HTTP response, body unread; .raw is its undecoded urllib3 stream,
        # so the bytes are the object's as stored (the sizes the listing gave).
        body = response.data  # give the connection back on close
        raw = GuardedStream(body.raw, uri, STREAM_ERRORS, body.close)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=BUFFER_BYTES))

    def describe(self) -> str:
        """``oci://bucket@namespace``, and the endpoint if one was given; never credentials."""
        if not self.endpoint:
            return f"oci://{self.bucket}@{self.namespace}"
        return f"oci://{self.bucket}@{self.namespace} at {url_without_userinfo(self.endpoint)}"


def _folder(prefix: str) -> str:
    """``prefix`` as a folder ("a/b/"), or "" for the whole bucket."""
    return safe_key(prefix).rstrip("/") + "/" if prefix else ""


def _service_error(exc: ServiceError) -> str:
    """Status, code and message of a service error, without the request details the SDK's own
    text carries."""
    return f"{exc.status} {exc.code}: {exc.message}"
