"""A burst of payments for one merchant against Stripe's test-mode limit (25 requests/s).

The emulator enforces the limit like Stripe (429 `rate_limit` above it); billflow's shared limiter
(BILLFLOW_STRIPE_RATE_LIMIT_PER_SECOND) spaces the Stripe calls of both worker processes. Prints
how many workflows failed, how many 429s Stripe answered, and the achieved rate against the limit.

    .venv/bin/python -m bench.rate_limit --payments 500

On two cores the whole stack (API, workers, webhooks in, notifications out, Temporal) completes a
few payments per second, far below 25 Stripe requests/s, so the end-to-end burst cannot show the
limiter at work at that rate. `--calls-only` takes the workflows away: `--workers` processes each
make Stripe calls through the worker's own client (`StripeClients.for_merchant`, the shared slot
row in the ledger) as fast as the limiter lets them, which is how a worker fleet on more cores
would load it.

    .venv/bin/python -m bench.rate_limit --calls-only --payments 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import stripe

from activities.stripe_client import StripeClients
from bench.harness.database import fresh_database
from bench.harness.stack import IsolatedStack
from bench.report import emit
from billflow.config import Settings
from billflow.ledger.db import Ledger


async def _pay(http: httpx.AsyncClient, gate: asyncio.Semaphore) -> str:
    async with gate:
        for _ in range(30):
            try:
                r = await http.post(
                    "/v1/payments",
                    json={"amount": "10.00", "currency": "usd", "payment_method": "pm_card_visa"},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                if r.status_code < 500:
                    body: dict[str, Any] = r.json()
                    return str(body["data"]["id"]) if body.get("success") else f"error:{body.get('error')}"
            except httpx.TransportError:
                pass
            await asyncio.sleep(1)
        return "error:api unavailable"


async def _final(http: httpx.AsyncClient, payment_id: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        status = str((await http.get(f"/v1/payments/{payment_id}")).json()["data"]["status"])
        if status in ("completed", "failed", "canceled"):
            return status
        await asyncio.sleep(1)
    return "timeout"


async def _caller(args: argparse.Namespace) -> None:
    """One calls-only process: `--payments` PaymentIntents through the worker's rate-limited client."""
    settings = Settings(
        database_url=args.database_url,
        stripe_api_base=args.stripe_api_base,
        stripe_rate_limit_per_second=args.limit * args.headroom,
    )
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    client = await StripeClients(settings, ledger).for_merchant(args.merchant_id)
    gate = asyncio.Semaphore(args.concurrency)

    async def one() -> bool:
        async with gate:
            # A 429 is retried after a second, as the activity's retry policy would; anything else fails.
            for _ in range(30):
                try:
                    await client.v1.payment_intents.create_async(
                        {
                            "amount": 1000,
                            "currency": "usd",
                            "payment_method": "pm_card_visa",
                            "confirm": True,
                        },
                        {"idempotency_key": uuid.uuid4().hex},
                    )
                    return True
                except stripe.RateLimitError:
                    await asyncio.sleep(1)
                except stripe.StripeError:
                    return False
            return False

    done = await asyncio.gather(*(one() for _ in range(args.payments)))
    print(json.dumps({"failed": done.count(False)}))


def _run_callers(args: argparse.Namespace, stack: IsolatedStack, merchant_id: str) -> int:
    """Run `--workers` calls-only processes side by side; returns how many calls failed."""
    shares = [args.payments // args.workers + (i < args.payments % args.workers) for i in range(args.workers)]
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.rate_limit", "--caller", "--payments", str(n)),
                *("--limit", str(args.limit), "--headroom", str(args.headroom)),
                *("--concurrency", str(args.concurrency), "--merchant-id", merchant_id),
                *("--database-url", stack.settings.database_url, "--stripe-api-base", stack.emulator_url),
            ],
            stdout=subprocess.PIPE,
        )
        for n in shares
    ]
    failed = 0
    for proc, share in zip(procs, shares, strict=True):
        out = proc.communicate()[0].decode().strip().splitlines()
        # A process that died counts all its calls as failed.
        failed += int(json.loads(out[-1])["failed"]) if proc.returncode == 0 and out else share
    return failed


