"""Helpers of the dashboard's browser tests: the server as a subprocess, and Chromium.

The server is ``jobport serve`` (uvicorn, the demo app, SQLite, the local
process pool) in a temporary folder, on 127.0.0.1 and a free port, exactly
as a user starts it. Its users are created with ``jobport users create``.
The browser is Debian's ``chromium`` driven by Playwright; a downloaded
browser is never used. Without it the tests skip, except in CI (``CI=true``)
where they fail: a missing browser must not pass silently there.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
#: The widths every page is looked at: a laptop and a phone.
VIEWPORTS = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
START_SECONDS = 60


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_browser() -> None:
    """Skip (or fail in CI) unless Playwright and Debian's chromium are installed."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Playwright for Python is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(
            f"{CHROMIUM} is missing (apt-get update && apt-get install -y chromium; "
            ".ci/run does it)"
        )
    if not problems:
        return
    message = "; ".join(problems)
    if in_ci():
        pytest.fail(f"{message}; CI=true, so the browser tests fail rather than skip")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DashboardServer:
    """``jobport serve`` in ``folder``; ``tokens`` maps user names to their API tokens."""

    folder: Path
    port: int = field(default_factory=free_port)
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
        env.update(
            {
                "JOBPORT_DATABASE_URL": f"sqlite:///{self.folder / 'jobport.db'}",
                "JOBPORT_STORAGE_URL": str(self.folder / "files"),
                "JOBPORT_APP": "jobport.demo",
                "JOBPORT_EXECUTOR": "local",
                "JOBPORT_WORKERS": "2",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            }
        )
        return env

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "jobport.cli", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def create_user(self, name: str, *, admin: bool = False) -> str:
        token = self.cli("users", "create", name, *(["--admin"] if admin else []))
        self.tokens[name] = token
        return token

    def start(self) -> None:
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobport.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)  # polling for readiness, not waiting on a guess
        raise AssertionError(f"the server did not answer within {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def api(self, user: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.tokens[user]}"},
            timeout=30,
        )

    def wait_finished(self, run_id: str, user: str = "admin", timeout: float = 120) -> Any:
        """Poll the API until the run ends (what a client of the polling strategy does)."""
        deadline = time.monotonic() + timeout
        with self.api(user) as client:
            while time.monotonic() < deadline:
                run = client.get(f"/api/jobs/{run_id}").json()
                if run["status"] not in ("queued", "running"):
                    return run
                time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish in {timeout} s:\n{self.log()}")


@contextlib.contextmanager
def running_server(folder: Path, *, bob: bool = True) -> Iterator[DashboardServer]:
    """A started server with its admin (and, unless told, the user bob: each costs a CLI start)."""
    server = DashboardServer(folder)
    server.create_user("admin", admin=True)
    if bob:
        server.create_user("bob")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (skips or fails as require_browser)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str) -> list[Path]:
    """Full-page screenshots of the current page at each width; returns the files."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []
    original = page.viewport_size
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.wait_for_load_state("networkidle")
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    if original:
        page.set_viewport_size(original)
    return taken


def watch_errors(page: Any) -> list[str]:
    """The page's script errors and console errors (a CSP refusal among them), as they come.

    A "Failed to load resource" line is left out: it is the browser's echo of an
    HTTP error status, which a test that asked for a 4xx expects.
    """
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: _console_error(errors, message))
    return errors


def _console_error(errors: list[str], message: Any) -> None:
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)
