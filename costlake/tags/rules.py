"""Tag governance: the cost-allocation tags of every charge, canonical and with provenance.

Each cloud spells the same tag differently (AWS ``user:Project`` or CUR 2.0 ``user_project``,
Azure ``Project`` or ``project``, GCP ``cost-center``, OCI ``CostTracking.cost_center``) and
people spell the values differently (``Production``, ``prd``). ``with_tag_columns`` turns the
lake's ``Tags`` JSON into one column per configured key with a canonical value, says where each
value came from (the tag, an alias, a rule, the account's default), reports values outside the
allowed vocabulary instead of rewriting them, and marks charges that cannot carry tags at all.

The rules (``TagRules``) come from a YAML file, by default ``costlake/data/tags.yaml``, checked on
load: every mistake is reported with the file's name and its line.

All the work on rows is polars expressions, and the plan streams. ``Tags`` is read with one
Aho-Corasick pass (every spelling of a configured key becomes a mark) and one regex pass (the
marked pairs) per distinct value, each distinct value once (``found_tags``), and the result
joined onto the rows: a bill repeats each resource's tags on all its line items.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from costlake import yaml_files
from costlake.config import PROVIDERS
from costlake.tags.keys import TAG_KEYS

DEFAULT_RULES = "data/tags.yaml"

# Values of the x_tag_<key>_source columns.
SOURCE_TAG = "tag"  # the key itself, after mechanical normalization
SOURCE_ALIAS = "alias"  # a configured alias of the key
SOURCE_INVALID = "invalid"  # present, but not an allowed value
SOURCE_ACCOUNT_DEFAULT = "account_default"
RULE_SOURCE_PREFIX = "rule:"  # rule:<name>

INVALID_COLUMN = "x_TagsInvalid"
UNTAGGABLE_COLUMN = "x_Untaggable"

OneOrMore = str | list[str]


# ---------------------------------------------------------------------------------------------
# Configuration


class KeySpec(BaseModel):
    """One canonical tag key: mandatory or recommended, its other spellings and vocabulary."""

    model_config = ConfigDict(extra="forbid")

    required: bool = False
    aliases: list[str] = Field(default_factory=list)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    allowed: list[str] | None = None


class RuleMatch(BaseModel):
    """Conditions on a charge's FOCUS columns, all of which must hold."""

    model_config = ConfigDict(extra="forbid")

    provider: OneOrMore | None = None  # x_Provider: aws | azure | gcp | oci
    billing_account_id: OneOrMore | None = None
    sub_account_id: OneOrMore | None = None
    service_name: OneOrMore | None = None
    service_category: OneOrMore | None = None
    resource_id_pattern: str | None = None  # regular expressions, searched (not anchored)
    charge_description_pattern: str | None = None
    usage_type_pattern: str | None = None  # x_UsageType


class Rule(BaseModel):
    """Values for a charge's missing keys, derived from what the charge is."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
    match: RuleMatch
    values: dict[str, str] = Field(alias="set")


class AccountDefault(BaseModel):
    """Values for a charge's missing keys, from the sub account it was billed to."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    provider: Literal["aws", "azure", "gcp", "oci"]
    sub_account_id: str
    values: dict[str, str] = Field(alias="set")


class TagRules(BaseModel):
    """The tag keys, how to recognise them, and where missing values may be derived from."""

    model_config = ConfigDict(extra="forbid")

    keys: dict[str, KeySpec] = Field(min_length=1)
    account_defaults: list[AccountDefault] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> TagRules:
        # load_tag_rules runs the same checks itself, to name the line of the first problem.
        if not (info.context or {}).get("defer_checks"):
            for loc, problem in rule_problems(self):
                raise ValueError(f"{_path(loc)}: {problem}")
        return self


class TagRulesError(ValueError):
    """A tag rules file that cannot be used, with the file, the line and the problem."""


def normal_key(text: str) -> str:
    """A key as compared: lower case, ``-`` and spaces as ``_`` (as ``key_patterns`` spells it)."""
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def normal_value(text: str) -> str:
    """A value as compared: trimmed, inner white space collapsed, lower case (as ``_cleaned``)."""
    return " ".join(text.split()).lower()


