"""The home page: the runs in progress and the statistics of the chosen period.

The figures come from the store through the service (:meth:`JobService.run_stats`);
this module only lays them out as four charts, each drawn wide and narrow.
"""

from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from jobport.store.jobstore import RunStats
from jobport.web import charts, filters
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.runview import progress
from jobport.web.viewer import Signed

STAT_PERIODS = (7, 14, 30)

router = APIRouter(route_class=DashboardRoute)


@router.get("/", name="dashboard_home")
def home(request: Request, site: Site, who: Signed, days: int = 14) -> Response:
    days = days if days in STAT_PERIODS else 14
    now = datetime.now(UTC)
    since = datetime.combine(now.date() - timedelta(days=days - 1), time(), UTC)
    stats = site.service.run_stats(who.principal, since=since, until=now)
    labels = {t.type: site.label_of(t.type) for t in stats.types}
    order = sorted(stats.volume, key=lambda t: (labels.get(t, t), t))
    finished = sum(t.finished for t in stats.types)
    succeeded = sum(t.completed + t.with_errors for t in stats.types)
    failed = sum(t.failed for t in stats.types)
    context = {
        "nav": "home",
        "days": days,
        "periods": STAT_PERIODS,
        "stats": stats,
        "labels": labels,
        "series": {t: charts.series_class(n) for n, t in enumerate(order)},
        "success_rate": succeeded / finished if finished else None,
        "failure_rate": failed / finished if finished else None,
        "rows": sum(t.rows for t in stats.types),
        **dashboard_charts(stats, labels, order),
        **active_context(site, who),
    }
    return site.render(request, "dashboard.html", who, **context)


@router.get("/fragments/active", name="dashboard_active")
def active_fragment(request: Request, site: Site, who: Signed) -> Response:
    return site.render(request, "_active.html", who, **active_context(site, who))


def active_context(site: Dashboard, who: Viewer) -> dict[str, Any]:
    runs = site.service.active_runs(who.principal)
    return {"active": [progress(r) | {"run": r} for r in runs]}


def dashboard_charts(stats: RunStats, labels: dict[str, str], order: list[str]) -> dict[str, Any]:
    """The four charts of the dashboard, each drawn wide and narrow."""
    finished = sum(t.finished for t in stats.types)
    succeeded = sum(t.completed + t.with_errors for t in stats.types)
    volume = {t: stats.volume[t] for t in order}
    outcomes = [
        (
            labels[t.type],
            [
                charts.Segment("outcome-completed", t.completed, "completed"),
                charts.Segment("outcome-errors", t.with_errors, "completed with errors"),
                charts.Segment("outcome-failed", t.failed, "failed"),
                charts.Segment("outcome-cancelled", t.cancelled, "cancelled"),
            ],
        )
        for t in stats.types
    ]
    durations = [
        (
            labels[t.type],
            [
                ("bar-p50", t.p50_seconds, f"p50 {filters.duration(t.p50_seconds)}"),
                ("bar-p95", t.p95_seconds, f"p95 {filters.duration(t.p95_seconds)}"),
            ],
        )
        for t in stats.types
    ]
    speeds = [
        (
            labels[t.type],
            [("bar-speed", t.rows_per_second, f"{filters.rate(t.rows_per_second)} rows/s")],
        )
        for t in stats.types
    ]
    return {
        "volume_chart": charts.responsive(
            lambda width: charts.volume_chart(stats.days, volume, labels, width)
        ),
        "outcome_chart": charts.responsive(
            lambda width: charts.stacked_bars(
                "Outcome of finished runs, by type",
                outcomes,
                summary=f"{succeeded} of {finished} finished runs succeeded",
                width=width,
            )
        ),
        "duration_chart": charts.responsive(
            lambda width: charts.value_bars(
                "Duration of completed runs (p50 and p95), by type",
                durations,
                summary="median and 95th percentile durations per type",
                width=width,
            )
        ),
        "speed_chart": charts.responsive(
            lambda width: charts.value_bars(
                "Rows per second, by type",
                speeds,
                summary="rows processed per second of run time, per type",
                width=width,
            )
        ),
    }
