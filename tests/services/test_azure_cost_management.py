"""The Cost Management control plane: exports listed, run and their history read.

No Cost Management emulator exists: the real ``CostManagementClient`` talks over TLS to a small
loopback server answering the Exports API's documented shapes (``cost_management_loopback.py``).
The one stand-in is the credential, which hands out a fixed fake token: nothing local can serve
Entra ID tokens.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import DefaultAzureCredential
from azure.mgmt.costmanagement import CostManagementClient
from cost_management_loopback import LoopbackCostManagement, serving

from connectors.azure_cost_management import (
    PUBLIC_ARM_ENDPOINT,
    CostManagementError,
    ExportDestination,
    ExportRun,
    ExportSummary,
    check_scope,
    cost_management_client,
    export_run_history,
    export_summaries,
    export_summary,
    trigger_export_run,
)

TOKEN = f"fake-arm-token-{uuid.uuid4().hex}"  # unique, so its absence from a text means something
SAS = "sv=2024-11-04&ss=b&srt=co&sp=rwl&se=2030-01-01T00:00:00Z&sig=c29tZS1zZWNyZXQtc2lnbmF0dXJl"
SUBSCRIPTION = "4c5f2a10-7b1e-4d3a-9c2b-6e8f0a1b2c3d"
SCOPE = f"/subscriptions/{SUBSCRIPTION}"
BILLING_SCOPE = "/providers/Microsoft.Billing/billingAccounts/8608480"
STORAGE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/finops-rg"
    "/providers/Microsoft.Storage/storageAccounts/costlakeexports"
)
FOCUS_ID = "5b0a7e2c-1d4f-4a8e-b3c6-9f1e2d3c4b5a"
FAILED_ID = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"

FOCUS_PROPERTIES: dict[str, Any] = {
    "format": "Parquet",
    "compressionMode": "snappy",
    "dataOverwriteBehavior": "OverwritePreviousReport",
    "partitionData": True,
    "definition": {
        "type": "FocusCost",
        "timeframe": "MonthToDate",
        "dataSet": {"granularity": "Daily", "configuration": {"dataVersion": "1.0r2"}},
    },
    "deliveryInfo": {
        "destination": {
            "type": "AzureBlob",
            "resourceId": STORAGE_ID,
            "container": "exports",
            "rootFolderPath": "focus",
        }
    },
    "schedule": {
        "status": "Active",
        "recurrence": "Daily",
        "recurrencePeriod": {"from": "2025-01-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"},
    },
    "nextRunTimeEstimate": "2025-06-02T05:00:00Z",
}
# An older export delivering with a SAS token instead of the export's managed identity.
AMORTIZED_PROPERTIES: dict[str, Any] = {
    "format": "Csv",
    "definition": {"type": "AmortizedCost", "timeframe": "TheLastMonth"},
    "deliveryInfo": {
        "destination": {
            "storageAccount": "legacyacct",
            "sasToken": SAS,
            "container": "legacy",
            "rootFolderPath": "amortized",
        }
    },
    "schedule": {
        "status": "Inactive",
        "recurrence": "Monthly",
        "recurrencePeriod": {"from": "2024-01-05T00:00:00Z"},
    },
}
RUN_SETTINGS: dict[str, Any] = {
    key: FOCUS_PROPERTIES[key] for key in ("format", "definition", "deliveryInfo")
}
COMPLETED_RUN: dict[str, Any] = {
    "executionType": "Scheduled",
    "status": "Completed",
    "submittedBy": "System",
    "submittedTime": "2025-06-01T05:00:03.25Z",
    "processingStartTime": "2025-06-01T05:00:10Z",
    "processingEndTime": "2025-06-01T05:04:41Z",
    "startDate": "2025-06-01T00:00:00Z",
    "endDate": "2025-06-30T00:00:00Z",
    "fileName": "focus/focus-daily/20250601-20250630/202506010500/part_0_0001.snappy.parquet",
    "manifestFile": "focus/focus-daily/20250601-20250630/202506010500/manifest.json",
    "runSettings": RUN_SETTINGS,
}
FAILED_RUN: dict[str, Any] = {
    "executionType": "Scheduled",
    "status": "Failed",
    "submittedBy": "System",
    "submittedTime": "2025-05-31T05:00:02Z",
    "processingStartTime": "2025-05-31T05:00:09Z",
    "processingEndTime": "2025-05-31T05:00:15Z",
    "startDate": "2025-05-01T00:00:00Z",
    "endDate": "2025-05-31T00:00:00Z",
    "runSettings": RUN_SETTINGS,
    "error": {
        "code": "StorageAccountAuthorizationFailed",
        "message": "The export's managed identity cannot write to container 'exports'.",
    },
}


class FixedTokenCredential(TokenCredential):
    """The one stand-in: an Entra ID credential handing out a fixed fake token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


