"""The demo's application side: the LLM calls behind its Bedrock bill, and direct API use.

Two applications log their model calls:

* ``support-bot`` (prod inference) answers customer questions through Amazon Bedrock with Claude
  3 Haiku, one to three calls per question (a query rewrite, a retrieval-grounded answer, a
  follow-up), logged as OpenTelemetry GenAI spans. Its tokens are exactly what the AWS demo
  bill's ``USE1-Claude3Haiku-*-tokens`` lines charge: the bill is built from these calls.
* ``eval-harness`` (atlas, dev, evaluation) calls OpenAI's API directly through a LiteLLM proxy
  with prompt caching: no cloud bill has a line for it, so its cost is a catalog estimate. About
  one call in twelve times out after the prompt was read (its input tokens are charged, LiteLLM
  logs ``status = failure``) and is retried once in the same session, which succeeds: the
  failed and retried calls of the ``ai_failed_calls`` mart. Whether a call times out is drawn
  from a generator of its own, so the harness's other calls are those of earlier demos.

The other Bedrock lines of the demo bill (Nova Lite, Claude Sonnet 4.5) have no logs: their cost
shows as billed but unattributed, as it would for an application that does not trace its calls.
Calls are drawn from a generator seeded per day, so a day's calls are the same in every delivery.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SUPPORT_BOT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EVAL_MODEL = "gpt-4o-mini-2024-07-18"
SUPPORT_BOT_TAGS = {
    "project": "support-bot",
    "environment": "prod",
    "cost_center": "CC-2300",
    "workload_type": "inference",
    "team": "support",
}
EVAL_TAGS = {
    "project": "atlas",
    "environment": "dev",
    "cost_center": "CC-4100",
    "workload_type": "evaluation",
    "team": "ml-research",
}
_NAMESPACE = uuid.UUID("0d5c2a8e-7b1f-4e0a-9c3d-2f6b8e1a4c70")


@dataclass(frozen=True)
class DemoCall:
    """One logged model call."""

    app: str
    trace_id: str
    span_id: str
    start: datetime
    end: datetime
    provider: str  # the OpenTelemetry gen_ai.provider.name
    model: str
    input_tokens: int  # all input tokens, cached ones included (OpenAI convention)
    cache_read_tokens: int
    output_tokens: int
    ok: bool
    user: str


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _support_bot(day: date, rng: random.Random) -> Iterator[DemoCall]:
    questions = rng.randint(120, 200) if day.weekday() < 5 else rng.randint(60, 100)
    for _ in range(questions):
        trace = _hex(rng, 32)
        user = f"customer-{rng.randint(1, 400):04d}"
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randint(0, 86_000)
        )
        for _call in range(rng.choice((1, 1, 2, 2, 2, 3))):
            ok = rng.random() >= 0.03  # throttled or failed calls: Bedrock bills them nothing
            seconds = rng.uniform(0.4, 3.5)
            yield DemoCall(
                app="support-bot",
                trace_id=trace,
                span_id=_hex(rng, 16),
                start=moment,
                end=moment + timedelta(seconds=seconds),
                provider="aws.bedrock",
                model=SUPPORT_BOT_MODEL,
                input_tokens=rng.randint(1_500, 2_500) if ok else 0,
                cache_read_tokens=0,
                output_tokens=rng.randint(300, 700) if ok else 0,
                ok=ok,
                user=user,
            )
            moment += timedelta(seconds=seconds + rng.uniform(0.05, 0.5))


def _eval_harness(day: date, rng: random.Random, timeouts: random.Random) -> Iterator[DemoCall]:
    if day.weekday() >= 5:
        return
    for _ in range(rng.randint(30, 50)):
        start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(
            seconds=rng.randint(0, 30_000)
        )
        prompt = rng.randint(3_000, 6_000)
        call = DemoCall(
            app="eval-harness",
            trace_id=_hex(rng, 32),
            span_id=_hex(rng, 16),
            start=start,
            end=start + timedelta(seconds=rng.uniform(1.0, 6.0)),
            provider="openai",
            model=EVAL_MODEL,
            input_tokens=prompt,
            cache_read_tokens=rng.choice((0, 1_024, 2_048)),  # OpenAI caches in 1,024 blocks
            output_tokens=rng.randint(100, 400),
            ok=True,
            user="eval-runner",
        )
        if timeouts.random() < 1 / 12:
            # Timed out after the prompt was read: input charged, no answer; retried at once.
            waited = timedelta(seconds=30)
            yield replace(call, end=call.start + waited, output_tokens=0, ok=False)
            call = replace(
                call,
                span_id=_hex(timeouts, 16),
                start=call.start + waited,
                end=call.end + waited,
            )
        yield call


def demo_calls(day: date, seed: int = 7) -> list[DemoCall]:
    """Every logged call of one day, the same for every delivery that covers the day."""
    support = random.Random(f"{seed}:support-bot:{day.isoformat()}")
    evals = random.Random(f"{seed}:eval-harness:{day.isoformat()}")
    timeouts = random.Random(f"{seed}:eval-timeouts:{day.isoformat()}")
    return [*_support_bot(day, support), *_eval_harness(day, evals, timeouts)]


def support_bot_tokens(day: date, seed: int = 7) -> tuple[int, int]:
    """(input, output) tokens of the day's support-bot calls: what the Bedrock bill charges."""
    calls = [c for c in demo_calls(day, seed) if c.app == "support-bot"]
    return sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def otel_span(call: DemoCall) -> dict:
    """A call as one flat OpenTelemetry GenAI client span (JSON lines export)."""
    span = {
        "trace_id": call.trace_id,
        "span_id": call.span_id,
        "name": f"chat {call.model}",
        "start_time": call.start.isoformat(),
        "end_time": call.end.isoformat(),
        "status": "OK" if call.ok else "ERROR",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.model,
        "gen_ai.response.model": call.model,
        "gen_ai.usage.input_tokens": call.input_tokens,
        "gen_ai.usage.output_tokens": call.output_tokens,
        "user.id": call.user,
        **SUPPORT_BOT_TAGS,
    }
    if not call.ok:
        span["error.type"] = "ThrottlingException"
    return span


