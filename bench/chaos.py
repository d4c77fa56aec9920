"""Chaos run: hundreds of mixed flows while workers are SIGKILLed, the API and Temporal restart and
Stripe (the emulator) fails, rate-limits, drops connections after committing and scrambles webhooks.
At the end it checks the money invariants and exits non-zero on any violation.

    .venv/bin/python -m bench.chaos --flows 500 --seed 7      # `make chaos`
    .venv/bin/python -m bench.chaos --short --seed 7          # the one-minute version the suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.harness.billing_flows import MIX, Driver, Flow
from bench.harness.checks import (
    audit_violations,
    delivered_times,
    final_statuses,
    ledger_invoice_violations,
    notification_violations,
    reconcile,
    resend_violations,
    stripe_invoices,
    undelivered_notifications,
)
from bench.harness.flows import Expectation
from bench.harness.receiver import Receiver
from bench.harness.stack import IsolatedStack


@dataclass
class Chaos:
    worker_kills: int = 0
    api_restarts: int = 0
    temporal_restarts: int = 0
    log: list[str] = field(default_factory=list)


FAULTS = {
    "endpoints": [
        {
            "method": "*",
            "path": "/v1/*",
            "error_500_rate": 0.10,
            "rate_limit_429_rate": 0.05,
            "drop_after_commit_rate": 0.03,
        },
    ],
    "webhooks": {
        "duplicate_rate": 0.30,
        "delay_ms": 400,
        "delay_rate": 0.3,
        "reorder_rate": 0.3,
        "loss_rate": 0.05,
    },
}


# Notifications the merchant refuses are retried from 1 s up to every 4 s instead of production's
# 10 s up to an hour, so the end check can wait the schedule out: after the last SIGKILL, an attempt
# lost with the worker times out (30 s) and the rest follow within seconds.
NOTIFY_RETRY = {"BILLFLOW_NOTIFY_RETRY_INITIAL_SECONDS": "1", "BILLFLOW_NOTIFY_RETRY_MAX_SECONDS": "4"}


def _worker_starts(stack: IsolatedStack) -> int:
    log = stack.stack.log_path("worker")
    return log.read_text(errors="replace").count("worker polling") if log.exists() else 0


async def inflict(
    stack: IsolatedStack,
    chaos: Chaos,
    rng: random.Random,
    stop: asyncio.Event,
    kill_every: float,
    duration_hint: float,
) -> None:
    """SIGKILL the worker every few seconds; restart the API twice and Temporal once along the way."""
    started = time.monotonic()
    plan = {"api": [0.3, 0.7], "temporal": [0.5]}
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=kill_every * rng.uniform(0.6, 1.4))
            return
        except TimeoutError:
            pass
        progress = (time.monotonic() - started) / duration_hint
        for name, marks in plan.items():
            if marks and progress >= marks[0]:
                marks.pop(0)
                await asyncio.to_thread(stack.stack.restart, name)
                if name == "api":
                    chaos.api_restarts += 1
                else:
                    chaos.temporal_restarts += 1
                chaos.log.append(f"{time.monotonic() - started:6.1f}s restarted {name}")
        polling = _worker_starts(stack)
        await asyncio.to_thread(stack.stack.restart, "worker")
        chaos.worker_kills += 1
        # Count the next interval from when the new worker polls, or a slow start eats the whole run.
        ready_by = time.monotonic() + 60
        while _worker_starts(stack) <= polling and time.monotonic() < ready_by and not stop.is_set():
            await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    receiver = Receiver(fail_rate=args.receiver_fail_rate, seed=args.seed)
    chaos = Chaos()
    with IsolatedStack(extra_env=NOTIFY_RETRY) as stack:
        merchant = stack.create_merchant(receiver)
        driver = Driver(stack.api_url, stack.emulator_url, merchant.api_key, merchant.stripe_key, args.seed)
        faults = {"seed": args.seed, **FAULTS}
        async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=10) as emu:
            (await emu.post("/_emulator/faults", json=faults)).raise_for_status()
        stop = asyncio.Event()
        chaos_task = asyncio.create_task(
            inflict(stack, chaos, rng, stop, args.kill_every, args.duration_hint)
        )
        gate = asyncio.Semaphore(args.concurrency)

        async def one(flow: Flow) -> Expectation:
            async with gate:
                result: Expectation = await getattr(driver, flow.kind)(**flow.options)
                return result

        plan = driver.plan(args.flows, args.only.split(",") if args.only else None)
        started = time.monotonic()
        results = await asyncio.gather(*(one(f) for f in plan), return_exceptions=True)
        elapsed = time.monotonic() - started
        stop.set()
        await chaos_task
        async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=30) as emu:
            injected: dict[str, int] = (await emu.get("/_emulator/faults/injected")).json()
            await emu.delete("/_emulator/faults")
            await emu.post("/_emulator/webhooks/deliveries/drain")
            audit = await emu.get(
                "/_emulator/audit", headers={"Authorization": f"Bearer {merchant.stripe_key}"}
            )
            audit_entries = audit.json()["data"]
            expectations = [r for r in results if isinstance(r, Expectation)]
            invoices = await stripe_invoices(emu, merchant.stripe_key, expectations)
        violations = [
            f"{f.kind} flow failed: {r!r}"
            for f, r in zip(plan, results, strict=True)
            if isinstance(r, BaseException)
        ]
        violations += await final_statuses(driver.http, expectations)
        violations += audit_violations(audit_entries, expectations, invoices)
        violations += await ledger_invoice_violations(driver.http, expectations, invoices)
        deadline = time.monotonic() + args.notify_grace
        while True:  # refused deliveries are retried with back-off; wait for the schedule to play out
            undelivered = await undelivered_notifications(driver.http)
            notify, repeats = notification_violations(receiver, expectations, undelivered)
            if not notify or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        violations += notify
        # Every accepted event, not only the repeats, so the short run in the suite exercises the lookup.
        resent = resend_violations(receiver, await delivered_times(driver.http, list(receiver.accepted)))
        violations += resent
        recon = await reconcile(stack, merchant)
        violations += [
            f"reconciliation: {d.object_type} {d.object_id} {d.field} ledger={d.ledger_value} "
            f"stripe={d.stripe_value}"
            for r in recon.reports
            for d in r.differences
        ]
        await driver.close()

    planned = Counter(f.kind for f in plan)
    finished = Counter(f.kind for f, r in zip(plan, results, strict=True) if isinstance(r, Expectation))
    print(f"chaos seed={args.seed} flows={args.flows}")
    print(
        "flows by type (finished/planned): "
        + ", ".join(f"{k}={finished[k]}/{n}" for k, n in sorted(planned.items()))
    )
    print(
        f"elapsed {elapsed:.1f}s; worker SIGKILLs={chaos.worker_kills} API restarts={chaos.api_restarts} "
        f"Temporal restarts={chaos.temporal_restarts}"
    )
    print(
        f"Stripe faults injected={sum(injected.values())} ("
        + ", ".join(f"{k}={v}" for k, v in injected.items())
        + "); rates: 10% 500, 5% 429, 3% commit-then-drop; webhooks 30% duplicated, delayed, reordered, 5% lost"
    )
    print(
        f"merchant receiver (refusing {args.receiver_fail_rate:.0%}): {sum(receiver.accepted.values())} accepted, "
        f"{receiver.failed_on_purpose} refused on "
        f"purpose, {repeats} repeat deliveries of an already accepted event "
        f"({repeats - len(resent)} sent before billflow had stored the merchant's 2xx, i.e. the worker "
        f"died with the POST in flight; {len(resent)} after), "
        f"{receiver.rejected_signatures} bad signatures"
    )
    print(
        f"audit entries {len(audit_entries)}; reconciliation checked {sum(sum(r.checked.values()) for r in recon.reports)}"
        f" Stripe objects"
    )
    for line in chaos.log:
        print(f"  {line}")
    print(f"violations = {len(violations)}")
    for v in violations[:50]:
        print(f"  VIOLATION {v}")
    return 1 if violations else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between worker SIGKILLs")
    parser.add_argument(
        "--duration-hint", type=float, default=180.0, help="expected run length, to place restarts"
    )
    parser.add_argument(
        "--notify-grace",
        type=float,
        default=90.0,
        help="at most this many seconds for notifications to finish their retries (it stops when done)",
    )
    parser.add_argument(
        "--receiver-fail-rate", type=float, default=0.2, help="merchant answers 503 this often"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated flow kinds to run (default all: {', '.join(MIX)})"
    )
    parser.add_argument("--short", action="store_true", help="about a minute: 40 flows, faster chaos")
    args = parser.parse_args(argv)
    if args.short:
        args.flows, args.concurrency, args.kill_every, args.duration_hint = 40, 12, 5.0, 40.0
    return args


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(run(parse(argv))))


if __name__ == "__main__":
    main()
