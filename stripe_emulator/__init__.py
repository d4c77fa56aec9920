"""A stateful, fault-injecting Stripe v1 API emulator for the official ``stripe`` SDK."""

from stripe_emulator.server import (
    EmulatorApp,
    EmulatorServer,
    create_app,
    run_in_thread,
)

__all__ = ["EmulatorApp", "EmulatorServer", "create_app", "run_in_thread"]
