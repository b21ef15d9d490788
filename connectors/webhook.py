"""Cost anomaly alerts posted to an optional chat webhook (Slack incoming webhooks or anything
that accepts the same JSON), each anomaly once.

``send_alerts(url, alerts, ledger_path)`` posts the alerts whose ``anomaly_id`` is not yet in the
ledger, ``BATCH_SIZE`` (20) alerts per message: a message is a header block plus one section
block per alert, well under Slack's 50 blocks. A batch's ids are written to the ledger only
after the webhook answered 2xx, so an alert that could not be delivered is sent again by the next
run. Every batch is tried even if an earlier one failed. Delivery is at least once: if the
webhook accepted a message but its answer was lost (connection cut, timeout), the retry or the
next run sends it again, which is preferred to losing an alert.

Retries are urllib3's ``Retry`` on the session's ``HTTPAdapter``, POST included: connection
errors, read errors and 429, 500, 502, 503 and 504 are retried ``retries`` times. The waits grow
as ``backoff * 2**(n-1)`` seconds from the second retry on (the first retry is immediate; capped
at ``BACKOFF_MAX``); a ``Retry-After`` header on 429 or 503 is honoured instead, up to
``MAX_RETRY_AFTER`` seconds. Other answers (400 ``invalid_blocks``, 403, 404 ``no_service``,
410 ``channel_is_archived``, redirects) are not retried. A batch that still fails is counted in
``SendResult.failed`` with a short message; nothing is raised for it, so the pipeline can warn
and go on.

The URL is a secret (a Slack webhook URL embeds its token): it is only ever read from an
environment variable whose *name* is configured (``webhook_url_from_env``), and no message,
result, log record or exception of this module shows more of it than ``redacted(url)``, scheme
and host. urllib3 logs request paths (at DEBUG, and at WARNING when it retries a broken
connection); while a send is in progress those records are scrubbed of the URL's path and query.

The ledger is a small JSON file, ``{"sent": {"<anomaly_id>": "<UTC time sent>", ...}}``. A
missing ledger is an empty one; it is created (with its folder) when the first ids are recorded,
and every write goes to a temporary file in the same folder that then replaces it
(``os.replace``), so a crash never leaves half a ledger. Two runs sending at the same moment to
the same ledger may both send an alert: runs are expected not to overlap.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

DEFAULT_URL_ENV = "COSTLAKE_ALERT_WEBHOOK_URL"
BATCH_SIZE = 20  # alerts per message: 1 header + 20 sections, under Slack's 50-block limit
MAX_CONTRIBUTORS = 5  # contributors listed per alert, largest first
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_MAX = 30.0  # seconds, longest wait between two retries
MAX_RETRY_AFTER = 60.0  # seconds, longest Retry-After honoured (a longer one is shortened)
_SECTION_CHARS = 3000  # Slack's limit on a section's text
_HEADER_CHARS = 150  # Slack's limit on a header's text
_TEXT_CHARS = 3000  # the notification fallback is kept short
_SNIPPET_CHARS = 200  # of an error response's body, in SendResult.error
_SECRET_MIN_CHARS = 8  # path segments this long are scrubbed from logs and messages
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Number = float | int | Decimal


@dataclass(frozen=True)
class Alert:
    """One cost anomaly to announce.

    ``title`` names the provider and group (``"aws · 123456789012 · Amazon Bedrock"``).
    ``actual`` is the day's cost, ``expected`` the forecast and ``lower``/``upper`` its band,
    all in ``currency``. ``provisional``: the day's bill may still change. ``contributors`` are
    ``(dimension, value, contribution)``, the contribution being the part of
    ``actual - expected`` attributed to that value, in ``currency``.
    """

    anomaly_id: str
    title: str
    day: date
    currency: str
    actual: Number
    expected: Number
    lower: Number
    upper: Number
    severity: str
    provisional: bool = False
    contributors: Sequence[tuple[str, str, Number]] = ()
    link: str | None = None

    def __post_init__(self) -> None:
        # A tuple keeps the frozen alert hashable when given a list.
        object.__setattr__(self, "contributors", tuple(tuple(c) for c in self.contributors))


@dataclass(frozen=True)
class SendResult:
    """What ``send_alerts`` did, counted in distinct anomaly ids. ``error`` (None when nothing
    failed) says why the failed ones were not delivered, with the URL redacted."""

    sent: int = 0
    skipped_already_sent: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0


class LedgerError(ValueError):
    """The ledger file exists but is not a ledger this module wrote."""


# --- the URL, kept secret ------------------------------------------------------------------


def redacted(url: str) -> str:
    """Only the scheme and host (and port) of ``url``: ``https://hooks.slack.com/…``. User
    info, path and query are never shown."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        return "<webhook URL>"
    if not parts.scheme or not host:
        return "<webhook URL>"
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}/…"


