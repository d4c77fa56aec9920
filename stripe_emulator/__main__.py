"""``python -m stripe_emulator --port 12111``."""

from __future__ import annotations

import argparse
import gc
import logging

import uvicorn

from stripe_emulator.server import create_app
from stripe_emulator.webhooks import MAX_ATTEMPTS, RETRY_BASE_SECONDS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stripe_emulator", description="Stripe v1 API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--state-file", default=None, help="JSON file to load on start and save on stop")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids (reproducible runs)")
    parser.add_argument("--save-interval", type=float, default=30.0, help="seconds between state saves")
    parser.add_argument(
        "--webhook-retry-base",
        type=float,
        default=RETRY_BASE_SECONDS,
        help="seconds before a failed webhook's first retry; each later pause doubles",
    )
    parser.add_argument(
        "--webhook-attempts", type=int, default=MAX_ATTEMPTS, help="delivery attempts per webhook"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    # The store keeps many small dicts alive; frequent full GC passes over them cost more
    # than the cycles they could free, so collect less often.
    gc.set_threshold(50_000, 50, 1000)
    if args.webhook_attempts < 1 or args.webhook_retry_base <= 0:
        parser.error("--webhook-attempts must be at least 1 and --webhook-retry-base positive")
    app = create_app(
        seed=args.seed,
        state_file=args.state_file,
        save_interval_seconds=args.save_interval,
        webhook_retry_base_seconds=args.webhook_retry_base,
        webhook_max_attempts=args.webhook_attempts,
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, lifespan="on"
    )


if __name__ == "__main__":
    main()
