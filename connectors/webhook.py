"""Alerts posted to an optional chat webhook (Slack incoming webhooks or anything that accepts
the same JSON): the pending alerts of the lake's outbox (``costlake.alerts``), each once.

``deliver_pending(outbox, url)`` takes the outbox's delivery lease (one run delivers at a time),
posts the pending alerts ``BATCH_SIZE`` (20) per message, a header block plus one section block
per alert whose ``block_id`` is the alert id, and marks each message's alerts delivered as soon
as the webhook answered 2xx, or failed (still pending, tried again by the next run) when it did
not. Every batch is tried even if an earlier one failed; nothing is raised for a failed batch,
so the pipeline can warn and go on.

Each message is posted once, even to a slow webhook: the wait for an answer is generous
(``read_timeout``, 60 s), and a POST whose request was sent is never sent again in the same run,
whether its answer was late, cut or lost (urllib3's ``Retry`` with ``read=False``). What is
retried is what the webhook never received or refused outright: connection errors (``retries``
times) and answers 429, 500, 502, 503 and 504. The waits grow as ``backoff * 2**(n-1)`` seconds
from the second retry on (the first retry is immediate; capped at ``BACKOFF_MAX``); a
``Retry-After`` header on 429 or 503 is honoured instead, up to ``MAX_RETRY_AFTER`` seconds.
Other answers (400 ``invalid_blocks``, 403, 404 ``no_service``, 410 ``channel_is_archived``,
redirects) are not retried. A message whose answer never came is left pending, so the next run
sends it again: an alert may, rarely, arrive twice, but is never lost.

The URL is a secret (a Slack webhook URL embeds its token): it is only ever read from an
environment variable whose *name* is configured (``webhook_url_from_env``), and no message,
result, log record, outbox record or exception of this module shows more of it than
``redacted(url)``, scheme and host. urllib3 logs request paths (at DEBUG, and at WARNING when it
retries a broken connection); while a delivery is in progress those records are scrubbed of the
URL's path and query.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from costlake.alerts import Alert, Outbox

logger = logging.getLogger(__name__)

DEFAULT_URL_ENV = "COSTLAKE_ALERT_WEBHOOK_URL"
BATCH_SIZE = 20  # alerts per message: 1 header + 20 sections, under Slack's 50-block limit
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_MAX = 30.0  # seconds, longest wait between two retries
MAX_RETRY_AFTER = 60.0  # seconds, longest Retry-After honoured (a longer one is shortened)
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (retried: nothing was sent yet)
READ_TIMEOUT = 60.0  # seconds to wait for an answer once a message was sent (never retried)
_SECTION_CHARS = 3000  # Slack's limit on a section's text
_HEADER_CHARS = 150  # Slack's limit on a header's text
_TEXT_CHARS = 3000  # the notification fallback is kept short
_SNIPPET_CHARS = 200  # of an error response's body, in SendResult.error
_SECRET_MIN_CHARS = 8  # path segments this long are scrubbed from logs and messages
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class SendResult:
    """What ``deliver_pending`` did, in alerts: ``sent`` now, ``failed`` now (tried and not
    delivered), ``pending`` (still to deliver afterwards, failed ones included). ``error``
    (None when nothing failed) says why, with the URL redacted."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.error is None


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


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section_text(alert: Alert) -> str:
    lines = [f"*{_escape(alert.title)}*", *map(_escape, alert.lines)]
    lines.append(f"Severity: *{_escape(alert.severity)}*")
    return _clip("\n".join(lines), _SECTION_CHARS)


def _headline(count: int) -> str:
    return f"{count} cost alert{'' if count == 1 else 's'}"


def slack_message(alerts: Sequence[Alert], part: tuple[int, int] | None = None) -> dict[str, Any]:
    """The JSON body announcing ``alerts``: a ``text`` fallback (notifications, clients without
    blocks) and ``blocks``, a header then one section per alert (title, lines, severity) whose
    ``block_id`` is the alert id. ``part`` (n, of) marks one message of several in the header."""
    header = _headline(len(alerts))
    if part and part[1] > 1:
        header += f" (message {part[0]} of {part[1]})"
    summary = "; ".join(f"{a.title}: {a.lines[0]}" if a.lines else a.title for a in alerts)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(header, _HEADER_CHARS)}}
    ]
    blocks += [
        {
            "type": "section",
            "block_id": a.alert_id,
            "text": {"type": "mrkdwn", "text": _section_text(a)},
        }
        for a in alerts
    ]
    return {"text": _clip(f"{header}: {_escape(summary)}", _TEXT_CHARS), "blocks": blocks}


