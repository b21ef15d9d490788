"""Snapshot pydantic's ``genai-prices`` into costlake's offline LLM price catalog.

Writes ``costlake/data/llm_prices.csv`` (one row per provider, model and valid_from) and
``costlake/data/llm_prices.meta.json`` (catalog version, snapshot date, licence, upstream).
costlake never imports genai-prices: the CSV is the catalog, reviewed in git like any other data.

Rerun it to refresh the snapshot (bump ``GENAI_PRICES_VERSION`` first to move to a newer
release), from the repository root, in a throwaway venv (genai-prices is not a dependency of
costlake and is never installed into the project's own venv):

    python3 -m venv ../gp-venv
    ../gp-venv/bin/pip install genai-prices==0.2.3 polars pyyaml
    ../gp-venv/bin/python scripts/snapshot_price_catalog.py

The output only depends on the genai-prices release and the snapshot date written to the meta
file (``--snapshot-date``, default today), so two runs on the same day give identical files.
After writing, the script loads the CSV with ``costlake.ai.prices`` and prices a set of
requests for every row both ways, costlake's ``request_cost`` and genai-prices' own
``calc_price``, and fails when they differ (``--no-check`` skips that).

How genai-prices stores prices (``genai_prices.data.providers``) and what the CSV keeps:

- ``Provider.models[*].prices`` is one ``ModelPrice`` or a list of ``ConditionalPrice``; the
  last one whose ``StartDateConstraint`` has started (or that has none) applies. Every start
  date becomes a ``valid_from`` boundary; ``valid_to`` is the next boundary (exclusive).
  ``TimeOfDateConstraint`` prices (DeepSeek's off-peak discount) are not kept: the catalog
  has day resolution and keeps the standard price.
- ``price_variants`` with ``when={'processing': 'batch'}`` give the batch prices; their own start
  dates are boundaries too (genai-prices models batch prices only from the date it started
  recording them, so earlier rows have no batch price). A batch price that a variant does not
  set falls back to the standard one, as in genai-prices. Other variants (priority, flex, fast,
  EU routing) are not kept.
- Prices per million tokens: ``input_mtok``, ``output_mtok``, ``cache_read_mtok``,
  ``cache_write_mtok`` (5-minute cache writes; 1-hour writes are not kept). ``TieredPrices``
  (a whole request is priced at the tier rate once its input tokens exceed the tier start)
  become ``*_long`` prices and ``long_context_threshold``; where genai-prices has two tiers the
  first one is kept and the script says so.
- ``aliases`` come from the ``match`` rules: ``name`` for equals, ``name*`` for starts-with,
  ``*name*`` for contains and ``*name`` for ends-with, ``|``-separated. In an ``and`` rule only
  the simple clauses are kept (a looser match); regex clauses are dropped.
- Audio, image, per-request and web-search prices are not kept; models without a text input
  price are skipped.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path

GENAI_PRICES_VERSION = "0.2.3"
CATALOG_VERSION = f"genai-prices-{GENAI_PRICES_VERSION}"
SOURCE = f"genai-prices {GENAI_PRICES_VERSION}"
UPSTREAM = "https://github.com/pydantic/genai-prices"

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "costlake" / "data"

# Routers, gateways and subscription products re-sell other providers' models under their
# own prices; costlake prices calls by the cloud or vendor that bills them, so these are left out.
EXCLUDED_PROVIDERS = {"openrouter", "github-copilot", "cursor", "quicksilverpro"}
EXCLUDED_PREFIXES = ("huggingface_",)

COLUMNS = [
    "provider",
    "model",
    "aliases",
    "valid_from",
    "valid_to",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "input_long",
    "output_long",
    "cache_read_long",
    "cache_write_long",
    "long_context_threshold",
    "batch_input",
    "batch_output",
    "batch_cache_read",
    "batch_cache_write",
    "batch_input_long",
    "batch_output_long",
    "batch_cache_read_long",
    "batch_cache_write_long",
    "source",
]
# genai-prices price key -> catalog column (standard prices; batch ones get a ``batch_`` prefix).
PRICE_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
}
BATCH_WHEN = {"processing": "batch"}


def _number(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros: 2.50 -> 2.5, 1E+1 -> 10."""
    text = format(value.normalize(), "f")
    return text


def _aliases(match, types) -> list[str]:
    """The simple clauses of a genai-prices match rule, as alias patterns."""
    if isinstance(match, types.ClauseEquals):
        return [match.equals]
    if isinstance(match, types.ClauseStartsWith):
        return [match.starts_with + "*"]
    if isinstance(match, types.ClauseContains):
        return ["*" + match.contains + "*"]
    if isinstance(match, types.ClauseEndsWith):
        return ["*" + match.ends_with]
    if isinstance(match, types.ClauseOr):
        return [alias for clause in match.or_ for alias in _aliases(clause, types)]
    if isinstance(match, types.ClauseAnd):
        return [alias for clause in match.and_ for alias in _aliases(clause, types)]
    return []  # regex


