"""Pending alerts of the lake's outbox posted to a real HTTP receiver on loopback: each once,
retried when nothing was received, never posted twice when the webhook is slow, and the
webhook URL (a secret) never shown. Expected texts and numbers are worked out by hand."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import urllib3
from webhook_receiver import PATH, TOKEN, Slow, receiving

from connectors import webhook
from connectors.webhook import (
    SendResult,
    deliver_pending,
    redacted,
    slack_message,
    webhook_url_from_env,
)
from costlake.alerts import OUTBOX_DIR, Alert, Outbox, OutboxError
from costlake.focus.lake import Lake

# Every piece of the URL's path that must never be shown.
SECRET_PARTS = [part for part in PATH.split("/") if part] + [PATH]
REPO = Path(__file__).resolve().parents[2]

BEDROCK = Alert(
    alert_id="3f9c0a1b2c3d4e5f-20251102",
    kind="anomaly",
    title="Cost anomaly · aws · 123456789012 · Amazon Bedrock · USD",
    lines=(
        "2025-11-02 (provisional): actual 1,250.00 USD, expected 400.00 USD: +212.5 %",
        "Top contributors:",
        "• model = claude-sonnet: +800.00 USD",
    ),
    severity="high",
    billing_period="2025-11",
)
VERTEX = Alert(
    alert_id="gcp-atlas-vertex-20251103",
    kind="anomaly",
    title="Cost anomaly · gcp · atlas-prod · Vertex AI · EUR",
    lines=(
        "2025-11-03: actual 90.00 EUR, expected 120.00 EUR: -25.0 %",
        "• sku = Gemini <flash> & co",
    ),
    severity="low",
    billing_period="2025-11",
)

# By hand: the title in bold, each line as given, then the severity; Slack mrkdwn escapes < > &.
BEDROCK_SECTION = "\n".join(
    [
        "*Cost anomaly · aws · 123456789012 · Amazon Bedrock · USD*",
        "2025-11-02 (provisional): actual 1,250.00 USD, expected 400.00 USD: +212.5 %",
        "Top contributors:",
        "• model = claude-sonnet: +800.00 USD",
        "Severity: *high*",
    ]
)
VERTEX_SECTION = "\n".join(
    [
        "*Cost anomaly · gcp · atlas-prod · Vertex AI · EUR*",
        "2025-11-03: actual 90.00 EUR, expected 120.00 EUR: -25.0 %",
        "• sku = Gemini &lt;flash&gt; &amp; co",
        "Severity: *low*",
    ]
)


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(Lake(tmp_path / "lake"))


def numbered(count: int) -> list[Alert]:
    return [
        Alert(f"a{n:02d}", "budget", f"Budget S{n}", (f"line {n}",), "medium", "2025-11")
        for n in range(count)
    ]


def sections(body: bytes) -> list[str]:
    message = json.loads(body)
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def block_ids(body: bytes) -> list[str]:
    return [b["block_id"] for b in json.loads(body)["blocks"] if b["type"] == "section"]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for part in SECRET_PARTS:
            assert part not in text


def outbox_text(outbox: Outbox) -> str:
    folder = Path(outbox.folder)
    return "\n".join(p.read_text() for p in sorted(folder.iterdir()) if p.is_file())


def test_an_alert_is_delivered_once(outbox):
    with receiving() as hook:
        assert outbox.add([BEDROCK]) == 1
        first = deliver_pending(outbox, hook.url, backoff=0)
        assert outbox.add([BEDROCK]) == 0  # the next run finds it again: a known id
        second = deliver_pending(outbox, hook.url, backoff=0)
    assert first == SendResult(sent=1, failed=0, pending=0, error=None)
    assert second == SendResult()
    assert len(hook.received) == 1
    assert hook.received[0].path == PATH
    assert outbox.pending() == []
    # One record and its delivery mark, nothing half-written left behind.
    names = sorted(p.name for p in Path(outbox.folder).iterdir())
    assert names == [f"{BEDROCK.alert_id}.delivered.json", f"{BEDROCK.alert_id}.json"]


def test_a_new_alert_on_a_later_run_is_sent_alone(outbox):
    with receiving() as hook:
        outbox.add([BEDROCK])
        deliver_pending(outbox, hook.url, backoff=0)
        assert outbox.add([BEDROCK, VERTEX]) == 1
        later = deliver_pending(outbox, hook.url, backoff=0)
    assert (later.sent, later.failed, later.pending) == (1, 0, 0)
    assert len(hook.delivered) == 2
    assert sections(hook.delivered[1]) == [VERTEX_SECTION]


def test_500_and_503_are_retried_and_one_message_is_delivered(outbox):
    outbox.add([BEDROCK])
    with receiving([500, 503]) as hook:
        result = deliver_pending(outbox, hook.url, backoff=0)
    assert result == SendResult(sent=1)
    assert [r.status for r in hook.received] == [500, 503, 200]
    assert len({r.body for r in hook.received}) == 1  # the same message, three times
    [body] = hook.delivered
    message = json.loads(body)
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "1 cost alert"},
    }
    assert message["blocks"][1]["block_id"] == BEDROCK.alert_id
    assert sections(body) == [BEDROCK_SECTION]
    assert message["text"] == (
        "1 cost alert: Cost anomaly · aws · 123456789012 · Amazon Bedrock · USD: "
        "2025-11-02 (provisional): actual 1,250.00 USD, expected 400.00 USD: +212.5 %"
    )


@pytest.mark.parametrize("wait", ["0", "1"])
def test_429_is_retried_after_the_time_asked(outbox, wait, monkeypatch):
    # The waits urllib3 asks for are recorded (and not slept): the test needs no clock.
    waits: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", waits.append)
    outbox.add([BEDROCK])
    with receiving([(429, {"Retry-After": wait})]) as hook:
        result = deliver_pending(outbox, hook.url, backoff=0)
    assert result.sent == 1
    assert [r.status for r in hook.received] == [429, 200]
    # Only the Retry-After wait is more than nothing (backoff=0 asks for 0 s).
    assert [w for w in waits if w] == ([float(wait)] if wait != "0" else [])


def test_a_long_retry_after_is_shortened(outbox, monkeypatch):
    monkeypatch.setattr(webhook, "MAX_RETRY_AFTER", 0.2)
    outbox.add([BEDROCK])
    with receiving([(429, {"Retry-After": "3600"})]) as hook:
        result = deliver_pending(outbox, hook.url, backoff=0)
    assert result.sent == 1
    assert [r.status for r in hook.received] == [429, 200]  # it did not wait an hour


def test_an_outage_beyond_the_retries_then_recovery_delivers_the_pending_once(outbox, caplog):
    caplog.set_level(logging.DEBUG)
    with receiving() as hook:
        outbox.add([BEDROCK])
        deliver_pending(outbox, hook.url, backoff=0)
        hook.then = 500  # the outage
        outbox.add([BEDROCK, VERTEX])
        down = deliver_pending(outbox, hook.url, retries=4, backoff=0)
        # The next night the anomaly is "unchanged": its producer adds nothing new, yet the
        # alert not delivered is still pending, and the recovered webhook gets it once.
        hook.then = 200
        outbox.add([BEDROCK, VERTEX])
        up = deliver_pending(outbox, hook.url, backoff=0)
        after = deliver_pending(outbox, hook.url, backoff=0)
    assert (down.sent, down.failed, down.pending) == (0, 1, 1)
    assert not down.ok
    assert [r.status for r in hook.received] == [200] + [500] * 5 + [200]  # 1 + 4 retries
    assert (up.sent, up.failed, up.pending) == (1, 0, 0)
    assert after == SendResult()
    assert [block_ids(body) for body in hook.delivered] == [[BEDROCK.alert_id], [VERTEX.alert_id]]
    port = hook.server_address[1]
    assert down.error.startswith(f"http://127.0.0.1:{port}/…: HTTP 500 ")
    assert "after 5 attempts" in down.error
    assert "no luck at …" in down.error  # the receiver's answer, its path taken out
    assert outbox.failures(VERTEX.alert_id)["attempts"] == 1
    assert_no_secret(down.error, caplog.text, outbox_text(outbox))
    assert any(
        r.levelno == logging.WARNING and "not delivered" in r.message for r in caplog.records
    )
    # urllib3 did log each request; its records were scrubbed, not dropped.
    assert any(r.name.startswith("urllib3") and "POST" in r.getMessage() for r in caplog.records)


def test_a_webhook_answering_after_ten_seconds_gets_the_message_once(outbox):
    """Before, a 10 s read timeout gave up and urllib3 posted the message again; the wait for
    an answer is now 60 s and a sent POST is never repeated."""
    outbox.add([BEDROCK, VERTEX])
    with receiving([Slow(10.0)]) as hook:
        result = deliver_pending(outbox, hook.url, backoff=0)
    assert result == SendResult(sent=2)
    assert len(hook.received) == 1
    assert block_ids(hook.received[0].body) == [BEDROCK.alert_id, VERTEX.alert_id]


def test_a_message_sent_but_not_answered_in_time_is_not_posted_again_in_the_run(outbox):
    outbox.add([BEDROCK])
    with receiving([Slow(1.5)]) as hook:
        late = deliver_pending(outbox, hook.url, read_timeout=0.3, backoff=0)
        assert len(hook.received) == 1  # no retry of a request the webhook may hold
        time.sleep(1.5)  # the receiver finishes its slow answer
        later = deliver_pending(outbox, hook.url, backoff=0)
    assert (late.sent, late.failed, late.pending) == (0, 1, 1)
    assert late.error.endswith("no answer within 0.3 s (not sent again this run)")
    assert_no_secret(late.error)
    # Not knowing whether it arrived, the next run sends it: at least once, never lost.
    assert later.sent == 1 and len(hook.received) == 2


def test_connection_refused_is_retried_then_a_failure_with_the_url_redacted(outbox, caplog):
    caplog.set_level(logging.DEBUG)
    with receiving() as hook:
        url = hook.url
        port = hook.server_address[1]
    outbox.add([BEDROCK])
    result = deliver_pending(outbox, url, retries=2, backoff=0)
    assert (result.sent, result.failed, result.pending) == (0, 1, 1)
    assert result.error.startswith(f"http://127.0.0.1:{port}/…: ConnectionError")
    assert "refused" in result.error
    assert [a.alert_id for a in outbox.pending()] == [BEDROCK.alert_id]
    assert_no_secret(result.error, caplog.text)
    retried = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retried) == 2  # urllib3's warnings, one per retry, path taken out


def test_the_body_is_json_with_text_and_blocks_each_with_its_alert_id(outbox):
    outbox.add([BEDROCK, VERTEX])
    with receiving() as hook:
        deliver_pending(outbox, hook.url, backoff=0)
    [request] = hook.received
    assert request.headers["Content-Type"].startswith("application/json")
    message = json.loads(request.body.decode("utf-8"))
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith("2 cost alerts: ")
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section"]
    assert message["blocks"][0]["text"]["text"] == "2 cost alerts"
    assert sections(request.body) == [BEDROCK_SECTION, VERTEX_SECTION]
    assert block_ids(request.body) == [BEDROCK.alert_id, VERTEX.alert_id]


def test_alerts_are_sent_twenty_per_message(outbox):
    outbox.add(numbered(45))
    with receiving() as hook:
        result = deliver_pending(outbox, hook.url, backoff=0)
    assert result == SendResult(sent=45)
    bodies = [json.loads(b) for b in hook.delivered]
    assert [len(b["blocks"]) for b in bodies] == [21, 21, 6]  # header + 20, 20, 5 sections
    assert [b["blocks"][0]["text"]["text"] for b in bodies] == [
        "20 cost alerts (message 1 of 3)",
        "20 cost alerts (message 2 of 3)",
        "5 cost alerts (message 3 of 3)",
    ]
    assert sorted(i for b in hook.delivered for i in block_ids(b)) == [
        f"a{n:02d}" for n in range(45)
    ]


def test_only_the_delivered_batch_is_marked(outbox):
    outbox.add(numbered(25))
    with receiving([200, 400]) as hook:
        first = deliver_pending(outbox, hook.url, backoff=0)
        second = deliver_pending(outbox, hook.url, backoff=0)
    assert (first.sent, first.failed, first.pending) == (20, 5, 5)
    assert "HTTP 400" in first.error and "after 1 attempt:" in first.error  # 400: no retry
    assert (second.sent, second.failed, second.pending) == (5, 0, 0)
    assert [r.status for r in hook.received] == [200, 400, 200]
    assert sections(hook.received[2].body) == sections(hook.received[1].body)


def test_a_given_session_is_used_and_given_back_unchanged(outbox):
    session = requests.Session()
    adapters = dict(session.adapters)
    outbox.add([BEDROCK])
    with receiving([503]) as hook:
        result = deliver_pending(outbox, hook.url, session=session)
    assert result.sent == 1
    assert [r.status for r in hook.received] == [503, 200]
    assert session.adapters == adapters
    session.close()


def test_nothing_pending_makes_no_request(outbox):
    with receiving() as hook:
        assert deliver_pending(outbox, hook.url) == SendResult()
    assert hook.received == []


def test_a_broken_outbox_record_stops_before_sending(outbox):
    outbox.add([BEDROCK])
    (Path(outbox.folder) / f"{BEDROCK.alert_id}.json").write_text("[1, 2")
    with receiving() as hook, pytest.raises(OutboxError, match="not an alert outbox record"):
        deliver_pending(outbox, hook.url)
    assert hook.received == []


def test_a_url_that_is_not_http_fails_without_showing_it(outbox):
    outbox.add([BEDROCK])
    result = deliver_pending(outbox, f"ftp://hooks.example{PATH}")
    assert (result.sent, result.failed, result.pending) == (0, 1, 1)
    assert_no_secret(result.error, outbox_text(outbox))


# Two runs of the anomaly step at once, each from its own working folder, on the lake of one
# configuration (the built-in default's, in the costlake home): they add the same alerts and
# deliver; the webhook answers slowly so their deliveries overlap.
RUN = """
import json, sys, time
from pathlib import Path
from costlake.alerts import Alert, Outbox
from costlake.config import load_settings
from costlake.focus.lake import Lake
from connectors.webhook import deliver_pending
url, go = sys.argv[1], Path(sys.argv[2])
lake = load_settings().lake_root
alerts = [Alert(f"a{n}", "anomaly", f"A{n}", ("x",), "high", "2025-11") for n in range(3)]
Path("ready").write_text("")
while not go.exists():
    time.sleep(0.01)
