"""Cross-cloud arbitrage: what the period's models and GPU hours would have cost at the cheapest
other host or region that offers them, from the dated catalogs.

Models. The same model is sold by several hosts (Claude on Bedrock, Vertex AI and Anthropic's
API; GPT models on Azure OpenAI and OpenAI). Where a model *may* run is the reviewed table
``costlake/data/llm_hosts.csv`` (model key, host, region, the provider page each row comes
from): the price catalog says what a host charges, not where it sells. A move to a host or
region not listed there is never suggested, nor one to a host the catalog has no price of the
model at. For each (provider, model, currency) of the period's ``ai_unit_costs`` the tokens
(uncached input, cache reads, output) are priced on the host they ran on and on every other
listed host; the cheapest is suggested and, as for model routing, the saving is the catalog's
relative difference applied to what the tokens really cost, so a discounted or EUR bill keeps
its own scale: ``saving = cost × (1 − alternative / as priced)``.

GPUs. A GPU type is offered where the GPU catalog (``costlake/data/gpu_catalog.csv``) has an
on-demand price for an instance carrying it: ``price_region`` at ``provider``. The rate of a GPU
hour there is ``on_demand_usd_per_hour / gpus_per_instance``, the cheapest instance of that
GPU type per (provider, region). The bill's GPU hours per (provider, region, GPU type,
currency) cost ``cost``; had they run at the cheapest other (provider, region) they would have
cost ``gpu_hours × rate``: ``saving = cost − gpu_hours × rate`` (USD bills only: the catalog is
in USD and currencies are never mixed silently).

An alternative is ``list`` (the shipped catalogs: the LLM snapshot's date, the GPU catalog's
review date) or ``negotiated`` (a row of the user's override file: its ``valid_from``, or none).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl

from costlake.ai.prices import (
    CATALOG_DATE,
    OVERRIDE_SOURCE,
    PER,
    ModelPrice,
    PriceCatalog,
)
from costlake.gpu.catalog import with_gpu_usage

HOSTS_FILE = "data/llm_hosts.csv"
HOSTS_COLUMNS = ("model", "provider", "region", "source", "notes")
GPU_META_FILE = "data/gpu_catalog.meta.json"

ARBITRAGE_SCHEMA = pl.Schema(
    {
        "kind": pl.String,  # model | gpu
        "item": pl.String,  # the model key or the GPU type
        "provider": pl.String,  # where it ran
        "region": pl.String,  # where it ran (null for tokens: token lines carry no region)
        "currency": pl.String,
        "quantity": pl.Float64,  # tokens or GPU hours
        "quantity_unit": pl.String,  # tokens | gpu_hours
        "cost": pl.Float64,  # what it cost, in the bill's currency
        "catalog_cost_usd": pl.Float64,  # the same at the catalog's price where it ran
        "alternative_provider": pl.String,
        "alternative_region": pl.String,
        "alternative_cost_usd": pl.Float64,
        "alternative_basis": pl.String,  # list | negotiated
        "catalog_date": pl.Date,
        "catalog_version": pl.String,
        "saving": pl.Float64,  # in the bill's currency
        "saving_share": pl.Float64,
        "reason": pl.String,  # why there is no alternative, else null
    }
)


class HostsTableError(ValueError):
    """A hosts table that cannot be used; the message names the file, row and column."""


def load_llm_hosts(path: Path | str | None = None) -> pl.DataFrame:
    """Where each model is offered: the shipped ``llm_hosts.csv``, or the file at ``path``.
    Every row needs a model, provider, region and a source ("Title <https://…>")."""
    if path is None:
        name = f"costlake/{HOSTS_FILE}"
        text = resources.files("costlake").joinpath(HOSTS_FILE).read_text("utf-8")
    else:
        name, text = str(path), Path(path).read_text("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in HOSTS_COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        raise HostsTableError(f"{name}: missing column(s) {', '.join(missing)}")
    rows = []
    for row in reader:
        for column in HOSTS_COLUMNS[:4]:
            if not (row.get(column) or "").strip():
                raise HostsTableError(
                    f"{name}, row {reader.line_num - 1}, column {column}: expected a value"
                )
        rows.append({c: (row.get(c) or "").strip() or None for c in HOSTS_COLUMNS})
    return pl.DataFrame(rows, schema={c: pl.String for c in HOSTS_COLUMNS}, orient="row")


def gpu_catalog_date() -> date:
    """The day the shipped GPU catalog's prices were last reviewed."""
    text = resources.files("costlake").joinpath(GPU_META_FILE).read_text("utf-8")
    return date.fromisoformat(json.loads(text)["reviewed"])


