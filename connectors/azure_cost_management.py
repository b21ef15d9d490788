"""The Azure Cost Management control plane: list a scope's exports, run one, read its history.

These wrap the real ``azure.mgmt.costmanagement.CostManagementClient`` (``client.exports``):
``export_summaries`` (``exports.list``), ``export_summary`` (``exports.get``),
``trigger_export_run`` (``exports.execute``) and ``export_run_history``
(``exports.get_execution_history``). Reading the exported files is ``azure_blob_store``'s job.

Scopes and export names are checked before any request (``ValueError`` naming the bad value and
the expected form). A failed request becomes a ``CostManagementError`` naming the scope, the
export and the service's error code and message. Credentials never come from costlake's
configuration: ``DefaultAzureCredential`` (environment, workload or managed identity, Azure CLI)
finds them, and no token, SAS token or header is ever put in a message or a summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import DefaultAzureCredential
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement import models as cm

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"

# One ARM path segment's id: letters, digits and the punctuation real ids use (MCA billing
# accounts look like "<guid>:<guid>_2019-05-31", billing profiles "ABCD-EFGH-XYZ-ABC",
# resource groups and management groups may hold "." and parentheses). Never ending in ".",
# so no segment is "." or "..".
_ID = r"[A-Za-z0-9_.:()-]{0,127}[A-Za-z0-9_:()-]"
_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_BILLING = rf"/providers/Microsoft\.Billing/billingAccounts/{_ID}"
# The scope forms the Exports API documents. ARM matches path keywords case-insensitively.
_SCOPE_FORMS = [
    rf"/subscriptions/{_GUID}",
    rf"/subscriptions/{_GUID}/resourceGroups/{_ID}",
    _BILLING,
    rf"{_BILLING}/billingProfiles/{_ID}",
    rf"{_BILLING}/billingProfiles/{_ID}/invoiceSections/{_ID}",
    rf"{_BILLING}/departments/{_ID}",
    rf"{_BILLING}/enrollmentAccounts/{_ID}",
    rf"{_BILLING}/customers/{_ID}",
    rf"/providers/Microsoft\.Management/managementGroups/{_ID}",
]
_SCOPE = re.compile("|".join(f"(?:{form})" for form in _SCOPE_FORMS), re.IGNORECASE)
SCOPE_FORMS_TEXT = (
    "/subscriptions/{subscriptionId} (a GUID), "
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}, "
    "/providers/Microsoft.Billing/billingAccounts/{billingAccountId} optionally followed by "
    "/billingProfiles/{id}[/invoiceSections/{id}], /departments/{id}, /enrollmentAccounts/{id} "
    "or /customers/{id}, or /providers/Microsoft.Management/managementGroups/{managementGroupId}"
)
# The REST API documents no pattern for export names; costlake accepts names that stay one URL
# path segment: letters, digits, '_', '-' and '.', never starting with '.' (no '..').
_EXPORT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
EXPORT_NAME_TEXT = "1 to 64 letters, digits, '_', '-' or '.', not starting with '.'"
# ARM's codes for a 404 about the scope itself rather than the export in it.
_SCOPE_NOT_FOUND = {"SubscriptionNotFound", "ResourceGroupNotFound"}


class CostManagementError(Exception):
    """A Cost Management request failed: which scope and export, and what the service said."""

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        export_name: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.scope = scope
        self.export_name = export_name
        self.status_code = status_code
        self.code = code
        self.service_message = service_message


@dataclass(frozen=True)
class ExportDestination:
    """Where an export's files go: storage account name, container and root folder."""

    storage_account: str | None
    container: str | None
    root_folder: str | None


@dataclass(frozen=True)
class ExportSummary:
    """One export's definition and schedule, without any credential."""

    name: str
    export_type: str | None  # ActualCost, AmortizedCost, FocusCost, Usage, PriceSheet, ...
    format: str | None  # Csv or Parquet
    timeframe: str | None  # MonthToDate, TheLastMonth, Custom, ...
    data_version: str | None
    schedule_status: str | None  # Active or Inactive; None: no schedule (runs on demand only)
    recurrence: str | None  # Daily, Weekly, Monthly, Annually
    recurrence_from: datetime | None
    recurrence_to: datetime | None
    destination: ExportDestination
    next_run_time: datetime | None


