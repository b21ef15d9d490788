"""Every YAML file a person writes is read within limits: an alias bomb ("billion laughs") is
refused before anything expands it, naming the file, in costlake.yaml, the tag rules, the
model capability table and a price override alike."""

from __future__ import annotations

import pytest

from costlake import yaml_files
from costlake.ai.prices import PriceCatalogError, load_price_catalog
from costlake.ai.routing import load_capabilities
from costlake.config import load_settings
from costlake.tags.rules import TagRulesError, load_tag_rules

# 9 levels of 10: 10**9 strings once expanded, from 80 aliases (under the alias limit of 100).
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]\n" for n in range(8)
)
EXPANDS = "its aliases expand to more than 100000 values"


def test_the_bomb_is_refused_from_its_nodes_not_its_expansion():
    assert BILLION_LAUGHS.count("*") == 80 and len(BILLION_LAUGHS) < 1024
    with pytest.raises(yaml_files.YamlFileError, match=EXPANDS) as error:
        yaml_files.load(BILLION_LAUGHS)
    assert error.value.line is None  # the document as a whole


def test_shared_values_under_the_limit_load():
    # 3 levels of 10 from one list of 10: 10 + 100 + 1,000 strings, well under 100,000.
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
    text += "c: [" + ", ".join(["*b"] * 10) + "]\n"
    data = yaml_files.load(text)
    assert sum(len(inner) for outer in data["c"] for inner in outer) == 1000


@pytest.mark.parametrize(
    ("name", "load", "error"),
    [
        ("costlake.yaml", load_settings, ValueError),
        ("tags.yaml", load_tag_rules, TagRulesError),
        ("capabilities.yaml", load_capabilities, ValueError),
        ("prices.yaml", load_price_catalog, PriceCatalogError),
    ],
)
def test_each_yaml_file_refuses_the_bomb_naming_itself(tmp_path, name, load, error):
    path = tmp_path / name
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(error) as raised:
        load(path)
    assert str(raised.value).startswith(str(path)) and EXPANDS in str(raised.value)


def test_a_file_that_is_not_utf8_is_refused_saying_where(tmp_path):
    path = tmp_path / "costlake.yaml"
    path.write_bytes(b"lake_root: caf\xe9\n")
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 14\)"):  # l-a-k-e-..-f = 14
        load_settings(path)
