"""``deploy/compose.yaml`` checked without Docker: what it declares, and what it runs.

- Statically: every ``JOBPORT_*`` variable it sets (or shows in a comment) is a
  setting of :class:`jobport.settings.Settings` and validates; every command of
  a service of the jobport image (and the Dockerfile's ``CMD``, and the
  ``users create`` line of its header) is a ``jobport`` command whose options
  parse, and ``jobport <command> --help`` exits 0; the API's healthcheck asks a
  route of the API on the port the API listens on; services name each other
  and wait for each other the way the commands need.
- Live: the environment of the file, with ``${VAR:-default}`` resolved to the
  default, host ``postgres`` replaced by a fresh database on this machine's
  PostgreSQL, host ``redis`` by this machine's Redis (databases of this test's
  own) and the shared volume by a folder. Then the services' commands run in
  the file's order: ``migrate`` creates the state tables and exits 0; the
  ``worker`` and the ``api`` start; once the healthcheck URL answers 200, a
  user uploads a customers CSV through the API, and the run finishes with
  exact counts and rows, executed by the Celery worker process.

Every process is stopped at teardown (SIGTERM, then SIGKILL after a timeout),
its log printed when the test failed. Nothing sleeps to synchronise: waits poll
a condition against a deadline.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
import sqlalchemy as sa
import typer.main
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the dev extra
from tests.conftest import MakeJobport

from jobport.cli import app as cli_app
from jobport.demo import customers
from jobport.demo import registry as demo_registry
from jobport.demo.data import generate, write_csv
from jobport.events_redis import EVENTS_CHANNEL, RUN_CHANNEL
from jobport.executors.celery import TASK_NAME
from jobport.server import create_app
from jobport.settings import ENV_PREFIX, Settings
from jobport.store import make_engine
from jobport.store.records import FINAL_STATUSES
from jobport.store.tables import job_runs
from jobport.store.tables import metadata as state_tables

from .conftest import ROOT, Workers, free_port, wait_until, worker_environment
from .test_celery import EventListener

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"
#: The image's ``jobport``: the console script installed beside this interpreter.
JOBPORT = str(Path(sys.executable).parent / "jobport")
#: How the compose file's header creates the first user (``docker compose run --rm api ...``).
ADMIN_COMMAND = ["jobport", "users", "create", "admin", "--admin"]
#: The services of the jobport image this test runs.
SERVICES = ("migrate", "api", "worker")
#: This test's Redis databases in place of the file's (0: broker, 1: events). Other
#: tests use 0 and 13 (tests/scaleout/conftest.py), the benchmarks 14.
LOCAL_REDIS_DB = {0: 11, 1: 12}
#: Every name ``JOBPORT_<FIELD>`` that Settings reads from the environment.
SETTING_VARIABLES = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}

CUSTOMERS = demo_registry.get("customers")
ROWS = 2 * CUSTOMERS.chunk_size + 5_000  # three chunks, the last one short
CHUNKS = math.ceil(ROWS / CUSTOMERS.chunk_size)
DIRTY = 0.01
SEED = 23


# -- the file ---------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?-)([^}]*))?\}|(\w+))")


def _default(match: re.Match[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    if match.group(2) is None:
        pytest.fail(
            f"{match.group(0)} in {COMPOSE.name} has no default: without an .env file "
            "`docker compose up` would make it empty"
        )
    return match.group(3)


def interpolate(value: Any) -> Any:
    """``value`` with every ``${VAR:-default}`` (or ``${VAR-default}``) set to its default."""
    if isinstance(value, str):
        return _VARIABLE.sub(_default, value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


def load_compose() -> dict[str, Any]:
    """The compose file as Compose reads it: anchors and ``<<`` merged, variables resolved."""
    loaded: dict[str, Any] = interpolate(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))
    return loaded


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list form) as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def jobport_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the jobport image (the ``x-jobport`` anchor's image)."""
    image = compose["x-jobport"]["image"]
    services: dict[str, dict[str, Any]] = {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == image
    }
    assert set(SERVICES) <= set(services), f"services of the image {image}: {sorted(services)}"
    return services


def files_mount(compose: Mapping[str, Any]) -> str:
    """Where the shared ``files`` volume is mounted in the jobport containers."""
    mounts = dict(volume.split(":", 1) for volume in compose["x-jobport"]["volumes"])
    target: str = mounts["files"].split(":", 1)[0]
    return target


