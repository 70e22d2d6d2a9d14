"""The HTTP API: an app factory, a router to mount in an existing app, auth and live progress.

Standalone, with the dashboard: :func:`jobport.server.create_app`::

    from jobport import Jobport
    from jobport.server import create_app

    app = create_app(Jobport())

Inside an existing FastAPI app, with its own users::

    from jobport.api import Principal, create_router, install_problem_handlers

    def current_principal(user: User = Depends(current_user)) -> Principal:
        return Principal(user.email, is_admin=user.is_staff, roles=frozenset(user.groups))

    install_problem_handlers(app, prefix="/api")  # problem+json under /api only
    app.include_router(create_router(engine, principal=current_principal))
"""

from jobport.api.routes import JobportRouter, create_router
from jobport.http.auth import Unauthorized, create_user, hash_token
from jobport.http.feeds import EventFeed, FeedEvent, OutboxFeed, RedisFeed
from jobport.http.problems import install_problem_handlers
from jobport.principal import Principal

__all__ = [
    "EventFeed",
    "FeedEvent",
    "JobportRouter",
    "OutboxFeed",
    "Principal",
    "RedisFeed",
    "Unauthorized",
    "create_router",
    "create_user",
    "hash_token",
    "install_problem_handlers",
]