# --- sending -------------------------------------------------------------------------------


class _Retry(Retry):
    """urllib3's ``Retry``, with Retry-After honoured on 429 and 503 only (not 413: a body too
    large stays too large) and never for longer than ``MAX_RETRY_AFTER``."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER)


def retry_policy(retries: int = 4, backoff: float = 0.5) -> Retry:
    """The retries of every POST (see the module's docstring): connection errors and refusals
    (429, 5xx), never a request that was sent and not answered in time."""
    return _Retry(
        total=retries,
        connect=retries,
        read=False,  # the webhook may have the message: sending it again would repeat it
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
    session: requests.Session,
    url: str,
    body: dict[str, Any],
    timeout: tuple[float, float],
    secrets: list[str],
) -> str | None:
    """POST one message; None when the webhook answered 2xx, else why not (URL redacted)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        response = session.post(
            url, data=data, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.exceptions.ReadTimeout:
        return f"{redacted(url)}: no answer within {timeout[1]:g} s (not sent again this run)"
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


def deliver_pending(
    outbox: Outbox,
    url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    retries: int = 4,
    backoff: float = 0.5,
    wait: float = 120.0,
    session: requests.Session | None = None,
) -> SendResult:
    """Post the ``outbox``'s pending alerts to the webhook at ``url``, ``BATCH_SIZE`` per
    message, marking each message's alerts delivered (answered 2xx) or failed (still pending).

    ``connect_timeout`` bounds opening a connection (retried), ``read_timeout`` the wait for an
    answer to a message sent (never retried); ``retries`` and ``backoff`` are described in the
    module's docstring. ``wait`` is how long to wait for another run's delivery lease before
    leaving the alerts pending. ``session``, when given, is used for the POSTs (its proxies,
    certificates, headers); the retrying adapter is mounted on it for the URL's origin during
    the call only. Undelivered alerts are counted (never raised); ``OutboxError`` or
    ``OSError`` are raised when the outbox cannot be read or written.
    """
    target = redacted(url)
    with outbox.delivering(wait=wait) as lease:
        if lease is None:
            error = "another run is delivering alerts; these stay pending for the next run"
            return SendResult(pending=len(outbox.pending()), error=error)
        todo = outbox.pending()  # read under the lease: what another run sent is not here
        if not todo:
            return SendResult()
        if not _is_http_url(url):
            error = "the webhook URL is not an http(s) URL"
            outbox.mark_failed((a.alert_id for a in todo), error)
            logger.warning("cost alerts not sent: %s", error)
            return SendResult(failed=len(todo), pending=len(todo), error=error)
        batches = [todo[i : i + BATCH_SIZE] for i in range(0, len(todo), BATCH_SIZE)]
        secrets = _secrets_of(url)
        sent = failed = 0
        errors: list[str] = []
        adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff))
        with _SCRUBBER.hiding(secrets), _retrying(session, url, adapter) as use:
            for number, batch in enumerate(batches, start=1):
                lease.renew()
                body = slack_message(batch, part=(number, len(batches)))
                error = _post(use, url, body, (connect_timeout, read_timeout), secrets)
                ids = [a.alert_id for a in batch]
                if error is None:
                    outbox.mark_delivered(ids)
                    sent += len(batch)
                else:
                    outbox.mark_failed(ids, error)
                    failed += len(batch)
                    if error not in errors:
                        errors.append(error)
    if sent:
        logger.info("sent %d cost alert(s) to %s", sent, target)
    if failed:
        logger.warning(
            "%d cost alert(s) not delivered to %s (pending for the next run): %s",
            failed,
            target,
            "; ".join(errors),
        )
    return SendResult(sent, failed, len(todo) - sent, "; ".join(errors) or None)
