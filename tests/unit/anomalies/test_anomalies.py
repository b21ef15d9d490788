"""The anomaly detector on small literal series whose figures are worked out by hand."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pydantic
import pytest

from costlake.anomalies.detector import (
    MAD_SCALE,
    AnomalySettings,
    anomaly_id,
    daily_series,
    detect,
    explain,
    new_entities,
    untagged_share_jumps,
)
from costlake.anomalies.events import events

MONDAY = date(2024, 1, 1)  # a Monday: day index i is MONDAY + i days, index 7n is a Monday


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


# --- the baseline, the noise and the events ----------------------------------------------------

KEYS = ["x_Provider", "BillingAccountId", "ServiceName", "currency"]


def events_of(values: Sequence[float], settings: AnomalySettings | None = None) -> pl.DataFrame:
    settings = settings or AnomalySettings()
    scored = detect(series(values), settings)
    return events(scored, KEYS, scored["day"].max(), settings.gap_days)


def noisy(days: int, seed: int, noise: float, monthly_growth: float = 0.0) -> list[float]:
    """1000 a day growing ``monthly_growth`` a month (30.4 days), times 1 + a normal draw of
    standard deviation ``noise`` (a seeded generator: the same values on every run)."""
    rng = random.Random(seed)
    return [
        1000 * (1 + monthly_growth) ** (t / 30.4) * (1 + rng.gauss(0, noise)) for t in range(days)
    ]


def test_expected_bounds_score_and_severity_by_hand() -> None:
    # Flat 100 for 35 days, then 160 (day 35, the first day scored: see below). Every weekday
    # ratio is 1 (the factor 1), the recent level
    # (median of the last 14 days) and the settled one (42 days) are 100: expected 100. Every
    # residual is 0, so the noise is its floor, 3 %: spread 3, bounds 100 -/+ 3 x 3 = 91 and
    # 109 (k = 3). Deviation 60: score 20, above the one-day bar 5; 60 >= 50 and 60 % >= 15 %.
    # Severity: the lower of the score's tier (20 is between 4k = 12 and 8k = 24: high) and
    # the amount's (60 under 4 x 50 = 200: low).
    row = at(detect(series([100.0] * 35 + [160.0])), 35)
    assert (row["expected"], row["baseline"], row["season"]) == (100.0, "recent", 1.0)
    assert row["noise"] == pytest.approx(0.03)
    assert row["spread"] == pytest.approx(3.0)
    assert (row["lower"], row["upper"]) == (pytest.approx(91.0), pytest.approx(109.0))
    assert (row["deviation"], row["score"]) == (pytest.approx(60.0), pytest.approx(20.0))
    assert (row["status"], row["direction"], row["severity"]) == ("anomaly", "spike", "low")
    assert row["event_id"] == row["anomaly_id"]  # a one-day event starts that day
    assert row["event_opened"] is True


def test_the_noise_is_the_series_own() -> None:
    # Days alternate 1100 and 900. A week holds four of one and three of the other, and since
    # 7 is odd a weekday's earlier days alternate too, so every weekday gets the same factor
    # (the middle of its ratios 1100 / 1014.29 and 900 / 985.71), which cancels out: expected
    # is the median of the last 14 days, seven 1100s and seven 900s, 1000. Every residual is
    # 10 %: noise 1.4826 x 10 %, spread 148.26. On day 70 a cost of 1500 deviates 500 = 3.37
    # spreads, below the one-day bar 5: normal; 2000 deviates 1000 = 6.7 spreads: an anomaly.
    # Eight weeks of weekday ratios (not the default 16), so that on day 70 each weekday has an
    # even count of them (8) and its factor is the middle of the two values.
    eight = AnomalySettings(season_weeks=8)
    values = [1100.0 if t % 2 == 0 else 900.0 for t in range(70)]
    quiet = at(detect(series([*values, 1500.0]), eight), 70)
    assert quiet["expected"] == pytest.approx(1000.0)
    assert quiet["noise"] == pytest.approx(MAD_SCALE * 0.1)
    assert quiet["status"] == "normal"
    assert at(detect(series([*values, 2000.0]), eight), 70)["status"] == "anomaly"


def test_weekdays_high_weekends_low() -> None:
    # Weekdays 1000, Saturdays and Sundays 200, ten weeks. Each 7-day mean is 5400 / 7 =
    # 771.43; the weekday factors are 1000 / 771.43 and 200 / 771.43, so a Saturday expects
    # 200 and a Monday 1000. A Saturday at 1000 deviates 800 from 200: an anomaly; no other
    # day is.
    values = [200.0 if i % 7 in (5, 6) else 1000.0 for i in range(70)]
    scored = detect(series(values))
    assert set(scored.filter(pl.col("status") != "insufficient_history")["status"]) == {"normal"}
    assert at(scored, 63)["expected"] == pytest.approx(1000.0)
    values[68] = 1000.0  # a Saturday
    saturday = at(detect(series(values)), 68)
    assert saturday["expected"] == pytest.approx(200.0)
    assert (saturday["status"], saturday["deviation"]) == ("anomaly", pytest.approx(800.0))


def test_ten_percent_is_not_an_event_because_of_min_rel() -> None:
    # Flat 1000, then 1100: 100 is 3.3 spreads of 30 (under the one-day bar), and 10 % < 15 %.
    # With min_rel 5 % and the one-day bar at 3, it is one.
    values = [1000.0] * 35 + [1100.0]
    assert at(detect(series(values)), 35)["status"] == "normal"
    looser = AnomalySettings(min_rel=0.05, k_one_day=3.0)
    assert at(detect(series(values), looser), 35)["status"] == "anomaly"


def test_thirty_dollars_on_a_forty_dollar_series_is_not_an_event() -> None:
    # Flat 40, then 70: +75 %, 30 / 1.2 = 25 spreads; but 30 < min_abs 50.
    values = [40.0] * 35 + [70.0]
    assert at(detect(series(values)), 35)["status"] == "normal"
    assert at(detect(series(values), AnomalySettings(min_abs=25)), 35)["status"] == "anomaly"


def test_insufficient_history_for_the_first_five_weeks() -> None:
    # Days 0-34 are insufficient_history: min_history_weeks is 5, and the noise needs 28
    # residuals, which start on day 7 (the recent level needs 7 days): day 35 has them. A
    # tenfold day 20 is not an anomaly, only a day the detector says it cannot judge.
    values = [100.0] * 40
    values[20] = 1000.0
    statuses = detect(series(values)).sort("day")["status"].to_list()
    assert statuses == ["insufficient_history"] * 35 + ["normal"] * 5


def test_a_spike_does_not_pollute_later_baselines() -> None:
    # Day 35 is 1000 on a flat 100: one of the 14 recent days, one of 8 Monday ratios; the
    # medians ignore it: the next weeks expect 100 and are normal.
    values = [100.0] * 64
    values[35] = 1000.0
    result = detect(series(values))
    assert at(result, 35)["status"] == "anomaly"
    for index in range(36, 64):
        assert at(result, index)["expected"] == pytest.approx(100.0)
        assert at(result, index)["status"] == "normal"


def test_a_forty_percent_level_shift_is_one_event() -> None:
    # 1000 for 70 days, then 1400. Days 70-76: both levels are 1000, deviation 400 (13.3
    # spreads of 30): the event opens on day 70. Day 77: the last 14 days hold seven 1400s,
    # the recent level is their middle, 1200, nearer to 1400 than the settled 1000: deviation
    # 200 = 5.6 spreads of 36, beyond k_continue (1.75), so the event goes on. Day 78: the recent
    # level is 1400: normal, and it stays so (the settled level catches up on day 92, but the
    # nearer level is the one the day is judged against). One event, days 70-77, excess
    # 7 x 400 + 200 = 3000. Severity: it opens medium (score 13.3 is high, 12 to 24, but 400 is
    # medium, 200 to 1000) and escalates on day 72, when the excess reaches 1200 (high).
    found = events_of([1000.0] * 70 + [1400.0] * 70)
    assert found.height == 1
    event = found.row(0, named=True)
    assert (event["start"], event["end"], event["days"]) == (day(70), day(77), 8)
    assert (event["state"], event["direction"]) == ("closed", "spike")
    assert (event["actual"], event["expected"], event["excess"]) == (11200.0, 8200.0, 3000.0)
    assert (event["peak_day"], event["peak_actual"], event["peak_expected"]) == (
        day(70),
        1400.0,
        1000.0,
    )
    assert (event["opened_on"], event["opening_severity"]) == (day(70), "medium")
    assert (event["severity"], event["escalated_on"]) == ("high", day(72))
    assert event["event_id"] == anomaly_id(
        {"x_Provider": "aws", "BillingAccountId": "A", "ServiceName": "EC2", "currency": "USD"},
        day(70),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_forty_percent_level_shift_in_noise_is_one_event(seed: int) -> None:
    # The same step on a series with 8 % normal noise (seeded): one event, starting within
    # two days of the step.
    values = noisy(200, seed, 0.08)
    values = [v * (1.4 if t >= 100 else 1.0) for t, v in enumerate(values)]
    found = events_of(values)
    assert found.height == 1
    assert day(100) <= found["start"][0] <= day(102)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_percent_a_month_with_eight_percent_noise_raises_nothing_in_a_year(
    seed: int,
) -> None:
    assert events_of(noisy(365, seed, 0.08, monthly_growth=0.03)).height == 0


def test_a_runaway_that_ends_is_one_event_and_its_end_none() -> None:
    # 100 a day, days 50-59 at 300, then 100 again. Days 50-56 deviate 200 from both levels;
    # day 57 (seven 300s in the last 14 days, recent level 200) deviates 100 = 16.7 spreads of
    # 6: the event goes on; day 58 (recent 300) is normal. Day 60 is back at 100: the recent
    # level is 300 but the settled one (42 days, 32 of them at 100) is 100, and the nearer level
    # judges the day: normal. No second event for the return.
    found = events_of([100.0] * 50 + [300.0] * 10 + [100.0] * 40)
    assert found.select("start", "end", "days", "excess").rows() == [
        (day(50), day(57), 8, 7 * 200.0 + 100.0)
    ]


def test_a_severity_rise_escalates_once() -> None:
    # 1000 a day, then from day 70 on 1300, 1300, 1300, 1300, 2500, 2500, then 1000. Day 70:
    # score 300 / 30 = 10 (medium: 6-12 with k = 3), amount 300 (medium: 200-1000): opens
    # medium; day 73's excess of 1200 is high but the peak score is still medium. Day 74: score
    # 1500 / 30 = 50 (critical: over 24), excess so far 4 x 300 + 1500 = 2700 (high:
    # 1000-5000): high, one escalation on day 74. Day 75 lifts the excess to 4200: still high.
    values = [1000.0] * 70 + [1300.0] * 4 + [2500.0] * 2 + [1000.0] * 20
    event = events_of(values).row(0, named=True)
    assert (event["opening_severity"], event["severity"]) == ("medium", "high")
    assert event["escalated_on"] == day(74)
    assert (event["start"], event["end"], event["excess"]) == (day(70), day(75), 4200.0)


def test_an_event_keeps_its_id_while_it_is_open_and_after() -> None:
    # The 40 % step seen on day 72 (three days in: open) and on day 139 (closed): one id.
    values = [1000.0] * 70 + [1400.0] * 70
    early = detect(series(values[:73]))
    open_now = events(early, KEYS, day(72), 1).row(0, named=True)
    assert (open_now["state"], open_now["end"], open_now["days"]) == ("open", None, 3)
    later = events_of(values).row(0, named=True)
    assert later["event_id"] == open_now["event_id"]


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


# --- ids -----------------------------------------------------------------------


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