def _standard_prices(model, day: dt.date, types):
    """genai-prices' ``ModelInfo.get_prices`` for a day, ignoring time-of-day prices."""
    if isinstance(model.prices, types.ModelPrice):
        return model.prices
    by_date = [
        conditional
        for conditional in model.prices
        if not isinstance(conditional.constraint, types.TimeOfDateConstraint)
    ]
    for conditional in reversed(by_date):
        constraint = conditional.constraint
        if constraint is None or constraint.start_date <= day:
            return conditional.prices
    return by_date[0].prices


def _batch_prices(model, day: dt.date, types) -> dict:
    """The keys batch variants override on a day, as genai-prices resolves them (first wins)."""
    overrides: dict = {}
    for variant in model.price_variants or ():
        if variant.when != BATCH_WHEN:
            continue
        constraint = variant.constraint
        if isinstance(constraint, types.TimeOfDateConstraint):
            continue
        if constraint is not None and constraint.start_date > day:
            continue
        for key, value in variant.prices.__dict__.items():
            if value is not None:
                overrides.setdefault(key, value)
    return overrides


def _boundaries(model, types) -> list[dt.date]:
    dates: set[dt.date] = set()
    if not isinstance(model.prices, types.ModelPrice):
        for conditional in model.prices:
            if isinstance(conditional.constraint, types.StartDateConstraint):
                dates.add(conditional.constraint.start_date)
    for variant in model.price_variants or ():
        if variant.when == BATCH_WHEN and isinstance(variant.constraint, types.StartDateConstraint):
            dates.add(variant.constraint.start_date)
    return sorted(dates)


def _price_cells(prices: dict, prefix: str, types, notes: list[str], where: str) -> dict:
    """Catalog cells for a set of genai-prices prices (standard or batch)."""
    cells: dict[str, str] = {}
    threshold: int | None = None
    for key, column in PRICE_KEYS.items():
        value = prices.get(key)
        if value is None:
            continue
        if isinstance(value, types.TieredPrices):
            tier = value.tiers[0]
            if len(value.tiers) > 1:
                notes.append(
                    f"{where}: {key} has {len(value.tiers)} tiers, kept the first "
                    f"(from {tier.start} tokens)"
                )
            if threshold is not None and threshold != tier.start:
                raise SystemExit(f"{where}: tiers start at {threshold} and {tier.start}")
            threshold = tier.start
            cells[prefix + column] = _number(value.base)
            cells[prefix + column + "_long"] = _number(tier.price)
        else:
            cells[prefix + column] = _number(value)
    if threshold is not None:
        cells["_threshold"] = str(threshold)
    return cells


def _rows_for_model(provider, model, types, notes: list[str]) -> list[dict]:
    aliases = [a.lower() for a in dict.fromkeys(_aliases(model.match, types))]
    aliases = [a for a in aliases if a != model.id.lower()]
    starts: list[dt.date | None] = [None, *_boundaries(model, types)]
    rows: list[dict] = []
    for index, start in enumerate(starts):
        # The day a segment is resolved on: its first day (or one before the first boundary).
        day = start or ((starts[1] - dt.timedelta(days=1)) if len(starts) > 1 else dt.date.max)
        where = f"{provider.id}/{model.id} from {start or 'ever'}"
        standard = _standard_prices(model, day, types)
        cells = _price_cells(dict(standard.__dict__), "", types, notes, where)
        batch = _price_cells(_batch_prices(model, day, types), "batch_", types, notes, where)
        threshold = {cells.pop("_threshold", None), batch.pop("_threshold", None)} - {None}
        if len(threshold) > 1:
            raise SystemExit(f"{where}: standard and batch tiers start at {sorted(threshold)}")
        if "input" not in cells:
            continue  # audio / image / per-request only
        if not isinstance(model.prices, types.ModelPrice) and any(
            isinstance(c.constraint, types.TimeOfDateConstraint) for c in model.prices
        ):
            notes.append(f"{provider.id}/{model.id}: time-of-day (off-peak) prices not kept")
        if standard.requests_kcount is not None:
            notes.append(
                f"{provider.id}/{model.id}: per-request price "
                f"${_number(standard.requests_kcount)} per 1000 requests not kept"
            )
        row = {column: "" for column in COLUMNS}
        row.update(cells)
        row.update(batch)
        row.update(
            provider=provider.id,
            model=model.id,
            aliases="|".join(aliases),
            valid_from=start.isoformat() if start else "",
            long_context_threshold=threshold.pop() if threshold else "",
            source=SOURCE,
        )
        valid_to = starts[index + 1] if index + 1 < len(starts) else None
        row["valid_to"] = valid_to.isoformat() if valid_to else ""
        rows.append(row)
    return _merge_equal_neighbours(rows)


def _merge_equal_neighbours(rows: list[dict]) -> list[dict]:
    """Joins consecutive segments whose prices are the same (a boundary that changed nothing)."""
    merged: list[dict] = []
    ignore = {"valid_from", "valid_to"}
    for row in rows:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous["valid_to"] == row["valid_from"]
            and all(previous[c] == row[c] for c in COLUMNS if c not in ignore)
        ):
            previous["valid_to"] = row["valid_to"]
        else:
            merged.append(row)
    return merged