FOCUS_DESTINATION = ExportDestination("costlakeexports", "exports", "focus")


@pytest.fixture
def server() -> Iterator[LoopbackCostManagement]:
    """Two exports at the subscription (one with a completed and a failed run), one at an EA
    billing account."""
    with serving(TOKEN) as running:
        running.put_export(SCOPE, "focus-daily", FOCUS_PROPERTIES)
        running.put_export(SCOPE, "amortized-monthly", AMORTIZED_PROPERTIES)
        running.put_run(SCOPE, "focus-daily", FAILED_RUN, run_id=FAILED_ID)
        running.put_run(SCOPE, "focus-daily", COMPLETED_RUN, run_id=FOCUS_ID)
        running.put_export(BILLING_SCOPE, "ea-actual", AMORTIZED_PROPERTIES)
        yield running


def make_client(server: LoopbackCostManagement, token: str = TOKEN) -> CostManagementClient:
    return cost_management_client(
        FixedTokenCredential(token),
        server.base_url,
        connection_verify=str(server.cert_path),
        retry_total=0,
    )


@pytest.fixture
def client(server: LoopbackCostManagement) -> CostManagementClient:
    return make_client(server)


def test_lists_the_exports_put_in_the_server(server, client) -> None:
    assert export_summaries(client, SCOPE) == [
        ExportSummary(
            name="amortized-monthly",
            export_type="AmortizedCost",
            format="Csv",
            timeframe="TheLastMonth",
            data_version=None,
            schedule_status="Inactive",
            recurrence="Monthly",
            recurrence_from=at("2024-01-05T00:00:00"),
            recurrence_to=None,
            destination=ExportDestination("legacyacct", "legacy", "amortized"),
            next_run_time=None,
        ),
        ExportSummary(
            name="focus-daily",
            export_type="FocusCost",
            format="Parquet",
            timeframe="MonthToDate",
            data_version="1.0r2",
            schedule_status="Active",
            recurrence="Daily",
            recurrence_from=at("2025-01-01T00:00:00"),
            recurrence_to=at("2026-12-31T00:00:00"),
            destination=FOCUS_DESTINATION,
            next_run_time=at("2025-06-02T05:00:00"),
        ),
    ]
    [request] = server.requests
    assert (request.method, request.path) == (
        "GET",
        f"{SCOPE}/providers/Microsoft.CostManagement/exports",
    )
    assert request.api_version == "2025-03-01"
    assert request.authorization == f"Bearer {TOKEN}"


def test_scopes_are_kept_apart(server, client) -> None:
    [ea] = export_summaries(client, BILLING_SCOPE)
    assert (ea.name, ea.export_type) == ("ea-actual", "AmortizedCost")
    other = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/empty-rg"
    assert export_summaries(client, other) == []
    assert [r.path for r in server.requests] == [
        f"{BILLING_SCOPE}/providers/Microsoft.CostManagement/exports",
        f"{other}/providers/Microsoft.CostManagement/exports",
    ]


def test_reads_one_export(client) -> None:
    summary = export_summary(client, SCOPE, "focus-daily")
    assert (summary.name, summary.export_type, summary.timeframe) == (
        "focus-daily",
        "FocusCost",
        "MonthToDate",
    )
    assert summary.destination == FOCUS_DESTINATION