def canonical_values(spec: KeySpec) -> dict[str, str]:
    """Every accepted spelling of a key's values (normalized) → its canonical value."""
    mapping: dict[str, str] = {}
    for canonical, synonyms in spec.synonyms.items():
        for synonym in synonyms:
            mapping.setdefault(normal_value(synonym), normal_value(canonical))
    return mapping


def allowed_values(spec: KeySpec) -> list[str] | None:
    """The key's allowed values, normalized, or None when any value is valid."""
    return None if spec.allowed is None else [normal_value(v) for v in spec.allowed]


def canonical_value(spec: KeySpec, text: str) -> str:
    """A configured value (a rule's or a default's) as the lake would hold it."""
    value = normal_value(text)
    return canonical_values(spec).get(value, value)


def rule_problems(rules: TagRules) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Each inconsistency of valid-looking rules: (location in the file's data, problem)."""
    yield from _key_problems(rules)
    yield from _default_problems(rules)
    yield from _rule_problems(rules)


def _key_problems(rules: TagRules) -> Iterator[tuple[tuple[str | int, ...], str]]:
    aliases: dict[str, str] = {}
    for key, spec in rules.keys.items():
        if key not in TAG_KEYS:
            yield (
                ("keys", key),
                (f"tag key '{key}' has no column in the lake: use one of {', '.join(TAG_KEYS)}"),
            )
        for number, alias in enumerate(spec.aliases):
            name = normal_key(alias)
            loc = ("keys", key, "aliases", number)
            if not name:
                yield loc, f"key {key} has an empty alias"
            elif name in rules.keys and name != key:
                yield loc, f"alias '{alias}' of key {key} is the tag key {name}"
            elif name in aliases and aliases[name] != key:
                yield loc, f"alias '{alias}' is claimed by both {aliases[name]} and {key}"
            aliases.setdefault(name, key)
        yield from _synonym_problems(key, spec)


def _synonym_problems(key: str, spec: KeySpec) -> Iterator[tuple[tuple[str | int, ...], str]]:
    allowed = allowed_values(spec)
    targets = {normal_value(c) for c in spec.synonyms}
    seen: dict[str, str] = {}
    for canonical, synonyms in spec.synonyms.items():
        target = normal_value(canonical)
        if allowed is not None and target not in allowed:
            yield (
                ("keys", key, "synonyms", canonical),
                f"{key} synonyms map to '{canonical}', which is not an allowed value",
            )
        for number, synonym in enumerate(synonyms):
            value = normal_value(synonym)
            loc = ("keys", key, "synonyms", canonical, number)
            if value in seen and seen[value] != target:
                yield (
                    loc,
                    f"{key} synonym '{synonym}' is mapped to both '{seen[value]}' and '{target}'",
                )
            elif value in targets and value != target:
                yield loc, f"{key} synonym '{synonym}' is itself a canonical value"
            seen.setdefault(value, target)


def _set_problems(
    rules: TagRules, values: dict[str, str], loc: tuple[str | int, ...], who: str
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Problems of a rule's or a default's ``set``: unknown keys, empty or unallowed values."""
    if not values:
        yield loc, f"{who} sets no tag"
    for key, text in values.items():
        spec = rules.keys.get(key)
        if spec is None:
            yield loc + (key,), f"{who} sets unknown tag key '{key}'"
            continue
        allowed = allowed_values(spec)
        value = canonical_value(spec, text)
        if not value:
            yield loc + (key,), f"{who} sets {key} to an empty value"
        elif allowed is not None and value not in allowed:
            listed = ", ".join(allowed)
            yield loc + (key,), f"{who} sets {key} to '{text}', which is not allowed ({listed})"


def _default_problems(rules: TagRules) -> Iterator[tuple[tuple[str | int, ...], str]]:
    seen: set[tuple[str, str]] = set()
    for number, default in enumerate(rules.account_defaults):
        account = (default.provider, default.sub_account_id)
        who = f"account default for {default.provider} {default.sub_account_id}"
        if account in seen:
            yield ("account_defaults", number), f"{who} is given twice"
        seen.add(account)
        yield from _set_problems(rules, default.values, ("account_defaults", number, "set"), who)


def _rule_problems(rules: TagRules) -> Iterator[tuple[tuple[str | int, ...], str]]:
    names: set[str] = set()
    for number, rule in enumerate(rules.rules):
        who = f"rule '{rule.name}'"
        if rule.name in names:
            yield ("rules", number, "name"), f"rule name '{rule.name}' is used twice"
        names.add(rule.name)
        match = rule.match.model_dump(exclude_none=True)
        if not match:
            yield ("rules", number, "match"), f"{who} has no condition in its match"
        for provider in _as_list(rule.match.provider):
            if provider not in PROVIDERS:
                listed = ", ".join(PROVIDERS)
                loc = ("rules", number, "match", "provider")
                yield loc, f"{who} matches unknown provider '{provider}' (one of {listed})"
        for field, pattern in match.items():
            if field.endswith("_pattern") and (error := _regex_error(pattern)):
                loc = ("rules", number, "match", field)
                yield loc, f"{who}: {field} is not a valid regular expression: {error}"
        yield from _set_problems(rules, rule.values, ("rules", number, "set"), who)


def _regex_error(pattern: str) -> str | None:
    """polars' (Rust) complaint about a pattern, or None when it compiles."""
    try:
        pl.select(pl.lit("", dtype=pl.String).str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        return str(exc).strip().splitlines()[-1].strip() or "does not compile"
    return None


def _as_list(value: OneOrMore | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_tag_rules(path: str | Path | None = None) -> TagRules:
    """The tag rules in ``path``, or costlake's documented defaults (``data/tags.yaml``).

    Raises ``TagRulesError`` naming the file as given, the line and the first problem: invalid
    YAML, a repeated key, an unknown field, a wrong type, or rules that contradict each other.
    """
    if path is None:
        name = f"costlake/{DEFAULT_RULES}"
        text = resources.files("costlake").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
    else:
        name = str(path)
        try:
            text = yaml_files.read_text(path)
        except (OSError, yaml_files.YamlFileError) as exc:
            raise TagRulesError(f"{name}: cannot read tag rules: {exc}") from exc
    try:
        root = yaml_files.compose(text)  # bounded: no alias bomb reaches _plain
    except yaml_files.YamlFileError as exc:
        line = f" line {exc.line}" if exc.line else ""
        raise TagRulesError(f"{name}{line}: invalid YAML: {exc.reason}") from None
    data = _plain(root, name) if root is not None else {}
    try:
        rules = TagRules.model_validate(data, context={"defer_checks": True})
    except ValidationError as exc:
        error = exc.errors()[0]
        line, found = _line_of(root, error["loc"])
        raise TagRulesError(_message(name, line, _pydantic_problem(error, found))) from None
    for loc, problem in rule_problems(rules):
        line, _ = _line_of(root, _yaml_loc(loc))
        raise TagRulesError(_message(name, line, problem))
    return rules


def _message(name: str, line: int | None, problem: str) -> str:
    return f"{name} line {line}: {problem}" if line else f"{name}: {problem}"


def _plain(node: yaml.Node, name: str) -> Any:
    """The YAML data with every scalar as written (``012`` stays "012"), repeated keys refused."""
    if isinstance(node, yaml.MappingNode):
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _plain(key_node, name)
            if not isinstance(key, str):
                raise TagRulesError(_message(name, _line(key_node), "a key must be text"))
            if key in data:
                problem = f"'{key}' is given twice in the same mapping"
                raise TagRulesError(_message(name, _line(key_node), problem))
            data[key] = _plain(value_node, name)
        return data
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, name) for item in node.value]
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return node.value


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _line_of(root: yaml.Node | None, loc: tuple) -> tuple[int | None, tuple]:
    """The line of the deepest node of ``loc`` found in the file, and the part of ``loc`` found.

    A mapping entry's line is its key's, so an unknown or misspelled key points at itself.
    """
    node, line, found = root, (_line(root) if root is not None else None), ()
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = _line(node)
        else:
            break
        found += (part,)
    return line, found


def _yaml_loc(loc: tuple) -> tuple:
    """A location in ``TagRules`` as a location in the file (``values`` is written ``set``)."""
    return tuple("set" if part == "values" else part for part in loc)


def _path(loc: tuple) -> str:
    """``("rules", 2, "match")`` → ``rules[2].match``."""
    text = ""
    for part in _yaml_loc(loc):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def _pydantic_problem(error: Any, found: tuple) -> str:
    """A pydantic error as a sentence, located by the part of its path found in the file."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        where = _path(loc[:-1])
        return f"{where}: unknown field '{loc[-1]}'"
    if error["type"] == "missing":
        return f"{_path(found)}: missing field '{loc[len(found)]}'"
    return f"{_path(found)}: {error['msg']}"


# ---------------------------------------------------------------------------------------------
# Columns


def value_column(key: str) -> str:
    """The column holding a key's canonical value."""
    return f"x_tag_{key}"


def source_column(key: str) -> str:
    """The column saying where a key's value came from."""
    return f"x_tag_{key}_source"


def tag_columns(rules: TagRules) -> dict[str, pl.DataType]:
    """Names and types of the columns ``with_tag_columns`` adds, in order (for the lake schema)."""
    columns: dict[str, pl.DataType] = {}
    for key in rules.keys:
        columns[value_column(key)] = pl.String()
        columns[source_column(key)] = pl.String()
    columns[INVALID_COLUMN] = pl.String()
    columns[UNTAGGABLE_COLUMN] = pl.Boolean()
    return columns


def missing_mandatory(rules: TagRules) -> pl.Expr:
    """List[String] of the mandatory keys without a value (missing or invalid), in config order.

    Needs the columns of ``with_tag_columns``. A value derived by a rule or an account default
    counts as a value; their ``x_tag_<key>_source`` tells them apart.
    """
    required = [key for key, spec in rules.keys.items() if spec.required]
    if not required:
        return pl.lit([], dtype=pl.List(pl.String))
    flags = [pl.when(pl.col(value_column(k)).is_null()).then(pl.lit(k)) for k in required]
    return pl.concat_list(flags).list.drop_nulls()


def with_tag_columns(
    frame: pl.LazyFrame,
    rules: TagRules,
    found: pl.DataFrame | None = None,
    on: list[str] | None = None,
) -> pl.LazyFrame:
    """``frame`` with, for every configured key K, ``x_tag_K`` and ``x_tag_K_source``, then
    ``x_TagsInvalid`` and ``x_Untaggable`` (see ``tag_columns``). ``Tags`` is left as it is.

    ``x_tag_K`` is the canonical value or null. ``x_tag_K_source``: ``tag`` (a key that is K
    after mechanical normalization), ``alias`` (a configured alias of K), ``invalid`` (present
    but not an allowed value: ``x_tag_K`` stays null and nothing is derived), ``rule:<name>``
    (the first rule in file order that matches the charge and sets K), ``account_default``, or
    null when K has no value. A key spelled as K wins over an alias of K; when a charge has the
    same one twice (``Project`` and ``project``), the last in ``Tags`` wins, as in ``json.loads``.
    Tag values are JSON strings; numbers, booleans and nested values are not read as tags.

    ``x_TagsInvalid`` is a JSON object {K: value as given} of the invalid values, or null.

    ``x_Untaggable`` is true for a charge that cannot carry tags, so it is never counted as
    untagged. It must have no tags itself (a charge with tags evidently carries them) and be:

    - tax (``ChargeCategory`` Tax);
    - a credit or adjustment with no ``ResourceId``: account credits, refunds, rounding errors,
      corrections not tied to a resource;
    - a purchase with no ``ResourceId``: upfront and recurring fees of reservations, support
      plans and other subscriptions;
    - a commitment's own charge: a ``CommitmentDiscountId`` and no ``ResourceId`` or the
      commitment itself as the resource (Savings Plan and reservation fees, unused commitment);
    - support: ``ServiceName`` with the word "support" and no ``ResourceId``;
    - a marketplace charge with no resource: ``PublisherName`` other than ``ProviderName`` and
      no ``ResourceId`` (SaaS subscriptions, third-party model calls without a resource).

    Columns this needs but the frame lacks are taken as null. How it stays fast: a bill repeats
    each resource's tags on all its line items, so the tags are read once per distinct key
    (``Tags``, and the account when there are account defaults: ``tag_keys``) into a table
    (``found_tags``) that is joined onto the rows. ``found`` is that table when the caller
    already has it (the ingest collects the keys in its one pass over the file); without it
    the frame's distinct keys are collected first, a separate pass over ``frame``. With ``on``,
    ``found`` is joined by those columns of the frame instead (as they are), and its columns
    other than ``on`` and the found fields (such as ``Tags`` itself) are added to the rows.
    """
    schema = frame.collect_schema()
    by = _distinct_by(rules)
    if found is None:
        found = found_tags(tag_keys(frame, rules).collect(), rules)
    table = found.lazy().rename({name: _FOUND + name for name in _found_fields(rules)})
    if on is None:
        keys = [_column(schema, name).cast(pl.String).alias(f"__tag_key_{name}") for name in by]
        table = table.rename({name: f"__tag_key_{name}" for name in by})
        on = [f"__tag_key_{name}" for name in by]
        frame = frame.with_columns(keys)
    working = [_FOUND + name for name in _found_fields(rules)] + [
        name for name in on if name.startswith("__tag_key_")
    ]
    frame = frame.join(table, on=on, how="left", nulls_equal=True, maintain_order="left")
    schema = frame.collect_schema()
    frame = frame.with_columns(
        _rule_matches(rule.match, schema).alias(f"__tag_rule_{number}")
        for number, rule in enumerate(rules.rules)
    )

    def field(name: str) -> pl.Expr:
        return pl.col(_FOUND + name)

    columns: list[pl.Expr] = []
    for key in rules.keys:
        columns += [_tag_value(rules, key, field).alias(value_column(key))]
        columns += [_tag_source(rules, key, field).alias(source_column(key))]
    columns += [field("invalid").alias(INVALID_COLUMN)]
    columns += [untaggable(schema).alias(UNTAGGABLE_COLUMN)]
    working += [f"__tag_rule_{number}" for number in range(len(rules.rules))]
    return frame.with_columns(columns).drop(working)


_FOUND = "__tag_found_"  # prefix of the joined ``_found_fields``


def tag_keys(frame: pl.LazyFrame, rules: TagRules) -> pl.LazyFrame:
    """The distinct keys the tag columns of ``frame``'s rows depend on, as text: ``Tags``, and
    ``x_Provider`` and ``SubAccountId`` when there are account defaults."""
    schema = frame.collect_schema()
    return frame.select(
        _column(schema, name).cast(pl.String).alias(name) for name in _distinct_by(rules)
    ).unique()


def found_tags(keys: pl.DataFrame, rules: TagRules) -> pl.DataFrame:
    """``keys`` (from ``tag_keys``) with what the tags and the account say of each: the table
    ``with_tag_columns`` joins onto the rows, each distinct key read once."""
    keys = keys.select(pl.col(name).cast(pl.String) for name in _distinct_by(rules))
    return pl.concat([keys, tags_table(keys, rules)], how="horizontal")


def _column(schema: pl.Schema, name: str) -> pl.Expr:
    """A column of the frame, or null text when the frame has no such column."""
    return pl.col(name) if name in schema else pl.lit(None, dtype=pl.String)


def _distinct_by(rules: TagRules) -> list[str]:
    """The columns the tags and account defaults depend on: the keys of ``found_tags``."""
    return ["Tags", "x_Provider", "SubAccountId"] if rules.account_defaults else ["Tags"]


def _defaulted_keys(rules: TagRules) -> list[str]:
    """The keys some account default sets, in config order."""
    return [k for k in rules.keys if any(k in d.values for d in rules.account_defaults)]


def _found_fields(rules: TagRules) -> dict[str, pl.DataType]:
    """Per key the tag's valid value and its source (tag, alias, invalid or null); the
    account's default of each key some default sets; the invalid values as a JSON object."""
    fields: dict[str, pl.DataType] = {}
    for key in rules.keys:
        fields[f"value_{key}"] = pl.String()
        fields[f"source_{key}"] = pl.String()
    for key in _defaulted_keys(rules):
        fields[f"default_{key}"] = pl.String()
    fields["invalid"] = pl.String()
    return fields


def tags_table(
    rows: pl.DataFrame, rules: TagRules, stages: list[list[pl.Expr]] | None = None
) -> pl.DataFrame:
    """``_found_fields`` of ``rows`` (``Tags``, and ``x_Provider`` and ``SubAccountId`` when
    there are account defaults): what the tags and the account say, before any rule.

    ``Tags`` is read with one Aho-Corasick pass and one regex pass per row (see ``_found_tags``),
    then each key's value is cleaned, mapped to its canonical value and checked.
    """
    frame = rows
    for stage in stages or _stages(rules):
        frame = frame.with_columns(stage)
    if rules.account_defaults:
        frame = frame.join(
            _defaults_table(rules),
            on=["x_Provider", "SubAccountId"],
            how="left",
            maintain_order="left",
        )
    return frame.select(list(_found_fields(rules)))


def _stages(rules: TagRules, tags: pl.Expr | None = None) -> list[list[pl.Expr]]:
    """The expressions of ``tags_table``, one list per step. Each step reads the columns of the
    steps before it: an expression used twice within one step would be computed twice."""
    keys = list(rules.keys)
    found = pl.col("__tag_found")
    spelled, aliased = "__tag_spelled_{}".format, "__tag_aliased_{}".format
    raw, clean, canonical, valid = (
        "__tag_raw_{}".format,
        "__tag_clean_{}".format,
        "__tag_canonical_{}".format,
        "__tag_valid_{}".format,
    )
    return [
        [_found_tags(rules, pl.col("Tags") if tags is None else tags).alias("__tag_found")],
        [found.map.get(_MARK + k).alias(spelled(k)) for k in keys]
        + [found.map.get(_MARK + k + _ALIAS).alias(aliased(k)) for k in keys],
        [pl.coalesce(spelled(k), aliased(k)).alias(raw(k)) for k in keys],
        [_cleaned(pl.col(raw(k))).alias(clean(k)) for k in keys],
        [_canonical(pl.col(clean(k)), spec).alias(canonical(k)) for k, spec in rules.keys.items()],
        [_is_valid(pl.col(canonical(k)), spec).alias(valid(k)) for k, spec in rules.keys.items()],
        [pl.when(valid(k)).then(pl.col(canonical(k))).alias(f"value_{k}") for k in keys]
        + [
            pl.when(pl.col(valid(k)) & pl.col(spelled(k)).is_null())
            .then(pl.lit(SOURCE_ALIAS))
            .when(valid(k))
            .then(pl.lit(SOURCE_TAG))
            .when(pl.col(canonical(k)).is_not_null())
            .then(pl.lit(SOURCE_INVALID))
            .alias(f"source_{k}")
            for k in keys
        ]
        + [_invalid_tags(keys).alias("invalid")],
    ]


# How ``Tags`` is read, in one text pass and one regex pass per row (no JSON decoding, which is
# several times slower): the pass rewrites every spelling of a configured key, with its quotes
# and the value's opening quote, as MARK key [ALIAS] SEP, and JSON's escaped quote and backslash
# as placeholders, so that a value then runs up to the next quote. Control characters cannot
# appear unescaped in JSON text, so the marks cannot collide with anything in it.
_MARK, _SEP, _ALIAS = "\x1e", "\x1f", "~"
_BACKSLASH, _QUOTE = "\x1c", "\x1d"
_ESCAPES = {"\\\\": _BACKSLASH, '\\"': _QUOTE, "\\/": "/"}
_MARKED_PAIR = f'{_MARK}[a-z0-9_]+{_ALIAS}?{_SEP}[^"{_MARK}]+'


def key_names(rules: TagRules) -> dict[str, tuple[str, bool]]:
    """Normalized key name → (canonical key, whether it is an alias): the keys, then aliases."""
    names = {key: (key, False) for key in rules.keys}
    for key, spec in rules.keys.items():
        for alias in spec.aliases:
            names.setdefault(normal_key(alias), (key, True))
    return names


def _spellings(name: str) -> list[str]:
    """The spellings mechanical normalization treats alike: each ``_`` as ``_``, ``-`` or space."""
    spelled = [""]
    for number, part in enumerate(name.split("_")):
        joints = ["_", "-", " "] if number else [""]
        spelled = [done + joint + part for done in spelled for joint in joints]
    return spelled


def key_patterns(rules: TagRules) -> dict[str, str]:
    """Text → replacement for the one Aho-Corasick pass over ``Tags`` (ASCII case ignored).

    Each name is matched with its quotes and the value's opening quote: ``"project":"``,
    ``"user:project":"``, ``"user_project":"`` and, for an OCI namespace, ``.project":"`` (also
    with ``": "``). A quote inside a JSON string is always escaped, so these only match keys.
    The leftmost match wins, so a whole key that is a known name (``"cost.center"``) is taken
    before its last part would be; a name's own spellings are listed before prefixed ones.
    """
    patterns = dict(_ESCAPES)
    names = key_names(rules)
    for prefix in ('"', '"user:', '"user_', "."):
        for name, (key, via_alias) in names.items():
            mark = _MARK + key + (_ALIAS if via_alias else "") + _SEP
            for spelled in _spellings(name):
                for colon in ('":"', '": "'):
                    patterns.setdefault(prefix + spelled + colon, mark)
    return patterns


def _found_tags(rules: TagRules, tags: pl.Expr) -> pl.Expr:
    """Map MARK key [ALIAS] → the value as written in JSON (escapes as placeholders)."""
    patterns = key_patterns(rules)
    marked = tags.str.replace_many(
        list(patterns), list(patterns.values()), ascii_case_insensitive=True, leftmost=True
    )
    entries = marked.str.extract_all(_MARKED_PAIR).list.eval(
        pl.element().str.split_exact(_SEP, 1).struct.rename_fields(["key", "value"])
    )
    return entries.list.to_map()


def _unescaped(raw: pl.Expr) -> pl.Expr:
    """The value as given. JSON escapes other than ``\\"``, ``\\\\`` and ``\\/`` stay as written."""
    return raw.str.replace_many([_BACKSLASH, _QUOTE], ["\\", '"'])


def _escaped(raw: pl.Expr) -> pl.Expr:
    """The value as the content of a JSON string, as it was in ``Tags``."""
    return raw.str.replace_many([_BACKSLASH, _QUOTE], ["\\\\", '\\"'])


def _cleaned(raw: pl.Expr) -> pl.Expr:
    """The value as compared: unescaped, trimmed, inner white space collapsed, lower case (as
    ``normal_value``); empty stays "" here and becomes null in ``_canonical``."""
    return _unescaped(raw).str.strip_chars().str.replace_all(r"\s+", " ").str.to_lowercase()


def _canonical(clean: pl.Expr, spec: KeySpec) -> pl.Expr:
    """The cleaned value with synonyms replaced by their canonical value, null when empty."""
    by_target: dict[str, list[str]] = {}
    for synonym, target in canonical_values(spec).items():
        by_target.setdefault(target, []).append(synonym)
    chain = pl.when(clean == "").then(pl.lit(None, dtype=pl.String))
    for target, synonyms in by_target.items():
        chain = chain.when(clean.is_in(synonyms)).then(pl.lit(target))
    return chain.otherwise(clean)


def _is_valid(value: pl.Expr, spec: KeySpec) -> pl.Expr:
    """A present value that is allowed (any present value when the key has no vocabulary)."""
    allowed = allowed_values(spec)
    if allowed is None:
        return value.is_not_null()
    return value.is_in(allowed).fill_null(False)


def _invalid_tags(keys: list[str]) -> pl.Expr:
    """JSON object {key: value as given} of the present but invalid values, null when none."""
    pieces = [
        pl.when(pl.col(f"__tag_canonical_{k}").is_not_null() & ~pl.col(f"__tag_valid_{k}")).then(
            pl.concat_str([pl.lit(f'"{k}":"'), _escaped(pl.col(f"__tag_raw_{k}")), pl.lit('"')])
        )
        for k in keys
    ]
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(body != "").then(pl.concat_str([pl.lit("{"), body, pl.lit("}")]))


def _defaults_table(rules: TagRules) -> pl.DataFrame:
    """x_Provider, SubAccountId and ``default_<key>`` per account default (canonical values)."""
    return pl.DataFrame(
        [
            {
                "x_Provider": default.provider,
                "SubAccountId": default.sub_account_id,
                **{
                    f"default_{key}": canonical_value(rules.keys[key], text)
                    for key, text in default.values.items()
                },
            }
            for default in rules.account_defaults
        ],
        schema={"x_Provider": pl.String, "SubAccountId": pl.String}
        | {f"default_{k}": pl.String for k in _defaulted_keys(rules)},
    )


def _rule_matches(match: RuleMatch, schema: pl.Schema) -> pl.Expr:
    """True where a charge meets every condition of ``match``."""
    exact = {
        "provider": "x_Provider",
        "billing_account_id": "BillingAccountId",
        "sub_account_id": "SubAccountId",
        "service_name": "ServiceName",
        "service_category": "ServiceCategory",
    }
    patterns = {
        "resource_id_pattern": "ResourceId",
        "charge_description_pattern": "ChargeDescription",
        "usage_type_pattern": "x_UsageType",
    }
    conditions = [
        _column(schema, column).is_in(_as_list(getattr(match, field)))
        for field, column in exact.items()
        if getattr(match, field) is not None
    ]
    conditions += [
        _column(schema, column).str.contains(getattr(match, field))
        for field, column in patterns.items()
        if getattr(match, field) is not None
    ]
    return pl.all_horizontal(conditions).fill_null(False)


def _tag_value(rules: TagRules, key: str, field: Any) -> pl.Expr:
    """The tag's value when there is a tag (null when it is invalid); else the first matching
    rule's; else the account's default."""
    derived = _derived(rules, key, field)
    if not derived:
        return field(f"value_{key}")
    chain = pl.when(field(f"source_{key}").is_not_null()).then(field(f"value_{key}"))
    for condition, value, _ in derived:
        chain = chain.when(condition).then(value)
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _tag_source(rules: TagRules, key: str, field: Any) -> pl.Expr:
    """Where ``_tag_value`` came from: tag, alias, invalid, rule:<name>, account_default."""
    derived = _derived(rules, key, field)
    if not derived:
        return field(f"source_{key}")
    chain = pl.when(field(f"source_{key}").is_not_null()).then(field(f"source_{key}"))
    for condition, _, source in derived:
        chain = chain.when(condition).then(source)
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _derived(rules: TagRules, key: str, field: Any) -> list[tuple[pl.Expr, pl.Expr, pl.Expr]]:
    """(condition, value, source) of each way ``key`` may be derived, in priority order: the
    rules that set it in file order, then the account default."""
    ways = [
        (
            pl.col(f"__tag_rule_{number}"),
            pl.lit(canonical_value(rules.keys[key], rule.values[key])),
            pl.lit(RULE_SOURCE_PREFIX + rule.name),
        )
        for number, rule in enumerate(rules.rules)
        if key in rule.values
    ]
    if key in _defaulted_keys(rules):
        default = field(f"default_{key}")
        ways.append((default.is_not_null(), default, pl.lit(SOURCE_ACCOUNT_DEFAULT)))
    return ways


def untaggable(schema: pl.Schema) -> pl.Expr:
    """True for charges that cannot carry tags (the rule is in ``with_tag_columns``)."""

    def col(name: str) -> pl.Expr:
        return _column(schema, name)

    no_resource = col("ResourceId").is_null()
    category = col("ChargeCategory")
    commitment = col("CommitmentDiscountId")
    tags = col("Tags").cast(pl.String)
    no_tags = tags.is_null() | (tags.str.strip_chars() == "{}")
    cannot = (
        (category == "Tax")
        | (category.is_in(["Credit", "Adjustment"]) & no_resource)
        | ((category == "Purchase") & no_resource)
        | (commitment.is_not_null() & (no_resource | (col("ResourceId") == commitment)))
        | (col("ServiceName").str.contains(r"(?i)\bsupport\b") & no_resource)
        | ((col("PublisherName") != col("ProviderName")) & no_resource)
    )
    return (no_tags & cannot).fill_null(False)
