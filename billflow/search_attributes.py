"""The custom search attributes operators filter on in the Temporal UI, as typed keys."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

BILLING_FLOW = SearchAttributeKey.for_keyword("BillingFlow")
BILLING_STATUS = SearchAttributeKey.for_keyword("BillingStatus")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
CURRENCY = SearchAttributeKey.for_keyword("Currency")

ALL: tuple[SearchAttributeKey[str] | SearchAttributeKey[int], ...] = (
    BILLING_FLOW,
    BILLING_STATUS,
    MERCHANT_ID,
    CUSTOMER_ID,
    AMOUNT_MINOR,
    CURRENCY,
)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int"}
    return [
        arg
        for key in ALL
        for arg in ("--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}")
    ]