def webhook_url_from_env(var: str = DEFAULT_URL_ENV) -> str | None:
    """The webhook URL held by environment variable ``var``; None when it is unset or empty
    (alerts are optional). ``ValueError`` when ``var`` is not a variable name (someone configured
    the URL itself) or its value is not an http(s) URL; neither message quotes the value."""
    if not _ENV_NAME.fullmatch(var):
        raise ValueError(
            "webhook_url_from_env takes the NAME of an environment variable holding the webhook "
            "URL, not the URL itself"
        )
    url = os.environ.get(var, "").strip()
    if not url:
        return None
    if not _is_http_url(url):
        raise ValueError(f"environment variable {var} does not hold an http(s) URL")
    return url


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _secrets_of(url: str) -> list[str]:
    """The pieces of ``url`` that must not appear anywhere, longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    pieces = {url, parts.path, parts.query}
    if parts.query:
        pieces.add(f"{parts.path}?{parts.query}")
    for piece in re.split(r"[/?&=]", f"{parts.path}?{parts.query}"):
        pieces.add(piece)
    pieces |= {unquote(p) for p in pieces}
    kept = [p for p in pieces if len(p) >= _SECRET_MIN_CHARS or p == url]
    kept += [p for p in {userinfo, unquote(userinfo)} if p and p not in kept]
    return sorted(kept, key=len, reverse=True)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text


class _LogScrubber(logging.Filter):
    """Removes the pieces of the URLs being sent from records of the loggers it is added to."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: Counter[str] = Counter()

    @contextmanager
    def hiding(self, secrets: Sequence[str]) -> Iterator[None]:
        with self._lock:
            self._secrets.update(secrets)
        try:
            yield
        finally:
            with self._lock:
                self._secrets.subtract(secrets)
                self._secrets = +self._secrets  # drop the ones no send needs any more

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep only its format string
            message = str(record.msg)
        clean = _scrub(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if _scrub(text, secrets) != text:  # the traceback, as text, stands in for it
                record.exc_text, record.exc_info = _scrub(text, secrets), None
        if record.stack_info:
            record.stack_info = _scrub(record.stack_info, secrets)
        return True


_SCRUBBER = _LogScrubber()
# Logger filters apply to the records a logger itself creates, so each urllib3 logger that can
# name a request URL gets one.
for _name in (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    __name__,
):
    logging.getLogger(_name).addFilter(_SCRUBBER)


# --- the message ---------------------------------------------------------------------------


def _money(amount: Number, currency: str, signed: bool = False) -> str:
    return f"{amount:{'+' if signed else ''},.2f} {currency}"


def _deviation(actual: Number, expected: Number) -> str:
    if float(expected) <= 0:
        return "n/a (nothing expected)"
    return f"{(float(actual) - float(expected)) / float(expected) * 100:+.1f} %"


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section_text(alert: Alert) -> str:
    cur = alert.currency
    day = alert.day.isoformat() + (" (provisional)" if alert.provisional else "")
    lines = [
        f"*{_escape(alert.title)}* · {day}",
        f"Actual *{_money(alert.actual, cur)}* vs expected {_money(alert.expected, cur)} "
        f"(range {_money(alert.lower, cur)} – {_money(alert.upper, cur)}): "
        f"*{_deviation(alert.actual, alert.expected)}*",
        f"Severity: *{_escape(alert.severity)}*",
    ]
    top = sorted(alert.contributors, key=lambda c: abs(float(c[2])), reverse=True)
    if top:
        lines.append("Top contributors:")
        lines += [
            f"• {_escape(str(dim))} = {_escape(str(value))}: {_money(amount, cur, signed=True)}"
            for dim, value, amount in top[:MAX_CONTRIBUTORS]
        ]
    if alert.link:
        link = _escape(alert.link).replace("|", "%7C")
        lines.append(f"<{link}|Details>")
    return _clip("\n".join(lines), _SECTION_CHARS)


def _headline(count: int) -> str:
    return f"{count} cost anomal{'y' if count == 1 else 'ies'}"


def slack_message(anomalies: list[Alert], part: tuple[int, int] | None = None) -> dict[str, Any]:
    """The JSON body announcing ``anomalies``: a ``text`` fallback (notifications, clients
    without blocks) and ``blocks``, a header then one section per anomaly with its group, day,
    actual vs expected cost, deviation, severity, top contributors and link. ``part``
    (n, of) marks one message of several in the header."""
    header = _headline(len(anomalies))
    if part and part[1] > 1:
        header += f" (message {part[0]} of {part[1]})"
    summary = "; ".join(
        f"{a.title} on {a.day.isoformat()}: {_money(a.actual, a.currency)} vs "
        f"{_money(a.expected, a.currency)} expected ({_deviation(a.actual, a.expected)})"
        for a in anomalies
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(header, _HEADER_CHARS)}}
    ]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": _section_text(a)}} for a in anomalies
    ]
    return {"text": _clip(f"{header}: {_escape(summary)}", _TEXT_CHARS), "blocks": blocks}


