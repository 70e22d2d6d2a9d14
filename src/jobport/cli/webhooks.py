"""``jobport webhooks``: subscriptions (add, list, pause, resume, remove), the deliveries
log and replays.

The CLI acts as the local operator: its subscriptions hear of every run, and
it manages everyone's. A subscription is named by its id or a unique start of
it. Deliveries are sent by long-lived processes (``jobport serve``,
``jobport worker``), not by these commands.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from jobport.cli.context import operator, state_of
from jobport.cli.output import err, out, print_json

if TYPE_CHECKING:
    from jobport.store.webhooks import DeliveryRecord, SubscriptionRecord
    from jobport.webhooks.service import WebhookService

webhooks_app = typer.Typer(
    help="Webhooks: run events posted to other systems, signed, retried, logged.",
    no_args_is_help=True,
)

HookId = Annotated[str, typer.Argument(metavar="ID", help="A subscription's id or its start.")]
AsJson = Annotated[bool, typer.Option("--json")]


def _service(ctx: typer.Context) -> WebhookService:
    from jobport.webhooks.service import webhooks_of

    return webhooks_of(state_of(ctx).service(executor="inline"))


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to post: an http(s) URL.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help="run.progress, run.completed, run.failed or run.cancelled (repeatable; "
            "default: the three that end a run).",
        ),
    ] = None,
    job_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only runs of this job type (repeatable; default: all)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Subscribe a URL to run events and print its signing secret (shown this once)."""
    record = _service(ctx).add(operator(), url, events=event or (), types=job_type or ())
    if as_json:
        print_json({**subscription_json(record), "secret": record.secret})
        return
    err.print(
        f"subscribed {record.url} to {', '.join(record.events)} "
        f"({'types: ' + ', '.join(record.types) if record.types else 'every type'}) "
        f"as {record.id}; its signing secret (shown this once):"
    )
    out.print(record.secret)


@webhooks_app.command("list")
def list_command(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List every subscription, with whether it is paused and why."""
    records = _service(ctx).subscriptions(operator())
    if as_json:
        print_json([subscription_json(r) for r in records])
        return
    if not records:
        err.print("no webhook subscription; add one with `jobport webhooks add URL`")
        return
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    for column in ("url", "events", "types", "owner", "status"):
        table.add_column(column)
    for r in records:
        state = f"[yellow]paused[/]: {r.paused_reason}" if r.paused else "[green]active[/]"
        types = ", ".join(r.types) or "all"
        table.add_row(r.id, r.url, ", ".join(r.events), types, r.owner or "-", state)
    out.print(table)


@webhooks_app.command("pause")
def pause(
    ctx: typer.Context,
    hook: HookId,
    reason: Annotated[str | None, typer.Option(help="Why (shown with the subscription).")] = None,
) -> None:
    """Stop sending to a subscription; its messages wait until it is resumed."""
    record = _service(ctx).pause(operator(), hook, reason)
    out.print(f"paused {record.id}: {record.paused_reason}")


@webhooks_app.command("resume")
def resume(ctx: typer.Context, hook: HookId) -> None:
    """Send to a subscription again: what waited goes first, in each run's order."""
    record = _service(ctx).resume(operator(), hook)
    out.print(f"resumed {record.id}")


@webhooks_app.command("remove")
def remove(ctx: typer.Context, hook: HookId) -> None:
    """Delete a subscription with its deliveries log."""
    record = _service(ctx).remove(operator(), hook)
    out.print(f"removed {record.id} ({record.url})")


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    hook: HookId,
    delivery: Annotated[
        int | None, typer.Option("--delivery", help="Show this delivery and its attempts.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="pending, succeeded or failed.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: AsJson = False,
) -> None:
    """The deliveries log of a subscription, newest first (or one delivery's attempts)."""
    service, who = _service(ctx), operator()
    if delivery is not None:
        detail = service.delivery(who, hook, delivery)
        attempts = [asdict(attempt) for attempt in detail.attempts]
        message = json.loads(detail.delivery.body)
        print_json({**delivery_json(detail.delivery), "message": message, "attempt_log": attempts})
        return
    items, total = service.deliveries(who, hook, status=status, run_id=run, limit=limit)
    if as_json:
        print_json([delivery_json(d) for d in items])
        return
    from rich import box
    from rich.table import Table

    table = Table(title=f"{len(items)} of {total} deliveries", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "run", "seq", "event", "status", "attempts", "last answer", "at"):
        table.add_column(column)
    for d in items:
        answer = d.error or (
            f"HTTP {d.status_code} in {d.response_ms:.0f} ms" if d.status_code else "-"
        )
        at = d.last_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if d.last_attempt_at else "-"
        table.add_row(
            str(d.id), d.run_id, str(d.seq), d.event_type, d.status, str(d.attempts), answer, at
        )
    out.print(table)


@webhooks_app.command("replay")
def replay(
    ctx: typer.Context,
    hook: HookId,
    delivery: Annotated[
        int | None, typer.Option("--delivery", help="Send this delivery again.")
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Send this run's events again...")
    ] = None,
    since_seq: Annotated[int, typer.Option("--since-seq", min=0, help="...from this seq on.")] = 0,
) -> None:
    """Send one delivery again (--delivery), or a run's events from a seq on (--run)."""
    from jobport.errors import InputError
    from jobport.webhooks.service import webhooks_of

    jobs, who = state_of(ctx).service(executor="inline"), operator()
    service = webhooks_of(jobs)
    if (delivery is None) == (run is None):
        raise InputError("give either --delivery N or --run RUN_ID [--since-seq N]")
    if delivery is not None:
        record = service.replay(who, hook, delivery)
        out.print(f"delivery {record.id} (run {record.run_id}, seq {record.seq}) is sent again")
        return
    assert run is not None
    count = service.replay_since(who, hook, jobs.run_id(who, run), since_seq)
    out.print(f"{count} message(s) of run {run} from seq {since_seq} are sent again")


def subscription_json(record: SubscriptionRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "url": record.url,
        "events": list(record.events),
        "types": list(record.types),
        "owner": record.owner,
        "status": "paused" if record.paused else "active",
        "paused_reason": record.paused_reason,
        "failing_since": record.failing_since,
        "created_at": record.created_at,
    }


def delivery_json(record: DeliveryRecord) -> dict[str, object]:
    """A delivery as ``--json`` prints it (its message aside: ``--delivery N`` has it)."""
    return {name: value for name, value in asdict(record).items() if name != "body"}
