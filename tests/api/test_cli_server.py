"""``jobport users``, ``jobport serve`` and ``jobport demo``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner

from jobport import Jobport, Settings
from jobport.api import create_user, hash_token
from jobport.cli import Context, app
from jobport.cli.demo import live_sample_name, prepare_demo
from jobport.cli.server import settings_environment

ROOT = Path(__file__).resolve().parents[2]


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_users_create_prints_a_token_that_authenticates(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--database-url", _db(tmp_path), "users", "create", "carol", "--role", "stock"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) >= 40
    with Jobport(Settings(database_url=_db(tmp_path), executor="inline")) as engine:
        user = engine.store.user_by_token_hash(hash_token(token))
    assert user is not None
    assert (user.name, user.is_admin, user.roles) == ("carol", False, ("stock",))


def test_users_create_refuses_a_taken_name_and_users_token_replaces_the_token(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    base = ["--database-url", _db(tmp_path), "users"]
    first = runner.invoke(app, [*base, "create", "dan", "--admin"]).stdout.strip()
    again = runner.invoke(app, [*base, "create", "dan"])
    assert again.exit_code != 0
    assert "exists" in str(again.exception)
    rotated = runner.invoke(app, [*base, "token", "dan"])
    assert rotated.exit_code == 0
    new = rotated.stdout.strip()
    with Jobport(Settings(database_url=_db(tmp_path), executor="inline")) as engine:
        assert engine.store.user_by_token_hash(hash_token(first)) is None
        user = engine.store.user_by_token_hash(hash_token(new))
    assert user is not None
    assert user.is_admin
    missing = runner.invoke(app, [*base, "token", "nobody"])
    assert missing.exit_code != 0


def test_prepare_demo_sets_up_a_folder_a_sample_and_an_admin(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    setup = prepare_demo(Context(), folder, rows=300, dirty=0.1)
    sample, token, settings = setup.sample, setup.token, setup.settings
    assert sample == folder / "customers.csv"
    assert sample.read_text().count("\n") == 301
    assert settings.app == "jobport.demo"
    assert settings.executor == "local"
    assert settings.database_url == f"sqlite:///{folder / 'jobport.db'}"
    assert (setup.live_sample, setup.writer) == (None, None)  # not asked for
    second = prepare_demo(Context(), folder, rows=300).token
    with Jobport(settings, executor="inline") as engine:
        assert engine.store.user_by_token_hash(hash_token(token)) is None
        admin = engine.store.user_by_token_hash(hash_token(second))
    assert admin is not None
    assert admin.is_admin


def test_prepare_demo_writes_the_live_sample_once_in_the_background(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = prepare_demo(Context(), folder, rows=10, live_rows=2_000)
    assert first.live_sample == folder / "customers-2000.csv"
    assert first.writer is not None
    assert first.writer.wait(timeout=60) == 0
    assert first.live_sample.read_text().count("\n") == 2_001
    assert [p.name for p in folder.glob("*.part")] == []
    again = prepare_demo(Context(), folder, rows=10, live_rows=2_000)
    assert (again.live_sample, again.writer) == (first.live_sample, None)  # written once


def test_the_million_row_sample_is_named_for_its_size() -> None:
    assert live_sample_name(1_000_000) == "customers-1m.csv"
    assert live_sample_name(2_500) == "customers-2500.csv"


def test_serve_passes_the_proxy_options_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # serve exports its settings there
    base = ["--database-url", _db(tmp_path), "--storage-url", str(tmp_path / "files"), "serve"]
    port = str(_free_port())
    runner = CliRunner()
    plain = runner.invoke(app, [*base, "--port", port])
    behind = [*base, "--port", port, "--proxy-headers", "--forwarded-allow-ips", "10.0.0.5"]
    proxied = runner.invoke(app, behind)
    assert (plain.exit_code, proxied.exit_code) == (0, 0), plain.output + proxied.output
    assert [(c["proxy_headers"], c["forwarded_allow_ips"]) for c in calls] == [
        (False, None),
        (True, "10.0.0.5"),
    ]
    refused = runner.invoke(app, [*base, "--port", port, "--forwarded-allow-ips", "10.0.0.5"])
    assert refused.exit_code != 0
    assert "--forwarded-allow-ips needs --proxy-headers" in str(refused.exception)


def test_serve_starts_one_server_process_per_core_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # serve exports its settings there
    base = ["--database-url", _db(tmp_path), "--storage-url", str(tmp_path / "files"), "serve"]
    port = str(_free_port())
    runner = CliRunner()
    assert runner.invoke(app, [*base, "--port", port]).exit_code == 0
    assert runner.invoke(app, [*base, "--port", port, "--workers", "1"]).exit_code == 0
    assert [c["workers"] for c in calls] == [os.cpu_count() or 1, 1]


def test_settings_travel_to_server_processes_as_environment() -> None:
    settings = Settings(database_url="sqlite:////x.db", app="jobport.demo", create_tables=False)
    env = settings_environment(settings)
    assert env["JOBPORT_DATABASE_URL"] == "sqlite:////x.db"
    assert env["JOBPORT_APP"] == "jobport.demo"
    assert env["JOBPORT_CREATE_TABLES"] == "false"
    assert "JOBPORT_REDIS_URL" not in env


# -- the real server, as a subprocess ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_line(stream: IO[str], needle: str) -> list[str]:
    """Read lines until one contains ``needle`` (fails if the process ends first)."""
    seen = []
    for line in stream:
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed; output was:\n{''.join(seen)}")


@pytest.fixture
def start() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _jobport(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobport.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def _follow_sse(client: httpx.Client, run_id: str, token: str) -> list[dict[str, object]]:
    url = f"/api/jobs/{run_id}/events"
    with client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.timeout(180)
def test_serve_runs_the_api_with_uvicorn(
    tmp_path: Path, start: list[subprocess.Popen[str]]
) -> None:
    from jobport.demo.data import write_csv

    env = {
        "JOBPORT_DATABASE_URL": _db(tmp_path),
        "JOBPORT_STORAGE_URL": str(tmp_path / "files"),
        "JOBPORT_APP": "jobport.demo",
        "JOBPORT_WORKERS": "1",
    }
    with Jobport(Settings(**{k[8:].lower(): v for k, v in env.items()}), executor="inline") as e:
        _, token = create_user(e.store, "erin")
    port = _free_port()
    server = _jobport(["serve", "--port", str(port), "--log-level", "info"], env)
    start.append(server)
    assert server.stderr is not None
    _wait_for_line(server.stderr, "Application startup complete")
    write_csv(tmp_path / "c.csv", 12_000, dirty=0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        assert client.get("/api/health/ready").json()["database"] == "ok"
        with open(tmp_path / "c.csv", "rb") as handle:
            started = client.post(
                "/api/imports/customers",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("c.csv", handle, "text/csv")},
            )
        assert started.status_code == 202, started.text
        messages = _follow_sse(client, started.json()["id"], token)
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))  # type: ignore[type-var]
    assert messages[-1]["event"] == "JobCompleted"
    assert messages[-1]["processed"] == 12_000


@pytest.mark.timeout(180)
def test_demo_prints_the_url_and_an_admin_token_and_serves(
    tmp_path: Path, start: list[subprocess.Popen[str]]
) -> None:
    port = _free_port()
    folder = tmp_path / "demo"
    args = ["demo", "--dir", str(folder), "--port", str(port), "--rows", "500", "--live-rows", "0"]
    demo = _jobport(args, {})
    start.append(demo)
    assert demo.stdout is not None
    assert demo.stderr is not None
    printed = "".join(_wait_for_line(demo.stdout, "/events"))
    assert f"http://127.0.0.1:{port}/api" in printed
    token = next(line.split()[1] for line in printed.splitlines() if line.split()[:1] == ["token"])
    assert f"-F file=@{folder / 'customers.csv'}" in printed
    _wait_for_line(demo.stderr, "Application startup complete")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        auth = {"Authorization": f"Bearer {token}"}
        types = client.get("/api/job-types", headers=auth).json()
        assert "customers" in [t["type"] for t in types]
        with open(folder / "customers.csv", "rb") as handle:
            started = client.post(
                "/api/imports/customers", headers=auth, files={"file": ("customers.csv", handle)}
            )
        assert started.status_code == 202, started.text
        assert _follow_sse(client, started.json()["id"], token)[-1]["event"] == "JobCompleted"


def test_serve_help_states_the_workers_default_once() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if "--workers" in line]
    assert line.count("default") == 1, line
    assert "one per core" in line
    assert f"[default: {os.cpu_count()}]" not in line
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "`--workers` server processes (one per core;" in cli_doc
