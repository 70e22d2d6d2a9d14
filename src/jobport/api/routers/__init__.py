"""The API's routes, one module per resource, each with a module-level ``router``.

:func:`jobport.api.create_router` includes them, in this order (the OpenAPI
document's), under one prefix and with the dependencies that hand every
handler its context and caller (:mod:`jobport.api.context`). The health
checks and the signed-link download are public: no caller is asked for.
"""

from fastapi import APIRouter

from jobport.api.routers import (
    exports,
    files,
    fixes,
    health,
    imports,
    live,
    mapping,
    runs,
    schedules,
    syncs,
    templates,
    types,
    undo,
    webhooks,
)

#: Each router, and whether its routes need an authenticated caller.
ROUTERS: tuple[tuple[APIRouter, bool], ...] = (
    (health.router, False),
    (types.router, True),
    (mapping.router, True),
    (templates.router, True),
    (imports.router, True),
    (exports.router, True),
    (syncs.router, True),
    (schedules.router, True),
    (webhooks.router, True),
    (runs.router, True),
    (undo.router, True),
    (fixes.router, True),
    (live.router, True),
    (files.router, True),
    (files.shared, False),
)

__all__ = ["ROUTERS"]
