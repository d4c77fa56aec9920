"""billflow's shared domain: settings, money, ledger schema, messages and policies."""
