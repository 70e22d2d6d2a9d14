"""The web dashboard: server-rendered pages (Jinja2 + vendored htmx), no build step.

Mount it with ``app.include_router(dashboard_router(engine))``;
:func:`jobport.server.create_app` does so at ``/``. See ``docs/dashboard.md``.
"""

from jobport.web.router import dashboard_router
from jobport.web.session import SessionSigner

__all__ = ["SessionSigner", "dashboard_router"]
