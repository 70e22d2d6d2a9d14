"""HTTP API benchmark: the hot reads under wrk, idle and while a large import runs.

Starts ``jobport serve`` with its defaults (SQLite, local files and workers,
one server process per core; the demo's job types; a user made with
``jobport users create``), or with ``--server demo`` ``jobport demo`` (one
server process; ``--live-rows 0`` so no large sample is written while
measuring), in a subprocess on 127.0.0.1 and a free port, then measures
with ``wrk`` (Debian's ``/usr/bin/wrk``: a C load generator, two threads, so
the client costs the server's two cores little):

- ``GET /api/health`` (no auth, no database): the floor, the cheapest route
  of the same server in the same run;
- ``GET /api/jobs/{id}`` (one run read, authenticated), and the same with
  the run's ``ETag`` in ``If-None-Match`` (what a polling client sends: 304);
- ``GET /api/jobs?limit=20`` (a history page).

Each is measured idle, then while an import of ``--rows`` rows runs (a fresh
import for each route, so every measurement has one running under it; the
table says whether it was still running when wrk ended). ``--repeat`` rounds;
the table shows each route's median requests/s and p99 and their spread.

    .venv/bin/python bench/api_load.py
    .venv/bin/python bench/api_load.py --repeat 5 --seconds 10 --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WRK = "/usr/bin/wrk"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A jobport server in a subprocess; its output drained so its pipes never fill."""

    url: str
    token: str
    process: subprocess.Popen[str]

    def _started(self) -> None:
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()
        self._wait_ready()

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

    def start_import(self, path: Path) -> str:
        with open(path, "rb") as handle:
            response = httpx.post(
                f"{self.url}/api/imports/customers",
                headers=self.auth,
                files={"file": (path.name, handle, "text/csv")},
                timeout=300,
            )
        response.raise_for_status()
        run_id: str = response.json()["id"]
        return run_id

    def run(self, run_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/api/jobs/{run_id}", headers=self.auth, timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class DemoServer(Server):
    """``jobport demo`` (one server process), with no large sample written meanwhile."""

    def __init__(self, folder: Path, port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "jobport.cli", "demo", "--dir", str(folder)]
        command += ["--port", str(port), "--rows", "1000", "--live-rows", "0"]
        command += ["--log-level", "warning"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None
        printed = []
        for line in self.process.stdout:
            printed.append(line)
            if "/events" in line:
                break
        # The banner's own line: "  token      <token>" (other lines mention tokens too).
        self.token = next(line.split()[1] for line in printed if line.split()[:1] == ["token"])
        self._started()


class ServeServer(Server):
    """``jobport serve`` with its defaults (the embedded default), a user made by the CLI."""

    def __init__(
        self,
        folder: Path,
        port: int,
        env: dict[str, str],
        workers: int | None,
        log_level: str = "warning",
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **env,
            "JOBPORT_APP": "jobport.demo",
            "JOBPORT_DATABASE_URL": f"sqlite:///{folder / 'jobport.db'}",
            "JOBPORT_STORAGE_URL": str(folder / "files"),
        }
        cli = [sys.executable, "-m", "jobport.cli"]
        made = subprocess.run(
            [*cli, "users", "create", "bench", "--admin"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        self.token = made.stdout.strip().splitlines()[-1]
        command = [*cli, "serve", "--port", str(port), "--log-level", log_level]
        command += ["--workers", str(workers)] if workers else []
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self._started()


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


@dataclass
class WrkResult:
    requests_per_second: float
    p99_ms: float
    not_ok: int


def wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> WrkResult:
    """One wrk run: requests/s, p99 and the count of answers that were not 2xx/3xx."""
    command = [WRK, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    text = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    not_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if rate is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        not_ok=int(not_ok.group(1)) if not_ok else 0,
    )


def routes(server: Server, run_id: str) -> dict[str, tuple[str, dict[str, str]]]:
    """What is measured: name -> (URL, headers)."""
    etag = server.run(run_id).headers.get("etag")
    routes = {
        "GET /api/health (floor)": (f"{server.url}/api/health", {}),
        "GET /api/jobs/{id}": (f"{server.url}/api/jobs/{run_id}", server.auth),
        "GET /api/jobs?limit=20": (f"{server.url}/api/jobs?limit=20", server.auth),
    }
    if etag:
        routes["GET /api/jobs/{id} If-None-Match"] = (
            f"{server.url}/api/jobs/{run_id}",
            {**server.auth, "If-None-Match": etag},
        )
    return routes


def measure_idle(server: Server, run_id: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, (url, headers) in routes(server, run_id).items():
        results[name] = wrk(url, headers, args.seconds, args.connections)
    return results


def measure_loaded(
    server: Server, idle_run: str, big: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], list[str]]:
    """Each route while its own fresh import of ``big`` runs; the imports' states at the end."""
    results: dict[str, Any] = {}
    states: list[str] = []
    for name in routes(server, idle_run):
        run_id = server.start_import(big)
        url, headers = routes(server, run_id)[name]
        results[name] = wrk(url, headers, args.seconds, args.connections)
        run = server.run(run_id).json()
        states.append(f"{run['status']} {run['processed']}/{run['total']}")
        if run["status"] in ("queued", "running"):
            httpx.post(f"{server.url}/api/jobs/{run_id}/cancel", headers=server.auth, timeout=30)
    return results, states


def table(rounds: list[dict[str, dict[str, WrkResult]]]) -> list[str]:
    """One line per route and condition: median requests/s and p99 (min-max across rounds)."""
    lines = [
        "| route | condition | requests/s (median; min-max) | p99 ms (median; min-max) "
        "| not 2xx/3xx |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for condition in rounds[0]:
        for name in rounds[0][condition]:
            got = [one[condition][name] for one in rounds if name in one[condition]]
            rates = [r.requests_per_second for r in got]
            p99s = [r.p99_ms for r in got]
            lines.append(
                f"| {name} | {condition} | {statistics.median(rates):,.0f} "
                f"({min(rates):,.0f}-{max(rates):,.0f}) | {statistics.median(p99s):.1f} "
                f"({min(p99s):.1f}-{max(p99s):.1f}) | {sum(r.not_ok for r in got)} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each wrk run.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of the import.")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds (the table's medians).")
    parser.add_argument("--pool", type=int, default=2, help="Local pool size of each process.")
    parser.add_argument("--server", choices=("serve", "demo"), default="serve")
    parser.add_argument("--workers", type=int, help="jobport serve --workers (default: its own).")
    parser.add_argument("--idle-only", action="store_true", help="Skip the measurement under load.")
    parser.add_argument(
        "--log-level",
        default="warning",
        help="jobport serve --log-level (info: uvicorn's access log, a line per request).",
    )
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    load_before = os.getloadavg()[0]
    rounds: list[dict[str, dict[str, WrkResult]]] = []
    states: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jobport-api-bench-") as tmp:
        small, big = Path(tmp) / "small.csv", Path(tmp) / "big.csv"
        write_csv(small, 1000, dirty=0.02, seed=7)
        if not args.idle_only:
            write_csv(big, args.rows, dirty=0.02, seed=7)
        env = {**os.environ, "JOBPORT_WORKERS": str(args.pool)}
        folder, port = Path(tmp) / "server", free_port()
        server: Server = (
            DemoServer(folder, port, env)
            if args.server == "demo"
            else ServeServer(folder, port, env, args.workers, args.log_level)
        )
        try:
            run_id = server.start_import(small)
            for _ in range(args.repeat):
                one = {"idle": measure_idle(server, run_id, args)}
                if not args.idle_only:
                    one[f"{args.rows:,}-row import running"], got = measure_loaded(
                        server, run_id, big, args
                    )
                    states += got
                rounds.append(one)
        finally:
            server.stop()
    print("\n".join(table(rounds)))
    machine = {
        "server": f"jobport {args.server} --workers {args.workers or 'default'} "
        f"--log-level {args.log_level}",
        "wrk": f"-t2 -c{args.connections} -d{args.seconds:g}s",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on the machine shares the cores: the 1-minute load before and after.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "imports_when_wrk_ended": states,
    }
    print(json.dumps(machine, indent=2))


if __name__ == "__main__":
    main()
