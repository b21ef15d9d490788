"""LLM prices by model and day, offline: estimates for calls that have no bill line of their own.

The bill is the truth. This catalog only prices model calls the bill does not itemize, weights
the split of a billed line across queries, and reconciles; every cost it gives is an estimate
and carries the catalog version it came from.

The shipped snapshot ``costlake/data/llm_prices.csv`` is made from pydantic's ``genai-prices``
(MIT) by ``scripts/snapshot_price_catalog.py``; ``llm_prices.meta.json`` says which release and
when. One row per (provider, model, valid_from): prices in USD per million tokens, in force from
``valid_from`` (empty: since ever) until ``valid_to`` (exclusive; empty: open). A user override
file (CSV or YAML, same columns) replaces rows with the same (provider, model, valid_from) and
adds new ones; a row is in force until the next row of its model starts.

Token convention (OpenAI, OpenTelemetry): ``input_tokens`` *includes* cache reads and cache
writes; uncached input = input - cache_read - cache_write. Anthropic-style usage, which reports
cache tokens apart, must be added up at ingestion before it is priced here.

Model names from bills and logs are matched to catalog ids by ``canonical_model`` and the alias
patterns of each row (``name`` equals, ``name*`` starts with, ``*name*`` contains, ``*name`` ends
with), see ``PriceCatalog.resolve``.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

PRICES_FILE = "data/llm_prices.csv"
META_FILE = "data/llm_prices.meta.json"
PER = 1_000_000  # prices are per million tokens

# The four token kinds and the price columns that go with them.
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
STANDARD_PRICES = TOKEN_KINDS + tuple(f"{kind}_long" for kind in TOKEN_KINDS)
BATCH_PRICES = tuple(f"batch_{column}" for column in STANDARD_PRICES)
PRICE_COLUMNS = STANDARD_PRICES + BATCH_PRICES
COLUMNS = (
    "provider",
    "model",
    "aliases",
    "valid_from",
    "valid_to",
    *STANDARD_PRICES,
    "long_context_threshold",
    *BATCH_PRICES,
    "source",
)
REQUIRED_COLUMNS = ("provider", "model", "input")
# How many problems of a price file one error message lists (the rest are counted).
MAX_LISTED_PROBLEMS = 10

# When no provider is given or hinted, a model found at several providers is priced at the
# first of these that has it (the vendor's own list price), then at the others alphabetically.
PROVIDER_PREFERENCE = (
    "openai",
    "anthropic",
    "google",
    "mistral",
    "cohere",
    "deepseek",
    "x-ai",
    "meta",
    "aws",
    "azure",
)
# Provider names as bills, OpenTelemetry (gen_ai.provider.name), LiteLLM and gateways spell
# them -> genai-prices provider ids. Others are lowercased with "_" -> "-".
PROVIDER_ALIASES = {
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "amazon-bedrock": "aws",
    "amazon": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure-openai": "azure",
    "azure-ai": "azure",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp": "google",
    "vertex-ai": "google",
    "vertex": "google",
    "gemini": "google",
    "google-vertex": "google",
    "mistral-ai": "mistral",
    "mistralai": "mistral",
    "x-ai": "x-ai",
    "xai": "x-ai",
    "grok": "x-ai",
    "meta-llama": "meta",
}

# canonical_model: provider / region prefixes and version suffixes that do not change the price.
_PATH_PREFIXES = ("bedrock", "azure", "openai", "vertex-ai", "gemini", "models", "anthropic")
_PATH_PREFIX = re.compile(r"^(?:(?:" + "|".join(_PATH_PREFIXES) + r")/)+")
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|au|jp|in|ca|us-gov|regional)\.")
_VENDOR_PREFIX = re.compile(r"^(?:anthropic|amazon|meta)\.")
_VERSION_SUFFIX = re.compile(r"(?:-v\d+:\d+|@[a-z0-9.-]+|:\d+)$")
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
# A model name that looks like a Bedrock model id (region or vendor dot prefix).
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|au|jp|in|ca|us-gov|regional)\.)?"
    r"(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|qwen|writer|nvidia|moonshotai|zai)\."
)
_PATH_HINTS = {
    "bedrock": "aws",
    "azure": "azure",
    "openai": "openai",
    "vertex-ai": "google",
    "gemini": "google",
    "models": "google",
    "anthropic": "anthropic",
    "mistral": "mistral",
}


class PriceCatalogError(ValueError):
    """A price file that cannot be used; the message names the file, row and column."""


class UnknownModel(LookupError):
    """A model name the catalog cannot match; ``suggestions`` lists close catalog ids."""

    def __init__(self, name: str, suggestions: list[str], provider: str | None = None):
        self.name = name
        self.provider = provider
        self.suggestions = suggestions
        where = f" at provider {provider!r}" if provider else ""
        hint = f"; close matches: {', '.join(suggestions)}" if suggestions else ""
        canonical = canonical_model(name)
        shown = f"{name!r}" if canonical == name else f"{name!r} (canonical {canonical!r})"
        super().__init__(f"unknown model {shown}{where}{hint}")


class NoPriceOnDay(LookupError):
    """The model is in the catalog but no row of it is in force on that day."""


@dataclass(frozen=True)
class ModelPrice:
    """One catalog row: USD per million tokens, in force on [valid_from, valid_to).

    ``None`` means the catalog has no such price: a missing cache price falls back to the input
    price, a missing output price counts as 0 (embedding models), a missing batch price falls
    back to the standard one and a missing ``*_long`` price to the short-context one.
    """

    provider: str
    model: str
    valid_from: date | None
    valid_to: date | None
    input: float
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    input_long: float | None = None
    output_long: float | None = None
    cache_read_long: float | None = None
    cache_write_long: float | None = None
    long_context_threshold: int | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    batch_cache_read: float | None = None
    batch_cache_write: float | None = None
    batch_input_long: float | None = None
    batch_output_long: float | None = None
    batch_cache_read_long: float | None = None
    batch_cache_write_long: float | None = None
    catalog_version: str = ""
    source: str = ""

    def is_long(self, input_tokens: float) -> bool:
        """Whether a request with this many input tokens is priced at the long-context tier."""
        threshold = self.long_context_threshold
        return threshold is not None and input_tokens > threshold

    def rate(self, kind: str, *, long: bool = False, batch: bool = False) -> float | None:
        """The price of one token kind (input, output, cache_read, cache_write) as charged."""
        prefix = "batch_" if batch and getattr(self, f"batch_{kind}") is not None else ""
        base = getattr(self, f"{prefix}{kind}")
        if base is None:
            return None
        tier = getattr(self, f"{prefix}{kind}_long") if long else None
        return base if tier is None else tier


def canonical_model(name: str) -> str:
    """The comparable form of a model name from a bill or a log.

    Lowercase; spaces and underscores become hyphens; provider paths (``bedrock/``, ``azure/``,
    ``openai/``, ``vertex_ai/``, ``gemini/``, ``models/``), Bedrock region and vendor prefixes
    (``us.``, ``eu.``, ``apac.``, ``global.``, ``anthropic.``, ``amazon.``, ``meta.``) and version
    suffixes (``-v1:0``, ``-v2:0``, ``@001``, ``:0``) are removed. A trailing date stamp stays:
    ``PriceCatalog.resolve`` tries the name without it last.

    >>> canonical_model("us.anthropic.claude-3-haiku-20240307-v1:0")
    'claude-3-haiku-20240307'
    """
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    text = _PATH_PREFIX.sub("", text)
    text = _REGION_PREFIX.sub("", text)
    text = _VENDOR_PREFIX.sub("", text)
    text = _VERSION_SUFFIX.sub("", text)
    return text


def canonical_provider(name: str | None) -> str | None:
    """A provider name as a catalog provider id (``aws.bedrock`` -> ``aws``), None for empty."""
    if name is None:
        return None
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    if not text:
        return None
    return PROVIDER_ALIASES.get(text, PROVIDER_ALIASES.get(text.replace("-", "_"), text))


def provider_hint(name: str) -> str | None:
    """The provider a model name itself points at (``bedrock/…``, ``us.anthropic.…``), if any."""
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    if "/" in text:
        head = text.split("/", 1)[0]
        if head in _PATH_HINTS:
            return _PATH_HINTS[head]
    if _BEDROCK_ID.match(text):
        return "aws"
    return None


def _strip_date(text: str) -> str:
    return _DATE_SUFFIX.sub("", text)


@dataclass(frozen=True)
class _Pattern:
    kind: str  # "equals" | "starts" | "contains" | "ends"
    text: str

    @staticmethod
    def parse(alias: str) -> _Pattern:
        alias = alias.strip().lower()
        if len(alias) > 2 and alias.startswith("*") and alias.endswith("*"):
            return _Pattern("contains", alias[1:-1])
        if len(alias) > 1 and alias.endswith("*"):
            return _Pattern("starts", alias[:-1])
        if len(alias) > 1 and alias.startswith("*"):
            return _Pattern("ends", alias[1:])
        return _Pattern("equals", alias)

    def canonical(self) -> _Pattern:
        text = self.text if self.kind in ("contains", "ends") else canonical_model(self.text)
        if self.kind in ("contains", "ends"):
            text = _VENDOR_PREFIX.sub("", _REGION_PREFIX.sub("", text))
        return _Pattern(self.kind, text)

    def matches(self, name: str) -> bool:
        if self.kind == "equals":
            return name == self.text
        if self.kind == "starts":
            return name.startswith(self.text)
        if self.kind == "contains":
            return self.text in name
        return name.endswith(self.text)


@dataclass(frozen=True)
class Resolution:
    """How a model name was matched: the catalog key and the rule that matched it."""

    provider: str
    model: str
    rule: (
        str  # e.g. "id", "alias gpt-4o-2024-08-06", "canonical id", "undated alias claude-3-haiku*"
    )


# --------------------------------------------------------------------------- reading price files


def _read_meta() -> dict:
    text = resources.files("costlake").joinpath(META_FILE).read_text(encoding="utf-8")
    return json.loads(text)


_META = _read_meta()
CATALOG_VERSION: str = _META["catalog_version"]
# The day the shipped snapshot was taken: the date of its list prices.
CATALOG_DATE: date = date.fromisoformat(_META["snapshot_date"])
OVERRIDE_SOURCE = "override:"  # how an override file's rows name their source


def _csv_records(text: str) -> tuple[list[str], list[tuple[str, dict[str, object]]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    records = []
    for row in reader:
        location = f"row {reader.line_num - 1} (line {reader.line_num})"
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            row["__extra__"] = extra
        records.append((location, row))
    return header, records


def _yaml_records(text: str, name: str) -> tuple[list[str], list[tuple[str, dict[str, object]]]]:
    from costlake import yaml_files

    try:
        root = yaml_files.compose(text)
        data = yaml_files.load(text)
    except yaml_files.YamlFileError as exc:
        raise PriceCatalogError(f"{name}: not valid YAML: {exc}") from None
    items_node = root
    if isinstance(data, Mapping):
        if set(data) != {"prices"}:
            raise PriceCatalogError(
                f"{name}: expected a list of price rows, or a mapping with one key 'prices' "
                f"holding that list; found keys {sorted(map(str, data))}"
            )
        data = data["prices"]
        items_node = next(value for key, value in root.value if key.value == "prices")
    if not isinstance(data, list):
        raise PriceCatalogError(f"{name}: expected a list of price rows, got {type(data).__name__}")
    records = []
    header: dict[str, None] = {}
    for index, (item, node) in enumerate(zip(data, items_node.value, strict=True), start=1):
        location = f"row {index} (line {node.start_mark.line + 1})"
        if not isinstance(item, Mapping):
            raise PriceCatalogError(
                f"{name}, {location}: expected a mapping of column: value, got {item!r}"
            )
        header.update(dict.fromkeys(str(key) for key in item))
        records.append((location, {str(key): value for key, value in item.items()}))
    return list(header), records


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _parse_records(
    name: str, header: list[str], records: list[tuple[str, dict[str, object]]], source: str
) -> list[dict[str, object]]:
    """Typed rows, or a PriceCatalogError listing every problem by file, row and column."""
    problems: list[str] = []
    unknown = [column for column in header if column not in COLUMNS]
    for column in unknown:
        close = difflib.get_close_matches(column, COLUMNS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"column {column!r} is not a price catalog column{hint}")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if problems:
        raise PriceCatalogError(
            f"{name}: " + "; ".join(problems) + f". Expected columns: {', '.join(COLUMNS)}"
        )

    rows: list[dict[str, object]] = []
    seen: dict[tuple, str] = {}
    for location, record in records:
        where = f"{name}, {location}"
        if "__extra__" in record:
            problems.append(f"{where}: more values than columns in the header")
            continue
        row: dict[str, object] = {}
        for column in COLUMNS:
            text = _text(record.get(column))
            if column in ("provider", "model"):
                if not text:
                    problems.append(f"{where}, column {column}: expected a {column} id, got ''")
                row[column] = text.lower() if column == "provider" else text
            elif column in ("valid_from", "valid_to"):
                row[column] = None
                if text:
                    try:
                        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                            raise ValueError
                        row[column] = date.fromisoformat(text)
                    except ValueError:
                        problems.append(
                            f"{where}, column {column}: expected a date YYYY-MM-DD "
                            f"(or empty for {'since ever' if column == 'valid_from' else 'open'}),"
                            f" got {text!r}"
                        )
            elif column == "long_context_threshold":
                row[column] = None
                if text:
                    if re.fullmatch(r"\d+", text.replace(",", "").replace("_", "")):
                        row[column] = int(text.replace(",", "").replace("_", ""))
                    if not row[column]:
                        problems.append(
                            f"{where}, column {column}: expected a whole number of input "
                            f"tokens above 0, got {text!r}"
                        )
                        row[column] = None
            elif column in PRICE_COLUMNS:
                row[column] = None
                if not text:
                    if column == "input":
                        problems.append(
                            f"{where}, column input: expected a price in USD per million "
                            f"tokens, got an empty value"
                        )
                    continue
                try:
                    value = float(text.lstrip("$"))
                except ValueError:
                    value = math.nan
                if not math.isfinite(value) or value < 0:
                    problems.append(
                        f"{where}, column {column}: expected a price >= 0 in USD per million "
                        f"tokens, got {text!r}"
                    )
                else:
                    row[column] = value
            elif column == "aliases":
                row[column] = "|".join(a.strip() for a in text.split("|") if a.strip())
            else:  # source
                row[column] = text or source
        valid_from, valid_to = row["valid_from"], row["valid_to"]
        if isinstance(valid_from, date) and isinstance(valid_to, date) and valid_to <= valid_from:
            problems.append(
                f"{where}, column valid_to: expected a date after valid_from {valid_from}, "
                f"got {valid_to}"
            )
        has_long = [c for c in PRICE_COLUMNS if c.endswith("_long") and row[c] is not None]
        if has_long and row["long_context_threshold"] is None:
            problems.append(
                f"{where}, column long_context_threshold: expected the tier boundary in input "
                f"tokens because {', '.join(has_long)} is set, got an empty value"
            )
        key = (row["provider"], str(row["model"]).lower(), valid_from)
        if key in seen:
            problems.append(
                f"{where}: duplicate of {seen[key]} (same provider, model and valid_from)"
            )
        seen[key] = location
        rows.append(row)
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        tail = f"\n  … and {more} more" if more else ""
        raise PriceCatalogError(
            f"{name}: {len(problems)} problem(s):\n  " + "\n  ".join(listed) + tail
        )
    return rows


def _read_price_file(path: Path) -> list[dict[str, object]]:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PriceCatalogError(f"{name}: cannot read the price file: {exc}") from exc
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        header, records = _yaml_records(text, name)
    elif suffix == ".csv":
        header, records = _csv_records(text)
    else:
        raise PriceCatalogError(f"{name}: expected a .csv, .yaml or .yml price file")
    return _parse_records(name, header, records, source=f"{OVERRIDE_SOURCE}{Path(path).name}")


@cache
def _shipped_rows() -> tuple[dict[str, object], ...]:
    text = resources.files("costlake").joinpath(PRICES_FILE).read_text(encoding="utf-8")
    header, records = _csv_records(text)
    rows = _parse_records(f"costlake/{PRICES_FILE}", header, records, source=_META["source"])
    return tuple(rows)


def _merge(
    base: Iterable[dict[str, object]], override: Iterable[dict[str, object]]
) -> list[dict[str, object]]:
    """Override rows replace base rows with the same key and add the others; each model's rows
    then end where the next one starts (or at their own valid_to, when earlier)."""
    merged: dict[tuple, dict[str, object]] = {}
    for row in (*base, *override):
        merged[(row["provider"], str(row["model"]).lower(), row["valid_from"])] = dict(row)
    by_model: dict[tuple[str, str], list[dict[str, object]]] = {}
    for (provider, model, _), row in merged.items():
        by_model.setdefault((provider, model), []).append(row)
    rows: list[dict[str, object]] = []
    for key in sorted(by_model):
        model_rows = sorted(by_model[key], key=lambda r: r["valid_from"] or date.min)
        for row, following in zip(model_rows, [*model_rows[1:], None], strict=True):
            if following is not None:
                end = following["valid_from"]
                own = row["valid_to"]
                row["valid_to"] = end if own is None or end < own else own
            rows.append(row)
    return rows


def load_price_catalog(override: Path | str | None = None) -> PriceCatalog:
    """The shipped snapshot, with a user's override file (CSV or YAML) applied when given.

    Override rows replace snapshot rows with the same (provider, model, valid_from) and add
    new ones; the version then reads ``<snapshot>+override:<file name>``.
    """
    rows = list(_shipped_rows())
    version = CATALOG_VERSION
    if override is not None:
        rows = _merge(rows, _read_price_file(Path(override)))
        version = f"{CATALOG_VERSION}+override:{Path(override).name}"
    return PriceCatalog(rows, version)


# --------------------------------------------------------------------------- the catalog


class PriceCatalog:
    """Prices by (provider, model, day). Build it with ``load_price_catalog``."""

    def __init__(self, rows: Iterable[Mapping[str, object]], version: str):
        self.version = version
        self._rows: dict[tuple[str, str], list[ModelPrice]] = {}
        aliases: dict[tuple[str, str], dict[str, None]] = {}
        fields = {f.name for f in dataclasses.fields(ModelPrice)}
        for row in rows:
            key = (str(row["provider"]), str(row["model"]))
            values = {k: v for k, v in row.items() if k in fields}
            values["source"] = row.get("source") or ""
            price = ModelPrice(**values, catalog_version=version)  # type: ignore[arg-type]
            self._rows.setdefault(key, []).append(price)
            for alias in str(row.get("aliases") or "").split("|"):
                if alias.strip():
                    aliases.setdefault(key, {})[alias.strip()] = None
        for prices in self._rows.values():
            prices.sort(key=lambda p: p.valid_from or date.min)
        self._aliases = {key: tuple(names) for key, names in aliases.items()}
        fallbacks = _META.get("provider_fallbacks", {})
        self._fallbacks: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in fallbacks.items()}
        providers = sorted({provider for provider, _ in self._rows})
        rank = {p: i for i, p in enumerate(PROVIDER_PREFERENCE)}
        ordered = sorted(providers, key=lambda p: (rank.get(p, len(rank)), p))
        self._provider_rank = {p: i for i, p in enumerate(ordered)}
        self._build_index()
        self._resolved: dict[tuple[str, str | None], Resolution | None] = {}
        self._frame: pl.DataFrame | None = None

    def __repr__(self) -> str:
        return f"PriceCatalog(version={self.version!r}, models={len(self._rows)})"

    @property
    def providers(self) -> list[str]:
        return sorted(self._provider_rank, key=self._provider_rank.__getitem__)

    def _build_index(self) -> None:
        # Per stage: name -> keys for exact rules, and (pattern, key) lists for the others.
        self._raw_exact: dict[str, list[tuple[tuple[str, str], str]]] = {}
        self._canonical_exact: dict[str, list[tuple[tuple[str, str], str]]] = {}
        self._undated_exact: dict[str, list[tuple[tuple[str, str], str]]] = {}
        self._raw_patterns: list[tuple[_Pattern, tuple[str, str], str]] = []
        self._canonical_patterns: list[tuple[_Pattern, tuple[str, str], str]] = []
        for key in self._rows:
            model = key[1]
            self._raw_exact.setdefault(model.lower(), []).append((key, "id"))
            self._canonical_exact.setdefault(canonical_model(model), []).append((key, "id"))
            undated = _strip_date(canonical_model(model))
            self._undated_exact.setdefault(undated, []).append((key, "id"))
            for alias in self._aliases.get(key, ()):
                pattern = _Pattern.parse(alias)
                rule = f"alias {alias}"
                if pattern.kind == "equals":
                    self._raw_exact.setdefault(pattern.text, []).append((key, rule))
                    self._canonical_exact.setdefault(canonical_model(pattern.text), []).append(
                        (key, rule)
                    )
                    undated = _strip_date(canonical_model(pattern.text))
                    self._undated_exact.setdefault(undated, []).append((key, rule))
                else:
                    self._raw_patterns.append((pattern, key, rule))
                    self._canonical_patterns.append((pattern.canonical(), key, rule))

    def _stages(self, name: str) -> Iterable[list[tuple[tuple[str, str], str, int]]]:
        """Candidate (key, rule, specificity) lists, stage by stage, most literal first."""
        raw = re.sub(r"\s+", "-", name.strip().lower())
        canonical = canonical_model(name)
        undated = _strip_date(canonical)
        exact = 10_000  # an id or equals alias beats any pattern
        yield [(key, rule, exact) for key, rule in self._raw_exact.get(raw, [])]
        yield [(key, rule, len(p.text)) for p, key, rule in self._raw_patterns if p.matches(raw)]
        for label, text, index in (
            ("canonical", canonical, self._canonical_exact),
            ("undated", undated, self._undated_exact),  # both sides without a date stamp
        ):
            yield [(key, f"{label} {rule}", exact) for key, rule in index.get(text, [])]
            if label == "undated" and undated == canonical:
                continue  # the same patterns as the canonical stage
            yield [
                (key, f"{label} {rule}", len(p.text))
                for p, key, rule in self._canonical_patterns
                if p.matches(text)
            ]

    def resolve(self, name: str, provider: str | None = None) -> Resolution:
        """The catalog (provider, model) a free-form model name is priced as.

        Stages, most literal first: the lowercased name as an id or ``equals`` alias, then
        against the alias patterns (starts with / contains / ends with); the same with
        ``canonical_model(name)``; then name and catalog ids both without a trailing date stamp
        (``-20240307``, ``-2024-05-13``). The provider given
        (else the one the name points at, e.g. ``bedrock/…``, ``us.anthropic.…``), then its
        genai-prices fallbacks (azure -> openai, anthropic, …; google -> anthropic) are tried
        through all stages first; then every provider, stage by stage, preferring the vendor's
        own list price (``PROVIDER_PREFERENCE``) and, within a provider, the longest pattern.
        Raises ``UnknownModel`` with close matches when nothing matches.
        """
        cache_key = (name, provider)
        if cache_key not in self._resolved:
            self._resolved[cache_key] = self._resolve(name, provider)
        found = self._resolved[cache_key]
        if found is None:
            raise UnknownModel(name, self.suggest(name), canonical_provider(provider))
        return found

    def _resolve(self, name: str, provider: str | None) -> Resolution | None:
        if not name or not name.strip():
            return None
        wanted = canonical_provider(provider)
        if wanted not in self._provider_rank:  # not given, or a provider the catalog lacks
            wanted = provider_hint(name)
        stages = list(self._stages(name))
        if wanted is not None:
            for candidate in (wanted, *self._fallbacks.get(wanted, ())):
                for found in stages:
                    mine = [c for c in found if c[0][0] == candidate]
                    if mine:
                        return self._best(mine)
        for found in stages:
            if found:
                return self._best(found)
        return None

    def _best(self, found: list[tuple[tuple[str, str], str, int]]) -> Resolution:
        # Provider preference, then the most specific rule; Bedrock's dearer-or-cheaper global
        # cross-region ids only when the name says global (then a raw stage matched already).
        rank = self._provider_rank
        key, rule, _ = min(
            found, key=lambda c: (rank[c[0][0]], -c[2], c[0][1].startswith("global."), c[0][1])
        )
        return Resolution(provider=key[0], model=key[1], rule=rule)

    def suggest(self, name: str, n: int = 5) -> list[str]:
        """Catalog model ids close to a name (difflib), for error messages."""
        ids: dict[str, str] = {}
        for _, model in sorted(self._rows, key=lambda k: self._provider_rank[k[0]]):
            ids.setdefault(canonical_model(model), model)
        close = difflib.get_close_matches(canonical_model(name), list(ids), n=n, cutoff=0.6)
        return [ids[c] for c in close]

    def price(self, model: str, day: date, provider: str | None = None) -> ModelPrice:
        """The price of a model in force on ``day`` (the row whose [valid_from, valid_to) holds it).

        ``provider`` (a catalog id or a spelling such as ``aws.bedrock``) restricts the match to
        that provider and its fallbacks first. Raises ``UnknownModel`` or ``NoPriceOnDay``.
        """
        if isinstance(day, datetime):
            day = day.date()
        found = self.resolve(model, provider)
        for row in self._rows[(found.provider, found.model)]:
            if (row.valid_from is None or row.valid_from <= day) and (
                row.valid_to is None or day < row.valid_to
            ):
                return row
        raise NoPriceOnDay(
            f"{found.provider}/{found.model} (for {model!r}) has no price on {day} in catalog "
            f"{self.version}"
        )

    def price_at(self, model: str, day: date, provider: str) -> ModelPrice | None:
        """The price of a model on ``day`` as ``provider`` sells it (its own rows, or those of
        its genai-prices fallbacks: Azure at OpenAI's), or None when the catalog has no such
        offer: unlike ``price``, never another provider's price."""
        wanted = canonical_provider(provider)
        if wanted is None:
            return None
        try:
            found = self.resolve(model, wanted)
        except UnknownModel:
            return None
        if found.provider not in (wanted, *self._fallbacks.get(wanted, ())):
            return None
        try:
            return self.price(model, day, wanted)
        except LookupError:
            return None

    def prices(self, model: str, provider: str | None = None) -> list[ModelPrice]:
        """Every dated row of a model, oldest first."""
        found = self.resolve(model, provider)
        return list(self._rows[(found.provider, found.model)])

    def frame(self) -> pl.DataFrame:
        """All rows: one per (provider, model, valid_from), dates as Date, prices as Float64."""
        if self._frame is None:
            records = []
            for key, prices in sorted(self._rows.items()):
                for p in prices:
                    record = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
                    record["aliases"] = "|".join(self._aliases.get(key, ()))
                    records.append(record)
            schema = {
                "provider": pl.String,
                "model": pl.String,
                "aliases": pl.String,
                "valid_from": pl.Date,
                "valid_to": pl.Date,
                **{c: pl.Float64 for c in STANDARD_PRICES},
                "long_context_threshold": pl.Int64,
                **{c: pl.Float64 for c in BATCH_PRICES},
                "source": pl.String,
                "catalog_version": pl.String,
            }
            self._frame = pl.DataFrame(
                [{c: r[c] for c in schema} for r in records], schema=schema, orient="row"
            )
        return self._frame


# --------------------------------------------------------------------------- costs


def request_cost(
    price: ModelPrice,
    input_tokens: float,
    cached_read_tokens: float = 0,
    cache_write_tokens: float = 0,
    output_tokens: float = 0,
    *,
    batch: bool = False,
) -> float:
    """Estimated USD cost of one model call (OpenAI token convention).

    ``input_tokens`` includes the cached ones: uncached = input - cache_read - cache_write.
    Cache reads are priced at ``cache_read`` and cache writes at ``cache_write`` (each falling
    back to the input price); when ``input_tokens`` exceeds ``long_context_threshold`` every
    token of the request is priced at the ``*_long`` rates (Gemini, Claude); with ``batch`` the
    batch rates apply where the catalog has them.
    """
    counts = {
        "input_tokens": input_tokens,
        "cached_read_tokens": cached_read_tokens,
        "cache_write_tokens": cache_write_tokens,
        "output_tokens": output_tokens,
    }
    for label, count in counts.items():
        if count is None or count < 0:
            raise ValueError(f"{label} must be a number >= 0, got {count!r}")
    uncached = input_tokens - cached_read_tokens - cache_write_tokens
    if uncached < 0:
        raise ValueError(
            f"cache tokens ({cached_read_tokens} read + {cache_write_tokens} written) exceed "
            f"input_tokens ({input_tokens}); input_tokens must include cached tokens "
            "(OpenAI convention): add Anthropic-style cache counts to the input first"
        )
    long = price.is_long(input_tokens)
    input_rate = price.rate("input", long=long, batch=batch)
    assert input_rate is not None  # every row has an input price
    read_rate = price.rate("cache_read", long=long, batch=batch)
    write_rate = price.rate("cache_write", long=long, batch=batch)
    output_rate = price.rate("output", long=long, batch=batch)
    total = (
        uncached * input_rate
        + cached_read_tokens * (input_rate if read_rate is None else read_rate)
        + cache_write_tokens * (input_rate if write_rate is None else write_rate)
        + output_tokens * (output_rate or 0.0)
    )
    return total / PER


def _rate_expr(kind: str, long: pl.Expr, batch: pl.Expr) -> pl.Expr:
    """``ModelPrice.rate`` over joined price columns."""

    def tiered(prefix: str) -> pl.Expr:
        base = pl.col(f"{prefix}{kind}")
        tier = pl.col(f"{prefix}{kind}_long")
        return pl.when(long & tier.is_not_null()).then(tier).otherwise(base)

    use_batch = batch & pl.col(f"batch_{kind}").is_not_null()
    return pl.when(use_batch).then(tiered("batch_")).otherwise(tiered(""))


def estimated_cost_parts(
    input_tokens: str = "input_tokens",
    cache_read_tokens: str = "cache_read_tokens",
    cache_write_tokens: str = "cache_write_tokens",
    output_tokens: str = "output_tokens",
    batch: pl.Expr | bool = False,
) -> dict[str, pl.Expr]:
    """``request_cost`` split by token kind (``input`` = uncached input, ``cache_read``,
    ``cache_write``, ``output``), as polars expressions over a frame joined with
    ``PriceCatalog.frame()`` price columns. The split weights each billed token line (one
    kind) across requests. Null when the price is missing or cache tokens exceed the input."""
    inputs = pl.col(input_tokens).cast(pl.Float64)
    reads = pl.col(cache_read_tokens).fill_null(0).cast(pl.Float64)
    writes = pl.col(cache_write_tokens).fill_null(0).cast(pl.Float64)
    outputs = pl.col(output_tokens).fill_null(0).cast(pl.Float64)
    batch_expr = batch if isinstance(batch, pl.Expr) else pl.lit(batch)
    batch_expr = batch_expr.fill_null(False)
    long = (inputs > pl.col("long_context_threshold")).fill_null(False)
    input_rate = _rate_expr("input", long, batch_expr)
    read_rate = pl.coalesce(_rate_expr("cache_read", long, batch_expr), input_rate)
    write_rate = pl.coalesce(_rate_expr("cache_write", long, batch_expr), input_rate)
    output_rate = _rate_expr("output", long, batch_expr).fill_null(0.0)
    uncached = inputs - reads - writes
    parts = {
        "input": uncached * input_rate / PER,
        "cache_read": reads * read_rate / PER,
        "cache_write": writes * write_rate / PER,
        "output": outputs * output_rate / PER,
    }
    return {kind: pl.when(uncached >= 0).then(part) for kind, part in parts.items()}


def estimated_cost_expr(
    input_tokens: str = "input_tokens",
    cache_read_tokens: str = "cache_read_tokens",
    cache_write_tokens: str = "cache_write_tokens",
    output_tokens: str = "output_tokens",
    batch: pl.Expr | bool = False,
) -> pl.Expr:
    """``request_cost`` as a polars expression: the sum of ``estimated_cost_parts``."""
    parts = estimated_cost_parts(
        input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, batch
    )
    return pl.sum_horizontal(*parts.values(), ignore_nulls=False)


_REQUEST_KEYS = ("provider", "model_responded", "model_requested")
_PRICE_JOIN_COLUMNS = (*STANDARD_PRICES, "long_context_threshold", *BATCH_PRICES)


def priced_requests(requests: pl.LazyFrame, catalog: PriceCatalog) -> pl.LazyFrame:
    """Model calls with ``estimated_cost`` (USD) and its parts by token kind
    (``estimated_<kind>_cost``), ``catalog_provider``, ``catalog_model`` and
    ``catalog_version`` added; nothing is dropped.

    ``requests`` has ``day`` (Date), ``provider``, ``model_responded``, ``model_requested``,
    ``input_tokens``, ``cache_read_tokens``, ``cache_write_tokens``, ``output_tokens`` (and
    optionally a Boolean ``batch``). The responded model is priced, else the requested one.
    Rows whose model has no price on their day keep null ``catalog_model`` and
    ``estimated_cost`` and are logged (see ``unmatched_models``); rows whose cache tokens
    exceed their input tokens keep a null cost.

    The distinct (provider, model, day) triples are resolved in Python (eagerly, once); the
    requests themselves are only joined, so a million rows price in well under a second.
    """
    schema = requests.collect_schema()
    keys = [pl.col(k).cast(pl.String).fill_null("").alias(f"_{k}") for k in _REQUEST_KEYS]
    distinct = requests.select(*keys, pl.col("day").cast(pl.Date)).unique().collect()
    names = distinct.select([f"_{k}" for k in _REQUEST_KEYS]).unique()

    matched: list[tuple[str, str, str, str | None, str | None, str | None]] = []
    unmatched: list[str] = []
    for provider, responded, requested in names.iter_rows():
        found = None
        used = None
        for candidate in (responded, requested):
            if not candidate:
                continue
            try:
                found = catalog.resolve(candidate, provider or None)
                used = candidate
                break
            except UnknownModel:
                continue
        if found is None:
            unmatched.append(f"{provider or '?'}/{responded or requested or '(none)'}")
        matched.append(
            (
                provider,
                responded,
                requested,
                found.provider if found else None,
                found.model if found else None,
                used,
            )
        )
    resolved = pl.DataFrame(
        matched,
        schema={
            **{f"_{k}": pl.String for k in _REQUEST_KEYS},
            "catalog_provider": pl.String,
            "catalog_model": pl.String,
            "model_priced": pl.String,
        },
        orient="row",
    )
    prices = catalog.frame().select(
        pl.col("provider").alias("catalog_provider"),
        pl.col("model").alias("catalog_model"),
        "valid_from",
        "valid_to",
        *_PRICE_JOIN_COLUMNS,
    )
    join_keys = [f"_{k}" for k in _REQUEST_KEYS]
    lookup = (
        distinct.join(resolved, on=join_keys, how="left")
        .join(prices, on=["catalog_provider", "catalog_model"], how="left")
        .filter(
            pl.col("catalog_model").is_null()
            | (
                (pl.col("valid_from").is_null() | (pl.col("day") >= pl.col("valid_from")))
                & (pl.col("valid_to").is_null() | (pl.col("day") < pl.col("valid_to")))
            )
        )
        .drop("valid_from", "valid_to")
    )
    # (name, day) pairs whose model is known but has no row on that day: no price.
    missing_days = distinct.join(
        lookup.select(*join_keys, "day"), on=[*join_keys, "day"], how="anti"
    )
    if missing_days.height:
        for provider, responded, requested, day in missing_days.iter_rows():
            unmatched.append(f"{provider or '?'}/{responded or requested} on {day}")
    if unmatched:
        shown = ", ".join(sorted(unmatched)[:20])
        more = f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
        log.warning(
            "no catalog price (%s) for %d model name(s): %s%s",
            catalog.version,
            len(unmatched),
            shown,
            more,
        )

    batch = pl.col("batch") if "batch" in schema else False
    priced = (
        requests.with_columns(*keys)
        .join(
            lookup.lazy(),
            on=[*join_keys, "day"],
            how="left",
            validate="m:1",
            maintain_order="left",
        )
        .with_columns(
            pl.when(pl.col("input").is_null())
            .then(None)
            .otherwise(pl.col("catalog_provider"))
            .alias("catalog_provider"),
            pl.when(pl.col("input").is_null())
            .then(None)
            .otherwise(pl.col("catalog_model"))
            .alias("catalog_model"),
            estimated_cost_expr(batch=batch).alias("estimated_cost"),
            *[
                part.alias(f"estimated_{kind}_cost")
                for kind, part in estimated_cost_parts(batch=batch).items()
            ],
            pl.lit(catalog.version).alias("catalog_version"),
        )
        .drop(*join_keys, *_PRICE_JOIN_COLUMNS)
    )
    return priced


def unmatched_models(priced: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """The model names ``priced_requests`` found no price for, with their request counts."""
    frame = priced.lazy()
    return (
        frame.filter(pl.col("catalog_model").is_null())
        .group_by("provider", "model_responded", "model_requested")
        .agg(pl.len().alias("requests"), pl.col("day").min().alias("first_day"))
        .sort("requests", descending=True)
        .collect()
    )
