"""Budgets: scopes filter exactly, spend converts through dated rates or is refused, the share
used and the thresholds, each alert id once across reruns and restatements, and forecasts of
series whose month-end total is known by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from costlake.budgets.forecast import forecast_period
from costlake.budgets.marts import budget_alerts, budget_period, evaluate_budgets
from costlake.budgets.settings import Budget
from costlake.budgets.spend import in_budget_currency, scope_filter
from costlake.config import load_settings

COLUMNS = {
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "BillingCurrency": pl.String,
    "BilledCost": pl.Float64,
    "EffectiveCost": pl.Float64,
    "ListCost": pl.Float64,
    "ContractedCost": pl.Float64,
    "ChargeFrequency": pl.String,
    "x_Provider": pl.String,
    "ServiceName": pl.String,
    "x_tag_team": pl.String,
    "x_tag_model": pl.String,
}


def focus(rows: list[tuple]) -> pl.LazyFrame:
    """Rows of (day, currency, billed, effective, provider, service, team, model), usage."""
    return pl.DataFrame(
        [
            (
                datetime(d.year, d.month, d.day, tzinfo=UTC),
                cur,
                b,
                e,
                b,
                b,
                "Usage-Based",
                p,
                s,
                t,
                m,
            )
            for d, cur, b, e, p, s, t, m in rows
        ],
        schema=COLUMNS,
        orient="row",
    ).lazy()


NOV2 = date(2026, 11, 2)
ROWS = [
    (NOV2, "USD", 10.0, 9.0, "aws", "EC2", "platform", None),
    (NOV2, "USD", 20.0, 18.0, "gcp", "Compute", "platform", "atlas"),
    (NOV2, "USD", 40.0, 36.0, "gcp", "Compute", "data", "atlas"),
    (NOV2, "USD", 80.0, 72.0, "oci", "Compute", None, None),
    (NOV2, "USD", 160.0, 144.0, "azure", "VMs", "Platform", None),  # another spelling: out
]


def total(frame: pl.LazyFrame, budget: Budget) -> float:
    scoped, cost = in_budget_currency(frame, budget, None)
    return scoped.select(pl.col(cost).sum()).collect().item()


def test_scope_keys_filter_exactly_and_together():
    lake = focus(ROWS)
    team = Budget(name="t", amount=1, currency="USD", scope={"team": "platform"})
    assert total(lake, team) == 9.0 + 18.0  # effective cost of the two "platform" rows
    both = Budget(
        name="b",
        amount=1,
        currency="USD",
        measure="BilledCost",
        scope={"team": ["platform", "data"], "provider": ["gcp"]},
    )
    assert total(lake, both) == 20.0 + 40.0  # billed cost of gcp rows of either team
    model = Budget(name="m", amount=1, currency="USD", scope={"model": ["atlas"]})
    assert total(lake, model) == 18.0 + 36.0
    everything = Budget(name="all", amount=1, currency="USD")
    assert total(lake, everything) == 9.0 + 18.0 + 36.0 + 72.0 + 144.0
    assert lake.filter(scope_filter({"team": ["nobody"]})).collect().height == 0


def test_unknown_scope_key_and_bad_name_are_refused():
    with pytest.raises(ValueError, match="unknown scope key.*colour"):
        Budget(name="x", amount=1, currency="USD", scope={"colour": ["red"]})
    with pytest.raises(ValueError, match="name"):
        Budget(name="has space", amount=1, currency="USD")


RATES = pl.DataFrame(
    {
        "date": [date(2026, 11, 1)],
        "from_currency": ["EUR"],
        "to_currency": ["USD"],
        "rate": [1.2],
        "source": [None],
    },
    schema_overrides={"source": pl.String},
)
TWO_CURRENCIES = [
    (NOV2, "USD", 100.0, 100.0, "aws", "EC2", "platform", None),
    (NOV2, "EUR", 50.0, 50.0, "azure", "VMs", "platform", None),
]
PLATFORM = Budget(name="platform", amount=200, currency="USD", scope={"team": ["platform"]})


def test_spend_in_another_currency_converts_with_the_dated_rate():
    budgets, _ = evaluate_budgets(focus(TWO_CURRENCIES), [PLATFORM], RATES, "2026-11", NOV2)
    row = budgets.row(0, named=True)
    # 100 USD + 50 EUR × 1.2 USD/EUR (the rate dated 2026-11-01, on or before the charge day)
    assert row["actual"] == pytest.approx(160.0)
    assert row["pct_used"] == pytest.approx(80.0)  # 160 / 200
    assert row["crossed"].split(",")[0] == "actual-80"


def test_spend_in_another_currency_without_rates_is_refused():
    with pytest.raises(ValueError, match=r"platform.*EUR \(1 rows\).*USD.*exchange_rates"):
        evaluate_budgets(focus(TWO_CURRENCIES), [PLATFORM], None, "2026-11", NOV2)


USD_ONLY = [r for r in TWO_CURRENCIES if r[1] == "USD"]
SMALL = Budget(
    name="platform",
    amount=120,
    currency="USD",
    scope={"team": ["platform"]},
    thresholds={"actual": [80], "forecast": []},
)
RESTATED = [(NOV2, "USD", 90.0, 90.0, "aws", "EC2", "platform", None)]


def test_alert_ids_are_stable_and_a_restatement_that_lowers_spend_clears_the_status():
    usd, budget = USD_ONLY, SMALL
    first, drivers = evaluate_budgets(focus(usd), [budget], None, "2026-11", NOV2)
    ids = [a["alert_id"] for a in budget_alerts(first, drivers)]
    assert ids == ["budget:platform:2026-11:actual-80"]  # 100 >= 0.8 × 120 = 96
    rerun, drivers = evaluate_budgets(focus(usd), [budget], None, "2026-11", NOV2)
    assert [a["alert_id"] for a in budget_alerts(rerun, drivers)] == ids  # the same id
    # The provider restates the day to 90: under 96, so the status clears, nothing to send.
    lowered, drivers = evaluate_budgets(focus(RESTATED), [budget], None, "2026-11", NOV2)
    assert lowered["status"].to_list() == ["ok"] and lowered["crossed"].to_list() == [""]
    assert budget_alerts(lowered, drivers) == []


def test_the_outbox_sends_each_crossing_once_across_reruns_and_restatements(tmp_path):
    alerts = pytest.importorskip("costlake.alerts")  # the outbox of issue 15
    from costlake.focus.lake import Lake

    def run(rows):
        return evaluate_budgets(focus(rows), [SMALL], None, "2026-11", NOV2)[0]

    first, rerun, lowered = run(USD_ONLY), run(USD_ONLY), run(RESTATED)
    ids = ["budget:platform:2026-11:actual-80"]

    outbox = alerts.Outbox(Lake(str(tmp_path)))
    assert outbox.add(alerts.Alert(**a) for a in budget_alerts(first, {})) == 1
    assert outbox.add(alerts.Alert(**a) for a in budget_alerts(rerun, {})) == 0
    assert outbox.add(alerts.Alert(**a) for a in budget_alerts(lowered, {})) == 0
    # Crossing again after the restatement is the same crossing: not announced again.
    assert outbox.add(alerts.Alert(**a) for a in budget_alerts(first, {})) == 0
    assert [a.alert_id for a in outbox.pending()] == ids


def test_budget_periods():
    assert budget_period("2026-11", "month") == ("2026-11", date(2026, 11, 1), date(2026, 11, 30))
    assert budget_period("2026-11", "quarter") == ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert budget_period("2026-02", "year") == ("2026", date(2026, 1, 1), date(2026, 12, 31))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def test_forecast_repeats_the_weekly_pattern_and_counts_a_monthly_fee_once():
    # Weekdays cost 10, weekends 4; a 300 fee on the 1st of each month (recurring).
    days = _days(date(2026, 10, 1), date(2026, 11, 10))
    usage = [4.0 if d.weekday() >= 5 else 10.0 for d in days]
    fees = [300.0 if d.day == 1 else 0.0 for d in days]
    made = forecast_period(days, usage, fees, date(2026, 11, 1), date(2026, 11, 30))
    # November 2026 has 21 weekdays and 9 weekend days: 21 × 10 + 9 × 4 + the fee once.
    assert made.total == pytest.approx(210 + 36 + 300)
    assert made.actual == pytest.approx(300 + sum(usage[-10:]))
    assert made.lower <= made.total <= made.upper
    naive = forecast_period(days, usage, fees, date(2026, 11, 1), date(2026, 11, 30), "run_rate")
    # Run rate: (300 + 10 days' usage) / 10 × 30 counts the fee three times.
    assert naive.total == pytest.approx((300 + sum(usage[-10:])) / 10 * 30)


def test_forecast_of_a_daily_recurring_fee_and_a_finished_period():
    days = _days(date(2026, 10, 1), date(2026, 11, 20))
    usage, fees = [0.0] * len(days), [5.0] * len(days)
    made = forecast_period(days, usage, fees, date(2026, 11, 1), date(2026, 11, 30))
    assert made.total == pytest.approx(5.0 * 30)  # the daily amortized fee, known ahead
    done = forecast_period(days, usage, fees, date(2026, 10, 1), date(2026, 10, 31))
    assert (done.actual, done.total, done.upper) == (155.0, 155.0, 155.0)  # 31 × 5


def test_a_bad_budget_is_reported_at_its_line(tmp_path):
    config = tmp_path / "costlake.yaml"
    config.write_text(
        "lake_root: lake\n"  # line 1
        "budgets:\n"
        "  - name: platform\n"
        "    amount: 100\n"
        "    currency: USD\n"  # line 5
        "  - name: ai\n"
        "    amount: -5\n"  # line 7: not positive
        "    currency: USD\n"
        "    scope:\n"
        "      colour: red\n"  # line 10: no such scope key
    )
    with pytest.raises(ValueError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "line 7: budgets.1.amount" in message
    # the scope's mapping starts at its first key, on line 10
    assert "line 10: budgets.1.scope" in message and "colour" in message


def test_a_row_without_charge_frequency_counts_as_usage():
    # FOCUS allows a null ChargeFrequency: such a row is spend like any other.
    rows = focus(USD_ONLY[:1]).collect()
    unknown = rows.with_columns(pl.lit(None, pl.String).alias("ChargeFrequency"), EffectiveCost=5.0)
    lake = pl.concat([rows, unknown]).lazy()
    budgets, _ = evaluate_budgets(lake, [SMALL], None, "2026-11", NOV2)
    assert budgets["actual"].to_list() == [105.0]  # 100 + 5: the USD row and the unknown one
