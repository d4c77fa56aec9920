"""Property-based checks of the Decimal <-> minor-unit conversion for every currency exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billflow.money import MAX_MINOR, SUPPORTED, MoneyError, currency_rule, from_minor, to_minor
from billflow.payments import PaymentCreate

CURRENCIES = sorted(SUPPORTED)
# One representative of each exponent class, checked for exact known values below.
KNOWN = [("usd", "50.00", 5000), ("jpy", "500", 500), ("bhd", "1.250", 1250), ("kes", "10.50", 1050)]


@st.composite
def chargeable(draw: st.DrawFn) -> tuple[str, int]:
    """A currency and a minor amount Stripe would accept for it (respecting its step)."""
    currency = draw(st.sampled_from(CURRENCIES))
    rule = currency_rule(currency)
    units = draw(st.integers(min_value=1, max_value=MAX_MINOR // rule.step))
    return currency, units * rule.step


@given(chargeable())
def test_minor_round_trips_through_decimal(case: tuple[str, int]) -> None:
    currency, minor = case
    major = from_minor(minor, currency)
    assert to_minor(major, currency) == minor
    assert to_minor(str(major), currency) == minor
    assert -major.as_tuple().exponent == currency_rule(currency).decimals  # type: ignore[operator]


@given(chargeable())
def test_decimal_round_trips_through_minor(case: tuple[str, int]) -> None:
    currency, minor = case
    major = from_minor(minor, currency)
    assert from_minor(to_minor(major, currency), currency) == major


@given(
    st.sampled_from(CURRENCIES),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=9),
)
def test_precision_beyond_the_exponent_is_rejected(currency: str, whole: int, digit: int) -> None:
    decimals = currency_rule(currency).decimals
    too_precise = Decimal(whole) + Decimal(digit).scaleb(-(decimals + 1))
    with pytest.raises(MoneyError, match="decimal places"):
        to_minor(too_precise, currency)


@given(st.sampled_from(CURRENCIES), st.integers(min_value=-(10**6), max_value=0))
def test_zero_and_negative_amounts_are_rejected(currency: str, amount: int) -> None:
    with pytest.raises(MoneyError, match="greater than zero"):
        to_minor(Decimal(amount), currency)


@pytest.mark.parametrize(("currency", "major", "minor"), KNOWN)
def test_known_exponents(currency: str, major: str, minor: int) -> None:
    assert to_minor(Decimal(major), currency) == minor
    assert from_minor(minor, currency) == Decimal(major)


def test_payment_body_names_the_currency_problem() -> None:
    with pytest.raises(ValueError, match="currency"):
        PaymentCreate(amount=Decimal("1"), currency="xxx", payment_method="pm_card_visa")
    with pytest.raises(ValueError, match="JPY takes at most 0 decimal places"):
        PaymentCreate(amount=Decimal("1.5"), currency="jpy", payment_method="pm_card_visa")
    assert (
        PaymentCreate(amount=Decimal("1.5"), currency="KES", payment_method="pm_card_visa").amount_minor
        == 150
    )