# --- the ledger ----------------------------------------------------------------------------


def read_ledger(path: Path) -> dict[str, str]:
    """Anomaly id → UTC time it was sent; empty when the ledger does not exist yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        sent = json.loads(text)["sent"]
        if not isinstance(sent, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in sent.items()
        ):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise LedgerError(
            f'{path}: not an alert ledger (expected JSON {{"sent": {{id: time}}}})'
        ) from None
    return sent


def _record(path: Path, ids: Iterable[str]) -> None:
    """Add ``ids`` (sent now) to the ledger, written aside then moved over it."""
    path = Path(path)
    sent = read_ledger(path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sent.update({anomaly_id: now for anomaly_id in ids})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"sent": sent}, out, indent=1, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- sending -------------------------------------------------------------------------------


class _Retry(Retry):
    """urllib3's ``Retry``, with Retry-After honoured on 429 and 503 only (not 413: a body too
    large stays too large) and never for longer than ``MAX_RETRY_AFTER``."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER)


def retry_policy(retries: int = 4, backoff: float = 0.5) -> Retry:
    """The retries of every POST (see the module's docstring)."""
    return _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"POST"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_max=BACKOFF_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is returned, not an exception
    )


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused"), found in
    the chain of causes; never the exceptions' own messages, which quote the URL."""
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.strerror, str):
            return current.strerror
        queue += [
            e
            for e in (
                current.__cause__,
                current.__context__,
                getattr(current, "reason", None),
                *current.args,
            )
            if isinstance(e, BaseException)
        ]
    return ""


def _failure(url: str, exc: BaseException, secrets: Sequence[str]) -> str:
    reason = _scrub(_os_reason(exc), secrets)
    return f"{redacted(url)}: {type(exc).__name__}" + (f": {reason}" if reason else "")


def _refusal(url: str, response: requests.Response, secrets: Sequence[str]) -> str:
    retries = getattr(getattr(response.raw, "retries", None), "history", ())
    attempts = len(retries) + 1
    body = " ".join((response.text or "")[: _SNIPPET_CHARS * 4].split())
    reason = " ".join(str(response.reason or "").split())
    text = f"{redacted(url)}: HTTP {response.status_code} {reason}".rstrip()
    text += f" after {attempts} attempt{'s' if attempts != 1 else ''}"
    if body:
        text += f": {_clip(_scrub(body, secrets), _SNIPPET_CHARS)}"
    return _scrub(text, secrets)


