"""What cheaper model routing would save: each workload's tokens on the cheapest model that is
good enough for it.

A capability table (``costlake/data/model_capabilities.yaml``, or the file configured as
``ai.capabilities``) gives each model a tier and each workload type the tier it needs. For every
(billing period, workload type, model, currency) the period's token volumes are priced from the
catalog on the model in use and on every capable model; the cheapest capable one is suggested.
The saving is the catalog's relative difference applied to what the workload really cost, so
a bill in EUR or with discounts keeps its own scale: ``saving = cost x (1 - alternative / as
priced)``.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costlake import yaml_files
from costlake.ai.prices import PER, PriceCatalog, UnknownModel, canonical_model

DEFAULT_CAPABILITIES = Path(
    str(resources.files("costlake").joinpath("data/model_capabilities.yaml"))
)


class Capabilities(BaseModel):
    """Model tiers and the tier each workload type needs."""

    model_config = ConfigDict(extra="forbid")

    workloads: dict[str, int] = Field(default_factory=dict)
    default_tier: int = 3
    models: dict[str, int]

    def need(self, workload_type: str | None) -> int:
        """The tier a workload type needs; unknown or untagged workloads need the best."""
        return self.workloads.get(workload_type or "", self.default_tier)


def load_capabilities(path: Path | str | None = None) -> Capabilities:
    """The capability table at ``path``, else the shipped one; errors name the file."""
    chosen = Path(path) if path else DEFAULT_CAPABILITIES
    try:
        data = yaml_files.load(yaml_files.read_text(chosen)) or {}
        return Capabilities.model_validate(data)
    except (OSError, yaml_files.YamlFileError, ValidationError) as exc:
        raise ValueError(f"{chosen}: invalid model capability table: {exc}") from exc


def _price_per_million(catalog: PriceCatalog, model: str, day: date) -> tuple[str, dict] | None:
    """(catalog model, {input, cache_read, output} USD per million) on ``day``, or None."""
    try:
        price = catalog.price(model, day)
    except (UnknownModel, LookupError):
        return None
    return price.model, {
        "input": price.input,
        "cache_read": price.cache_read if price.cache_read is not None else price.input,
        "output": price.output or 0.0,
    }


def model_routing_savings(
    unit_costs: pl.DataFrame, catalog: PriceCatalog, capabilities: Capabilities, day: date
) -> pl.DataFrame:
    """Per workload type, model and currency of ``unit_costs`` (the ``ai_unit_costs`` mart of one
    period): its cost and tokens, the cheapest capable model, the period's ``saving`` and the
    ``monthly_saving`` (per 30 days of use), at the catalog's prices on ``day``. Rows already on
    the cheapest capable model save nothing."""
    usage = (
        unit_costs.filter(pl.col("input_tokens") > 0)
        .group_by("workload_type", "model", "currency")
        .agg(
            pl.col("cost").sum(),
            pl.col("input_tokens").sum(),
            pl.col("cached_tokens").fill_null(0).sum(),
            pl.col("output_tokens").fill_null(0).sum(),
            pl.col("day").n_unique().alias("days"),
        )
        .sort("workload_type", "model", "currency", nulls_last=True)
    )
    candidates = {
        name: found
        for name in capabilities.models
        if (found := _price_per_million(catalog, name, day)) is not None
    }
    tier_of = {canonical_model(name): tier for name, tier in capabilities.models.items()}
    rows = []
    for line in usage.iter_rows(named=True):
        tokens = {
            "input": line["input_tokens"] - line["cached_tokens"],
            "cache_read": line["cached_tokens"],
            "output": line["output_tokens"],
        }

        def priced(prices: dict) -> float:
            return sum(tokens[kind] * prices[kind] for kind in tokens) / PER  # noqa: B023

        need = capabilities.need(line["workload_type"])
        current = _price_per_million(catalog, line["model"], day)
        capable = [
            (priced(prices), name, model)
            for name, (model, prices) in candidates.items()
            if capabilities.models[name] >= need
        ]
        as_priced = priced(current[1]) if current else None
        best = min(capable) if capable else None
        if best is not None and as_priced is not None and best[0] >= as_priced:
            best = (as_priced, line["model"], current[0])  # already the cheapest good enough
        saving_share = None
        if best is not None and as_priced:
            saving_share = max(0.0, 1.0 - best[0] / as_priced)
        rows.append(
            {
                "workload_type": line["workload_type"],
                "model": line["model"],
                "model_tier": tier_of.get(canonical_model(line["model"])),
                "needed_tier": need,
                "currency": line["currency"],
                "days": line["days"],
                "cost": line["cost"],
                "input_tokens": line["input_tokens"],
                "cached_tokens": line["cached_tokens"],
                "output_tokens": line["output_tokens"],
                "catalog_cost_usd": as_priced,
                "cheapest_capable_model": best[1] if best else None,
                "cheapest_capable_cost_usd": best[0] if best else None,
                "saving_share": saving_share,
                "saving": None if saving_share is None else line["cost"] * saving_share,
                # The period's saving at 30 days' use (a month to date is scaled up).
                "monthly_saving": None
                if saving_share is None
                else line["cost"] * saving_share * 30 / line["days"],
                "catalog_version": catalog.version,
                "priced_on": day,
            }
        )
    schema = {
        "workload_type": pl.String,
        "model": pl.String,
        "model_tier": pl.Int64,
        "needed_tier": pl.Int64,
        "currency": pl.String,
        "days": pl.UInt32,
        "cost": pl.Float64,
        "input_tokens": pl.Float64,
        "cached_tokens": pl.Float64,
        "output_tokens": pl.Float64,
        "catalog_cost_usd": pl.Float64,
        "cheapest_capable_model": pl.String,
        "cheapest_capable_cost_usd": pl.Float64,
        "saving_share": pl.Float64,
        "saving": pl.Float64,
        "monthly_saving": pl.Float64,
        "catalog_version": pl.String,
        "priced_on": pl.Date,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
