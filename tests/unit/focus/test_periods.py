"""One way to write a billing period: ``2025-5`` and ``2025-05`` are the same month, and
anything that is not a year and a month is refused, wherever a period comes in."""

from __future__ import annotations

import pytest

from costlake.focus.deliveries import Delivery
from costlake.focus.periods import billing_period


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2025-05", "2025-05"),
        ("2025-5", "2025-05"),
        (" 2025-12 ", "2025-12"),
        ("2026-1", "2026-01"),
    ],
)
def test_a_period_is_normalized(text, period):
    assert billing_period(text) == period


@pytest.mark.parametrize(
    "text", ["2025-13", "2025-0", "2025/05", "25-05", "May 2025", "2025-05-01", ""]
)
def test_anything_else_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=f"billing period '{text}': expected a year and month"):
        billing_period(text)


def test_a_delivery_and_a_partition_key_hold_the_normalized_period():
    from assets.partitions import partition_key

    delivery = Delivery("aws", "aws_cur2", "2025-5", "exec-1", "m.json", ())
    assert delivery.billing_period == "2025-05"
    assert partition_key("2025-5", "aws").keys_by_dimension == {
        "billing_period": "2025-05",
        "provider": "aws",
    }
    with pytest.raises(ValueError, match="billing period '2025-13'"):
        Delivery("aws", "aws_cur2", "2025-13", "exec-1", "m.json", ())
