"""HTTP API benchmark: live-progress delay and polling load, against the demo server.

Starts ``jobport demo`` (uvicorn, SQLite, local workers) in a subprocess on
127.0.0.1 and a free port, then measures, in one run:

1. **commit -> WebSocket delay.** A WebSocket client follows a few demo
   imports; for each event, the delay is the client's receive time minus the
   event's ``committed_at`` (when the chunk's transaction recorded it in the
   outbox; a worker process commits, the API process tails the outbox).
2. **polling load.** While a large import runs, ``--clients`` concurrent
   httpx.AsyncClient loops poll ``GET /api/jobs/{id}`` (authenticated, one
   run read each) for ``--seconds`` or until the import ends, whichever comes
   first; requests/s and p50/p95/p99 latency.
   The same delay as in 1 is measured meanwhile by one WebSocket client.
3. **floor.** The same clients polling ``GET /api/health`` (no auth, no
   database): what the server and client stack cost by themselves.

    .venv/bin/python bench/api_load.py
    .venv/bin/python bench/api_load.py --clients 50 --seconds 10 --rows 500000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class DemoServer:
    """``jobport demo`` in a subprocess; its output drained so its pipes never fill."""

    def __init__(self, folder: Path, port: int, workers: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "JOBPORT_WORKERS": str(workers)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobport.cli",
                "demo",
                "--dir",
                str(folder),
                "--port",
                str(port),
                "--rows",
                "50000",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        self.printed = []
        for line in self.process.stdout:
            self.printed.append(line)
            if "/events" in line:
                break
        self.token = next(line.split()[1] for line in self.printed if "token" in line)
        self.sample = folder / "customers.csv"
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
        self._wait_ready()

    @staticmethod
    def _drain(stream: Any) -> None:
        for _ in stream:
            pass

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the demo server did not start")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def start_import(client: httpx.AsyncClient, server: DemoServer, path: Path) -> str:
    with open(path, "rb") as handle:
        response = await client.post(
            "/api/imports/customers",
            headers=server.auth,
            files={"file": (path.name, handle, "text/csv")},
            timeout=120,
        )
    response.raise_for_status()
    run_id: str = response.json()["id"]
    return run_id


async def follow_ws(server: DemoServer, run_id: str) -> tuple[list[float], dict[str, Any]]:
    """Follow a run to its end; the delay of each event (ms) and the last message."""
    url = server.url.replace("http", "ws") + f"/api/jobs/{run_id}/ws"
    delays: list[float] = []
    last: dict[str, Any] = {}
    async with websockets.connect(url, additional_headers=server.auth) as ws:
        async for raw in ws:
            received = datetime.now(UTC)
            last = json.loads(raw)
            if last.get("committed_at"):
                committed = datetime.fromisoformat(last["committed_at"])
                delays.append((received - committed).total_seconds() * 1000)
    return delays, last


async def measure_delay(server: DemoServer, imports: int) -> list[float]:
    delays: list[float] = []
    async with httpx.AsyncClient(base_url=server.url) as client:
        for _ in range(imports):
            run_id = await start_import(client, server, server.sample)
            got, last = await follow_ws(server, run_id)
            assert last["event"] == "JobCompleted", last
            delays += got
    return delays


async def poll(
    server: DemoServer,
    path: str,
    clients: int,
    seconds: float,
    max_requests: int,
    stop: asyncio.Event | None = None,
) -> tuple[list[float], int, float]:
    """``clients`` loops GETting ``path`` until time, count or ``stop``: latencies (ms).

    Each simulated client has its own ``httpx.AsyncClient`` (one keep-alive
    connection), as separate browsers would: one shared client's connection
    pool costs milliseconds of client CPU per request at this concurrency
    and would measure httpx instead of the server.
    """
    latencies: list[float] = []
    errors = 0
    budget = max_requests
    # Built before the clock starts; verify=False: plain HTTP, no CA bundle to load 50 times.
    sessions = [
        httpx.AsyncClient(base_url=server.url, headers=server.auth, timeout=30, verify=False)
        for _ in range(clients)
    ]
    for session in sessions:  # open each keep-alive connection outside the measurement
        await session.get("/api/health")
    deadline = time.monotonic() + seconds

    async def one_client(session: httpx.AsyncClient) -> None:
        nonlocal errors, budget
        while time.monotonic() < deadline and budget > 0 and not (stop and stop.is_set()):
            budget -= 1
            started = time.perf_counter()
            response = await session.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(one_client(session) for session in sessions))
    elapsed = time.perf_counter() - began
    for session in sessions:
        await session.aclose()
    return latencies, errors, elapsed


def summary(name: str, latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    return {
        "name": name,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


def delay_summary(name: str, delays: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "events": len(delays),
        "p50_ms": round(percentile(delays, 50), 1),
        "p95_ms": round(percentile(delays, 95), 1),
        "max_ms": round(max(delays), 1) if delays else None,
        "mean_ms": round(statistics.fmean(delays), 1) if delays else None,
    }


async def main_async(args: argparse.Namespace, server: DemoServer, big: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    results["delay_idle"] = delay_summary(
        "commit -> WebSocket, idle server", await measure_delay(server, args.imports)
    )
    floor = await poll(server, "/api/health", args.clients, args.seconds / 2, args.max_requests)
    results["floor"] = summary("GET /api/health (floor)", *floor)
    async with httpx.AsyncClient(base_url=server.url) as client:
        run_id = await start_import(client, server, big)
        finished = asyncio.Event()

        async def follow() -> tuple[list[float], dict[str, Any]]:
            try:
                return await follow_ws(server, run_id)
            finally:
                finished.set()  # the load is measured while the import runs, not after

        follower = asyncio.create_task(follow())
        load = await poll(
            server, f"/api/jobs/{run_id}", args.clients, args.seconds, args.max_requests, finished
        )
        status = (await client.get(f"/api/jobs/{run_id}", headers=server.auth)).json()
        delays, last = await follower
    results["load"] = summary(f"GET /api/jobs/{{id}} x {args.clients} clients", *load)
    results["load"]["import_status_at_end_of_load"] = status["status"]
    results["load"]["import_processed_at_end_of_load"] = status["processed"]
    results["load"]["import_final"] = last.get("status")
    results["delay_under_load"] = delay_summary("commit -> WebSocket, polling load", delays)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="Longest load phase (it ends with the import)."
    )
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=500_000, help="Rows of the import under load.")
    parser.add_argument("--imports", type=int, default=5, help="Imports followed for the delay.")
    parser.add_argument("--workers", type=int, default=2, help="Local pool size of the server.")
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="jobport-api-bench-") as tmp:
        folder = Path(tmp) / "demo"
        big = Path(tmp) / "big.csv"
        write_csv(big, args.rows, dirty=0.02, seed=7)
        server = DemoServer(folder, free_port(), args.workers)
        try:
            results = asyncio.run(main_async(args, server, big))
        finally:
            server.stop()
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on the machine shares the cores: the 1-minute load before and after.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
