"""Tag governance: each cloud's tag forms to canonical keys and values, with provenance.

Every expected value below is worked out by hand from the rules in ``RULES`` and the rows of
each test (or, for the fixtures, from the source files themselves).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES

from costlake.focus.lake import Lake
from costlake.focus.single_file import normalize_file
from costlake.tags.rules import (
    TagRules,
    TagRulesError,
    found_tags,
    load_tag_rules,
    missing_mandatory,
    tag_columns,
    tag_keys,
    with_tag_columns,
)

RULES = """\
keys:
  project:
    required: true
    aliases: [proj]
  environment:
    required: true
    aliases: [env]
    synonyms:
      prod: [production, prd]
      staging: [stage, stg, pre prod]
      dev: [development]
    allowed: [prod, staging, dev]
  cost_center:
    required: true
    aliases: [CostCenter, cc]
  workload_type:
    synonyms:
      inference: [serving]
    allowed: [inference, training]
  team:
    required: false
account_defaults:
  - provider: aws
    sub_account_id: "111111111111"
    set: {project: fallback, environment: Production, workload_type: training}
rules:
  - name: bedrock-inference
    match: {provider: aws, service_name: Amazon Bedrock}
    set: {workload_type: inference}
  - name: gpu-lab
    match: {provider: aws, resource_id_pattern: "gpu"}
    set: {workload_type: training, project: gpu-lab}
