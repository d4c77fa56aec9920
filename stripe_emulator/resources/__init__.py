"""Resource handlers; importing this package registers every route."""

from stripe_emulator.resources import (  # noqa: F401
    account,
    catalog,
    charges,
    customers,
    events,
    invoices,
    payment_intents,
    payment_links,
    payment_methods,
    quotes,
    refunds,
    setup_intents,
    subscriptions,
    test_clocks,
    webhook_endpoints,
)
