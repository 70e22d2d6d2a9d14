"""``jobport worker``: a Celery worker with the app's job types loaded.

It consumes every queue the app routes to (the default queue, the job types'
own queues and those of ``JOBPORT_TYPE_QUEUES`` / ``JOBPORT_KIND_QUEUES``)
unless ``--queues`` names some. Each pool process builds only what a worker
needs (:mod:`jobport.wiring`) on its first chunk; the main process runs the
one supervisor (:mod:`jobport.recovery`) that puts back the chunks of workers
that died and sends again the deliveries the broker lost.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from jobport.cli.context import Context
    from jobport.registry import JobRegistry
    from jobport.settings import Settings


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``jobport`` app."""
    app.command("worker")(worker)


def _context(ctx: typer.Context) -> Context:
    # The root callback's state object (duck-typed: under ``python -m jobport.cli`` its
    # class lives in ``__main__``, not in ``jobport.cli``).
    state: Context = ctx.find_root().obj
    assert hasattr(state, "settings"), "the jobport callback sets the context"
    return state


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=0, help="Pool processes (0: one per core).")
    ] = 0,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues", "-Q", help="Comma-separated queues to consume (default: every routed one)."
        ),
    ] = None,
    broker_url: Annotated[
        str | None,
        typer.Option(help="Celery broker URL (env JOBPORT_BROKER_URL).", show_default=False),
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "info",
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="Worker node name.", show_default=False)
    ] = None,
    max_tasks_per_child: Annotated[
        int | None,
        typer.Option(
            min=1, help="Replace a pool process after this many chunks.", show_default=False
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve the pool's Prometheus metrics on this port (/metrics).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a Celery worker that processes chunks of runs started with executor=celery."""
    from jobport.executors.celery import QueueRouter, create_app

    state = _context(ctx)
    if broker_url is not None:
        state.overrides["broker_url"] = broker_url
    settings = state.settings()
    registry = _worker_registry(settings)
    celery_app = create_app(settings, registry=registry)
    names = (
        [q.strip() for q in queues.split(",")]
        if queues
        else QueueRouter(settings, registry).queues()
    )
    argv = _celery_argv(
        names,
        concurrency=concurrency,
        pool=pool,
        loglevel=loglevel,
        hostname=hostname,
        max_tasks_per_child=max_tasks_per_child,
    )
    _run_worker(celery_app, argv, metrics_port)


def _worker_registry(settings: Settings) -> JobRegistry:
    """The app's job types, once the settings name a broker to take chunks from and
    the app declares something to work on: either missing is a configuration error."""
    from jobport.errors import ConfigurationError
    from jobport.registry import load_registry

    if not settings.broker_url:
        raise ConfigurationError(
            "jobport worker needs a broker: set JOBPORT_BROKER_URL or --broker-url"
        )
    registry = load_registry(settings.app)
    if not len(registry):
        raise ConfigurationError(
            "no job types to work on: point --app (or JOBPORT_APP) at the module that declares them"
        )
    return registry


def _celery_argv(
    queues: list[str],
    *,
    concurrency: int,
    pool: str,
    loglevel: str,
    hostname: str | None,
    max_tasks_per_child: int | None,
) -> list[str]:
    """Celery's own command line for this worker (``concurrency`` 0: one process per core)."""
    argv = [
        "worker",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--queues={','.join(n for n in queues if n)}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={max_tasks_per_child}")
    return argv


def _run_worker(celery_app: Any, argv: list[str], metrics_port: int | None) -> None:
    """Run the Celery app's worker until it stops; with ``metrics_port``, the pool's
    processes count into one shared folder and the port serves their sum."""
    if metrics_port is None:
        celery_app.worker_main(argv)
        return
    from jobport.metrics import serve_worker_metrics, shared_folder

    with shared_folder():
        serve_worker_metrics(metrics_port)
        celery_app.worker_main(argv)
