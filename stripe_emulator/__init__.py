"""A stateful, fault-injecting Stripe v1 API emulator for the official ``stripe`` SDK.

Start it from tests::

    from stripe_emulator import run_in_thread
    with run_in_thread() as base_url:          # free port, background thread
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": base_url},
                                     max_network_retries=0)

or as a process: ``python -m stripe_emulator --port 12111 [--state-file s.json] [--seed 1]``.

Controls (plain JSON over HTTP, not part of Stripe's API):
``GET /_emulator/health``, ``POST /_emulator/reset``, ``GET|POST|DELETE /_emulator/faults``,
``GET /_emulator/faults/injected`` (how often each fault fired since the last reset),
``GET /_emulator/audit?api_key=…``, ``POST /_emulator/clock/advance {"seconds": n}``,
``GET /_emulator/3ds/{id}`` (HTML) and ``POST /_emulator/3ds/{id}/complete|fail``,
``GET /_emulator/webhooks/deliveries``, ``POST /_emulator/state``.
"""

from stripe_emulator.server import (
    EmulatorApp,
    EmulatorServer,
    create_app,
    run_in_thread,
)

__all__ = ["EmulatorApp", "EmulatorServer", "create_app", "run_in_thread"]
