"""The webhooks pages: the subscriptions (add, pause, resume, remove) and one's deliveries.

A user sees and manages their own subscriptions, an admin everyone's; another
user's answers 404 like a missing one (the rules are
:mod:`jobport.webhooks.service`'s). The signing secret is shown on the page
that answers the form adding a subscription, and never again.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobport.errors import InputError, shown
from jobport.store.webhooks import SubscriptionRecord
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute, NotFound
from jobport.web.session import CSRF_FIELD
from jobport.web.viewer import Signed, require_csrf
from jobport.webhooks.events import DEFAULT_EVENT_TYPES, EVENT_TYPES
from jobport.webhooks.service import webhooks_of

#: Deliveries a subscription's page lists, newest first.
DELIVERIES_SHOWN = 50

router = APIRouter(route_class=DashboardRoute)


@router.get("/webhooks", name="dashboard_webhooks")
def webhooks_page(request: Request, site: Site, who: Signed) -> Response:
    return site.render(request, "webhooks.html", who, **webhooks_context(site, who))


def webhooks_context(
    site: Dashboard,
    who: Viewer,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    created: SubscriptionRecord | None = None,
) -> dict[str, Any]:
    values = values or {"url": "", "events": list(DEFAULT_EVENT_TYPES), "types": []}
    return {
        "nav": "webhooks",
        "subscriptions": webhooks_of(site.service).subscriptions(who.principal),
        "event_types": EVENT_TYPES,
        "job_types": site.service.job_types(),
        "values": values,
        "form_error": error,
        "created": created,
    }


@router.post("/webhooks/add", name="dashboard_webhook_add")
async def webhook_add(request: Request, site: Site, who: Signed) -> Response:
    form = await request.form()
    require_csrf(who, _text(form.get(CSRF_FIELD)))
    url = _text(form.get("url")) or ""
    events = [_text(v) or "" for v in form.getlist("event")]
    types = [_text(v) or "" for v in form.getlist("type")]
    try:
        created = await run_in_threadpool(
            webhooks_of(site.service).add, who.principal, url, events=events, types=types
        )
    except InputError as exc:
        values = {"url": url, "events": events, "types": types}
        context = await run_in_threadpool(
            webhooks_context, site, who, values=values, error=exc.message
        )
        return site.render(request, "webhooks.html", who, 422, **context)
    context = await run_in_threadpool(webhooks_context, site, who, created=created)
    return site.render(request, "webhooks.html", who, 201, **context)


@router.get("/webhooks/{hook_id}", name="dashboard_webhook")
def webhook_page(
    request: Request, hook_id: str, site: Site, who: Signed, status: str | None = None
) -> Response:
    hooks = webhooks_of(site.service)
    found = hooks.subscription(who.principal, hook_id)
    items, total = hooks.deliveries(
        who.principal, found.id, status=status or None, limit=DELIVERIES_SHOWN
    )
    return site.render(
        request,
        "webhook.html",
        who,
        nav="webhooks",
        hook=found,
        deliveries=items,
        total=total,
        status=status or "",
        labels=site.labels(),
    )


@router.post("/webhooks/{hook_id}/deliveries/{delivery_id}/replay", name="dashboard_webhook_replay")
async def webhook_replay(
    request: Request, hook_id: str, delivery_id: int, site: Site, who: Signed
) -> Response:
    form = await request.form()
    require_csrf(who, _text(form.get(CSRF_FIELD)))
    await run_in_threadpool(webhooks_of(site.service).replay, who.principal, hook_id, delivery_id)
    return _see(request, "dashboard_webhook", hook_id=hook_id)


@router.post("/webhooks/{hook_id}/{action}", name="dashboard_webhook_action")
async def webhook_action(
    request: Request, hook_id: str, action: str, site: Site, who: Signed
) -> Response:
    form = await request.form()
    require_csrf(who, _text(form.get(CSRF_FIELD)))
    hooks = webhooks_of(site.service)
    if action == "pause":
        await run_in_threadpool(hooks.pause, who.principal, hook_id, _text(form.get("reason")))
    elif action == "resume":
        await run_in_threadpool(hooks.resume, who.principal, hook_id)
    elif action == "remove":
        await run_in_threadpool(hooks.remove, who.principal, hook_id)
        return _see(request, "dashboard_webhooks")
    else:
        raise NotFound(f"there is no webhook action '{shown(action)}'")
    return _see(request, "dashboard_webhook", hook_id=hook_id)


def _see(request: Request, name: str, **params: str) -> Response:
    """After a form: back to the page (303, so a reload does not post it again)."""
    return RedirectResponse(request.url_for(name, **params).path, status_code=303)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
