"""Anomaly alerts posted to a real HTTP receiver on loopback: once per anomaly, retried, and the
webhook URL (a secret) never shown. Expected texts and numbers are worked out by hand."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta

import pytest
import requests
from webhook_receiver import PATH, TOKEN, receiving

from connectors import webhook
from connectors.webhook import (
    Alert,
    LedgerError,
    SendResult,
    read_ledger,
    redacted,
    send_alerts,
    slack_message,
    webhook_url_from_env,
)

# Every piece of the URL's path that must never be shown.
SECRET_PARTS = [part for part in PATH.split("/") if part] + [PATH]

BEDROCK = Alert(
    anomaly_id="aws-123456789012-bedrock-2025-11-02",
    title="aws · 123456789012 · Amazon Bedrock",
    day=date(2025, 11, 2),
    currency="USD",
    actual=1250.0,
    expected=400.0,
    lower=300.0,
    upper=500.0,
    severity="high",
    provisional=True,
    contributors=[
        ("usage_type", "USE1-input-tokens", 45.0),
        ("model", "claude-sonnet", 800.0),
        ("region", "us-east-1", 5.0),
    ],
    link="https://costlake.example/anomalies/a1",
)
VERTEX = Alert(
    anomaly_id="gcp-atlas-vertex-2025-11-03",
    title="gcp · atlas-prod · Vertex AI",
    day=date(2025, 11, 3),
    currency="EUR",
    actual=90,
    expected=120,
    lower=100,
    upper=140,
    severity="low",
    provisional=False,
    contributors=[("sku", "Gemini <flash> & co", -30)],
)

# By hand: (1250 - 400) / 400 = 2.125 → +212.5 %; contributors largest first.
BEDROCK_SECTION = "\n".join(
    [
        "*aws · 123456789012 · Amazon Bedrock* · 2025-11-02 (provisional)",
        "Actual *1,250.00 USD* vs expected 400.00 USD (range 300.00 USD – 500.00 USD): *+212.5 %*",
        "Severity: *high*",
        "Top contributors:",
        "• model = claude-sonnet: +800.00 USD",
        "• usage_type = USE1-input-tokens: +45.00 USD",
        "• region = us-east-1: +5.00 USD",
        "<https://costlake.example/anomalies/a1|Details>",
    ]
)
# By hand: (90 - 120) / 120 = -0.25 → -25.0 %; Slack mrkdwn escapes < > &.
VERTEX_SECTION = "\n".join(
    [
        "*gcp · atlas-prod · Vertex AI* · 2025-11-03",
        "Actual *90.00 EUR* vs expected 120.00 EUR (range 100.00 EUR – 140.00 EUR): *-25.0 %*",
        "Severity: *low*",
        "Top contributors:",
        "• sku = Gemini &lt;flash&gt; &amp; co: -30.00 EUR",
    ]
)


def numbered(count: int) -> list[Alert]:
    return [
        Alert(f"a{n:02d}", f"aws · 1 · S{n}", date(2025, 11, 1), "USD", 2, 1, 0, 1.5, "medium")
        for n in range(count)
    ]


def sections(body: bytes) -> list[str]:
    message = json.loads(body)
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for part in SECRET_PARTS:
            assert part not in text


def test_an_alert_is_sent_once(tmp_path):
    ledger = tmp_path / "state" / "alerts-sent.json"
    before = datetime.now().astimezone()
    with receiving() as hook:
        first = send_alerts(hook.url, [BEDROCK], ledger, backoff=0)
        second = send_alerts(hook.url, [BEDROCK], ledger, backoff=0)
    assert first == SendResult(sent=1, skipped_already_sent=0, failed=0, error=None)
    assert second == SendResult(sent=0, skipped_already_sent=1, failed=0, error=None)
    assert len(hook.received) == 1
    assert hook.received[0].path == PATH
    sent = read_ledger(ledger)
    assert list(sent) == [BEDROCK.anomaly_id]
    when = datetime.fromisoformat(sent[BEDROCK.anomaly_id])
    assert before - timedelta(seconds=1) <= when <= datetime.now().astimezone()
    assert [p.name for p in ledger.parent.iterdir()] == ["alerts-sent.json"]  # no leftovers


def test_a_new_anomaly_on_a_later_run_is_sent(tmp_path):
    ledger = tmp_path / "alerts-sent.json"
    with receiving() as hook:
        send_alerts(hook.url, [BEDROCK], ledger, backoff=0)
        later = send_alerts(hook.url, [BEDROCK, VERTEX], ledger, backoff=0)
    assert (later.sent, later.skipped_already_sent, later.failed) == (1, 1, 0)
    assert len(hook.delivered) == 2
    assert sections(hook.delivered[1]) == [VERTEX_SECTION]
    assert set(read_ledger(ledger)) == {BEDROCK.anomaly_id, VERTEX.anomaly_id}


def test_500_and_503_are_retried_and_one_message_is_delivered(tmp_path):
    ledger = tmp_path / "alerts-sent.json"
    with receiving([500, 503]) as hook:
        result = send_alerts(hook.url, [BEDROCK], ledger, backoff=0)
    assert result == SendResult(sent=1)
    assert [r.status for r in hook.received] == [500, 503, 200]
    assert len({r.body for r in hook.received}) == 1  # the same message, three times
    [body] = hook.delivered
    message = json.loads(body)
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "1 cost anomaly"},
    }
    assert sections(body) == [BEDROCK_SECTION]
    assert message["text"] == (
        "1 cost anomaly: aws · 123456789012 · Amazon Bedrock on 2025-11-02: "
        "1,250.00 USD vs 400.00 USD expected (+212.5 %)"
    )
    assert list(read_ledger(ledger)) == [BEDROCK.anomaly_id]


@pytest.mark.parametrize("wait", ["0", "1"])
def test_429_is_retried_after_the_time_asked(tmp_path, wait):
    with receiving([(429, {"Retry-After": wait})]) as hook:
        started = time.monotonic()
        result = send_alerts(hook.url, [BEDROCK], tmp_path / "sent.json", backoff=0)
        elapsed = time.monotonic() - started
    assert result.sent == 1
    assert [r.status for r in hook.received] == [429, 200]
    assert elapsed >= int(wait) - 0.05
    assert elapsed < int(wait) + 3


def test_a_long_retry_after_is_shortened(tmp_path, monkeypatch):
    monkeypatch.setattr(webhook, "MAX_RETRY_AFTER", 0.2)
    with receiving([(429, {"Retry-After": "3600"})]) as hook:
        started = time.monotonic()
        result = send_alerts(hook.url, [BEDROCK], tmp_path / "sent.json", backoff=0)
    assert result.sent == 1
    assert 0.15 <= time.monotonic() - started < 5


def test_a_webhook_always_failing_leaves_the_ledger_alone(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ledger = tmp_path / "alerts-sent.json"
    with receiving() as hook:
        send_alerts(hook.url, [BEDROCK], ledger, backoff=0)
        before = ledger.read_bytes()
        hook.then = 500
        result = send_alerts(hook.url, [BEDROCK, VERTEX], ledger, retries=4, backoff=0)
    assert (result.sent, result.skipped_already_sent, result.failed) == (0, 1, 1)
    assert not result.ok
    assert [r.status for r in hook.received] == [200, 500, 500, 500, 500, 500]  # 1 + 4 retries
    assert ledger.read_bytes() == before
    port = hook.server_address[1]
    assert result.error.startswith(f"http://127.0.0.1:{port}/…: HTTP 500 ")
    assert "after 5 attempts" in result.error
    assert "no luck at …" in result.error  # the receiver's answer, its path taken out
    assert_no_secret(result.error, caplog.text)
    assert any(
        r.levelno == logging.WARNING and "not delivered" in r.message for r in caplog.records
    )
    # urllib3 did log each request; its records were scrubbed, not dropped.
    assert any(r.name.startswith("urllib3") and "POST" in r.getMessage() for r in caplog.records)


def test_connection_refused_is_a_failure_with_the_url_redacted(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with receiving() as hook:
        url = hook.url
        port = hook.server_address[1]
    ledger = tmp_path / "alerts-sent.json"
    result = send_alerts(url, [BEDROCK], ledger, retries=2, backoff=0)
    assert (result.sent, result.failed) == (0, 1)
    assert result.error.startswith(f"http://127.0.0.1:{port}/…: ConnectionError")
    assert "refused" in result.error
    assert not ledger.exists()
    assert_no_secret(result.error, caplog.text)
    retried = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retried) == 2  # urllib3's warnings, one per retry, path taken out


def test_the_body_is_json_with_text_and_blocks(tmp_path):
    with receiving() as hook:
        send_alerts(hook.url, [BEDROCK, VERTEX], tmp_path / "sent.json", backoff=0)
    [request] = hook.received
    assert request.headers["Content-Type"].startswith("application/json")
    message = json.loads(request.body.decode("utf-8"))
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith("2 cost anomalies: ")
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section"]
    assert message["blocks"][0]["text"]["text"] == "2 cost anomalies"
    assert sections(request.body) == [BEDROCK_SECTION, VERTEX_SECTION]


def test_alerts_are_sent_twenty_per_message(tmp_path):
    ledger = tmp_path / "sent.json"
    with receiving() as hook:
        result = send_alerts(hook.url, numbered(45), ledger, backoff=0)
    assert result == SendResult(sent=45)
    bodies = [json.loads(b) for b in hook.delivered]
    assert [len(b["blocks"]) for b in bodies] == [21, 21, 6]  # header + 20, 20, 5 sections
    assert [b["blocks"][0]["text"]["text"] for b in bodies] == [
        "20 cost anomalies (message 1 of 3)",
        "20 cost anomalies (message 2 of 3)",
        "5 cost anomalies (message 3 of 3)",
    ]
    assert len(read_ledger(ledger)) == 45


def test_only_the_delivered_batch_is_recorded(tmp_path):
    ledger = tmp_path / "sent.json"
    alerts = numbered(25)
    with receiving([200, 400]) as hook:
        first = send_alerts(hook.url, alerts, ledger, backoff=0)
        second = send_alerts(hook.url, alerts, ledger, backoff=0)
    assert (first.sent, first.failed) == (20, 5)
    assert "HTTP 400" in first.error and "after 1 attempt:" in first.error  # 400: no retry
    assert (second.sent, second.skipped_already_sent, second.failed) == (5, 20, 0)
    assert [r.status for r in hook.received] == [200, 400, 200]
    assert sections(hook.received[2].body) == sections(hook.received[1].body)
    assert sorted(read_ledger(ledger)) == [f"a{n:02d}" for n in range(25)]


def test_an_id_given_twice_is_sent_once(tmp_path):
    with receiving() as hook:
        result = send_alerts(hook.url, [BEDROCK, BEDROCK], tmp_path / "sent.json", backoff=0)
    assert result == SendResult(sent=1)
    assert len(sections(hook.delivered[0])) == 1


def test_a_given_session_is_used_and_given_back_unchanged(tmp_path):
    session = requests.Session()
    adapters = dict(session.adapters)
    with receiving([503]) as hook:
        result = send_alerts(hook.url, [BEDROCK], tmp_path / "sent.json", session=session)
    assert result.sent == 1
    assert [r.status for r in hook.received] == [503, 200]
    assert session.adapters == adapters
    session.close()


def test_nothing_to_send_makes_no_request_and_no_ledger(tmp_path):
    ledger = tmp_path / "sent.json"
    with receiving() as hook:
        assert send_alerts(hook.url, [], ledger) == SendResult()
    assert hook.received == []
    assert not ledger.exists()


def test_a_broken_ledger_stops_before_sending(tmp_path):
    ledger = tmp_path / "sent.json"
    ledger.write_text("[1, 2")
    with receiving() as hook, pytest.raises(LedgerError, match="not an alert ledger"):
        send_alerts(hook.url, [BEDROCK], ledger)
    assert hook.received == []


def test_a_url_that_is_not_http_fails_without_showing_it(tmp_path):
    url = f"ftp://hooks.example{PATH}"
    result = send_alerts(url, [BEDROCK], tmp_path / "sent.json")
    assert (result.sent, result.failed) == (0, 1)
    assert_no_secret(result.error)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://hooks.slack.com{PATH}", "https://hooks.slack.com/…"),
        (f"https://user:pw@hooks.example:8443{PATH}?token=abc", "https://hooks.example:8443/…"),
        ("http://127.0.0.1:9/x", "http://127.0.0.1:9/…"),
        (TOKEN, "<webhook URL>"),
    ],
)
def test_redacted_shows_scheme_and_host_only(url, shown):
    assert redacted(url) == shown


def test_the_url_comes_from_the_environment(monkeypatch):
    var = "COSTLAKE_ALERT_WEBHOOK_URL"
    monkeypatch.delenv(var, raising=False)
    assert webhook_url_from_env(var) is None
    monkeypatch.setenv(var, "  ")
    assert webhook_url_from_env(var) is None
    monkeypatch.setenv(var, f" https://hooks.slack.com{PATH}\n")
    assert webhook_url_from_env(var) == f"https://hooks.slack.com{PATH}"
    monkeypatch.setenv(var, TOKEN)
    with pytest.raises(ValueError, match=var) as raised:
        webhook_url_from_env(var)
    assert_no_secret(str(raised.value))
    with pytest.raises(ValueError, match="NAME") as raised:
        webhook_url_from_env(f"https://hooks.slack.com{PATH}")  # the URL configured by mistake
    assert_no_secret(str(raised.value))


def test_a_message_names_a_drop_and_zero_expected_cost():
    new = Alert("n", "oci · t · GenAI", date(2025, 11, 4), "USD", 12.5, 0, 0, 1, "high")
    [header, section] = slack_message([new])["blocks"]
    assert section["text"]["text"] == (
        "*oci · t · GenAI* · 2025-11-04\n"
        "Actual *12.50 USD* vs expected 0.00 USD (range 0.00 USD – 1.00 USD): "
        "*n/a (nothing expected)*\n"
        "Severity: *high*"
    )
