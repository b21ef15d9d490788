"""The recommender's optimum matches a brute-force search on the same usage; break-even,
neighbours, risk and AI capacity figures equal values worked out by hand."""

from __future__ import annotations

import random

import pytest

from costlake.commitments.recommend import (
    capacity_break_even_tpm,
    compare_capacity,
    net_savings,
    optimal_level,
    recommend,
    survivable_drop,
)


def brute_force(usage: list[float], discount: float, step: float) -> tuple[float, float]:
    """Every level on a grid of ``step`` up to the peak: the best (level, savings), computed
    hour by hour in plain Python so it shares nothing with the vectorized search."""
    best = (0.0, 0.0)
    level = 0.0
    while level <= max(usage) + step:
        savings = sum(min(u, level) for u in usage) - (1 - discount) * level * len(usage)
        if savings > best[1] + 1e-9:
            best = (level, savings)
        level = round(level + step, 6)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("discount", [0.27, 0.5])
def test_optimum_matches_a_brute_force_search(seed, discount):
    rng = random.Random(seed)
    # Four weeks of hourly on-demand cost in whole dollars: a base load, a weekday day peak
    # and noise, like a fleet that autoscales.
    usage = [
        40.0 + (30 if 8 <= hour % 24 < 20 and (hour // 24) % 7 < 5 else 0) + rng.randint(0, 14)
        for hour in range(28 * 24)
    ]
    level, savings = brute_force(usage, discount, step=0.5)
    found = optimal_level(usage, discount)
    assert net_savings(usage, found, discount) == pytest.approx(savings, abs=1e-6)
    assert found == pytest.approx(level)


def test_a_small_case_by_hand():
    # Hours at 10, 10, 10, 0 $/h on demand; 40 % off. Committing L <= 10 saves
    # 3L - 0.6 * 4L = 0.6L, so L = 10 saves 6; utilization 30 / 40 = 75 %.
    usage = [10.0, 10.0, 10.0, 0.0]
    result = recommend(usage, 0.4, provider="aws", term="1y", currency="USD")
    assert result.best.level == 10.0
    assert result.best.savings == pytest.approx(6.0)
    assert result.best.hourly_commitment == pytest.approx(6.0)
    assert result.best.utilization == pytest.approx(0.75)
    assert result.break_even_utilization == pytest.approx(0.6)
    # ±20 %: L = 8 saves 3 x 8 - 0.6 x 32 = 4.8; L = 12 saves 30 - 0.6 x 48 = 1.2.
    assert result.lower.savings == pytest.approx(4.8)
    assert result.upper.savings == pytest.approx(1.2)
    # Usage falling by 20 % (to 8, 8, 8, 0) with L = 10: 24 - 24 = 0 saved; so the level
    # survives a fall of just under 20 %.
    assert result.savings_if_usage_falls[0.2] == pytest.approx(0.0)
    assert result.survivable_drop == pytest.approx(0.2, abs=1e-9)
    assert result.savings_if_usage_falls[0.5] == pytest.approx(15 - 24)


def test_no_commitment_when_usage_is_too_spiky():
    # One busy hour in ten: a commitment is used 10 % of the time, under the 73 % break-even.
    usage = [100.0] + [0.0] * 9
    assert optimal_level(usage, 0.27) == 0.0
    assert survivable_drop(usage, 0.0, 0.27) == 0.0


def test_capacity_break_even_tokens_per_minute():
    # A unit at $2/h against tokens at $2.5 per million: 2 / 60 / 2.5e-6 = 13,333.3 TPM.
    assert capacity_break_even_tpm(2.0, 2.5e-6) == pytest.approx(13_333.333, rel=1e-6)
    # 30 days (43,200 min) of 1.2e9 tokens for $3,000: price 2.5e-6, average 27,777.8 TPM;
    # a peak of 90,000 TPM at 50,000 TPM per unit needs 2 units: 2 x 2 x 720 h = $2,880.
    found = compare_capacity(1.2e9, 3000.0, 43_200, 2.0, peak_tpm=90_000, tpm_per_unit=50_000)
    assert found.price_per_token == pytest.approx(2.5e-6)
    assert found.average_tpm == pytest.approx(27_777.78, rel=1e-6)
    assert found.break_even_tpm == pytest.approx(13_333.333, rel=1e-6)
    assert found.units == 2
    assert found.capacity_cost == pytest.approx(2880.0)
