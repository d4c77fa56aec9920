"""Billing-period arithmetic (calendar months and years, like Stripe's cycle anchors)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86_400


def add_interval(ts: int, interval: str, count: int = 1, anchor_day: int | None = None) -> int:
    """``ts`` moved forward by ``count`` intervals (day|week|month|year)."""
    if interval == "day":
        return ts + DAY * count
    if interval == "week":
        return ts + 7 * DAY * count
    months = count * (12 if interval == "year" else 1)
    dt = datetime.fromtimestamp(ts, UTC)
    month_index = dt.month - 1 + months
    year = dt.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor_day or dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def anchor_day(ts: int) -> int:
    return datetime.fromtimestamp(ts, UTC).day
