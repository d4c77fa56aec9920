"""Webhook ingestion throughput: verified + deduplicated + signalled Stripe events per second.

Starts a Temporal dev server, a worker with waiting workflows, and the billflow API under uvicorn in
its own process on a free port (PostgreSQL or SQLite ledger); then POSTs N signed events (a share of
them redelivered duplicates) with the given concurrency and prints events/s and p50/p99 latency, and
checks that every unique event was signalled exactly once.

    .venv/bin/python bench/webhook_ingest.py --events 3000 --concurrency 32 --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import stripe
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from bench.report import emit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.database import fresh_database, sqlalchemy_url  # noqa: E402
from bench.harness.ports import free_port  # noqa: E402
from billflow.config import DEV_ENCRYPTION_KEY  # noqa: E402
from billflow.crypto import SecretBox  # noqa: E402
from billflow.ledger import WebhookEvent  # noqa: E402
from billflow.ledger.db import Ledger  # noqa: E402
from billflow.local_temporal import start_dev_server  # noqa: E402
from billflow.merchants import create_merchant, save_stripe_credentials  # noqa: E402
from billflow.signals import STRIPE_EVENT, STRIPE_EVENTS, StripeEventBatch, StripeEventSignal  # noqa: E402

WHSEC = "whsec_bench_" + "b" * 32


@workflow.defn(sandboxed=False)
class CountStripeEvents:
    """Waits until told to stop; counts the stripe_event signals it got."""

    def __init__(self) -> None:
        self.count = 0
        self.signals = 0
        self.stop = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.stop, timeout=timedelta(hours=1))
        return self.count

    @workflow.signal(name=STRIPE_EVENT)
    def stripe_event(self, _: StripeEventSignal) -> None:
        self.count += 1
        self.signals += 1

    @workflow.signal(name=STRIPE_EVENTS)
    def stripe_events(self, batch: StripeEventBatch) -> None:
        self.count += len(batch.events)
        self.signals += 1

    @workflow.query
    def signals_received(self) -> int:
        return self.signals

    @workflow.signal
    def finish(self) -> None:
        self.stop = True


@contextmanager
def api_process(
    db_url: str, temporal_address: str, port: int, workers: int
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update(
        BILLFLOW_DATABASE_URL=db_url,
        BILLFLOW_TEMPORAL_ADDRESS=temporal_address,
        BILLFLOW_ENVIRONMENT="test",
        BILLFLOW_ENCRYPTION_KEY=DEV_ENCRYPTION_KEY,
    )
    argv = [sys.executable, "-m", "uvicorn", "starter.api:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log", "--workers", str(workers)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), 0.0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(name: str) -> list[int]:
    """This process's children whose command name starts with `name` (the Temporal dev server)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if comm.startswith(name) and int(rest.split()[1]) == os.getpid():
            pids.append(int(stat.parent.name))
    return pids


def build_deliveries(
    merchant_id: str, workflow_ids: list[str], unique: int, total: int, seed: int, per_object: int = 1
) -> list[tuple[str, bytes]]:
    """`total` deliveries of `unique` events: every event once, the rest redeliveries.

    As Stripe does, the events of one object change (`per_object` of them, e.g.
    payment_intent.succeeded, charge.succeeded, charge.updated) are sent back to back; the groups
    are shuffled and spread over the workflows, and redeliveries land at random later positions.
    """
    rng = random.Random(seed)
    types = ["payment_intent.succeeded", "charge.succeeded", "charge.updated", "payment_intent.created"]
    events: list[dict[str, Any]] = []
    groups: list[list[int]] = []
    for i in range(unique):
        if i % per_object == 0:
            groups.append([])
        group = len(groups) - 1
        wid = workflow_ids[group % len(workflow_ids)]
        groups[-1].append(i)
        events.append(
            {
                "id": f"evt_bench_{uuid.uuid4().hex}",
                "object": "event",
                "type": types[i % per_object % len(types)],
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": f"pi_{group:024d}",
                        "object": "payment_intent",
                        "metadata": {"workflow_id": wid},
                    }
                },
            }
        )
    rng.shuffle(groups)
    order = [i for group in groups for i in group]
    for _ in range(total - unique):
        order.insert(rng.randrange(1, len(order) + 1), rng.randrange(unique))
    return [(str(events[i]["id"]), json.dumps(events[i]).encode()) for i in order]


class Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost far less CPU than the API."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, signature: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def send_all(
    url: str, deliveries: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, list[float], dict[str, int]]:
    parsed = httpx.URL(url)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for d in deliveries:
        queue.put_nowait(d)

    async def worker() -> None:
        conn = Connection(parsed.host, parsed.port or 80)
        try:
            while not queue.empty():
                _, body = queue.get_nowait()
                signature = stripe.WebhookSignature.generate_signature_header(body.decode(), WHSEC)
                started = time.perf_counter()
                status, payload = await conn.post(parsed.path, body, signature)
                latencies.append(time.perf_counter() - started)
                key = str(status)
                if status == 200:
                    data = json.loads(payload)["data"]
                    key = f"{data['status']}{' (duplicate)' if data['duplicate'] else ''}"
                outcomes[key] = outcomes.get(key, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, outcomes


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="deliveries to send (default 3000)")
    parser.add_argument(
        "--duplicates", type=float, default=0.2, help="share that are redeliveries (default 0.2)"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workflows", type=int, default=200, help="waiting workflows the events are spread over"
    )
    parser.add_argument(
        "--per-object",
        type=int,
        default=3,
        help="events Stripe sends together for one object change (default 3; 1 = every event alone)",
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--worker",
        choices=["during", "after"],
        default="during",
        help="run the workflows' worker in this process during the load (default) or only afterwards "
        "(signals are accepted by the server either way; 'after' keeps worker CPU out of the measurement)",
    )
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()

    unique = max(1, int(args.events * (1 - args.duplicates)))
    env = await start_dev_server()
    client: Client = env.client
    address = client.service_client.config.target_host
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with fresh_database(args.db, ROOT / ".billflow") as db_url:
            ledger = Ledger.from_url(sqlalchemy_url(db_url))
            merchant, _ = create_merchant(ledger, "bench")
            save_stripe_credentials(
                ledger,
                SecretBox(DEV_ENCRYPTION_KEY),
                merchant.id,
                secret_key="sk_test_bench",
                account_id="acct_bench",
                webhook_secret=WHSEC,
                webhook_endpoint_id=None,
            )
            wids = [f"payment/{merchant.id}/bench-{i}" for i in range(args.workflows)]
            handles = [
                await client.start_workflow(CountStripeEvents.run, id=w, task_queue=task_queue) for w in wids
            ]
            warm_wid = f"payment/{merchant.id}/bench-warmup"
            warm = await client.start_workflow(CountStripeEvents.run, id=warm_wid, task_queue=task_queue)
            deliveries = build_deliveries(merchant.id, wids, unique, args.events, args.seed, args.per_object)
            worker = Worker(client, task_queue=task_queue, workflows=[CountStripeEvents])
            if args.worker == "during":
                worker_task = asyncio.create_task(worker.run())
            port = free_port()
            bench_cpu_before = time.process_time()
            servers = child_pids("temporal")
            server_cpu_before = sum(cpu_seconds(p) for p in servers)
            with api_process(db_url, address, port, args.api_workers) as proc:
                url = f"http://127.0.0.1:{port}/v1/webhooks/stripe/{merchant.id}"
                await send_all(url, build_deliveries(merchant.id, [warm_wid], 20, 20, 0), 4)  # warm-up
                cpu_before = cpu_seconds(proc.pid)
                elapsed, latencies, outcomes = await send_all(url, deliveries, args.concurrency)
                api_cpu = cpu_seconds(proc.pid) - cpu_before
            bench_cpu = time.process_time() - bench_cpu_before
            server_cpu = sum(cpu_seconds(p) for p in servers) - server_cpu_before
            if args.worker == "after":
                worker_task = asyncio.create_task(worker.run())
            for h in handles:
                await h.signal(CountStripeEvents.finish)
            signals = sum([await h.query(CountStripeEvents.signals_received) for h in handles])
            signalled = sum([await h.result() for h in handles])
            await warm.signal(CountStripeEvents.finish)
            await worker.shutdown()
            await worker_task
            with ledger.session() as session:
                routed = session.query(WebhookEvent).filter(WebhookEvent.status == "routed").count() - 20
            ledger.dispose()
    finally:
        await env.shutdown()

    latencies.sort()

    def p(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(
        f"ledger={args.db} deliveries={args.events} unique={unique} concurrency={args.concurrency} "
        f"workflows={args.workflows} per_object={args.per_object} worker={args.worker} api_workers={args.api_workers} cpus={os.cpu_count()}"
    )
    print(f"outcomes: {dict(sorted(outcomes.items()))}")
    print(
        f"signalled exactly once: {signalled == unique == routed} (signals={signalled}, routed rows={routed})"
    )
    print(
        f"Temporal signals sent: {signals} for {signalled} events ({signalled / max(signals, 1):.2f} events per signal)"
    )
    print(
        f"throughput: {args.events / elapsed:.0f} deliveries/s ({unique / elapsed:.0f} new events/s) in {elapsed:.2f}s"
    )
    print(
        f"latency: p50={p(0.50):.1f} ms p99={p(0.99):.1f} ms mean={statistics.fmean(latencies) * 1000:.1f} ms"
    )
    if args.api_workers == 1:
        print(
            f"API process CPU: {api_cpu:.2f} s = {api_cpu / args.events * 1000:.2f} ms per delivery "
            f"(a single API core could take about {args.events / api_cpu:.0f} deliveries/s)"
            if api_cpu
            else "API process CPU: not measurable here"
        )
    if servers:
        print(f"Temporal dev server CPU: {server_cpu / args.events * 1000:.2f} ms per delivery")
    print(
        f"bench process CPU (load generator + worker): {bench_cpu / args.events * 1000:.2f} ms per delivery; "
        f"machine load average (1 min) at the end: {os.getloadavg()[0]:.1f}"
    )
    emit(
        "webhook_ingest",
        {
            "deliveries_per_s": round(args.events / elapsed, 1),
            "p50_ms": round(p(0.50), 1),
            "p99_ms": round(p(0.99), 1),
            "exactly_once": signalled == unique == routed,
            "events_per_signal": round(signalled / max(signals, 1), 2),
            "worker": args.worker,
        },
    )
    return 0 if signalled == unique == routed else 1


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: the Temporal SDK's native threads can abort it after the run.
    os._exit(code)
