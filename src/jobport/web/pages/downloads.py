"""The downloads page: the user's own export and report files, and the download itself."""

from fastapi import APIRouter, Request, Response

from jobport.http.downloads import result_file_response
from jobport.web.context import Site
from jobport.web.errors import DashboardRoute
from jobport.web.runview import result_link
from jobport.web.viewer import Signed

#: Most files the page lists, newest first.
DOWNLOADS_SHOWN = 400

router = APIRouter(route_class=DashboardRoute)


@router.get("/downloads", name="dashboard_downloads")
def downloads(request: Request, site: Site, who: Signed) -> Response:
    runs, _ = site.service.exports(who.principal, limit=DOWNLOADS_SHOWN)  # newest first
    items = [(run, result_link(site.service, run, download_path(request, run.id))) for run in runs]
    return site.render(
        request, "downloads.html", who, nav="downloads", items=items, labels=site.labels()
    )


@router.get("/runs/{run_id}/download", name="dashboard_download")
def download(run_id: str, site: Site, who: Signed) -> Response:
    found = site.service.result_of(who.principal, run_id)
    return result_file_response(site.service, found)


def download_path(request: Request, run_id: str) -> str:
    return request.url_for("dashboard_download", run_id=run_id).path
