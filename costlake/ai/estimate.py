"""What a workload would cost a month on one model or another, from the price catalog.

A planning estimate, not a bill: list prices of the catalog version named in the result, the
same token counts for every query, no free tiers, discounts or commitments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from costlake.ai.prices import PER, PriceCatalog, request_cost


@dataclass(frozen=True)
class WorkloadEstimate:
    """A workload's monthly cost on one model (USD).

    ``input_cost`` covers every input token, cached ones included; ``monthly_cost`` =
    ``input_cost`` + ``output_cost`` = ``per_query_cost`` x queries per day x days. The two
    saving fields are filled by ``compare_models`` (percent of the other model's cost).
    """

    model: str
    provider: str
    monthly_cost: float
    per_query_cost: float
    input_cost: float
    output_cost: float
    catalog_version: str
    price_date: date
    model_requested: str = ""
    saving_vs_most_expensive_pct: float | None = None
    saving_vs_baseline_pct: float | None = None
    baseline: str | None = None


def monthly_cost(
    catalog: PriceCatalog,
    model: str,
    queries_per_day: float,
    input_tokens: float,
    output_tokens: float,
    days: int = 30,
    cached_share: float = 0.0,
    day: date | None = None,
    *,
    provider: str | None = None,
    batch: bool = False,
) -> WorkloadEstimate:
    """The cost of ``queries_per_day`` queries of ``input_tokens`` in and ``output_tokens`` out,
    over ``days`` days, at the prices in force on ``day`` (default: today).

    ``cached_share`` is the share of input tokens read from the prompt cache (0..1), priced at
    the cache-read rate; ``batch`` prices at the batch rates where the catalog has them.
    """
    for label, value in (
        ("queries_per_day", queries_per_day),
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("days", days),
    ):
        if value < 0:
            raise ValueError(f"{label} must be >= 0, got {value}")
    if not 0.0 <= cached_share <= 1.0:
        raise ValueError(f"cached_share must be between 0 and 1, got {cached_share}")
    day = day or date.today()
    price = catalog.price(model, day, provider=provider)
    cached = input_tokens * cached_share
    per_query = request_cost(price, input_tokens, cached, 0, output_tokens, batch=batch)
    # The output rate depends on the input size too (long-context tier).
    output_rate = price.rate("output", long=price.is_long(input_tokens), batch=batch) or 0.0
    per_query_output = output_tokens * output_rate / PER
    queries = queries_per_day * days
    return WorkloadEstimate(
        model=price.model,
        provider=price.provider,
        monthly_cost=per_query * queries,
        per_query_cost=per_query,
        input_cost=(per_query - per_query_output) * queries,
        output_cost=per_query_output * queries,
        catalog_version=price.catalog_version,
        price_date=day,
        model_requested=model,
    )


def _saving_pct(cost: float, reference: float) -> float | None:
    if reference <= 0:
        return None
    return (reference - cost) / reference * 100.0


def compare_models(
    catalog: PriceCatalog,
    models: Iterable[str],
    queries_per_day: float,
    input_tokens: float,
    output_tokens: float,
    days: int = 30,
    cached_share: float = 0.0,
    day: date | None = None,
    *,
    baseline: str | None = None,
    provider: str | None = None,
    batch: bool = False,
) -> list[WorkloadEstimate]:
    """The same workload on several models, cheapest first, each with its saving in percent
    versus the most expensive one and, when ``baseline`` names one of ``models``, versus it."""
    names = list(dict.fromkeys(models))
    if not names:
        raise ValueError("compare_models needs at least one model")
    if baseline is not None and baseline not in names:
        names.append(baseline)
    estimates = [
        monthly_cost(
            catalog,
            name,
            queries_per_day,
            input_tokens,
            output_tokens,
            days=days,
            cached_share=cached_share,
            day=day,
            provider=provider,
            batch=batch,
        )
        for name in names
    ]
    most_expensive = max(e.monthly_cost for e in estimates)
    reference = None
    if baseline is not None:
        reference = next(e for e in estimates if e.model_requested == baseline).monthly_cost
    compared = [
        dataclasses.replace(
            estimate,
            saving_vs_most_expensive_pct=_saving_pct(estimate.monthly_cost, most_expensive),
            saving_vs_baseline_pct=(
                _saving_pct(estimate.monthly_cost, reference) if reference is not None else None
            ),
            baseline=baseline,
        )
        for estimate in estimates
    ]
    return sorted(compared, key=lambda e: (e.monthly_cost, e.model))