def test_sas_token_never_surfaces(client) -> None:
    summaries = export_summaries(client, SCOPE)
    assert "sig=" not in repr(summaries)
    assert SAS not in repr(summaries)


def test_history_shows_completed_and_failed_runs_newest_first(client) -> None:
    completed, failed = export_run_history(client, SCOPE, "focus-daily")
    assert completed == ExportRun(
        run_id=FOCUS_ID,
        status="Completed",
        execution_type="Scheduled",
        submitted_by="System",
        submitted_time=at("2025-06-01T05:00:03.250000"),
        processing_start_time=at("2025-06-01T05:00:10"),
        processing_end_time=at("2025-06-01T05:04:41"),
        period_start=at("2025-06-01T00:00:00"),
        period_end=at("2025-06-30T00:00:00"),
        file_name="focus/focus-daily/20250601-20250630/202506010500/part_0_0001.snappy.parquet",
        manifest_file="focus/focus-daily/20250601-20250630/202506010500/manifest.json",
        export_type="FocusCost",
        format="Parquet",
        timeframe="MonthToDate",
        destination=FOCUS_DESTINATION,
        error_code=None,
        error_message=None,
    )
    assert (failed.run_id, failed.status, failed.file_name) == (FAILED_ID, "Failed", None)
    assert failed.error_code == "StorageAccountAuthorizationFailed"
    assert failed.error_message == (
        "The export's managed identity cannot write to container 'exports'."
    )


def test_triggering_a_run_posts_it_and_it_shows_in_history(server, client) -> None:
    before = datetime.now(UTC)
    trigger_export_run(client, SCOPE, "focus-daily")

    run_path = f"{SCOPE}/providers/Microsoft.CostManagement/exports/focus-daily/run"
    assert server.run_requests == [run_path]
    post = server.requests[-1]
    assert (post.method, post.api_version, post.body) == ("POST", "2025-03-01", b"")
    assert post.authorization == f"Bearer {TOKEN}"

    newest, *older = export_run_history(client, SCOPE, "focus-daily")
    assert [run.run_id for run in older] == [FOCUS_ID, FAILED_ID]
    assert (newest.execution_type, newest.status, newest.submitted_by) == (
        "OnDemand",
        "Queued",
        "costlake-tests@example.com",
    )
    assert newest.submitted_time is not None and newest.submitted_time >= before
    assert (newest.export_type, newest.format, newest.destination) == (
        "FocusCost",
        "Parquet",
        FOCUS_DESTINATION,
    )


@pytest.mark.parametrize("call", [export_summary, trigger_export_run, export_run_history])
def test_unknown_export_is_a_clear_error(server, client, call) -> None:
    with pytest.raises(CostManagementError) as caught:
        call(client, SCOPE, "no-such-export")
    error = caught.value
    assert str(error) == (
        f"no export named 'no-such-export' in scope {SCOPE} (HTTP 404, NotFound: "
        "The requested export with export name: no-such-export could not be found.)"
    )
    assert (error.scope, error.export_name, error.status_code, error.code) == (
        SCOPE,
        "no-such-export",
        404,
        "NotFound",
    )
    assert server.run_requests == []


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "/",
        "subscriptions",
        "/subscriptions/not-a-guid",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/",
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Storage/storageAccounts/x",
        f"https://management.azure.com/subscriptions/{SUBSCRIPTION}",
        f"/subscriptions/{SUBSCRIPTION}?api-version=2019-01-01",
        "/providers/Microsoft.Billing/billingAccounts/8608480/../../subscriptions",
        "/providers/Microsoft.Billing/billingAccounts/8608480/invoiceSections/X",
        "/providers/Microsoft.Management/managementGroups/has space",
    ],
)
def test_bad_scope_is_refused_before_any_request(server, client, scope) -> None:
    for call in (
        lambda: export_summaries(client, scope),
        lambda: export_summary(client, scope, "focus-daily"),
        lambda: trigger_export_run(client, scope, "focus-daily"),
        lambda: export_run_history(client, scope, "focus-daily"),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert f"bad Cost Management scope {scope!r}" in str(caught.value)
        assert "/subscriptions/{subscriptionId}" in str(caught.value)
        assert "/providers/Microsoft.Management/managementGroups/" in str(caught.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "has space", "../run", "..", ".hidden", "a/b", "name?x", "é"]
)
def test_bad_export_name_is_refused_before_any_request(server, client, name) -> None:
    for call in (export_summary, trigger_export_run, export_run_history):
        with pytest.raises(ValueError) as caught:
            call(client, SCOPE, name)
        assert str(caught.value) == (
            f"bad export name {name!r}: expected 1 to 64 letters, digits, '_', '-' or '.', "
            "not starting with '.'"
        )
    assert server.requests == []
    assert server.run_requests == []


