"""Money at the edges: `Decimal` major units outside, integer minor units inside.

Stripe expresses every amount in the currency's minor unit, and the number of minor units per
major unit differs: none for JPY, a thousand for KWD. ISK is Stripe's special case: it has no
minor unit in practice, yet Stripe still expects it with two (zero) decimals, so 1 ISK is 100.
Three-decimal currencies must end in 0 because Stripe's card partners round to the nearest ten.
No float ever touches an amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
# Currencies Stripe accepts as presentment currencies (lowercase ISO 4217).
SUPPORTED = frozenset(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp
    byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip
    gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt
    lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr
    nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd
    std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar
    zmw
    """.split()
)
MAX_MINOR = 99_999_999


class MoneyError(ValueError):
    """An amount or currency that cannot be charged; the message names what is wrong."""


@dataclass(frozen=True)
class CurrencyRule:
    """How one currency's major-unit amounts map to Stripe's integer amounts."""

    code: str
    decimals: int  # decimals a person may write at the edge
    factor: int  # Stripe integer units per major unit
    step: int = 1  # the Stripe integer must be a multiple of this


def currency_rule(currency: str) -> CurrencyRule:
    """Look up a currency, rejecting codes Stripe does not take."""
    code = currency.strip().lower()
    if code not in SUPPORTED:
        raise MoneyError(f"unknown or unsupported currency {currency!r}")
    if code in ZERO_DECIMAL:
        return CurrencyRule(code, decimals=0, factor=1)
    if code == "isk":
        return CurrencyRule(code, decimals=0, factor=100, step=100)
    if code in THREE_DECIMAL:
        return CurrencyRule(code, decimals=3, factor=1000, step=10)
    return CurrencyRule(code, decimals=2, factor=100)


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """Convert a major-unit amount to Stripe's integer, refusing lost precision and non-positive values."""
    rule = currency_rule(currency)
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise MoneyError(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise MoneyError("amount must be a finite number")
    if value <= 0:
        raise MoneyError("amount must be greater than zero")
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > rule.decimals:
        raise MoneyError(f"{rule.code.upper()} takes at most {rule.decimals} decimal places; got {value}")
    minor = int(value * rule.factor)
    if minor % rule.step:
        raise MoneyError(
            f"{rule.code.upper()} amounts must be a multiple of {Decimal(rule.step) / rule.factor}"
        )
    if minor > MAX_MINOR:
        raise MoneyError(f"amount {value} {rule.code.upper()} exceeds Stripe's maximum charge")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """Convert Stripe's integer back to a major-unit `Decimal` with the currency's places."""
    rule = currency_rule(currency)
    value = Decimal(minor) / rule.factor
    return value.quantize(Decimal(1).scaleb(-rule.decimals))


def format_money(minor: int, currency: str) -> str:
    """Human text such as '1,200.00 EUR' for summaries and the CLI."""
    rule = currency_rule(currency)
    return f"{from_minor(minor, currency):,} {rule.code.upper()}"


def describe_money(minor: int, currency: str) -> str:
    """`format_money`, or "1200 xyz" for a currency billflow does not know: for summaries, which must
    never fail a workflow task."""
    try:
        return format_money(minor, currency)
    except MoneyError:
        return f"{minor} {currency}"
