"""A burst of payments for one merchant against Stripe's test-mode limit (25 requests/s).

The emulator enforces the limit like Stripe (429 `rate_limit` above it); billflow's shared limiter
(BILLFLOW_STRIPE_RATE_LIMIT_PER_SECOND) spaces the Stripe calls of both worker processes. Prints
how many workflows failed, how many 429s Stripe answered, and the achieved rate against the limit.

    .venv/bin/python -m bench.rate_limit --payments 500
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.harness.database import fresh_database
from bench.harness.stack import IsolatedStack
from bench.report import emit


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


async def run(args: argparse.Namespace) -> None:
    target = args.limit * args.headroom
    env = {"BILLFLOW_STRIPE_RATE_LIMIT_PER_SECOND": f"{target:.2f}"}
    with (
        fresh_database(args.db, Path(tempfile.gettempdir())) as database_url,
        IsolatedStack(database_url=database_url, worker_count=args.workers, extra_env=env) as stack,
    ):
        merchant = stack.create_merchant()
        control = {"Authorization": f"Bearer {merchant.stripe_key}"}
        async with httpx.AsyncClient(base_url=stack.emulator_url, headers=control, timeout=30) as emu:
            faults = {"rate_limit_per_second": args.limit, "rate_limit_burst": args.burst}
            (await emu.post("/_emulator/faults", json=faults)).raise_for_status()
            # Count from the burst's first Stripe request, not from the merchant's set-up calls.
            (await emu.delete("/_emulator/stats")).raise_for_status()
            async with httpx.AsyncClient(
                base_url=stack.api_url, headers={"X-API-Key": merchant.api_key}, timeout=120
            ) as http:
                gate = asyncio.Semaphore(args.concurrency)
                started = time.monotonic()
                ids = await asyncio.gather(*(_pay(http, gate) for _ in range(args.payments)))
                deadline = time.monotonic() + 600
                statuses = await asyncio.gather(
                    *(_final(http, i, deadline) for i in ids if not i.startswith("error"))
                )
                elapsed = time.monotonic() - started
            after = (await emu.get("/_emulator/stats")).json()
    requests = after["requests"]
    throttled = after["by_status"].get("429", 0)
    window = (after["last_at"] or 0) - (after["first_at"] or 0)
    # n requests spaced 1/rate apart span (n - 1) / rate seconds.
    achieved = (requests - 1) / window if window > 0 else 0.0
    failed = sum(1 for s in statuses if s != "completed") + sum(1 for i in ids if i.startswith("error"))
    print(
        f"{args.payments} payments, {args.workers} workers, limiter at {target:.2f}/s, "
        f"Stripe limit {args.limit}/s, ledger {args.db}"
    )
    print(
        f"Stripe requests {requests} over {window:.1f}s = {achieved:.2f}/s ({achieved / args.limit:.0%} of limit)"
    )
    print(f"429 answers {throttled}; workflows not completed {failed}; wall time {elapsed:.1f}s")
    print("Stripe requests by route: " + ", ".join(f"{r} {n}" for r, n in after["by_route"].items()))
    emit(
        "rate_limit",
        {
            "payments": args.payments,
            "failed_workflows": failed,
            "stripe_429s": throttled,
            "achieved_per_s": round(achieved, 2),
            "achieved_vs_limit": round(achieved / args.limit, 3),
            "limit_per_s": args.limit,
            "payments_per_s": round(len(ids) / elapsed, 2),
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
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--db",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="the ledger that also holds the shared limiter's slots (default postgres, as in production)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
