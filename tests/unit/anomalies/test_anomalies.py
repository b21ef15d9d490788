"""The anomaly detector on small literal series whose figures are worked out by hand."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pydantic
import pytest

from costlake.anomalies.detector import (
    AnomalySettings,
    anomaly_id,
    daily_series,
    detect,
    explain,
    new_entities,
    rescore,
    untagged_share_jumps,
)

MONDAY = date(2024, 1, 1)  # a Monday: day index i is MONDAY + i days, index 7n is a Monday
SAME_WEEKDAY = AnomalySettings(spread_method="same_weekday", k=4.0)


def day(index: int) -> date:
    return MONDAY + timedelta(days=index)


def series(
    values: Sequence[float], service: str = "EC2", provider: str = "aws", currency: str = "USD"
) -> pl.DataFrame:
    """One series (x_Provider, BillingAccountId A, ServiceName) from MONDAY on."""
    return pl.DataFrame(
        {
            "x_Provider": provider,
            "BillingAccountId": "A",
            "ServiceName": service,
            "currency": currency,
            "day": [day(i) for i in range(len(values))],
            "cost": [float(v) for v in values],
        }
    )


def at(result: pl.DataFrame, index: int, service: str = "EC2") -> dict:
    rows = result.filter((pl.col("day") == day(index)) & (pl.col("ServiceName") == service))
    assert rows.height == 1
    return rows.row(0, named=True)


def focus_row(index: int, cost: float, **columns) -> dict:
    """A FOCUS-like row on day ``index`` (at 10:00 UTC)."""
    row = {
        "x_Provider": "aws",
        "BillingAccountId": "A",
        "SubAccountId": "S1",
        "ServiceName": "EC2",
        "RegionId": "us-east-1",
        "ResourceId": "r1",
        "x_UsageType": "BoxUsage",
        "x_tag_model": None,
        "x_tag_project": "atlas",
        "x_Untaggable": False,
        "BillingCurrency": "USD",
        "ChargePeriodStart": datetime.combine(day(index), datetime.min.time(), tzinfo=UTC)
        + timedelta(hours=10),
        "EffectiveCost": float(cost),
    }
    row.update(columns)
    return row


def five_mondays(mondays: Sequence[float], last: float, other: float = 100.0) -> list[float]:
    """35 days whose Mondays (0, 7, 14, 21, 28) are ``mondays`` and other days ``other``, then
    a 36th day, the Monday of day 35, at ``last``."""
    values = [other] * 35
    for week, value in enumerate(mondays):
        values[7 * week] = value
    return [*values, last]


# --- the baseline, the spread and the flag --------------------------------------------------


def test_median_mad_bounds_and_flag_by_hand() -> None:
    # Day 35's same-weekday values are days 28, 21, 14, 7, 0: 99, 101, 98, 102, 100 (five;
    # day -7 is before the series). Median 100; absolute deviations 1, 1, 2, 2, 0: MAD 1;
    # 1.4826 x 1 is under the 5 % floor (5), so spread = 5. k = 4: bounds 80 and 120;
    # deviation 160 - 100 = 60, score 12, above 20 and 50 and 20 % of 100.
    result = detect(series(five_mondays([100, 102, 98, 101, 99], 160)), SAME_WEEKDAY)
    row = at(result, 35)
    assert row["history_weeks"] == 5
    assert row["expected"] == pytest.approx(100.0)
    assert row["mad"] == pytest.approx(1.0)
    assert row["spread"] == pytest.approx(5.0)
    assert (row["lower"], row["upper"]) == (pytest.approx(80.0), pytest.approx(120.0))
    assert row["deviation"] == pytest.approx(60.0)
    assert row["score"] == pytest.approx(12.0)
    assert (row["status"], row["direction"]) == ("anomaly", "spike")
    # Severity: score 12 is between 2k = 8 and 4k = 16 (medium), 60 is under 4 x 50 (low):
    # the lower of the two.
    assert row["severity"] == "low"
    # The other days of that week are flat at 100: expected 100, MAD 0, normal.
    assert at(result, 34)["status"] == "normal"
    assert at(result, 34)["severity"] is None


def test_recent_residual_spread_by_hand() -> None:
    # The default spread: the median relative residual of the series' last 84 days (at least
    # 14). Before day 35, days 21-34 have three or more weeks of history: 14 residuals. The
    # non-Mondays are exactly on their baseline (0); Monday 21: baseline median(98, 102, 100)
    # = 100, residual 1/100; Monday 28: median(101, 98, 102, 100) = 100.5, residual
    # 1.5/100.5. The median of twelve zeros and those two is 0, so the spread is the 5 % floor:
    # 5, and with k = 3.5 the upper bound is 117.5.
    result = detect(series(five_mondays([100, 102, 98, 101, 99], 160)))
    row = at(result, 35)
    assert row["spread"] == pytest.approx(5.0)
    assert row["upper"] == pytest.approx(117.5)
    assert row["status"] == "anomaly"
    assert [at(result, i)["status"] for i in (21, 28)] == ["normal", "normal"]


def test_recent_residual_spread_above_the_floor() -> None:
    # Weeks alternate: even weeks 1000 every day, odd weeks 1100. From week 6 on each day's
    # six same-weekday values are three 1000s and three 1100s: expected 1050 and a residual of
    # 50 / 1050 every day. Week 19's Monday (day 133, odd week) is scored from weeks 7-18, all
    # at 50 / 1050: spread = 1.4826 x 50 / 1050 x 1050 = 74.13 (the floor is 52.5), k x spread
    # = 259.455. At 1400 the deviation is 350: an anomaly; at 1300 it is 250: not, although
    # 250 passes 50 and 20 % of 1050.
    def weeks(last: float) -> list[float]:
        values = [1000.0 if (i // 7) % 2 == 0 else 1100.0 for i in range(133)]
        return [*values, last]

    high = detect(series(weeks(1400)))
    row = at(high, 133)
    assert row["expected"] == pytest.approx(1050.0)
    assert row["spread"] == pytest.approx(1.4826 * 50)
    assert row["upper"] == pytest.approx(1050 + 3.5 * 1.4826 * 50)
    assert row["status"] == "anomaly"
    assert at(detect(series(weeks(1300))), 133)["status"] == "normal"


def test_mad_above_the_floor_sets_the_bounds() -> None:
    # Mondays 100, 120, 80, 110, 90: median 100, deviations 0, 20, 20, 10, 10: MAD 10,
    # spread 14.826, upper bound 100 + 4 x 14.826 = 159.304: 160 is out, 155 is in.
    mondays = [100, 120, 80, 110, 90]
    result = detect(
        pl.concat(
            [
                series(five_mondays(mondays, 160), service="out"),
                series(five_mondays(mondays, 155), service="in"),
            ]
        ),
        SAME_WEEKDAY,
    )
    out = at(result, 35, "out")
    assert out["mad"] == pytest.approx(10.0)
    assert out["spread"] == pytest.approx(14.826)
    assert out["upper"] == pytest.approx(159.304)
    assert out["status"] == "anomaly"
    assert at(result, 35, "in")["status"] == "normal"


def test_ten_percent_is_not_an_anomaly_because_of_min_rel() -> None:
    # Flat 1000, then 1100. With a 1 % floor the spread is 10, so 100 > 3.5 x 10 and
    # 100 >= 50, but 100 / 1000 = 10 % < 20 %.
    values = [1000.0] * 35 + [1100.0]
    settings = AnomalySettings(spread_floor_rel=0.01)
    row = at(detect(series(values), settings), 35)
    assert row["spread"] == pytest.approx(10.0)
    assert row["status"] == "normal"
    looser = AnomalySettings(spread_floor_rel=0.01, min_rel=0.05)
    assert at(detect(series(values), looser), 35)["status"] == "anomaly"


def test_thirty_dollars_on_a_forty_dollar_series_is_not_an_anomaly() -> None:
    # Flat 40, then 70: +75 %, spread 2 (5 % of 40), 30 > 3.5 x 2; but 30 < min_abs 50.
    values = [40.0] * 35 + [70.0]
    row = at(detect(series(values)), 35)
    assert row["spread"] == pytest.approx(2.0)
    assert row["deviation"] == pytest.approx(30.0)
    assert row["status"] == "normal"
    assert at(detect(series(values), AnomalySettings(min_abs=25)), 35)["status"] == "anomaly"


def test_insufficient_history() -> None:
    # Day 20 has two same-weekday values (13, 6), day 21 has three (14, 7, 0). A tenfold day
    # 14 (two values) is insufficient_history, not an anomaly.
    values = [100.0] * 22
    values[14] = 1000.0
    result = detect(series(values))
    assert at(result, 20)["history_weeks"] == 2
    assert at(result, 21)["history_weeks"] == 3
    statuses = result.sort("day")["status"].to_list()
    assert statuses == ["insufficient_history"] * 21 + ["normal"]


def test_weekdays_high_weekends_low() -> None:
    # Weekdays 1000, Saturdays and Sundays 200, eight weeks. Each day is compared with the
    # same weekday: Monday after a weekend expects 1000 and is normal; a Saturday at 1000
    # expects 200 and is a spike of 800.
    values = [200.0 if i % 7 in (5, 6) else 1000.0 for i in range(56)]
    result = detect(series(values))
    scored = result.filter(pl.col("status") != "insufficient_history")
    assert scored["status"].unique().to_list() == ["normal"]
    monday = at(result, 49)
    assert (monday["expected"], monday["status"]) == (pytest.approx(1000.0), "normal")
    values[54] = 1000.0  # a Saturday
    saturday = at(detect(series(values)), 54)
    assert saturday["expected"] == pytest.approx(200.0)
    assert (saturday["status"], saturday["deviation"]) == ("anomaly", pytest.approx(800.0))


def test_a_spike_does_not_pollute_later_baselines() -> None:
    # Monday 35 is 1000 on a flat 100. The following Mondays have it among their six values;
    # the median ignores it: expected stays 100 and they are normal.
    values = [100.0] * 64
    values[35] = 1000.0
    result = detect(series(values))
    assert at(result, 35)["status"] == "anomaly"
    for monday in (42, 49, 56, 63):
        assert at(result, monday)["expected"] == pytest.approx(100.0)
        assert at(result, monday)["status"] == "normal"


@pytest.mark.parametrize("settings", [AnomalySettings(), SAME_WEEKDAY])
def test_a_level_shift_is_flagged_then_absorbed(settings: AnomalySettings) -> None:
    # 100 for six weeks, then 300 from day 42 on. For 21 days at most two of a day's six
    # same-weekday values are new: median 100, every day flagged. From day 70 four or more are:
    # median 300, normal again (it is not flagged forever). Day 63-69 (three new, three old,
    # median 200) depends on the spread method and is not asserted.
    values = [100.0] * 42 + [300.0] * 49
    result = detect(series(values), settings)
    assert {at(result, i)["status"] for i in range(42, 63)} == {"anomaly"}
    assert {at(result, i)["status"] for i in range(70, 91)} == {"normal"}
    assert at(result, 70)["expected"] == pytest.approx(300.0)


def test_a_series_that_stops_is_a_drop() -> None:
    # Service "old" stops after day 39 while "new" goes on to day 49: "old" is filled with 0
    # up to the provider's last day of data, and its first day without spend is a drop.
    frame = pl.concat([series([100.0] * 40, service="old"), series([100.0] * 50, service="new")])
    result = detect(frame)
    assert result.filter(pl.col("ServiceName") == "old")["day"].max() == day(49)
    row = at(result, 40, "old")
    assert (row["actual"], row["status"], row["direction"]) == (0.0, "anomaly", "drop")


# --- provisional days -------------------------------------------------------------------------


def test_provisional_days_follow_each_providers_settle_lag() -> None:
    # as_of is day 29. Days newer than as_of - settle are provisional: aws 1 day (29), azure 3
    # (27-29), gcp and oci 2 (28-29), a provider not in the table 3 (unknown_settle_days).
    providers = ["aws", "azure", "gcp", "oci", "ibm"]
    frame = pl.concat([series([100.0] * 30, service=p, provider=p) for p in providers])
    result = detect(frame, as_of=day(29))
    provisional = {
        p: sorted(
            result.filter((pl.col("x_Provider") == p) & pl.col("provisional"))["day"].to_list()
        )
        for p in providers
    }
    assert provisional == {
        "aws": [day(29)],
        "azure": [day(27), day(28), day(29)],
        "gcp": [day(28), day(29)],
        "oci": [day(28), day(29)],
        "ibm": [day(27), day(28), day(29)],
    }
    # An earlier as_of drops the later days and counts from itself.
    earlier = detect(frame, as_of=day(20))
    assert earlier["day"].max() == day(20)
    aws = earlier.filter((pl.col("x_Provider") == "aws") & pl.col("provisional"))
    assert aws["day"].to_list() == [day(20)]
    # Without x_Provider in the key the most cautious lag applies (3 days).
    by_account = detect(
        frame.drop("x_Provider", "ServiceName"),
        AnomalySettings(group_by=("BillingAccountId",)),
        as_of=day(29),
    )
    assert sorted(by_account.filter("provisional")["day"].to_list()) == [day(27), day(28), day(29)]


# --- explanations -----------------------------------------------------------------------------


def _three_resources() -> pl.LazyFrame:
    # Nine weeks of r1 = 100, r2 = 50, r3 = 30 a day; on Monday 63 r2 costs 550.
    rows = []
    for i in range(64):
        for resource, cost in (("r1", 100.0), ("r2", 50.0), ("r3", 30.0)):
            extra = 500.0 if (resource == "r2" and i == 63) else 0.0
            rows.append(focus_row(i, cost + extra, ResourceId=resource))
    return pl.LazyFrame(rows)


def test_explain_finds_the_resource_that_moved() -> None:
    focus = _three_resources()
    settings = AnomalySettings()
    scored = detect(daily_series(focus, settings.group_by), settings)
    anomalies = scored.filter(pl.col("status") == "anomaly")
    assert anomalies["day"].to_list() == [day(63)]
    assert (anomalies["actual"][0], anomalies["expected"][0]) == (680.0, 180.0)
    explained = explain(focus, anomalies, settings)
    # Every dimension present adds up to the delta, 680 - 180 = 500.
    sums = explained.group_by("dimension").agg(pl.col("contribution").sum())
    assert set(sums["dimension"]) == {
        "SubAccountId",
        "RegionId",
        "ResourceId",
        "x_UsageType",
        "x_tag_model",
    }
    assert sums["contribution"].to_list() == pytest.approx([500.0] * 5)
    by_resource = {
        row["value"]: row for row in explained.filter(dimension="ResourceId").iter_rows(named=True)
    }
    # Each resource's own baseline is its median: 100, 50 and 30, adding up to the parent's
    # 180, so nothing needs reconciling: r2 contributes 550 - 50 = 500, the others 0.
    assert by_resource["r2"]["expected"] == pytest.approx(50.0)
    assert by_resource["r2"]["contribution"] == pytest.approx(500.0)
    assert by_resource["r2"]["share"] == pytest.approx(1.0)
    assert by_resource["r2"]["rank"] == 1
    assert by_resource["r1"]["contribution"] == pytest.approx(0.0)
    assert by_resource["r3"]["contribution"] == pytest.approx(0.0)
    assert explained["adjustment"].abs().max() == pytest.approx(0.0)
    # A null model is its own value.
    assert explained.filter(dimension="x_tag_model")["value"].to_list() == ["(none)"]


def _anomaly(actual: float, expected: float, history_weeks: int, index: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x_Provider": ["aws"],
            "BillingAccountId": ["A"],
            "ServiceName": ["EC2"],
            "currency": ["USD"],
            "day": [day(index)],
            "actual": [actual],
            "expected": [expected],
            "history_weeks": [history_weeks],
            "status": ["anomaly"],
            "anomaly_id": ["a-1"],
        }
    )


def test_explain_spreads_the_residual_in_proportion_to_baselines() -> None:
    # Day 21 and its three same-weekday values (days 14, 7, 0):
    #   X: 0, 10, 20 before, 100 on the day: its own baseline median(0, 10, 20) = 10
    #   Y: 30, 30, 0 before, 30 on the day:  baseline 30
    # Parent: 30, 40, 20 before: expected 30; actual 130; delta 100. Raw contributions 90 and
    # 0 add to 90; the 10 left is spread by baseline, X 10/40 and Y 30/40: X 92.5, Y 7.5.
    rows = [
        focus_row(14, 0.0, ResourceId="X"),
        focus_row(7, 10.0, ResourceId="X"),
        focus_row(0, 20.0, ResourceId="X"),
        focus_row(21, 100.0, ResourceId="X"),
        focus_row(14, 30.0, ResourceId="Y"),
        focus_row(7, 30.0, ResourceId="Y"),
        focus_row(21, 30.0, ResourceId="Y"),
    ]
    settings = AnomalySettings(child_dimensions=("ResourceId",))
    explained = explain(pl.LazyFrame(rows), _anomaly(130.0, 30.0, 3, 21), settings)
    rows_by_value = {row["value"]: row for row in explained.iter_rows(named=True)}
    assert rows_by_value["X"]["expected"] == pytest.approx(10.0)
    assert rows_by_value["X"]["adjustment"] == pytest.approx(2.5)
    assert rows_by_value["X"]["contribution"] == pytest.approx(92.5)
    assert rows_by_value["Y"]["expected"] == pytest.approx(30.0)
    assert rows_by_value["Y"]["contribution"] == pytest.approx(7.5)
    assert explained["contribution"].sum() == pytest.approx(100.0, abs=1e-9)
    assert explained["share"].to_list() == pytest.approx([0.925, 0.075])


def test_explain_with_no_child_baseline_spreads_by_actual() -> None:
    # A, B, C each spent 10 on one of the three earlier Mondays (days 0, 7, 14) and nothing on
    # the other two: each baseline is 0, their sum 0, while the parent's is median(10, 10, 10)
    # = 10. On day 21 A spends 300: delta 290, raw contributions 300, 0, 0; the -10 left goes
    # by actual, all to A: 290.
    rows = [
        focus_row(0, 10.0, ResourceId="A"),
        focus_row(7, 10.0, ResourceId="B"),
        focus_row(14, 10.0, ResourceId="C"),
        focus_row(21, 300.0, ResourceId="A"),
    ]
    settings = AnomalySettings(child_dimensions=("ResourceId",))
    explained = explain(pl.LazyFrame(rows), _anomaly(300.0, 10.0, 3, 21), settings)
    contributions = dict(zip(explained["value"], explained["contribution"], strict=True))
    assert contributions == {"A": pytest.approx(290.0), "B": 0.0, "C": 0.0}
    assert explained["contribution"].sum() == pytest.approx(290.0)


def test_explain_keeps_the_top_values_and_an_other_row() -> None:
    # Eight resources at 100 a day; on day 21 they rise by 80, 70, …, 10 (360 in all). With
    # top_n = 3: the three largest, then (other) = 50 + 40 + 30 + 20 + 10 = 150.
    rises = [80, 70, 60, 50, 40, 30, 20, 10]
    rows = [
        focus_row(i, 100.0 + (rise if i == 21 else 0), ResourceId=f"res-{n}")
        for n, rise in enumerate(rises, start=1)
        for i in (0, 7, 14, 21)
    ]
    settings = AnomalySettings(child_dimensions=("ResourceId",), explain_top_n=3)
    explained = explain(pl.LazyFrame(rows), _anomaly(1160.0, 800.0, 3, 21), settings)
    assert explained["value"].to_list() == ["res-1", "res-2", "res-3", "(other)"]
    assert explained["rank"].to_list() == [1, 2, 3, 4]
    assert explained["contribution"].to_list() == pytest.approx([80, 70, 60, 150])
    assert explained["actual"][3] == pytest.approx(5 * 100 + 150)
    assert explained["expected"][3] == pytest.approx(500.0)
    assert explained["contribution"].sum() == pytest.approx(360.0)
    assert explained["share"][3] == pytest.approx(150 / 360)


# --- new services, regions, models; untagged share -------------------------------------------


def test_new_services_regions_and_models() -> None:
    rows = [focus_row(i, 100.0) for i in range(60)]  # EC2 in us-east-1 all along
    rows += [
        focus_row(45, 80.0, ServiceName="Bedrock"),  # new, material on its first day
        focus_row(45, 10.0, ServiceName="SageMaker"),  # new, material two days later
        focus_row(47, 60.0, ServiceName="SageMaker"),
        focus_row(5, 100.0, ServiceName="Lambda"),  # in the lake's first 30 days: not new
        *[focus_row(i, 100.0, ServiceName="S3") for i in range(10)],
        focus_row(50, 100.0, ServiceName="S3"),  # back after 40 days without spend
        focus_row(50, 20.0, ServiceName="SQS"),  # new but never material
        focus_row(50, 70.0, RegionId="eu-west-1"),  # a new region of EC2
        focus_row(52, 55.0, x_tag_model="claude-x"),  # a new model on EC2
        focus_row(53, 45.0, x_tag_model="small-x"),  # a new model, not material
    ]
    found = new_entities(pl.LazyFrame(rows), as_of=day(59))
    got = [
        (row["day"], row["kind"], row["value"], row["cost"], row["first_spend_day"])
        for row in found.iter_rows(named=True)
    ]
    assert got == [
        (day(45), "new_service", "Bedrock", 80.0, day(45)),
        (day(47), "new_service", "SageMaker", 60.0, day(45)),
        (day(50), "new_region", "eu-west-1", 70.0, day(50)),
        (day(50), "new_service", "S3", 100.0, day(50)),
        (day(52), "new_model", "claude-x", 55.0, day(52)),
    ]
    assert not found["provisional"].any()  # aws settles in a day; the newest is day 52
    assert found["anomaly_id"].n_unique() == 5


def test_new_model_from_a_model_column() -> None:
    rows = [focus_row(i, 100.0, model="m-1") for i in range(40)]
    rows.append(focus_row(39, 90.0, model="m-2"))
    frame = pl.LazyFrame(rows).drop("x_tag_model")
    found = new_entities(frame, as_of=day(39))
    assert found.select("kind", "value", "day", "provisional").rows() == [
        ("new_model", "m-2", day(39), True)
    ]


def test_untagged_share_jump() -> None:
    # Every day: 900 tagged, 100 taggable but without a project (share 0.1), and 500 of tax
    # that cannot carry a tag (x_Untaggable: not in the share at all).
    def day_rows(index: int, tagged: float, untagged: float, tax: float = 500.0) -> list[dict]:
        return [
            focus_row(index, tagged),
            focus_row(index, untagged, x_tag_project=None),
            focus_row(index, tax, x_tag_project=None, x_Untaggable=True),
        ]

    rows = [r for i in range(49) for r in day_rows(i, 900.0, 100.0)]
    rows += day_rows(49, 600.0, 400.0)  # share 0.4: 30 points over its baseline of 0.1
    rows += day_rows(50, 820.0, 180.0)  # share 0.18: 8 points, under 10
    rows += day_rows(51, 900.0, 100.0, tax=5000.0)  # more tax: the share does not move
    # GCP: a jump of 30 points too, but on 40 of untagged cost (under min_abs 50).
    rows += [focus_row(i, 90.0, x_Provider="gcp") for i in range(50)]
    rows += [focus_row(i, 10.0, x_Provider="gcp", x_tag_project=None) for i in range(49)]
    rows.append(focus_row(49, 40.0, x_Provider="gcp", x_tag_project=None))
    jumps = untagged_share_jumps(pl.LazyFrame(rows))
    assert jumps.height == 1
    row = jumps.row(0, named=True)
    assert (row["x_Provider"], row["currency"], row["day"]) == ("aws", "USD", day(49))
    assert (row["taggable_cost"], row["untagged_cost"]) == (1000.0, 400.0)
    assert row["untagged_share"] == pytest.approx(0.4)
    assert row["baseline_share"] == pytest.approx(0.1)
    assert row["jump"] == pytest.approx(0.3)
    assert row["history_weeks"] == 6


# --- ids and re-scoring -----------------------------------------------------------------------


def test_anomaly_ids_are_stable() -> None:
    keys = {"x_Provider": "aws", "BillingAccountId": "A", "ServiceName": "EC2", "currency": "USD"}
    # The documented form: sha256 of the key as sorted [name, value] pairs in compact JSON,
    # 16 hex digits, then the day.
    canonical = (
        '[["BillingAccountId","A"],["ServiceName","EC2"],["currency","USD"],["x_Provider","aws"]]'
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:16] + "-20240205"
    assert anomaly_id(keys, day(35)) == expected
    assert anomaly_id(dict(reversed(keys.items())), day(35)) == expected
    assert anomaly_id({**keys, "currency": "EUR"}, day(35)) != expected
    values = five_mondays([100, 102, 98, 101, 99], 160)
    first = detect(series(values))
    assert at(first, 35)["anomaly_id"] == expected
    values[35] = 260.0  # restated: same series and day, same id
    assert at(detect(series(values)), 35)["anomaly_id"] == expected


def test_rescore_after_a_restatement() -> None:
    # Flat 100 a day for EC2, S3 and Lambda. Run 1 scores days 0-49 (as of 49); run 2, a day
    # later, days 0-50 with restated data. aws settles in one day: day 49 is provisional in
    # run 1 and settled in run 2.
    def frame(ec2: dict[int, float], s3: dict[int, float], lam: dict[int, float], n: int):
        def values(changes: dict[int, float]) -> list[float]:
            return [changes.get(i, 100.0) for i in range(n)]

        return pl.concat(
            [
                series(values(ec2), "EC2"),
                series(values(s3), "S3"),
                series(values(lam), "Lambda"),
            ]
        )

    # EC2 day 49: 1000, restated to 100 (cleared); EC2 day 50: 1000 (new).
    # S3 day 49: 1000 both runs (confirmed); S3 day 30: 1000 both runs (unchanged).
    # Lambda day 40: 1000 (deviation 900: medium) restated to 3100 (3000: high): changed.
    previous = detect(frame({49: 1000}, {30: 1000, 49: 1000}, {40: 1000}, 50), as_of=day(49))
    current = detect(
        frame({50: 1000}, {30: 1000, 49: 1000}, {40: 3100}, 51),
        as_of=day(50),
    )
    assert at(previous, 49)["provisional"] and at(previous, 49)["status"] == "anomaly"
    assert at(previous, 40, "Lambda")["severity"] == "medium"
    assert at(current, 40, "Lambda")["severity"] == "high"

    result = rescore(previous.filter(status="anomaly"), current)
    got = {(row["ServiceName"], row["day"]): row for row in result.iter_rows(named=True)}
    assert {key: row["status_change"] for key, row in got.items()} == {
        ("EC2", day(49)): "cleared",
        ("EC2", day(50)): "new",
        ("S3", day(49)): "confirmed",
        ("S3", day(30)): "unchanged",
        ("Lambda", day(40)): "changed",
    }
    cleared = got[("EC2", day(49))]
    assert (cleared["status"], cleared["previous_status"]) == ("normal", "anomaly")
    assert cleared["previous_provisional"] is True and cleared["provisional"] is False
    # An anomaly the new scoring does not cover (scored from day 45 only) is kept unchanged.
    partial = rescore(previous.filter(status="anomaly"), current.filter(pl.col("day") >= day(45)))
    changes = {
        (r["ServiceName"], r["day"]): r["status_change"] for r in partial.iter_rows(named=True)
    }
    assert changes[("Lambda", day(40))] == "unchanged"
    assert changes[("S3", day(30))] == "unchanged"


# --- series and settings ----------------------------------------------------------------------


def test_daily_series_fills_gaps_and_keeps_currencies_apart() -> None:
    rows = [
        focus_row(0, 10.0),
        {**focus_row(0, 5.0), "ChargePeriodStart": datetime(2024, 1, 1, 23, tzinfo=UTC)},
        focus_row(2, 7.0),  # day 1 has no row: 0
        focus_row(1, 3.0, BillingCurrency="EUR"),
    ]
    out = daily_series(pl.LazyFrame(rows)).collect()
    assert out.select("currency", "day", "cost").rows() == [
        ("EUR", day(1), 3.0),
        ("USD", day(0), 15.0),
        ("USD", day(1), 0.0),
        ("USD", day(2), 7.0),
    ]
    assert out.columns == [
        "x_Provider",
        "BillingAccountId",
        "ServiceName",
        "currency",
        "day",
        "cost",
    ]


def test_settings_defaults_and_validation() -> None:
    settings = AnomalySettings()
    assert settings.group_by == ("x_Provider", "BillingAccountId", "ServiceName")
    assert settings.child_dimensions == (
        "SubAccountId",
        "RegionId",
        "ResourceId",
        "x_UsageType",
        "x_tag_model",
    )
    assert settings.settle_days == {"aws": 1, "azure": 3, "gcp": 2, "oci": 2}
    by_model = AnomalySettings(group_by=["x_Provider", "x_tag_model"])
    assert "x_tag_model" not in by_model.child_dimensions
    assert "ServiceName" in by_model.child_dimensions
    with pytest.raises(pydantic.ValidationError):
        settings.k = 5  # frozen
    with pytest.raises(pydantic.ValidationError, match="min_history_weeks"):
        AnomalySettings(weeks=2, min_history_weeks=3)
    with pytest.raises(pydantic.ValidationError, match="currency"):
        AnomalySettings(group_by=("x_Provider", "BillingCurrency"))
    with pytest.raises(pydantic.ValidationError, match="repeat"):
        AnomalySettings(child_dimensions=("ServiceName",))