@pytest.mark.parametrize(
    ("scope", "canonical"),
    [
        (f"subscriptions/{SUBSCRIPTION}/", f"/subscriptions/{SUBSCRIPTION}"),
        (
            f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg.with(parens)-1",
            f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg.with(parens)-1",
        ),
        (BILLING_SCOPE, BILLING_SCOPE),
        (f"{BILLING_SCOPE}/departments/1234", f"{BILLING_SCOPE}/departments/1234"),
        (f"{BILLING_SCOPE}/enrollmentAccounts/456", f"{BILLING_SCOPE}/enrollmentAccounts/456"),
        (
            "/providers/Microsoft.Billing/billingAccounts/"
            "aaaa1111-bb22-cc33-dd44-eeeeee555555:ffff6666-aa77-bb88-cc99-dddddd000000_2019-05-31"
            "/billingProfiles/ABCD-EFGH-XYZ-ABC/invoiceSections/WXYZ-ABCD-PQR-STU",
            "/providers/Microsoft.Billing/billingAccounts/"
            "aaaa1111-bb22-cc33-dd44-eeeeee555555:ffff6666-aa77-bb88-cc99-dddddd000000_2019-05-31"
            "/billingProfiles/ABCD-EFGH-XYZ-ABC/invoiceSections/WXYZ-ABCD-PQR-STU",
        ),
        (
            "/providers/Microsoft.Management/managementGroups/finops-root",
            "/providers/Microsoft.Management/managementGroups/finops-root",
        ),
    ],
)
def test_documented_scope_forms_are_accepted(scope, canonical) -> None:
    assert check_scope(scope) == canonical


def test_export_at_a_scope_given_without_leading_slash(server, client) -> None:
    assert [s.name for s in export_summaries(client, BILLING_SCOPE.lstrip("/") + "/")] == [
        "ea-actual"
    ]
    assert server.requests[-1].path == f"{BILLING_SCOPE}/providers/Microsoft.CostManagement/exports"


def all_text(error: BaseException) -> str:
    """Everything a log of ``error`` could show: message, repr and the chained traceback."""
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


def test_token_never_in_error_text(server, client) -> None:
    with pytest.raises(CostManagementError) as not_found:
        export_run_history(client, SCOPE, "no-such-export")
    assert TOKEN not in all_text(not_found.value)

    # A token the service refuses: 401 with its code, and still no token in the text.
    other_token = f"refused-token-{uuid.uuid4().hex}"
    with pytest.raises(CostManagementError) as refused:
        export_summaries(make_client(server, other_token), SCOPE)
    assert str(refused.value) == (
        f"Cost Management refused access to scope {SCOPE} "
        "(HTTP 401, InvalidAuthenticationToken: The access token is invalid.)"
    )
    assert refused.value.code == "InvalidAuthenticationToken"
    assert other_token not in all_text(refused.value)
    assert server.requests[-1].authorization == f"Bearer {other_token}"

    # No answer at all: the server is gone.
    base_url = server.base_url
    server.shutdown()
    server.server_close()
    gone = cost_management_client(
        FixedTokenCredential(TOKEN),
        base_url,
        connection_verify=str(server.cert_path),
        retry_total=0,
    )
    with pytest.raises(CostManagementError) as unreachable:
        trigger_export_run(gone, SCOPE, "focus-daily")
    assert str(unreachable.value).startswith(
        f"Cost Management: running export 'focus-daily' in scope {SCOPE} failed: "
    )
    assert TOKEN not in all_text(unreachable.value)