def build_rows() -> tuple[list[dict], dict[str, list[str]], list[str]]:
    from genai_prices import types
    from genai_prices.data import providers

    rows: list[dict] = []
    fallbacks: dict[str, list[str]] = {}
    notes: list[str] = []
    for provider in sorted(providers, key=lambda p: p.id):
        if provider.id in EXCLUDED_PROVIDERS or provider.id.startswith(EXCLUDED_PREFIXES):
            continue
        if provider.fallback_model_providers:
            fallbacks[provider.id] = list(provider.fallback_model_providers)
        for model in sorted(provider.models, key=lambda m: m.id):
            rows.extend(_rows_for_model(provider, model, types, notes))
    return rows, fallbacks, notes


def write(rows: list[dict], fallbacks: dict, notes: list[str], snapshot_date: dt.date) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    with (DATA / "llm_prices.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "catalog_version": CATALOG_VERSION,
        "source": SOURCE,
        "package": f"genai-prices=={GENAI_PRICES_VERSION}",
        "snapshot_date": snapshot_date.isoformat(),
        "license": "MIT",
        "upstream": UPSTREAM,
        "generated_by": "scripts/snapshot_price_catalog.py",
        "units": "USD per million tokens",
        "rows": len(rows),
        "providers": sorted({row["provider"] for row in rows}),
        "excluded_providers": sorted(EXCLUDED_PROVIDERS) + [p + "*" for p in EXCLUDED_PREFIXES],
        "provider_fallbacks": fallbacks,
        "notes": sorted(set(notes)),
    }
    (DATA / "llm_prices.meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def check(rows: list[dict]) -> int:
    """Prices requests for every row with costlake and with genai-prices; returns mismatches."""
    sys.path.insert(0, str(REPO))
    from genai_prices import Usage, types
    from genai_prices.data import providers

    from costlake.ai.prices import load_price_catalog, request_cost

    catalog = load_price_catalog()
    models = {(p.id, m.id): (p, m) for p in providers for m in p.models}
    mismatches = 0
    for row in rows:
        provider, model = models[(row["provider"], row["model"])]
        day = dt.date.fromisoformat(row["valid_from"]) if row["valid_from"] else dt.date(2023, 1, 1)
        if row["valid_to"] and day >= dt.date.fromisoformat(row["valid_to"]):
            day = dt.date.fromisoformat(row["valid_to"]) - dt.timedelta(days=1)
        price = catalog.price(row["model"], day, provider=row["provider"])
        if (price.provider, price.model) != (row["provider"], row["model"]):
            raise SystemExit(f"{row['provider']}/{row['model']} resolves to {price}")
        # 20:00 UTC is outside every time-of-day window genai-prices has.
        when = dt.datetime.combine(day, dt.time(20, 0), tzinfo=dt.UTC)
        threshold = int(row["long_context_threshold"] or 100_000)
        for input_tokens in (10_000, threshold + 10_000):
            usage = dict(input_tokens=input_tokens, cache_read_tokens=3_000, output_tokens=700)
            if row["cache_write"]:
                usage["cache_write_tokens"] = 2_000
            for batch in (False, True):
                context = dict(BATCH_WHEN) if batch else None
                # genai-prices resolves the date and batch prices; only the token prices
                # the catalog keeps are charged (per-request and web-search fees are not).
                resolved = model.get_prices(when, context)
                kept = {key: getattr(resolved, key) for key in PRICE_KEYS}
                expected = types.ModelPrice(**kept).calc_price(Usage(**usage))["total_price"]
                got = request_cost(
                    price,
                    usage["input_tokens"],
                    usage["cache_read_tokens"],
                    usage.get("cache_write_tokens", 0),
                    usage["output_tokens"],
                    batch=batch,
                )
                if abs(float(expected) - got) > 1e-9 + 1e-9 * abs(got):
                    mismatches += 1
                    print(
                        f"mismatch {row['provider']}/{row['model']} {day} batch={batch} "
                        f"{usage}: genai-prices {expected} costlake {got}",
                        file=sys.stderr,
                    )
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot-date", type=dt.date.fromisoformat, default=dt.date.today())
    parser.add_argument("--no-check", action="store_true", help="skip the cross-check")
    args = parser.parse_args(argv)

    from importlib.metadata import version

    installed = version("genai-prices")
    if installed != GENAI_PRICES_VERSION:
        raise SystemExit(f"genai-prices {installed} installed, expected {GENAI_PRICES_VERSION}")
    rows, fallbacks, notes = build_rows()
    write(rows, fallbacks, notes, args.snapshot_date)
    size = (DATA / "llm_prices.csv").stat().st_size
    print(
        f"wrote {len(rows)} rows ({size:,} bytes) for {len({r['provider'] for r in rows})} "
        f"providers; {len(set(notes))} notes"
    )
    if not args.no_check:
        mismatches = check(rows)
        print(f"cross-check against genai-prices: {mismatches} mismatches")
        return 1 if mismatches else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
