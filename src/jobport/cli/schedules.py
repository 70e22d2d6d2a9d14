"""``jobport schedules``: add, list, pause, resume and remove the schedules that start runs.

The runs themselves are started by the supervisor of the long-lived
processes (``jobport serve``, the Celery workers), at each due slot; these
commands only change what is scheduled, as the local operator.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from jobport.cli.context import operator, parse_options, state_of
from jobport.cli.output import out, print_json, status_markup
from jobport.schedules.timing import Timing

if TYPE_CHECKING:
    from jobport.schedules.model import Schedule
    from jobport.store import RunRecord

schedules_app = typer.Typer(
    help="Start sync, export, report and folder-import runs on their own.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name or id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the schedule(s) as JSON.")]


@schedules_app.command("add")
def add_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The job type to start.")],
    when: Annotated[
        str,
        typer.Argument(
            metavar="WHEN", help="A cron expression ('0 * * * *') or an interval ('every 15m')."
        ),
    ],
    name: Annotated[str | None, typer.Option(help="A name (default: the type).")] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="The time zone of a cron expression (IANA name).")
    ] = "UTC",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A type option as key=value (repeatable)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="An import's files: a folder or glob ('/data/in/*.csv', 's3://b/in/*')."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="A sync from the beginning each time.")] = (
        False
    ),
    missed: Annotated[
        str,
        typer.Option(help="After downtime: catch_up (one run for the slots missed) or skip."),
    ] = "catch_up",
    paused: Annotated[bool, typer.Option("--paused", help="Add it paused.")] = False,
    owner: Annotated[str | None, typer.Option(help="Record this owner on its runs.")] = None,
    as_json: AsJson = False,
) -> None:
    """Schedule TYPE to start at WHEN, with its options."""
    from jobport.schedules.book import parse_missed
    from jobport.schedules.model import NewSchedule

    service = state_of(ctx).service(executor="inline")
    new = NewSchedule(
        type=job_type,
        spec=when,
        name=name,
        timezone=tz,
        options=parse_options(option),
        read={"full": True} if full else {},
        source=source,
        missed=parse_missed(missed),
        enabled=not paused,
    )
    schedule = service.schedules.add(operator(owner), new)
    _show_one(schedule, as_json, "added")


@schedules_app.command("list")
def list_command(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List the schedules: when each runs next, and how its last run went."""
    from rich import box
    from rich.table import Table

    service = state_of(ctx).service(executor="inline")
    schedules = service.schedules.visible(operator())
    runs = service.schedules.last_runs(schedules)
    if as_json:
        print_json([_with_run(s, runs) for s in schedules])
        return
    table = Table(title=f"{len(schedules)} schedules", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "type", "when", "next run", "last run"):
        table.add_column(column)
    for schedule in schedules:
        table.add_row(
            escape(schedule.name),
            schedule.type,
            escape(Timing.of(schedule).describe()),
            _next(schedule),
            _last(schedule, runs),
        )
    out.print(table)


@schedules_app.command("pause")
def pause_command(ctx: typer.Context, name: Name, as_json: AsJson = False) -> None:
    """Stop a schedule from firing until it is resumed."""
    service = state_of(ctx).service(executor="inline")
    _show_one(service.schedules.pause(operator(), name), as_json, "paused")


@schedules_app.command("resume")
def resume_command(ctx: typer.Context, name: Name, as_json: AsJson = False) -> None:
    """Let a paused schedule fire again, from its next slot."""
    service = state_of(ctx).service(executor="inline")
    _show_one(service.schedules.resume(operator(), name), as_json, "resumed")


@schedules_app.command("remove")
def remove_command(ctx: typer.Context, name: Name, as_json: AsJson = False) -> None:
    """Delete a schedule; the runs it started stay."""
    service = state_of(ctx).service(executor="inline")
    _show_one(service.schedules.remove(operator(), name), as_json, "removed")


def _show_one(schedule: Schedule, as_json: bool, done: str) -> None:
    if as_json:
        print_json(schedule.to_dict())
        return
    out.print(
        f"schedule {escape(schedule.name)} ({schedule.id}) {done}: {schedule.type} "
        f"{escape(Timing.of(schedule).describe())}; next run {_next(schedule)}"
    )


def _next(schedule: Schedule) -> str:
    if not schedule.enabled:
        return "paused"
    return _local(schedule, schedule.next_fire_at)


def _last(schedule: Schedule, runs: dict[str, RunRecord]) -> str:
    last = schedule.last
    if last is None:
        return "-"
    run = runs.get(last.run_id or "")
    what = status_markup(run.status) if run is not None else str(last.outcome)
    return f"{_local(schedule, last.slot_at)} {what}" + (f" ({run.id[:8]})" if run else "")


def _local(schedule: Schedule, moment: datetime) -> str:
    """A time in the schedule's own time zone, as its cron expression reads."""
    return moment.astimezone(Timing.of(schedule).zone).strftime("%Y-%m-%d %H:%M %Z")


def _with_run(schedule: Schedule, runs: dict[str, RunRecord]) -> dict[str, Any]:
    """The schedule as JSON, its last firing with its run's status."""
    data = schedule.to_dict()
    last = schedule.last
    run = runs.get(last.run_id or "") if last else None
    if run is not None and isinstance(data["last"], dict):
        data["last"]["status"] = str(run.status)
    return data