@dataclass(frozen=True)
class _Offer:
    provider: str
    region: str
    cost_usd: float
    basis: str
    catalog_date: date | None


def _basis(price: ModelPrice) -> tuple[str, date | None]:
    if price.source.startswith(OVERRIDE_SOURCE):
        return "negotiated", price.valid_from
    return "list", CATALOG_DATE


def _token_cost(price: ModelPrice, tokens: dict[str, float]) -> float:
    cache_read = price.cache_read if price.cache_read is not None else price.input
    return (
        tokens["input"] * price.input
        + tokens["cache_read"] * cache_read
        + tokens["output"] * (price.output or 0.0)
    ) / PER


def model_arbitrage(
    unit_costs: pl.DataFrame, catalog: PriceCatalog, hosts: pl.DataFrame, day: date
) -> pl.DataFrame:
    """The model rows of the ``arbitrage`` mart: per provider, model and currency of the
    period's ``ai_unit_costs``, the cheapest other listed host at the catalog's prices on
    ``day``, and the period's saving there."""
    usage = (
        unit_costs.filter(pl.col("input_tokens") > 0)
        .group_by("provider", "model", "currency")
        .agg(
            pl.col("cost").sum(),
            pl.col("input_tokens").sum(),
            pl.col("cached_tokens").fill_null(0).sum(),
            pl.col("output_tokens").fill_null(0).sum(),
        )
        .sort("provider", "model", "currency")
    )
    rows = []
    for line in usage.iter_rows(named=True):
        tokens = {
            "input": line["input_tokens"] - line["cached_tokens"],
            "cache_read": line["cached_tokens"],
            "output": line["output_tokens"],
        }
        current = catalog.price_at(line["model"], day, line["provider"])
        offers = []
        for host in hosts.filter(
            (pl.col("model") == line["model"]) & (pl.col("provider") != line["provider"])
        ).iter_rows(named=True):
            price = catalog.price_at(line["model"], day, host["provider"])
            if price is not None:
                basis, dated = _basis(price)
                cost = _token_cost(price, tokens)
                offers.append(_Offer(host["provider"], host["region"], cost, basis, dated))
        as_priced = _token_cost(current, tokens) if current else None
        best = min(offers, key=lambda o: (o.cost_usd, o.provider, o.region), default=None)
        reason = None
        if as_priced is None:
            reason = f"the catalog has no price of {line['model']} at {line['provider']}"
        elif best is None:
            reason = "no other host in llm_hosts.csv offers it at a catalog price"
        elif best.cost_usd >= as_priced:
            reason = "no other host offers it cheaper"
        share = None if reason else 1.0 - best.cost_usd / as_priced  # type: ignore[union-attr,operator]
        rows.append(
            {
                "kind": "model",
                "item": line["model"],
                "provider": line["provider"],
                "region": None,
                "currency": line["currency"],
                "quantity": sum(tokens.values()),
                "quantity_unit": "tokens",
                "cost": line["cost"],
                "catalog_cost_usd": as_priced,
                **_alternative(None if reason else best),
                "catalog_version": catalog.version,
                "saving": 0.0 if share is None and as_priced else _times(line["cost"], share),
                "saving_share": share,
                "reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=ARBITRAGE_SCHEMA, orient="row")


def _alternative(offer: _Offer | None) -> dict:
    return {
        "alternative_provider": offer.provider if offer else None,
        "alternative_region": offer.region if offer else None,
        "alternative_cost_usd": offer.cost_usd if offer else None,
        "alternative_basis": offer.basis if offer else None,
        "catalog_date": offer.catalog_date if offer else None,
    }


def _times(cost: float, share: float | None) -> float | None:
    return None if share is None else cost * share


def gpu_offers(catalog: pl.DataFrame, shipped: pl.DataFrame) -> pl.DataFrame:
    """Per provider, region and GPU type with an on-demand price: the cheapest USD rate of one
    GPU hour, and whether it is a shipped (``list``) or an override (``negotiated``) row."""
    keys = ["provider", "match", "instance_pattern", "on_demand_usd_per_hour"]
    listed = shipped.select(keys).unique().with_columns(pl.lit("list").alias("basis"))
    return (
        catalog.filter(
            pl.col("on_demand_usd_per_hour").is_not_null()
            & pl.col("price_region").is_not_null()
            & (pl.col("gpus_per_instance") > 0)
            & (pl.col("accelerator_kind") == "gpu")
        )
        .join(listed, on=keys, how="left")
        .select(
            "provider",
            pl.col("price_region").alias("region"),
            "gpu_model",
            (pl.col("on_demand_usd_per_hour") / pl.col("gpus_per_instance")).alias("rate"),
            pl.col("basis").fill_null("negotiated"),
        )
        .sort("rate", "provider", "region")
        .unique(["provider", "region", "gpu_model"], keep="first", maintain_order=True)
    )


def gpu_arbitrage(
    focus: pl.LazyFrame, catalog: pl.DataFrame, shipped: pl.DataFrame, reviewed: date
) -> pl.DataFrame:
    """The GPU rows of the ``arbitrage`` mart: per provider, region, GPU type and currency of the
    bill's GPU hours, the cheapest other (provider, region) of ``catalog`` renting that GPU and
    the period's saving there. ``shipped`` is the shipped catalog (to tell list rows from
    negotiated ones), ``reviewed`` its date."""
    usage = (
        with_gpu_usage(focus, catalog)
        .filter(pl.col("gpu_hours") > 0)
        .group_by(
            pl.col("x_Provider").alias("provider"),
            pl.col("RegionId").alias("region"),
            "gpu_model",
            pl.col("BillingCurrency").alias("currency"),
        )
        .agg(pl.col("gpu_hours").sum(), pl.col("EffectiveCost").sum().alias("cost"))
        .sort("provider", "region", "gpu_model", "currency", nulls_last=True)
        .collect()
    )
    offers = gpu_offers(catalog, shipped)
    rows = []
    for line in usage.iter_rows(named=True):
        here = offers.filter(
            (pl.col("gpu_model") == line["gpu_model"])
            & (pl.col("provider") == line["provider"])
            & (pl.col("region") == line["region"])
        )
        elsewhere = offers.filter(
            (pl.col("gpu_model") == line["gpu_model"])
            & ~((pl.col("provider") == line["provider"]) & (pl.col("region") == line["region"]))
        )
        hours, cost = line["gpu_hours"], line["cost"]
        best = None
        if elsewhere.height:
            top = elsewhere.row(0, named=True)
            dated = reviewed if top["basis"] == "list" else None
            best = _Offer(top["provider"], top["region"], hours * top["rate"], top["basis"], dated)
        reason = None
        if line["currency"] != "USD":
            reason = f"the bill is in {line['currency']}, the GPU catalog in USD"
        elif best is None:
            reason = "no other provider or region of the GPU catalog prices this GPU"
        elif best.cost_usd >= cost:
            reason = "no other provider or region rents it cheaper"
        saving = None if reason else cost - best.cost_usd  # type: ignore[union-attr]
        rows.append(
            {
                "kind": "gpu",
                "item": line["gpu_model"],
                "provider": line["provider"],
                "region": line["region"],
                "currency": line["currency"],
                "quantity": hours,
                "quantity_unit": "gpu_hours",
                "cost": cost,
                "catalog_cost_usd": hours * here["rate"][0] if here.height else None,
                **_alternative(None if reason else best),
                "catalog_version": "gpu_catalog",
                "saving": saving
                if saving is not None
                else (None if line["currency"] != "USD" else 0.0),
                "saving_share": saving / cost if saving is not None and cost else None,
                "reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=ARBITRAGE_SCHEMA, orient="row")