def healthcheck_url(service: Mapping[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    found = re.search(r"https?://[^'\"\s)]+", test)
    assert found is not None, f"no URL in the healthcheck {test!r}"
    return found.group(0)


def option(command: list[str], name: str) -> str:
    assert name in command, f"{name} is not in {command}"
    return command[command.index(name) + 1]


def with_options(command: list[str], values: Mapping[str, str]) -> list[str]:
    """``command`` with the values of some of its options replaced (each must be there)."""
    changed = list(command)
    for name, value in values.items():
        option(command, name)
        changed[changed.index(name) + 1] = value
    return changed


def executable(command: list[str]) -> list[str]:
    assert command[:1] == ["jobport"], f"{command} does not run jobport"
    return [JOBPORT, *command[1:]]


def dockerfile_cmd() -> list[str]:
    (line,) = (line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    command: list[str] = json.loads(line.removeprefix("CMD "))
    return command


# -- static checks ----------------------------------------------------------------------------


def test_every_jobport_variable_is_a_setting_and_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = load_compose()
    where: dict[str, list[str]] = {}
    for key in environment_of(compose["x-jobport"]):
        where.setdefault(key, []).append("x-jobport")
    for name, service in compose["services"].items():
        for key in environment_of(service):
            where.setdefault(key, []).append(f"services.{name}")
    # The commented-out alternatives (S3 storage) are settings to copy: real ones too.
    for key in re.findall(r"^\s*#\s*(JOBPORT_\w+)\s*:", COMPOSE.read_text(), re.MULTILINE):
        where.setdefault(key, []).append("a comment")
    named = {key: places for key, places in where.items() if key.startswith("JOBPORT_")}
    assert named, "the compose file sets no JOBPORT_* variable"
    unknown = {key: places for key, places in named.items() if key not in SETTING_VARIABLES}
    assert not unknown, f"not settings of jobport.settings.Settings: {unknown}"

    for name, service in jobport_services(compose).items():
        with monkeypatch.context() as env:
            for key in [k for k in os.environ if k.startswith("JOBPORT_")]:
                env.delenv(key)
            for key, value in environment_of(service).items():
                env.setenv(key, value)
            settings = Settings()  # what each process of the service reads
        assert settings.app == "jobport.demo", name
        assert settings.executor == "celery", name
        assert settings.database_url.startswith("postgresql://"), name
        assert settings.broker_url, name
        assert settings.redis_url, name
        assert settings.storage_url == files_mount(compose), name
        assert settings.secret_key is not None, name


def test_every_command_of_the_image_is_a_jobport_command() -> None:
    compose = load_compose()
    assert " ".join(ADMIN_COMMAND) in COMPOSE.read_text()
    commands = {
        f"services.{name}.command": command_of(service)
        for name, service in jobport_services(compose).items()
    }
    commands["Dockerfile CMD"] = dockerfile_cmd()
    commands["the header's user command"] = ADMIN_COMMAND

    root = typer.main.get_command(cli_app)
    helps: dict[str, tuple[list[str], subprocess.Popen[str]]] = {}
    for where, command in commands.items():
        assert command[:1] == ["jobport"], f"{where}: {command}"
        node: Any = root
        path: list[str] = []
        args = command[1:]
        while args and args[0] in (getattr(node, "commands", None) or {}):
            node = node.commands[args[0]]
            path.append(args.pop(0))
        if not path or getattr(node, "commands", None):
            pytest.fail(f"{where}: {shlex.join(command)} is not a jobport command")
        try:  # the options and their values, parsed as the CLI would (nothing runs)
            node.make_context(" ".join(["jobport", *path]), list(args))
        except Exception as exc:
            pytest.fail(f"{where}: {shlex.join(command)}: {exc}")
        asked = ["jobport", *path, "--help"]
        helps[where] = (
            asked,
            subprocess.Popen(
                executable(asked),
                env=worker_environment(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            ),
        )
    for where, (asked, process) in helps.items():
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, f"{where}: {shlex.join(asked)} failed:\n{output}"


def test_the_api_healthcheck_asks_a_route_of_the_api_on_its_port(
    make_jobport: MakeJobport,
) -> None:
    compose = load_compose()
    api = compose["services"]["api"]
    url = urlsplit(healthcheck_url(api))
    paths = create_app(make_jobport(app=None)).openapi()["paths"]
    assert "get" in paths.get(url.path, {}), f"{url.path} is not a GET route of the API"
    command = command_of(api)
    published = {str(port).rsplit(":", 1)[-1] for port in api["ports"]}
    exposed = re.findall(r"^EXPOSE\s+(\d+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert url.hostname in ("127.0.0.1", "localhost")
    ports = {"healthcheck": str(url.port), "ports": published, "EXPOSE": exposed}
    assert {str(url.port), *published, *exposed} == {option(command, "--port")}, (
        f"the API listens on {option(command, '--port')}; elsewhere: {ports}"
    )
    assert option(command, "--host") == "0.0.0.0"  # reachable from outside the container


def test_services_name_and_wait_for_each_other_as_the_commands_need() -> None:
    compose = load_compose()
    services: dict[str, Any] = compose["services"]
    for name, service in services.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on a service {needed} that is not there"
            condition = how["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no healthcheck"
            elif condition == "service_completed_successfully":
                # A one-shot: any restart policy would run it again after it completed.
                assert services[needed].get("restart") == "no", f"{needed} would restart"
    waits = {name: dict(s.get("depends_on") or {}) for name, s in services.items()}
    assert waits["migrate"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert waits[name]["migrate"]["condition"] == "service_completed_successfully"
        assert waits[name]["redis"]["condition"] == "service_healthy"

    env = environment_of(compose["x-jobport"])
    database = urlsplit(env["JOBPORT_DATABASE_URL"])
    postgres = environment_of(services["postgres"])
    assert database.hostname in services
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    broker, events = urlsplit(env["JOBPORT_BROKER_URL"]), urlsplit(env["JOBPORT_REDIS_URL"])
    assert broker.hostname in services
    assert events.hostname in services
    assert broker.path != events.path, "broker and events share a Redis database"

    mount = files_mount(compose)
    assert "files" in compose["volumes"]
    assert mount in DOCKERFILE.read_text(), "the image does not create the volume's folder"
    found = re.search(r"pip install '\.\[([\w,]+)\]'", DOCKERFILE.read_text())
    assert found is not None, "the Dockerfile installs no extras"
    extras = set(found.group(1).split(","))
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert extras <= set(declared)
    assert {"postgres", "redis", "celery"} <= extras  # the database, broker and events above


# -- live: the services' commands against this machine's services ----------------------------


@pytest.fixture
def local_redis(redis_url: str) -> Iterator[dict[int, str]]:
    """This test's Redis URL for each Redis database of the file; emptied before and after."""
    urls = {
        db: urlunsplit(urlsplit(redis_url)._replace(path=f"/{local}"))
        for db, local in LOCAL_REDIS_DB.items()
    }

    def empty() -> None:
        for url in urls.values():
            with redis.Redis.from_url(url) as client:
                client.flushdb()

    empty()
    yield urls
    empty()


def on_this_machine(
    env: Mapping[str, str], *, database_url: str, redis_dbs: Mapping[int, str], files: str
) -> dict[str, str]:
    """The containers' environment with the other services' hosts replaced by this machine's."""
    local = dict(env)
    assert urlsplit(env["JOBPORT_DATABASE_URL"]).hostname == "postgres"
    local["JOBPORT_DATABASE_URL"] = database_url
    for key in ("JOBPORT_BROKER_URL", "JOBPORT_REDIS_URL"):
        parts = urlsplit(env[key])
        assert (parts.hostname, parts.port) == ("redis", 6379), env[key]
        local[key] = redis_dbs[int(parts.path.lstrip("/") or "0")]
    local["JOBPORT_STORAGE_URL"] = files
    return {**worker_environment(), **local}


def run_once(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        executable(command),
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(150)
def test_the_services_run_against_this_machines_services(
    empty_pg_url: str,
    local_redis: dict[int, str],
    tmp_path: Path,
    workers: Workers,
) -> None:
    compose = load_compose()
    services = jobport_services(compose)
    envs = {
        name: on_this_machine(
            environment_of(services[name]),
            database_url=empty_pg_url,
            redis_dbs=local_redis,
            files=str(tmp_path / "files"),
        )
        for name in SERVICES
    }
    assert files_mount(compose) == environment_of(services["api"])["JOBPORT_STORAGE_URL"]
    state = make_engine(empty_pg_url)
    listener = EventListener(local_redis[1])
    try:
        # 1. migrate, the one-shot the others wait for.
        assert sa.inspect(state).get_table_names() == []
        migrated = run_once(command_of(services["migrate"]), envs["migrate"])
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert set(state_tables.tables) <= set(sa.inspect(state).get_table_names())

        # 2. the worker and the API, started once migrate has completed.
        worker = with_options(command_of(services["worker"]), {"--concurrency": "1"})
        workers.start("worker", envs["worker"], executable(worker))
        port = free_port()
        api = with_options(
            command_of(services["api"]),
            {"--host": "127.0.0.1", "--port": str(port), "--workers": "1"},
        )
        api_pid = workers.start("api", envs["api"], executable(api))
        health = urlsplit(healthcheck_url(services["api"]))

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def ready() -> bool:
                workers.check_alive()
                try:
                    return client.get(health.path).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout=45, what=f"{health.path} to answer 200")
            # The container's own healthcheck command, pointed at this port.
            kind, program, *args = services["api"]["healthcheck"]["test"]
            assert (kind, program) == ("CMD", "python")
            here = [arg.replace(f":{health.port}/", f":{port}/") for arg in args]
            healthy = subprocess.run(
                [sys.executable, *here], capture_output=True, text=True, timeout=30, check=False
            )
            assert healthy.returncode == 0, healthy.stderr

            # 3. the first user, then an upload through the API.
            created = run_once(ADMIN_COMMAND, envs["api"])
            assert created.returncode == 0, created.stderr
            auth = {"Authorization": f"Bearer {created.stdout.strip()}"}
            invalid = write_csv(tmp_path / "customers.csv", ROWS, dirty=DIRTY, seed=SEED)
            with open(tmp_path / "customers.csv", "rb") as handle:
                started = client.post(
                    f"/api/imports/{CUSTOMERS.type}",
                    headers=auth,
                    files={"file": ("customers.csv", handle, "text/csv")},
                )
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]

            def finished() -> dict[str, Any] | None:
                workers.check_alive()
                run: dict[str, Any] = client.get(f"/api/jobs/{run_id}", headers=auth).json()
                return run if run["status"] in FINAL_STATUSES else None

            run = wait_until(finished, timeout=90, what=f"run {run_id} to finish", interval=0.2)
            failures = client.get(f"/api/jobs/{run_id}/failures?limit=1", headers=auth).json()

        assert (run["status"], run["processed"], run["failed"]) == (
            "completed_with_errors",
            ROWS,
            invalid,
        )
        assert run["chunks_total"] == run["chunks_done"] == CHUNKS
        assert failures["total"] == invalid
        expected = {
            int(row.values[0]): row.values[1]
            for row in generate(ROWS, dirty=DIRTY, seed=SEED)
            if row.defect is None
        }
        with state.connect() as conn:
            rows = conn.execute(sa.select(customers.c.id, customers.c.email)).all()
            dispatcher = conn.execute(
                sa.select(job_runs.c.dispatcher).where(job_runs.c.id == run_id)
            ).scalar_one()
        assert dict(rows) == expected

        # 4. who did what: the API process started the run, the Celery worker ran its chunks
        # (each a jobport.run_chunk task), and published the events to the events Redis.
        assert dispatcher == f"{socket.gethostname()}:{api_pid}"
        task = re.escape(TASK_NAME)

        def tasks_done() -> list[str] | None:
            done = re.findall(rf"Task {task}\[([0-9a-f-]+)\] succeeded", workers.log("worker"))
            return done if len(done) >= CHUNKS else None

        # Logged just after the task returns, so maybe a moment after the run finished.
        done = wait_until(tasks_done, timeout=30, what=f"{CHUNKS} {TASK_NAME} tasks in the log")
        log = workers.log("worker")
        received = re.findall(rf"Task {task}\[([0-9a-f-]+)\] received", log)
        assert set(done) <= set(received)
        ready_pools = {
            int(pid)
            for pid, types in re.findall(r"worker process (\d+) ready \((\d+) job types\)", log)
            if int(types) == len(demo_registry)
        }
        assert ready_pools & workers.pool_pids("worker"), log[-4000:]
        listener.drain_until_completed(run_id)
        completed = listener.events(RUN_CHANNEL.format(run_id=run_id), run_id)[-1]
        assert (completed["event"], completed["processed"]) == ("JobCompleted", ROWS)
        assert listener.events(EVENTS_CHANNEL, run_id)[-1]["seq"] == completed["seq"]
    finally:
        listener.close()
        state.dispose()
