"""``jobport webhooks``: in-process through Typer as the operator, and once through ``main``
as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import Api, items_csv
from tests.webhooks.conftest import Receiver, deliver
from typer.testing import CliRunner

from jobport.cli import app as cli_app


def cli(api: Api, *args: str) -> Any:
    settings = api.engine.settings
    options = ["--app", "tests.api.live_app", "--database-url", settings.database_url]
    options += ["--storage-url", settings.storage_url]
    return CliRunner().invoke(cli_app, [*options, "webhooks", *args])


def test_the_cli_manages_subscriptions_as_the_operator(
    api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBPORT_WEBHOOKS_ALLOW_PRIVATE", "true")
    added = cli(api, "add", receiver.hook("cli"), "--event", "run.completed", "--json")
    assert added.exit_code == 0, added.output
    hook = re.search(r'"id": "([^"]+)"', added.output)
    secret = re.search(r'"secret": "(whsec_[^"]+)"', added.output)
    assert hook is not None
    assert secret is not None
    receiver.secrets["/cli"] = secret.group(1)
    short = hook.group(1)[:8]

    listed = cli(api, "list")
    assert hook.group(1) in listed.output
    assert "active" in listed.output
    assert cli(api, "pause", short, "--reason", "maintenance").exit_code == 0
    assert (
        '"paused_reason": "paused by the operator: maintenance"'
        in cli(api, "list", "--json").output
    )
    assert cli(api, "resume", short).exit_code == 0

    run = api.upload("items", items_csv(20), user="bob").json()  # the operator hears of all
    assert deliver(api) == 1
    assert receiver.messages("/cli")[0].error is None
    log = cli(api, "deliveries", short, "--json")
    assert '"status": "succeeded"' in log.output
    assert run["id"] in log.output
    replay = cli(api, "replay", short, "--run", run["id"][:8])
    assert "1 message(s)" in replay.output, replay.output
    both = cli(api, "replay", short)
    assert both.exit_code != 0
    assert cli(api, "remove", short).exit_code == 0
    assert "no webhook subscription" in cli(api, "list").output


def test_the_cli_says_what_was_wrong_in_one_line(tmp_path: Path) -> None:
    """Through ``main``, as a user runs it: an error line and an exit code, no traceback."""
    env = {
        **os.environ,
        "JOBPORT_APP": "tests.apps.people",
        "JOBPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "JOBPORT_STORAGE_URL": str(tmp_path / "files"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "jobport.cli", "webhooks", "add", "http://10.0.0.8/in"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],  # where tests.apps imports from
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: the host '10.0.0.8' is a private address")
    assert "Traceback" not in done.stderr
