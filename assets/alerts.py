"""Announcing alerts from an asset: add them to the lake's outbox, then deliver what is pending.

Every producer (anomalies now, budgets later) calls ``announce`` with the ``Alert``s it built;
delivery is the same step for every kind, and the metadata it returns holds counts only (the
webhook URL is a secret, and error texts go to the run's log, already redacted).
"""

from dagster import AssetExecutionContext

from connectors.webhook import deliver_pending, webhook_url_from_env
from costlake.alerts import Alert, Outbox
from costlake.focus.lake import Lake


def announce(
    context: AssetExecutionContext, lake: Lake, alerts: list[Alert], url_env: str | None
) -> dict[str, int]:
    """Add ``alerts`` to the outbox and post every pending alert to the webhook whose URL the
    environment variable ``url_env`` holds; the counts to record as metadata. Without
    ``url_env`` alerts are off: nothing is added, so turning them on later does not announce
    the past. With ``url_env`` set but the variable empty, alerts wait in the outbox."""
    if not url_env:
        return {}
    outbox = Outbox(lake)
    counts = {"alerts_added": outbox.add(alerts)}
    try:
        url = webhook_url_from_env(url_env)
    except ValueError as exc:  # the message names the variable, never its value
        context.log.warning(f"alerts: {exc}; they stay pending")
        url = None
    if url is None:
        pending = len(outbox.pending())
        context.log.warning(f"alerts: ${url_env} holds no webhook URL; {pending} pending")
        return {**counts, "alerts_sent": 0, "alerts_failed": 0, "alerts_pending": pending}
    result = deliver_pending(outbox, url)
    if result.error:
        context.log.warning(f"alerts: {result.failed} not delivered: {result.error}")
    return {
        **counts,
        "alerts_sent": result.sent,
        "alerts_failed": result.failed,
        "alerts_pending": result.pending,
    }