def test_server_certificate_is_verified(server) -> None:
    """TLS is real: a client that does not trust the loopback certificate gets no answer."""
    untrusting = cost_management_client(FixedTokenCredential(TOKEN), server.base_url, retry_total=0)
    with pytest.raises(CostManagementError, match="CERTIFICATE_VERIFY_FAILED"):
        export_summaries(untrusting, SCOPE)
    assert server.requests == []


def test_credential_is_asked_for_an_arm_token(server) -> None:
    credential = FixedTokenCredential(TOKEN)
    client = cost_management_client(
        credential, server.base_url, connection_verify=str(server.cert_path)
    )
    export_summaries(client, SCOPE)
    assert credential.scopes == [("https://management.azure.com/.default",)]


def test_defaults_are_the_default_credential_and_public_arm() -> None:
    client = cost_management_client()
    assert isinstance(client._config.credential, DefaultAzureCredential)
    assert client._config.base_url == PUBLIC_ARM_ENDPOINT == "https://management.azure.com"


# --- the costlake azure commands ---------------------------------------------------------------


@pytest.fixture
def cli(server, tmp_path, monkeypatch):
    """``run(*args)``: the ``costlake azure`` command with a configuration naming SCOPE on its
    blob source, its client pointed at the loopback server; returns (exit code, output)."""
    from typer.testing import CliRunner

    from connectors import azure_cost_management
    from pipelines.cli import app

    monkeypatch.setattr(
        azure_cost_management, "cost_management_client", lambda: make_client(server)
    )
    config = tmp_path / "costlake.yaml"
    blob = {
        "kind": "blob",
        "container": "exports",
        "account_url": "https://a.example",
        "scope": SCOPE,
    }
    config.write_text(f"azure:\n  - {blob}\n")
    monkeypatch.setenv("COSTLAKE_CONFIG", str(config))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["azure", *args], env={"COLUMNS": "200"})
        return result.exit_code, result.output

    return run


def test_the_exports_command_lists_the_configured_scopes_exports(cli) -> None:
    code, output = cli("exports")
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in output.splitlines() if "│" in line}
    assert set(rows) >= {"focus-daily", "amortized-monthly"}
    assert "FocusCost" in rows["focus-daily"] and "Daily (Active)" in rows["focus-daily"]
    assert "costlakeexports/exports/focus" in rows["focus-daily"]
    assert "legacyacct/legacy/amortized" in rows["amortized-monthly"]
    assert "sig=" not in output


def test_the_run_export_command_requests_a_run(cli, server) -> None:
    code, output = cli("run-export", "focus-daily")
    assert code == 0 and "costlake azure history focus-daily" in output
    assert server.run_requests == [
        f"{SCOPE}/providers/Microsoft.CostManagement/exports/focus-daily/run"
    ]


def test_the_history_command_shows_a_failed_runs_error(cli) -> None:
    code, output = cli("history", "focus-daily")
    assert code == 0
    assert "Failed" in output and "StorageAccountAuthorizationFailed" in output
    assert "2025-06-01 05:00" in output  # the completed run's submission, newest first


def test_an_unknown_export_or_missing_scope_fails_clearly(cli, tmp_path, monkeypatch) -> None:
    code, output = cli("history", "no-such-export")
    assert code == 1 and "no export named 'no-such-export'" in output
    assert TOKEN not in output
    (tmp_path / "costlake.yaml").write_text("azure:\n  - {root: exports}\n")
    code, output = cli("exports")
    assert code == 1 and "give --scope" in output