@dataclass(frozen=True)
class ExportRun:
    """One run of an export, as its run history reports it."""

    run_id: str
    status: str | None  # Queued, InProgress, Completed, Failed, Timeout, DataNotAvailable, ...
    execution_type: str | None  # OnDemand or Scheduled
    submitted_by: str | None
    submitted_time: datetime | None
    processing_start_time: datetime | None
    processing_end_time: datetime | None
    period_start: datetime | None  # the dates the run's data covers
    period_end: datetime | None
    file_name: str | None
    manifest_file: str | None
    export_type: str | None  # from the run's settings
    format: str | None
    timeframe: str | None
    destination: ExportDestination | None
    error_code: str | None
    error_message: str | None


def cost_management_client(
    credential: TokenCredential | None = None, base_url: str | None = None, **kwargs: Any
) -> CostManagementClient:
    """A client for ``base_url`` (default: the public ARM endpoint) authenticated by
    ``credential`` (default: ``DefaultAzureCredential()``). ``kwargs`` go to the SDK client
    (``connection_verify``, ``retry_total``, ``credential_scopes`` for another cloud, ...)."""
    if credential is None:
        credential = DefaultAzureCredential()
    return CostManagementClient(credential, base_url or PUBLIC_ARM_ENDPOINT, **kwargs)


def check_scope(scope: str) -> str:
    """``scope`` in canonical form (leading "/", no trailing "/"), or ``ValueError``."""
    canonical = "/" + scope.strip().strip("/")
    if not _SCOPE.fullmatch(canonical):
        raise ValueError(f"bad Cost Management scope {scope!r}: expected {SCOPE_FORMS_TEXT}")
    return canonical


def check_export_name(name: str) -> str:
    """``name`` if it is a valid export name, or ``ValueError``."""
    if not _EXPORT_NAME.fullmatch(name):
        raise ValueError(f"bad export name {name!r}: expected {EXPORT_NAME_TEXT}")
    return name


def export_summaries(client: CostManagementClient, scope: str) -> list[ExportSummary]:
    """Every export defined at ``scope``, sorted by name."""
    scope = check_scope(scope)
    try:
        result = client.exports.list(_sdk_scope(scope))
    except AzureError as exc:
        raise _service_error(exc, "listing the exports of", scope, None) from exc
    summaries = [_summary(export) for export in result.value or []]
    return sorted(summaries, key=lambda s: s.name.lower())


def export_summary(client: CostManagementClient, scope: str, name: str) -> ExportSummary:
    """The export ``name`` at ``scope``."""
    scope, name = check_scope(scope), check_export_name(name)
    try:
        export = client.exports.get(_sdk_scope(scope), name)
    except AzureError as exc:
        raise _service_error(exc, "reading", scope, name) from exc
    return _summary(export)


def trigger_export_run(client: CostManagementClient, scope: str, name: str) -> None:
    """Ask the service to run export ``name`` now (an OnDemand run; it is queued, not awaited)."""
    scope, name = check_scope(scope), check_export_name(name)
    try:
        client.exports.execute(_sdk_scope(scope), name)
    except AzureError as exc:
        raise _service_error(exc, "running", scope, name) from exc


def export_run_history(client: CostManagementClient, scope: str, name: str) -> list[ExportRun]:
    """The runs of export ``name`` the service reports, newest submission first."""
    scope, name = check_scope(scope), check_export_name(name)
    try:
        result = client.exports.get_execution_history(_sdk_scope(scope), name)
    except AzureError as exc:
        raise _service_error(exc, "reading the run history of", scope, name) from exc
    runs = [_run(run) for run in result.value or []]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(runs, key=lambda r: r.submitted_time or oldest, reverse=True)


def _sdk_scope(scope: str) -> str:
    """The scope as the SDK's URL template wants it: it adds the leading "/" itself."""
    return scope.lstrip("/")


def _text(value: Any) -> str | None:
    """An SDK enum member or plain string (values the SDK does not know stay strings)."""
    if value is None:
        return None
    return value.value if isinstance(value, Enum) else str(value)


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _destination(info: cm.ExportDeliveryInfo | None) -> ExportDestination:
    """The storage account's name (from its resource id), container and root folder.
    Never the SAS token a SAS-based destination carries."""
    target = info.destination if info is not None else None
    if target is None:
        return ExportDestination(None, None, None)
    account = target.storage_account
    if target.resource_id:
        match = re.search(r"/storageAccounts/([^/]+)", target.resource_id, re.IGNORECASE)
        account = match[1] if match else account
    return ExportDestination(account, target.container, target.root_folder_path)