outbox = Outbox(Lake(lake))
added = outbox.add(alerts)
result = deliver_pending(outbox, url, backoff=0)
print(json.dumps([added, result.sent, result.pending]))
"""


def test_two_runs_at_once_from_two_working_folders_send_each_alert_once(tmp_path):
    lake, go = tmp_path / "home" / "lake", tmp_path / "go"
    folders = [tmp_path / "run-a", tmp_path / "run-b"]
    env = {k: v for k, v in os.environ.items() if k != "COSTLAKE_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    env["COSTLAKE_HOME"] = str(tmp_path / "home")
    with receiving(then=Slow(1.0)) as hook:
        runs = []
        for folder in folders:
            folder.mkdir()
            runs.append(
                subprocess.Popen(
                    [sys.executable, "-c", RUN, hook.url, str(go)],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + 60
        while not all((f / "ready").exists() for f in folders) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.write_text("")
        outputs = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    # Each alert was added by one run only, and posted once in all.
    assert sum(added for added, _, _ in outputs) == 3
    assert sum(sent for _, sent, _ in outputs) == 3
    assert sorted(i for r in hook.received for i in block_ids(r.body)) == ["a0", "a1", "a2"]
    assert not any(
        f.name.startswith(".") or f.suffix == ".tmp" for f in (lake / OUTBOX_DIR).iterdir()
    )
    assert [f.name for f in folders[0].iterdir()] == ["ready"]  # nothing kept in the working folder


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


def test_a_long_section_is_clipped_to_slacks_limit():
    long = Alert("long", "anomaly", "T", ("x" * 4000,), "high", "2025-11")
    [_, section] = slack_message([long])["blocks"]
    assert len(section["text"]["text"]) == 3000  # Slack refuses a longer section
    assert section["text"]["text"].endswith("…")
