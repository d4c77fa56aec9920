"""Resource handlers; importing this package registers every route."""

from stripe_emulator.resources import (  # noqa: F401
    account,
    charges,
    customers,
    events,
    payment_intents,
    payment_methods,
    refunds,
    setup_intents,
    webhook_endpoints,
)
