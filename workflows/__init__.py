"""billflow's durable flows, one module per flow; deterministic code only."""
