"""Shared pieces of billflow's load and chaos harnesses: an isolated stack, a merchant receiver."""