async def _pay_through_api(args: argparse.Namespace, stack: IsolatedStack, api_key: str) -> int:
    """The end-to-end burst; returns how many payments did not complete."""
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"X-API-Key": api_key}, timeout=120) as http:
        gate = asyncio.Semaphore(args.concurrency)
        ids = await asyncio.gather(*(_pay(http, gate) for _ in range(args.payments)))
        deadline = time.monotonic() + 600
        statuses = await asyncio.gather(
            *(_final(http, i, deadline) for i in ids if not i.startswith("error"))
        )
    return sum(1 for s in statuses if s != "completed") + sum(1 for i in ids if i.startswith("error"))


async def run(args: argparse.Namespace) -> None:
    target = args.limit * args.headroom
    env = {"BILLFLOW_STRIPE_RATE_LIMIT_PER_SECOND": f"{target:.2f}"}
    with (
        fresh_database(args.db, Path(tempfile.gettempdir())) as database_url,
        IsolatedStack(
            database_url=database_url, worker_count=1 if args.calls_only else args.workers, extra_env=env
        ) as stack,
    ):
        merchant = stack.create_merchant()
        control = {"Authorization": f"Bearer {merchant.stripe_key}"}
        async with httpx.AsyncClient(base_url=stack.emulator_url, headers=control, timeout=30) as emu:
            faults = {"rate_limit_per_second": args.limit, "rate_limit_burst": args.burst}
            (await emu.post("/_emulator/faults", json=faults)).raise_for_status()
            # Count from the burst's first Stripe request, not from the merchant's set-up calls.
            (await emu.delete("/_emulator/stats")).raise_for_status()
            started = time.monotonic()
            if args.calls_only:
                failed = await asyncio.to_thread(_run_callers, args, stack, merchant.id)
            else:
                failed = await _pay_through_api(args, stack, merchant.api_key)
            elapsed = time.monotonic() - started
            after = (await emu.get("/_emulator/stats")).json()
    requests = after["requests"]
    throttled = after["by_status"].get("429", 0)
    window = (after["last_at"] or 0) - (after["first_at"] or 0)
    # n requests spaced 1/rate apart span (n - 1) / rate seconds.
    achieved = (requests - 1) / window if window > 0 else 0.0
    what = "processes making Stripe calls only" if args.calls_only else "workers, payments through the API"
    print(
        f"{args.payments} payments, {args.workers} {what}, limiter at {target:.2f}/s, "
        f"Stripe limit {args.limit}/s, ledger {args.db}"
    )
    print(
        f"Stripe requests {requests} over {window:.1f}s = {achieved:.2f}/s ({achieved / args.limit:.0%} of limit)"
    )
    failures = "calls failed" if args.calls_only else "workflows not completed"
    print(f"429 answers {throttled}; {failures} {failed}; wall time {elapsed:.1f}s")
    print("Stripe requests by route: " + ", ".join(f"{r} {n}" for r, n in after["by_route"].items()))
    emit(
        "rate_limit",
        {
            "mode": "calls_only" if args.calls_only else "end_to_end",
            "payments": args.payments,
            "failed": failed,
            "stripe_429s": throttled,
            "achieved_per_s": round(achieved, 2),
            "achieved_vs_limit": round(achieved / args.limit, 3),
            "limit_per_s": args.limit,
            "payments_per_s": round(args.payments / elapsed, 2),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--limit", type=float, default=25.0, help="Stripe's limit the emulator enforces")
    parser.add_argument("--burst", type=float, default=5.0, help="the emulator's token-bucket burst")
    parser.add_argument("--headroom", type=float, default=0.96, help="limiter rate as a share of the limit")
    parser.add_argument("--workers", type=int, default=2, help="worker (or, calls-only, caller) processes")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--calls-only",
        action="store_true",
        help="no workflows: processes make Stripe calls through the worker's limited client",
    )
    parser.add_argument(
        "--db",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="the ledger that also holds the shared limiter's slots (default postgres, as in production)",
    )
    # One calls-only process, started by --calls-only.
    parser.add_argument("--caller", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--merchant-id", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--stripe-api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(_caller(args) if args.caller else run(args))


if __name__ == "__main__":
    main()
