"""Stripe's test cards: numbers, ``pm_card_*``/``tok_*`` aliases and how each behaves."""

from __future__ import annotations

from dataclasses import dataclass

# auth modes
NO_AUTH = "none"  # never asks for authentication
ALWAYS = "always"  # every transaction needs authentication; off-session -> 402
UNLESS_SETUP = "unless_setup"  # on-session needs auth; off-session ok only once set up (3155)
ON_SESSION = "on_session"  # on-session needs auth; off-session always ok (0446)


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str | None
    message: str


@dataclass(frozen=True)
class CardSpec:
    number: str
    funding: str = "credit"
    country: str = "US"
    auth: str = NO_AUTH
    attach_decline: Decline | None = None  # checked when attached / set up
    charge_decline: Decline | None = None  # every charge
    post_auth_decline: Decline | None = None  # after successful authentication
    three_d_secure: str = "optional"  # three_d_secure_usage / optional|required|not_supported

    @property
    def brand(self) -> str:
        return brand_for(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]


def _d(code: str, decline_code: str | None, message: str) -> Decline:
    return Decline(code, decline_code, message)


GENERIC = _d("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = _d("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = _d("card_declined", "lost_card", "Your card was declined.")
STOLEN = _d("card_declined", "stolen_card", "Your card was declined.")
EXPIRED = _d("expired_card", "expired_card", "Your card has expired.")
CVC = _d("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
PROCESSING = _d(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
)
VELOCITY = _d("card_declined", "card_velocity_exceeded", "Your card was declined.")
FRAUD = _d("card_declined", "fraudulent", "Your card was declined.")
INCORRECT_NUMBER = _d("incorrect_number", None, "Your card number is incorrect.")
AUTH_REQUIRED = _d(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)


def _both(number: str, decline: Decline) -> CardSpec:
    return CardSpec(number, attach_decline=decline, charge_decline=decline)


CARDS: dict[str, CardSpec] = {
    c.number: c
    for c in [
        CardSpec("4242424242424242"),
        CardSpec("4000056655665556", funding="debit"),
        CardSpec("5555555555554444"),
        CardSpec("2223003122003222"),
        CardSpec("5200828282828210", funding="debit"),
        CardSpec("5105105105105100", funding="prepaid"),
        CardSpec("378282246310005", three_d_secure="not_supported"),
        CardSpec("371449635398431"),
        CardSpec("6011111111111117"),
        CardSpec("3056930009020004"),
        CardSpec("3566002020360505", country="JP"),
        CardSpec("6200000000000005", country="CN"),
        _both("4000000000000002", GENERIC),
        _both("4000000000009995", INSUFFICIENT),
        _both("4000000000009987", LOST),
        _both("4000000000009979", STOLEN),
        _both("4000000000000069", EXPIRED),
        _both("4000000000000127", CVC),
        _both("4000000000000119", PROCESSING),
        _both("4000000000006975", VELOCITY),
        CardSpec("4000000000000341", charge_decline=GENERIC),
        CardSpec("4000000000000259"),
        _both("4100000000000019", FRAUD),
        CardSpec("4000000000005126"),
        CardSpec("4000002500003155", auth=UNLESS_SETUP, three_d_secure="required"),
        CardSpec("4000002760003184", auth=ALWAYS, three_d_secure="required"),
        CardSpec("4000003800000446", auth=ON_SESSION, three_d_secure="required"),
        CardSpec(
            "4000008260003178",
            auth=ALWAYS,
            post_auth_decline=INSUFFICIENT,
            three_d_secure="required",
        ),
        CardSpec("4000000000003220", auth=ALWAYS, three_d_secure="required"),
        CardSpec("4000000000003063", auth=ALWAYS, three_d_secure="required"),
        CardSpec(
            "4000008400001629", auth=ALWAYS, post_auth_decline=GENERIC, three_d_secure="required"
        ),
        CardSpec("4000008400001280", charge_decline=PROCESSING, three_d_secure="required"),
        CardSpec("4000000000003055"),
        CardSpec("4000000000003097"),
    ]
}

# ``pm_card_<suffix>`` and ``tok_<suffix>`` share the suffix.
TOKENS: dict[str, str] = {
    "visa": "4242424242424242",
    "visa_debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210",
    "mastercard_prepaid": "5105105105105100",
    "amex": "378282246310005",
    "amex_threeDSecureNotSupported": "378282246310005",
    "discover": "6011111111111117",
    "diners": "3056930009020004",
    "jcb": "3566002020360505",
    "unionpay": "6200000000000005",
    "visa_chargeDeclined": "4000000000000002",
    "chargeDeclined": "4000000000000002",
    "visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "visa_chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedLostCard": "4000000000009987",
    "visa_chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "visa_chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "chargeCustomerFail": "4000000000000341",
    "createDispute": "4000000000000259",
    "radarBlock": "4100000000000019",
    "refundFail": "4000000000005126",
    "authenticationRequiredOnSetup": "4000002500003155",
    "authenticationRequired": "4000002760003184",
    "authenticationRequiredSetupForOffSession": "4000003800000446",
    "authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "threeDSecure2Required": "4000000000003220",
    "threeDSecureRequired": "4000000000003063",
    "threeDSecureRequiredChargeDeclined": "4000008400001629",
    "threeDSecureRequiredProcessingError": "4000008400001280",
    "threeDSecureOptional": "4000000000003055",
    "threeDSecureOptionalProcessingError": "4000000000003097",
}


def brand_for(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number.startswith(("34", "37")):
        return "amex"
    if number.startswith(("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")):
        return "mastercard"
    if number.startswith(("6011", "65", "644", "645", "646", "647", "648", "649")):
        return "discover"
    if number.startswith(("300", "301", "302", "303", "304", "305", "36", "38")):
        return "diners"
    if number.startswith("35"):
        return "jcb"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def spec_for(number: str) -> CardSpec:
    """Behaviour of ``number``; unknown valid numbers simply succeed."""
    return CARDS.get(number) or CardSpec(number)


def token_number(token: str) -> str | None:
    """Card number behind ``pm_card_*`` / ``tok_*`` test tokens."""
    for prefix in ("pm_card_", "tok_"):
        if token.startswith(prefix):
            return TOKENS.get(token[len(prefix) :])
    return None
