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
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from jobport.cli.context import Context


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
    from jobport.errors import ConfigurationError
    from jobport.executors.celery import QueueRouter, create_app
    from jobport.registry import load_registry

    state = _context(ctx)
    if broker_url is not None:
        state.overrides["broker_url"] = broker_url
    settings = state.settings()
    if not settings.broker_url:
        raise ConfigurationError(
            "jobport worker needs a broker: set JOBPORT_BROKER_URL or --broker-url"
        )
    registry = load_registry(settings.app)
    if not len(registry):
        raise ConfigurationError(
            "no job types to work on: point --app (or JOBPORT_APP) at the module that declares them"
        )
    celery_app = create_app(settings, registry=registry)
    names = (
        [q.strip() for q in queues.split(",")]
        if queues
        else QueueRouter(settings, registry).queues()
    )
    argv = [
        "worker",
        f"--concurrency={concurrency or os.cpu_count() or 1}",
        f"--queues={','.join(n for n in names if n)}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={max_tasks_per_child}")
    if metrics_port is None:
        celery_app.worker_main(argv)
        return
    from jobport.metrics import serve_worker_metrics, shared_folder

    with shared_folder():  # the pool's processes count into it; the port serves the sum
        serve_worker_metrics(metrics_port)
        celery_app.worker_main(argv)
