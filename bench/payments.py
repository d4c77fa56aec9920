"""End-to-end payments per second through the API, against a no-op workflow of the same shape.

Starts its own local stack on free ports: a Temporal dev server (in memory), the Stripe emulator
and the billflow API as processes, and a worker process (`worker.build_worker`, exactly billflow's
worker, plus the no-op flows of bench/noop_flow.py). Then:

1. POSTs `--payments` frictionless card payments (`pm_card_visa`) to `/v1/payments` with
   `--concurrency` requests in flight and records each request's latency (the API answers once
   Stripe's first answer is known, i.e. the payment is completed);
2. counts the activities and child workflows one payment ran (from its history) and runs as many
   no-op workflows with that same number of no-op activities and children, started straight
   through the Temporal client, with the same concurrency: once in billflow's workflow sandbox
   (the like-for-like baseline) and once unsandboxed (the strictest one);
3. prints payments/s, p50/p99 latency, both no-op rates, the ratios (target >= 0.8), the worker's
   CPU milliseconds per payment and every process's CPU per flow.

    .venv/bin/python bench/payments.py --payments 300 --concurrency 16 [--pg | --database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.database import fresh_database  # noqa: E402
from bench.harness.ports import free_port  # noqa: E402
from bench.noop_flow import ALL as NOOP_FLOWS  # noqa: E402
from bench.noop_flow import NoopWorkflow, NoopWorkflowBare, noop  # noqa: E402
from bench.report import emit  # noqa: E402
from billflow.binaries import temporal_cli  # noqa: E402
from billflow.search_attributes import cli_flags  # noqa: E402

TASK_QUEUE = "bench-payments"


# --- the worker process -------------------------------------------------------------------------


async def worker_main() -> None:
    """The worker process: billflow's worker with the no-op flows added, until SIGTERM."""
    from activities.registry import Deps
    from billflow.config import get_settings
    from starter.client import connect
    from worker import build_worker

    settings = get_settings()
    client = await connect(settings)
    deps = Deps.build(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    # billflow's own worker, exactly as `billflow worker` builds it, plus the baseline flows.
    worker = build_worker(
        client,
        deps,
        extra_workflows=NOOP_FLOWS,
        extra_activities=[noop],
        workflow_runner=UnsandboxedWorkflowRunner() if os.environ.get("BENCH_UNSANDBOXED") else None,
    )
    async with worker:
        await stop.wait()


# --- the stack -----------------------------------------------------------------------------------


def wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not open port {port}")


def cpu_ms(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_payments(
    api: httpx.AsyncClient, n: int, concurrency: int
) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    ids: list[str] = []
    failures = 0
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        nonlocal failures
        async with gate:
            started = time.perf_counter()
            resp = await api.post(
                "/v1/payments",
                json={"amount": "25.00", "currency": "usd", "payment_method": "pm_card_visa"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            latencies.append(time.perf_counter() - started)
            data = resp.json().get("data") or {}
            if data.get("status") != "completed":
                failures += 1
            else:
                ids.append(data["id"])

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - began
    if failures:
        print(f"warning: {failures} payments did not complete")
    return wall, latencies, ids


async def payment_shape(client: Client, merchant_id: str, payment_row_wid: str) -> list[int]:
    """[activities of the payment workflow, activities of each child] read from the histories."""

    async def counts(wid: str) -> tuple[int, list[str]]:
        activities, children = 0, []
        async for event in client.get_workflow_handle(wid).fetch_history_events():
            if os.environ.get("BENCH_SHOW_HISTORY"):
                print(wid.split("/")[0], EventType.Name(event.event_type))
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activities += 1
            elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                children.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
        return activities, children

    parent, children = await counts(payment_row_wid)
    shape = [parent]
    for child in children:
        await client.get_workflow_handle(child).result()
        shape.append((await counts(child))[0])
    return shape


async def run_noop(client: Client, shape: list[int], n: int, concurrency: int, bare: bool) -> float:
    gate = asyncio.Semaphore(concurrency)
    flow = NoopWorkflowBare.run if bare else NoopWorkflow.run

    async def one() -> None:
        async with gate:
            await client.execute_workflow(
                flow, shape, id=f"bench-noop/{uuid.uuid4().hex}", task_queue=TASK_QUEUE
            )

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - began


async def bench(args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from billflow.config import Settings
    from billflow.ledger import Payment
    from billflow.ledger.db import Ledger
    from billflow.merchants import ensure_demo_merchant
    from billflow.migrate import upgrade
    from starter.client import connect

    workdir = Path(tempfile.mkdtemp(prefix="billflow-bench-"))
    temporal_port, api_port, emu_port = free_port(), free_port(), free_port()
    database_url = args.database_url or f"sqlite:///{workdir / 'ledger.db'}"
    env = dict(os.environ)
    env.update(
        BILLFLOW_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        BILLFLOW_TEMPORAL_TASK_QUEUE=TASK_QUEUE,
        BILLFLOW_DATABASE_URL=database_url,
        BILLFLOW_STRIPE_API_BASE=f"http://127.0.0.1:{emu_port}",
        BILLFLOW_ENVIRONMENT="development",
    )
    settings = Settings(
        temporal_address=f"127.0.0.1:{temporal_port}",
        temporal_task_queue=TASK_QUEUE,
        database_url=database_url,
        stripe_api_base=f"http://127.0.0.1:{emu_port}",
    )
    upgrade(settings.sqlalchemy_url)
    ledger = Ledger.from_url(settings.sqlalchemy_url)
    merchant_id, api_key = ensure_demo_merchant(ledger, settings)
    py = sys.executable
    logs = (workdir / "stack.log").open("ab")
    plan = [
        (
            "temporal",
            [temporal_cli(), "server", "start-dev", "--port", str(temporal_port), "--headless"]
            + ["--log-level", "error", *cli_flags()],
            temporal_port,
        ),
        ("emulator", [py, "-m", "stripe_emulator", "--port", str(emu_port)], emu_port),
        (
            "api",
            [py, "-m", "uvicorn", "starter.api:app", "--port", str(api_port), "--log-level", "warning"],
            api_port,
        ),
        ("worker", [py, str(Path(__file__).resolve()), "--worker"], 0),
    ]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv, port in plan:
            procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT)
            if port:
                wait_port(port, procs[name], name)
        client = await connect(settings)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": api_key}, timeout=120
        ) as api:
            await run_payments(api, min(20, args.payments), args.concurrency)  # warm-up
            worker_pid = procs["worker"].pid
            cpu_before = cpu_ms(worker_pid)
            stack_before = {name: cpu_ms(proc.pid) for name, proc in procs.items()}
            wall, latencies, ids = await run_payments(api, args.payments, args.concurrency)
            await asyncio.sleep(2)  # let the notifications that trail each payment finish
            cpu_payments = cpu_ms(worker_pid) - cpu_before
            stack_payments = {name: cpu_ms(p.pid) - stack_before[name] for name, p in procs.items()}
        with ledger.session() as session:
            sample = session.scalar(select(Payment.workflow_id).where(Payment.id == ids[0]))
        assert sample is not None
        shape = await payment_shape(client, merchant_id, sample)
        noop: dict[str, tuple[float, dict[str, float]]] = {}
        for bare in (False, True):
            await run_noop(client, shape, min(20, args.payments), args.concurrency, bare)  # warm-up
            before = {name: cpu_ms(proc.pid) for name, proc in procs.items()}
            noop_wall = await run_noop(client, shape, args.payments, args.concurrency, bare)
            spent = {name: cpu_ms(p.pid) - before[name] for name, p in procs.items()}
            noop["bare" if bare else "sandboxed"] = (args.payments / noop_wall, spent)
    finally:
        for proc in reversed(procs.values()):
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        ledger.dispose()

    pay_rate = len(ids) / wall
    per = args.payments
    print(
        f"ledger: {database_url.split(':')[0]}, payments: {per}, concurrency: {args.concurrency}, "
        f"billflow workflows {'un' if args.unsandboxed else ''}sandboxed, cpus: {os.cpu_count()}"
    )
    print(f"payment shape (activities: workflow, then each child): {shape}")
    print(f"payments end-to-end via API          : {pay_rate:8.1f} /s")
    print(
        f"  latency p50 / p99                  : {statistics.median(latencies) * 1000:8.1f} ms / "
        f"{percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(f"  worker CPU per payment             : {cpu_payments / per:8.1f} ms")
    print(f"  CPU ms per payment by process      : {_by_process(stack_payments, per)}")
    labels = {"sandboxed": "in billflow's sandbox", "bare": "unsandboxed"}
    for kind, (rate, spent) in noop.items():
        print(f"no-op workflows, same shape, {labels[kind]:<21}: {rate:8.1f} /s")
        print(f"  CPU ms per no-op by process        : {_by_process(spent, per)}")
        print(f"  ratio payments / this no-op        : {pay_rate / rate:8.2f}  (target >= 0.8)")
    rate, _ = noop["sandboxed"]
    bare_rate, _ = noop["bare"]
    emit(
        "payments",
        {
            "payments_per_s": round(pay_rate, 2),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "noop_per_s": round(rate, 2),
            "ratio_vs_noop": round(pay_rate / rate, 3),
            "noop_bare_per_s": round(bare_rate, 2),
            "ratio_vs_bare_noop": round(pay_rate / bare_rate, 3),
            "worker_cpu_ms_per_payment": round(cpu_payments / per, 1),
        },
    )


def _by_process(spent: dict[str, float], count: int) -> str:
    return ", ".join(f"{name} {ms / count:.1f}" for name, ms in spent.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--pg",
        action="store_true",
        help="a fresh PostgreSQL database on 127.0.0.1:5432 (user postgres), dropped afterwards",
    )
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="run billflow's workflows outside the sandbox too (the no-op flow always is): isolates its cost",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main())
        return
    if args.unsandboxed:
        os.environ["BENCH_UNSANDBOXED"] = "1"
    if not args.pg:
        asyncio.run(bench(args))
        return
    with fresh_database("postgres", Path(tempfile.gettempdir())) as url:
        args.database_url = url
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
