"""The HTTP API: an app factory, a router to mount in an existing app, auth and live progress.

Standalone::

    from jobport import Jobport
    from jobport.api import create_app

    app = create_app(Jobport())

Inside an existing FastAPI app, with its own users::

    from jobport.api import Principal, create_router, install_problem_handlers

    def current_principal(user: User = Depends(current_user)) -> Principal:
        return Principal(user.email, is_admin=user.is_staff, roles=frozenset(user.groups))

    install_problem_handlers(app, prefix="/api")  # problem+json under /api only
    app.include_router(create_router(engine, principal=current_principal))
"""

from jobport.api.app import app_from_env, create_app
from jobport.api.auth import Principal, Unauthorized, create_user, hash_token
from jobport.api.feeds import EventFeed, FeedEvent, OutboxFeed, RedisFeed
from jobport.api.problems import install_problem_handlers
from jobport.api.routes import JobportRouter, create_router

__all__ = [
    "EventFeed",
    "FeedEvent",
    "JobportRouter",
    "OutboxFeed",
    "Principal",
    "RedisFeed",
    "Unauthorized",
    "app_from_env",
    "create_app",
    "create_router",
    "create_user",
    "hash_token",
    "install_problem_handlers",
]
