"""The history page: runs newest first, filtered by kind, type, status, owner and days.

A filter the page cannot read is named above the table and left out, rather
than refusing the page; a user who is not an admin sees their own runs whatever
the filter says (the service's rule).
"""

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from jobport.registry import KINDS
from jobport.store import RunFilter
from jobport.store.records import RUN_STATUSES
from jobport.web.context import Site
from jobport.web.errors import DashboardRoute
from jobport.web.runview import progress
from jobport.web.viewer import Signed

HISTORY_PAGE = 25

router = APIRouter(route_class=DashboardRoute)


@router.get("/history", name="dashboard_history")
def history(
    request: Request,
    site: Site,
    who: Signed,
    kind: str = "",
    type: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
    owner: str = "",
    page: int = 1,
) -> Response:
    page_no = max(1, page)
    problems: list[str] = []
    since_at = day_start(since, "From", problems)
    until_day = day_start(until, "To", problems)
    if kind and kind not in KINDS:
        problems.append(f"unknown kind '{kind}'")
        kind = ""
    if status and status not in RUN_STATUSES:
        problems.append(f"unknown status '{status}'")
        status = ""
    if not who.principal.is_admin:
        owner = ""
    chosen = RunFilter(
        kind=kind or None,
        type=type or None,
        status=status or None,
        owner=owner or None,
        since=since_at,
        until=until_day + timedelta(days=1) if until_day else None,
    )
    offset = (page_no - 1) * HISTORY_PAGE
    runs, total = site.service.history(who.principal, chosen, limit=HISTORY_PAGE, offset=offset)
    asked = {"kind": kind, "type": type, "status": status, "since": since, "until": until}
    query = {k: v for k, v in {**asked, "owner": owner}.items() if v}
    return site.render(
        request,
        "history.html",
        who,
        nav="history",
        runs=[progress(r) | {"run": r} for r in runs],
        total=total,
        page_no=page_no,
        pages=max(1, math.ceil(total / HISTORY_PAGE)),
        query=query,
        page_link=lambda n: "?" + urlencode({**query, "page": n}),
        kinds=KINDS,
        types=sorted(site.service.job_types(), key=lambda t: t.label.lower()),
        statuses=RUN_STATUSES,
        problems=problems,
        labels=site.labels(),
    )


def day_start(text: str, name: str, problems: list[str]) -> datetime | None:
    """Midnight UTC of a YYYY-MM-DD filter; a problem noted when it is not a date."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        problems.append(f"{name}: '{text}' is not a date (YYYY-MM-DD)")
        return None
    return day.replace(tzinfo=UTC)