def litellm_spend_row(call: DemoCall) -> dict:
    """A call as one row of LiteLLM's ``LiteLLM_SpendLogs`` table (JSON lines export)."""
    request_id = str(uuid.uuid5(_NAMESPACE, call.span_id))
    return {
        "request_id": f"chatcmpl-{request_id}",
        "call_type": "acompletion",
        "startTime": call.start.isoformat(),
        "endTime": call.end.isoformat(),
        "model": call.model,
        "model_group": "gpt-4o-mini",
        "custom_llm_provider": "openai",
        "prompt_tokens": call.input_tokens,
        "completion_tokens": call.output_tokens,
        "total_tokens": call.input_tokens + call.output_tokens,
        "user": call.user,
        "end_user": "",
        "team_id": EVAL_TAGS["team"],
        "session_id": call.trace_id,
        "status": "success" if call.ok else "failure",
        "request_tags": json.dumps([f"{k}:{v}" for k, v in EVAL_TAGS.items()]),
        "metadata": json.dumps(
            {"usage_object": {"prompt_tokens_details": {"cached_tokens": call.cache_read_tokens}}}
        ),
    }


def write_demo_request_logs(
    root: Path, days: Sequence[date], seed: int = 7
) -> dict[str, list[Path]]:
    """The demo's request logs under ``root``: ``otel/<month>.jsonl`` from the support bot and
    ``litellm/<month>.jsonl`` from the eval harness, one file per month of ``days``."""
    root = Path(root)
    by_month: dict[str, list[date]] = {}
    for day in sorted(days):
        by_month.setdefault(f"{day:%Y-%m}", []).append(day)
    written: dict[str, list[Path]] = {"otel": [], "litellm": []}
    for month, month_days in by_month.items():
        files = {kind: root / kind / f"{month}.jsonl" for kind in written}
        for path in files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(files["otel"], "w") as otel, open(files["litellm"], "w") as litellm:
            for day in month_days:
                for call in demo_calls(day, seed):
                    if call.app == "support-bot":
                        otel.write(json.dumps(otel_span(call)) + "\n")
                    else:
                        litellm.write(json.dumps(litellm_spend_row(call)) + "\n")
        for kind, path in files.items():
            written[kind].append(path)
    return written