"""

COLUMNS = (
    "Tags",
    "x_Provider",
    "SubAccountId",
    "ServiceName",
    "ResourceId",
    "ChargeCategory",
    "CommitmentDiscountId",
    "PublisherName",
    "ProviderName",
)


@pytest.fixture
def rules(tmp_path: Path) -> TagRules:
    path = tmp_path / "tags.yaml"
    path.write_text(RULES)
    return load_tag_rules(path)


def _tagged(rows: list[dict], rules: TagRules) -> list[dict]:
    """``rows`` (any of COLUMNS, the rest null) through ``with_tag_columns``, as dicts."""
    frame = pl.LazyFrame(
        [{c: row.get(c) for c in COLUMNS} for row in rows],
        schema=dict.fromkeys(COLUMNS, pl.String),
    )
    out = with_tag_columns(frame, rules).with_columns(missing=missing_mandatory(rules))
    return out.collect().to_dicts()


def _tags(**tags: str) -> str:
    return json.dumps(tags)


def _pick(row: dict, key: str) -> tuple[str | None, str | None]:
    return row[f"x_tag_{key}"], row[f"x_tag_{key}_source"]


def test_each_clouds_tag_forms_give_the_same_canonical_tags(rules):
    rows = [
        # AWS legacy CUR / AWS FOCUS export: user: prefix, the user's own case.
        '{"user:Project":"Atlas","user:env":"Production","user:CostCenter":"CC-41"}',
        # CUR 2.0 resource_tags keys.
        '{"user_project":"atlas","user_environment":"prd","user_cost_center":"cc-41"}',
        # Azure, capitalised and lower case.
        '{"Project":"ATLAS","Environment":"PROD","CostCenter":"CC-41"}',
        '{"project":"atlas","env":"prod","cc":"cc-41"}',
        # GCP labels: lower case, "-".
        '{"project":"atlas","environment":"production","cost-center":"cc-41"}',
        # OCI defined tags in a namespace, and free-form tags, written with ", " and ": ".
        '{"CostTracking.project":"Atlas","CostTracking.environment":"prod",'
        '"CostTracking.cost_center":"CC-41","Oracle-Tags.CreatedBy":"default/alice"}',
        '{"Project": "atlas", "Env": "Prod", "Cost Center": "CC-41"}',
    ]
    out = _tagged([{"Tags": tags} for tags in rows], rules)
    assert [_pick(r, "project") for r in out] == [("atlas", "tag")] * 7
    assert [_pick(r, "environment") for r in out] == [
        ("prod", "alias"),
        ("prod", "tag"),
        ("prod", "tag"),
        ("prod", "alias"),
        ("prod", "tag"),
        ("prod", "tag"),
        ("prod", "alias"),
    ]
    assert [_pick(r, "cost_center") for r in out] == [
        ("cc-41", "alias"),  # CostCenter: "costcenter" is an alias, not cost_center
        ("cc-41", "tag"),
        ("cc-41", "alias"),
        ("cc-41", "alias"),
        ("cc-41", "tag"),
        ("cc-41", "tag"),
        ("cc-41", "tag"),
    ]
    assert [r["x_TagsInvalid"] for r in out] == [None] * 7
    assert [r["missing"] for r in out] == [[]] * 7


def test_values_are_trimmed_collapsed_lower_cased_and_mapped_to_synonyms(rules):
    values = ["  Pre   PROD ", "STG", "stage", "Development", "dev", "Production", "prod"]
    out = _tagged([{"Tags": _tags(environment=v)} for v in values], rules)
    assert [r["x_tag_environment"] for r in out] == [
        "staging",
        "staging",
        "staging",
        "dev",
        "dev",
        "prod",
        "prod",
    ]
    assert {r["x_tag_environment_source"] for r in out} == {"tag"}


def test_invalid_values_are_reported_as_given_and_never_filled(rules):
    # The account has defaults for environment and workload_type, and the Bedrock rule
    # matches: neither may replace a tag that is present but not allowed.
    row = {
        "Tags": _tags(environment="Research Lab", workload_type="genai", project="X"),
        "x_Provider": "aws",
        "SubAccountId": "111111111111",
        "ServiceName": "Amazon Bedrock",
    }
    (out,) = _tagged([row], rules)
    assert _pick(out, "environment") == (None, "invalid")
    assert _pick(out, "workload_type") == (None, "invalid")
    assert _pick(out, "project") == ("x", "tag")
    assert json.loads(out["x_TagsInvalid"]) == {
        "environment": "Research Lab",
        "workload_type": "genai",
    }
    assert out["missing"] == ["environment", "cost_center"]


def test_tags_win_over_rules_which_win_over_account_defaults(rules):
    aws = {"x_Provider": "aws", "SubAccountId": "111111111111"}
    rows = [
        {**aws, "ServiceName": "Amazon Bedrock", "Tags": _tags(workload_type="Training")},
        {**aws, "ServiceName": "Amazon Bedrock"},
        {**aws, "ServiceName": "Amazon EC2", "ResourceId": "i-gpu-01"},
        {**aws, "ServiceName": "Amazon Bedrock", "ResourceId": "gpu-endpoint"},
        {"x_Provider": "aws", "SubAccountId": "222222222222", "ServiceName": "Amazon EC2"},
        {"x_Provider": "azure", "SubAccountId": "111111111111", "ServiceName": "Amazon Bedrock"},
    ]
    out = _tagged(rows, rules)
    assert [_pick(r, "workload_type") for r in out] == [
        ("training", "tag"),
        ("inference", "rule:bedrock-inference"),
        ("training", "rule:gpu-lab"),
        ("inference", "rule:bedrock-inference"),  # both rules match: the first in the file
        (None, None),
        (None, None),  # the Bedrock rule is for aws only
    ]
    assert [_pick(r, "project") for r in out] == [
        ("fallback", "account_default"),
        ("fallback", "account_default"),
        ("gpu-lab", "rule:gpu-lab"),
        ("gpu-lab", "rule:gpu-lab"),  # only the second rule sets project
        (None, None),
        (None, None),  # defaults are per (provider, account)
    ]
    # The default is written "Production": configured values are canonical too.
    assert [_pick(r, "environment") for r in out] == [("prod", "account_default")] * 4 + [
        (None, None)
    ] * 2
    assert out[4]["missing"] == ["project", "environment", "cost_center"]


def test_the_key_itself_wins_over_an_alias_and_the_last_repeat_wins(rules):
    rows = [
        '{"env":"dev","environment":"prod"}',
        '{"environment":"prod","env":"dev"}',
        '{"env":"dev"}',
        '{"Project":"one","project":"two"}',
        '{"proj":"p1"}',
    ]
    out = _tagged([{"Tags": tags} for tags in rows], rules)
    assert [_pick(r, "environment") for r in out[:3]] == [
        ("prod", "tag"),
        ("prod", "tag"),
        ("dev", "alias"),
    ]
    assert [_pick(r, "project") for r in out[3:]] == [("two", "tag"), ("p1", "alias")]


def test_a_namespace_is_dropped_only_when_a_known_key_remains(rules):
    rows = [
        '{"project.name":"x"}',  # "name" is not a key: the dotted key is left alone
        '{"build.project":"y"}',
        '{"a.b.cost_center":"z"}',
        '{"ai.team":"search"}',
        '{"projects":"w","myproject":"v","aws:createdBy":"u"}',
    ]
    out = _tagged([{"Tags": tags} for tags in rows], rules)
    assert [r["x_tag_project"] for r in out] == [None, "y", None, None, None]
    assert [r["x_tag_cost_center"] for r in out] == [None, None, "z", None, None]
    assert [r["x_tag_team"] for r in out] == [None, None, None, "search", None]


def test_json_escapes_empty_and_non_text_values(rules):
    rows = [
        r'{"team":"say \"hi\""}',
        r'{"team":"C:\\Temp\\"}',
        r'{"team":"a\/b","project":""}',
        '{"team":"   ","project":123}',
        r'{"environment":"the \"lab\""}',
        "not JSON at all",
        None,
    ]
    out = _tagged([{"Tags": tags} for tags in rows], rules)
    assert [r["x_tag_team"] for r in out] == [
        'say "hi"',
        "c:\\temp\\",
        "a/b",
        None,
        None,
        None,
        None,
    ]
    assert [r["x_tag_project"] for r in out] == [None] * 7
    assert json.loads(out[4]["x_TagsInvalid"]) == {"environment": 'the "lab"'}
    assert out[6]["missing"] == ["project", "environment", "cost_center"]


def test_untaggable_charges(rules):
    sp = "arn:aws:savingsplans::1:savingsplan/abc"
    aws = {"ProviderName": "AWS", "PublisherName": "AWS", "ServiceName": "Amazon EC2"}
    cases = [
        ({"ChargeCategory": "Tax"}, True),
        ({"ChargeCategory": "Credit"}, True),
        ({"ChargeCategory": "Credit", "ResourceId": "i-1"}, False),  # a resource's credit
        ({"ChargeCategory": "Adjustment"}, True),  # rounding error
        ({"ChargeCategory": "Purchase"}, True),  # reservation fee
        ({"ChargeCategory": "Purchase", "ResourceId": sp, "CommitmentDiscountId": sp}, True),
        ({"ChargeCategory": "Usage", "CommitmentDiscountId": sp}, True),  # unused commitment
        ({"ChargeCategory": "Usage", "CommitmentDiscountId": sp, "ResourceId": "i-1"}, False),
        ({"ChargeCategory": "Usage", "ServiceName": "AWS Support (Business)"}, True),
        ({"ChargeCategory": "Usage", "PublisherName": "Anthropic, PBC"}, True),  # marketplace
        ({"ChargeCategory": "Usage", "PublisherName": "Anthropic, PBC", "ResourceId": "a"}, False),
        ({"ChargeCategory": "Usage"}, False),  # untagged usage with no resource: untagged
        ({"ChargeCategory": "Credit", "Tags": '{"team":"ml"}'}, False),  # carries tags
        ({"ChargeCategory": "Tax", "Tags": "{}"}, True),
    ]
    out = _tagged([{**aws, **row} for row, _ in cases], rules)
    assert [r["x_Untaggable"] for r in out] == [expected for _, expected in cases]


def test_tag_columns_names_and_types(rules):
    assert tag_columns(rules) == {
        "x_tag_project": pl.String(),
        "x_tag_project_source": pl.String(),
        "x_tag_environment": pl.String(),
        "x_tag_environment_source": pl.String(),
        "x_tag_cost_center": pl.String(),
        "x_tag_cost_center_source": pl.String(),
        "x_tag_workload_type": pl.String(),
        "x_tag_workload_type_source": pl.String(),
        "x_tag_team": pl.String(),
        "x_tag_team_source": pl.String(),
        "x_TagsInvalid": pl.String(),
        "x_Untaggable": pl.Boolean(),
    }
    frame = pl.LazyFrame({"Tags": ['{"team":"ml"}']})
    assert with_tag_columns(frame, rules).collect_schema() == pl.Schema(
        {"Tags": pl.String(), **tag_columns(rules)}
    )


def test_streaming_gives_the_same_rows_as_in_memory(rules):
    # Several batches through the streaming engine, tags repeated across them.
    tags = [_tags(project=f"p{n % 7}", environment="prd" if n % 2 else "stage") for n in range(50)]
    rows = [
        {"Tags": t, "x_Provider": "aws", "SubAccountId": "111111111111", "ResourceId": f"r{n}"}
        for n, t in enumerate(tags * 40)
    ]
    frame = pl.LazyFrame(
        [{c: row.get(c) for c in COLUMNS} for row in rows],
        schema=dict.fromkeys(COLUMNS, pl.String),
    )
    plan = with_tag_columns(frame, rules)
    in_memory = plan.collect()
    assert plan.collect(engine="streaming").equals(in_memory)
    assert in_memory["x_tag_project"].to_list()[:8] == [f"p{n}" for n in range(7)] + ["p0"]
    assert in_memory["x_tag_environment"].to_list()[:2] == ["staging", "prod"]


def test_each_distinct_key_is_read_once_and_joined_onto_its_rows(rules):
    rows = {"Tags": [_tags(team=t) for t in ("a", "b", "a", None)], "ResourceId": list("wxyz")}
    rows["Tags"][3] = None
    frame = pl.LazyFrame({**rows, "x_Provider": ["aws"] * 4, "SubAccountId": ["1"] * 4})
    keys = tag_keys(frame, rules).collect()
    # three distinct keys: team a, team b and no tags at all
    assert keys.height == 3
    found = found_tags(keys, rules)
    assert found.height == 3
    tagged = with_tag_columns(frame, rules, found).collect()
    assert tagged["x_tag_team"].to_list() == ["a", "b", "a", None]
    assert tagged["x_tag_team_source"].to_list() == ["tag", "tag", "tag", None]
    assert tagged["ResourceId"].to_list() == list("wxyz")  # the rows keep their order


# --- real rows from the fixtures, through the normalizers ------------------------------------


def _lake_rows(tmp_path: Path, source: Path, dataset: str) -> list[dict]:
    lake = Lake(tmp_path / "lake")
    normalize_file(source, lake, dataset, None)
    frame = with_tag_columns(lake.scan("focus"), load_tag_rules())
    return frame.sort("x_SourceRow").collect().to_dicts()


def test_real_oci_cost_report_namespaced_cost_center(tmp_path):
    source = FIXTURES / "oci" / "reports_cost-csv_0000000030000269.csv"
    with open(source, newline="") as f:
        centers = [r["tags/OracleInternalReserved.CostCenter"] for r in csv.DictReader(f)]
    out = _lake_rows(tmp_path, source, "oci_cost")
    assert len(out) == len(centers) == 506
    # "OracleInternalReserved.CostCenter": namespace dropped, "costcenter" is an alias.
    expected = [("607825", "alias") if c else (None, None) for c in centers]
    assert [_pick(r, "cost_center") for r in out] == expected
    assert sum(c == "607825" for c in centers) == 272


def test_real_oci_free_form_team_with_quotes(tmp_path):
    out = _lake_rows(tmp_path, FIXTURES / "oci" / "hand_cost.csv", "oci_cost")
    # tags/ai.team of r1..r5: search, chat "beta", then empty.
    assert [_pick(r, "team") for r in out] == [
        ("search", "tag"),
        ('chat "beta"', "tag"),
        (None, None),
        (None, None),
        (None, None),
    ]


def test_real_azure_ea_tags(tmp_path):
    out = _lake_rows(tmp_path, FIXTURES / "azure" / "EA_ActualCost_Small.csv", "azure_actual")
    # The Tags cells of rows 1..11 (see the file): CostCenter 1234 in 2, 3, 7, 10, 11 and
    # SubACM in 5, 8, 9; env prod in 2, 3, 6, 10, 11; rows 1 and 4 have no tags.
    centers = {2: "1234", 3: "1234", 5: "subacm", 7: "1234", 8: "subacm", 9: "subacm"}
    centers |= {10: "1234", 11: "1234"}
    assert [_pick(r, "cost_center") for r in out] == [
        (centers[n], "alias") if n in centers else (None, None) for n in range(1, 12)
    ]
    assert [_pick(r, "environment") for r in out] == [
        ("prod", "alias") if n in (2, 3, 6, 10, 11) else (None, None) for n in range(1, 12)
    ]
    assert [r["x_tag_project"] for r in out] == [None] * 11


# --- the rules file --------------------------------------------------------------------------


def test_the_shipped_rules_load():
    rules = load_tag_rules()
    assert list(rules.keys) == [
        "project",
        "environment",
        "cost_center",
        "workload_type",
        "model",
        "team",
        "owner",
        "budget_code",
    ]
    mandatory = [k for k, spec in rules.keys.items() if spec.required]
    assert mandatory == ["project", "environment", "cost_center", "workload_type", "model"]
    assert rules.keys["environment"].allowed == ["prod", "staging", "dev"]


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tags.yaml"
    path.write_text(text)
    with pytest.raises(TagRulesError) as caught:
        load_tag_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line ")
    return message.removeprefix(f"{path} ")


def test_invalid_yaml_names_the_line(tmp_path):
    text = "keys:\n  project:\n    aliases: a: b\n"  # line 3: a second ": " in a plain value
    assert _error(tmp_path, text).startswith("line 3: invalid YAML: ")


def test_unknown_tag_key_in_a_rule_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  workload_type: {}\n"  # 2
        "rules:\n"  # 3
        "  - name: bedrock-inference\n"  # 4
        "    match: {service_name: Amazon Bedrock}\n"  # 5
        "    set:\n"  # 6
        "      workload: inference\n"  # 7
    )
    assert _error(tmp_path, text) == (
        "line 7: rule 'bedrock-inference' sets unknown tag key 'workload'"
    )


def test_unknown_tag_key_in_an_account_default_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  project: {}\n"  # 2
        "account_defaults:\n"  # 3
        "  - provider: aws\n"  # 4
        "    sub_account_id: 012345678901\n"  # 5: kept as written, leading zero and all
        "    set: {projet: atlas}\n"  # 6
    )
    assert _error(tmp_path, text) == (
        "line 6: account default for aws 012345678901 sets unknown tag key 'projet'"
    )


def test_synonym_mapped_to_two_values_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  environment:\n"  # 2
        "    synonyms:\n"  # 3
        "      prod: [production, prd]\n"  # 4
        "      dev:\n"  # 5
        "        - development\n"  # 6
        "        - PRD\n"  # 7
    )
    assert _error(tmp_path, text) == (
        "line 7: environment synonym 'PRD' is mapped to both 'prod' and 'dev'"
    )


def test_alias_claimed_by_two_keys_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  cost_center:\n"  # 2
        "    aliases: [cc, costcentre]\n"  # 3
        "  budget_code:\n"  # 4
        "    aliases:\n"  # 5
        "      - code\n"  # 6
        "      - CC\n"  # 7
    )
    assert _error(tmp_path, text) == (
        "line 7: alias 'CC' is claimed by both cost_center and budget_code"
    )


def test_a_key_without_a_lake_column_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  project: {}\n"  # 2
        "  cost_code: {}\n"  # 3
    )
    assert _error(tmp_path, text).startswith(
        "line 3: tag key 'cost_code' has no column in the lake: use one of project, environment"
    )


def test_unknown_field_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  project: {}\n"  # 2
        "rules:\n"  # 3
        "  - name: r1\n"  # 4
        "    match:\n"  # 5
        "      service: Amazon Bedrock\n"  # 6
        "    set: {project: atlas}\n"  # 7
    )
    assert _error(tmp_path, text) == "line 6: rules[0].match: unknown field 'service'"


def test_rule_value_outside_the_vocabulary_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  environment:\n"  # 2
        "    allowed: [prod, dev]\n"  # 3
        "rules:\n"  # 4
        "  - name: lab\n"  # 5
        "    match: {provider: gcp}\n"  # 6
        "    set: {environment: research}\n"  # 7
    )
    assert _error(tmp_path, text) == (
        "line 7: rule 'lab' sets environment to 'research', which is not allowed (prod, dev)"
    )


def test_bad_regex_names_the_line(tmp_path):
    text = (
        "keys:\n"  # 1
        "  project: {}\n"  # 2
        "rules:\n"  # 3
        "  - name: by-id\n"  # 4
        "    match:\n"  # 5
        "      provider: aws\n"  # 6
        "      resource_id_pattern: 'gpu-(a|b'\n"  # 7
        "    set: {project: atlas}\n"  # 8
    )
    message = _error(tmp_path, text)
    assert message.startswith(
        "line 7: rule 'by-id': resource_id_pattern is not a valid regular expression"
    )


def test_repeated_key_names_the_line(tmp_path):
    text = "keys:\n  project: {}\n  team: {}\n  project: {required: true}\n"
    assert _error(tmp_path, text) == "line 4: 'project' is given twice in the same mapping"


def test_rules_built_in_code_are_checked_too():
    with pytest.raises(ValueError, match="sets unknown tag key 'workload'"):
        TagRules.model_validate(
            {
                "keys": {"workload_type": {}},
                "rules": [{"name": "r", "match": {"provider": "aws"}, "set": {"workload": "x"}}],
            }
        )
