"""The ingest's tag columns when tag rules have account defaults: the tags found once per
distinct (tags, account) key reach every row of that key.

Expected values are worked out by hand from ``tests/fixtures/aws/hand_cur2.csv``: its rows 1
and 4 carry a project tag (``user_Project`` atlas, ``user_project`` ledger), its other rows of
account 222233334444 carry none, and rows 3, 5 and 8 are account 111122223333's.
"""

from __future__ import annotations

from conftest import HAND_CUR2

from costlake.focus.deliveries import Delivery, DeliveryFile
from costlake.focus.ingest import ingest_delivery
from costlake.focus.lake import Lake
from costlake.tags.rules import load_tag_rules

RULES = """\
keys:
  project:
    required: true
account_defaults:
  - provider: aws
    sub_account_id: "222233334444"
    set: {project: shared}
"""


def test_account_defaults_fill_the_untagged_rows_of_their_account(tmp_path):
    rules = tmp_path / "tags.yaml"
    rules.write_text(RULES)
    lake = Lake(tmp_path / "lake")
    delivery = Delivery(
        provider="aws",
        source_dataset="aws_cur2",
        billing_period="2026-11",
        delivery_id="hand",
        manifest_path="hand.manifest",
        files=(DeliveryFile(HAND_CUR2.name, HAND_CUR2.stat().st_size),),
    )
    ingest_delivery(delivery, HAND_CUR2.parent, lake, tag_rules=load_tag_rules(rules))
    rows = lake.scan("focus").select("x_SourceRow", "x_tag_project", "x_tag_project_source")
    found = {tuple(r) for r in rows.collect().iter_rows()}
    assert found == {
        (1, "atlas", "tag"),
        (2, "shared", "account_default"),
        (3, None, None),
        (4, "ledger", "tag"),
        (5, None, None),
        (6, "shared", "account_default"),
        (7, "shared", "account_default"),
        (8, None, None),
        (9, "shared", "account_default"),
    }
