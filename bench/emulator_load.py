"""Load test: PaymentIntent creations (confirm=true, pm_card_visa) against the emulator.

Starts ``python -m stripe_emulator`` pinned to one core (``taskset -c 0`` when available) and
drives it from load-generator processes pinned to the other cores. Prints requests/s and
latency percentiles; it asserts nothing.

    python bench/emulator_load.py --requests 20000 --concurrency 64 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid

import httpx

from bench.harness.ports import free_port
from bench.report import emit

BODY = b"amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true"


async def drive(base_url: str, count: int, concurrency: int, key: str) -> tuple[list[float], int]:
    """Send ``count`` creations with ``concurrency`` in flight; returns (latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    remaining = count
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as http:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    resp = await http.post(
                        "/v1/payment_intents", content=BODY, headers={"Idempotency-Key": str(uuid.uuid4())}
                    )
                except httpx.HTTPError:
                    failures += 1
                    continue
                latencies.append(time.perf_counter() - start)
                if resp.status_code != 200:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, failures


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of ``pid`` (Linux ``/proc``), or NaN elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def load_process(
    base_url: str,
    count: int,
    concurrency: int,
    cpus: set[int],
    queue: multiprocessing.Queue[tuple[list[float], int]],
) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    queue.put(asyncio.run(drive(base_url, count, concurrency, f"sk_test_bench_{os.getpid()}")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64, help="in-flight requests per worker")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    ncpu = os.cpu_count() or 1
    server_cmd = [sys.executable, "-m", "stripe_emulator", "--port", str(port), "--log-level", "warning"]
    if shutil.which("taskset") and ncpu >= 2:
        server_cmd = ["taskset", "-c", "0", *server_cmd]
    load_cpus = set(range(1, ncpu)) if ncpu >= 2 else set()
    print("server command:", " ".join(server_cmd))
    print(
        f"load: {args.workers} worker process(es) x {args.concurrency} concurrent, cpus {sorted(load_cpus) or 'any'}"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen(server_cmd, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base_url}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("emulator did not start")
            time.sleep(0.1)
        asyncio.run(drive(base_url, args.warmup, 16, "sk_test_bench_warmup"))
        queue: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
        per_worker = args.requests // args.workers
        procs = [
            multiprocessing.Process(
                target=load_process, args=(base_url, per_worker, args.concurrency, load_cpus, queue)
            )
            for _ in range(args.workers)
        ]
        cpu_before = cpu_seconds(server.pid)
        start = time.perf_counter()
        for p in procs:
            p.start()
        latencies: list[float] = []
        failures = 0
        for _ in procs:
            got, failed = queue.get()
            latencies.extend(got)
            failures += failed
        elapsed = time.perf_counter() - start
        server_cpu = cpu_seconds(server.pid) - cpu_before
        for p in procs:
            p.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
    latencies.sort()
    total = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(total - 1, int(total * 0.99))] * 1000
    print(f"PaymentIntent create+confirm: {total} requests in {elapsed:.2f}s ({failures} failed)")
    print(f"throughput: {total / elapsed:,.0f} requests/s")
    print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"server CPU: {server_cpu:.2f} s -> {total / server_cpu:,.0f} requests per server CPU-second "
        "(the one-core capacity, independent of other load on the machine)"
    )
    emit(
        "emulator_load",
        {
            "requests_per_s": round(total / elapsed, 1),
            "requests_per_server_cpu_s": round(total / server_cpu, 1),
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "failed": failures,
        },
    )


if __name__ == "__main__":
    main()
