"""Small helpers shared by resource handlers."""

from __future__ import annotations

from typing import Any

from stripe_emulator.errors import missing_parameter, validation
from stripe_emulator.forms import as_int, as_str

CURRENCY_MINIMUMS = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "cad": 50, "aud": 50}
MAX_AMOUNT = 99_999_999


def required_str(params: dict[str, Any], name: str) -> str:
    value = as_str(params, name)
    if value is None:
        raise missing_parameter(name)
    return value


def required_int(params: dict[str, Any], name: str) -> int:
    value = as_int(params, name)
    if value is None:
        raise missing_parameter(name)
    return value


def currency(params: dict[str, Any], name: str = "currency") -> str:
    return required_str(params, name).lower()


def check_amount(amount: int, cur: str, param: str = "amount") -> None:
    if amount < 0:
        raise validation("This value must be greater than or equal to 0.", param=param)
    minimum = CURRENCY_MINIMUMS.get(cur, 50)
    if amount < minimum:
        raise validation(
            f"Amount must be at least {minimum} {cur} minor units",
            param=param,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise validation(
            "Amount must be no more than 99999999", param=param, code="amount_too_large"
        )


def enum(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = as_str(params, name)
    if value is None:
        return default
    if value not in allowed:
        raise validation(
            f"Invalid {name}: must be one of {', '.join(allowed)}", param=name
        )
    return value


def str_fields(params: dict[str, Any], obj: dict[str, Any], names: tuple[str, ...]) -> None:
    """Copy plain string params; ``""`` unsets."""
    for name in names:
        if name in params:
            value = params[name]
            obj[name] = None if value == "" else value
