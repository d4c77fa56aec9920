"""Every side effect of billflow: Stripe calls, ledger writes, outbound webhooks."""
