"""The CLI's filters become the visibility query an operator could type in the UI."""

from __future__ import annotations

import pytest

from billflow.visibility import build_query


def test_filters_combine_with_and() -> None:
    assert build_query(flow="payment", status="awaiting_approval") == (
        'BillingFlow="payment" AND BillingStatus="awaiting_approval"'
    )
    assert build_query(merchant="mer_1", customer="cus_9", running_only=True) == (
        'MerchantId="mer_1" AND CustomerId="cus_9" AND ExecutionStatus="Running"'
    )


def test_no_filter_lists_only_billflow_runs() -> None:
    assert build_query() == "BillingFlow IS NOT NULL"


def test_quotes_are_refused() -> None:
    with pytest.raises(ValueError, match="quotes"):
        build_query(status='x" OR 1=1')