def _data_version(definition: cm.ExportDefinition | None) -> str | None:
    if definition is None or definition.data_set is None:
        return None
    configuration = definition.data_set.configuration
    return configuration.data_version if configuration is not None else None


def _summary(export: cm.Export) -> ExportSummary:
    props = export.properties
    definition = props.definition if props is not None else None
    schedule = props.schedule if props is not None else None
    period = schedule.recurrence_period if schedule is not None else None
    return ExportSummary(
        name=export.name or "",
        export_type=_text(definition.type) if definition is not None else None,
        format=_text(props.format) if props is not None else None,
        timeframe=_text(definition.timeframe) if definition is not None else None,
        data_version=_data_version(definition),
        schedule_status=_text(schedule.status) if schedule is not None else None,
        recurrence=_text(schedule.recurrence) if schedule is not None else None,
        recurrence_from=_utc(period.from_property) if period is not None else None,
        recurrence_to=_utc(period.to) if period is not None else None,
        destination=_destination(props.delivery_info if props is not None else None),
        next_run_time=_utc(props.next_run_time_estimate) if props is not None else None,
    )


def _run(run: cm.ExportRun) -> ExportRun:
    props = run.properties
    if props is None:
        props = cm.ExportRunProperties()
    settings = props.run_settings
    definition = settings.definition if settings is not None else None
    error = props.error
    return ExportRun(
        run_id=run.name or (run.id or "").rstrip("/").rsplit("/", 1)[-1],
        status=_text(props.status),
        execution_type=_text(props.execution_type),
        submitted_by=props.submitted_by,
        submitted_time=_utc(props.submitted_time),
        processing_start_time=_utc(props.processing_start_time),
        processing_end_time=_utc(props.processing_end_time),
        period_start=_utc(props.start_date),
        period_end=_utc(props.end_date),
        file_name=props.file_name,
        manifest_file=props.manifest_file,
        export_type=_text(definition.type) if definition is not None else None,
        format=_text(settings.format) if settings is not None else None,
        timeframe=_text(definition.timeframe) if definition is not None else None,
        destination=_destination(settings.delivery_info) if settings is not None else None,
        error_code=error.code if error is not None else None,
        error_message=error.message if error is not None else None,
    )


def _service_error(
    exc: AzureError, action: str, scope: str, name: str | None
) -> CostManagementError:
    """``exc`` as a ``CostManagementError``: the status, code and message the service sent, and
    which scope and export; nothing of the request (its headers carry the bearer token)."""
    what = f"export {name!r} in scope {scope}" if name else f"scope {scope}"
    if not isinstance(exc, HttpResponseError) or exc.status_code is None:
        # No answer from the service: a connection failure, or no credential could get a token.
        reason = "authentication failed" if isinstance(exc, ClientAuthenticationError) else ""
        detail = f"{reason}: {exc.message}" if reason else str(exc.message)
        return CostManagementError(
            f"Cost Management: {action} {what} failed: {detail}", scope=scope, export_name=name
        )
    code = exc.error.code if exc.error is not None else None
    message = exc.error.message if exc.error is not None else None
    said = f"{code or 'no error code'}: {message or exc.reason or 'no message'}"
    status = f"HTTP {exc.status_code}"
    if isinstance(exc, ResourceNotFoundError) and name and code not in _SCOPE_NOT_FOUND:
        text = f"no export named {name!r} in scope {scope} ({status}, {said})"
    elif isinstance(exc, ResourceNotFoundError):
        text = f"scope {scope} not found ({status}, {said})"
    elif isinstance(exc, ClientAuthenticationError) or exc.status_code == 403:
        text = f"Cost Management refused access to {what} ({status}, {said})"
    else:
        text = f"Cost Management: {action} {what} failed ({status}, {said})"
    return CostManagementError(
        text,
        scope=scope,
        export_name=name,
        status_code=exc.status_code,
        code=code,
        service_message=message,
    )