def _post(
    session: requests.Session, url: str, body: dict[str, Any], timeout: float, secrets: list[str]
) -> str | None:
    """POST one message; None when the webhook answered 2xx, else why not (URL redacted)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        response = session.post(
            url, data=data, headers=headers, timeout=timeout, allow_redirects=False
        )
    except Exception as exc:  # requests' messages quote the URL: only the class is kept
        return _failure(url, exc, secrets)
    with response:
        if 200 <= response.status_code < 300:
            return None
        return _refusal(url, response, secrets)


@contextmanager
def _retrying(session: requests.Session | None, url: str, adapter: HTTPAdapter):
    """``session`` (or a new one) with ``adapter`` mounted for the URL's origin; a given
    session gets its previous adapter back afterwards."""
    own = session is None
    use = requests.Session() if own else session
    parts = urlsplit(url)
    prefix = f"{parts.scheme}://{parts.netloc}/"
    previous = use.adapters.get(prefix)
    use.mount(prefix, adapter)
    try:
        yield use
    finally:
        if own:
            use.close()
        else:
            del use.adapters[prefix]
            if previous is not None:
                use.mount(prefix, previous)
        adapter.close()


def send_alerts(
    url: str,
    alerts: list[Alert],
    ledger_path: Path,
    *,
    timeout: float = 10,
    retries: int = 4,
    backoff: float = 0.5,
    session: requests.Session | None = None,
) -> SendResult:
    """Post the ``alerts`` not yet in the ledger at ``ledger_path`` to the webhook at ``url``,
    ``BATCH_SIZE`` per message, and record the ids of every message answered 2xx.

    ``timeout`` (seconds) bounds connecting and each wait for an answer; ``retries`` and
    ``backoff`` are described in the module's docstring. ``session``, when given, is used for
    the POSTs (its proxies, certificates, headers); the retrying adapter is mounted on it for
    the URL's origin during the call only. An alert id given twice counts once. Undelivered
    alerts are returned as ``failed`` (never raised); ``LedgerError`` or ``OSError`` are raised
    when the ledger cannot be read or written.
    """
    already = read_ledger(ledger_path)
    pending: dict[str, Alert] = {}
    skipped: set[str] = set()
    for alert in alerts:
        if alert.anomaly_id in already:
            skipped.add(alert.anomaly_id)
        else:
            pending.setdefault(alert.anomaly_id, alert)
    if not pending:
        return SendResult(skipped_already_sent=len(skipped))
    target = redacted(url)
    if not _is_http_url(url):
        error = "the webhook URL is not an http(s) URL"
        logger.warning("cost anomaly alerts not sent: %s", error)
        return SendResult(0, len(skipped), len(pending), error)

    todo = list(pending.values())
    batches = [todo[i : i + BATCH_SIZE] for i in range(0, len(todo), BATCH_SIZE)]
    secrets = _secrets_of(url)
    sent = failed = 0
    errors: list[str] = []
    adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff))
    with _SCRUBBER.hiding(secrets), _retrying(session, url, adapter) as use:
        for number, batch in enumerate(batches, start=1):
            body = slack_message(batch, part=(number, len(batches)))
            error = _post(use, url, body, timeout, secrets)
            if error is None:
                _record(ledger_path, (a.anomaly_id for a in batch))
                sent += len(batch)
            else:
                failed += len(batch)
                if error not in errors:
                    errors.append(error)
    if sent:
        logger.info("sent %d cost anomaly alert(s) to %s", sent, target)
    if failed:
        logger.warning(
            "%d cost anomaly alert(s) not delivered to %s (retried next run): %s",
            failed,
            target,
            "; ".join(errors),
        )
    return SendResult(sent, len(skipped), failed, "; ".join(errors) or None)
