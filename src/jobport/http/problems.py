"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers with has the same shape, so a client needs one
error path: ``type`` (a stable identifier), ``title``, ``status``, ``detail``
(what was wrong and what to do, straight from the :class:`JobportError`
message) and ``instance`` (the request path). Validation errors add
``errors`` with the location of each problem.
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
    websocket_request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from jobport.errors import JobportError
from jobport.http.throttle import TooManyFailures

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:jobport:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A stable identifier of the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What was wrong with this request and what to do about it.")
    instance: str | None = Field(default=None, description="The path of the request.")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body = {
        "type": PROBLEM_TYPE_PREFIX + _slug(title),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_for(exc: JobportError, instance: str | None = None) -> ProblemResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if isinstance(exc, TooManyFailures):
        headers["Retry-After"] = str(exc.retry_after)
    return problem(exc.status_code, exc.title, exc.message, instance=instance, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the problem bodies a route may answer.

    A route that may answer 401 may also answer 429: a client that sent too
    many wrong tokens is refused for a while (:mod:`jobport.http.throttle`).
    """
    if 401 in statuses:
        statuses = (*statuses, 429)
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": _TEXT[status],
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI, *, prefix: str | None = None) -> None:
    """Make errors problem+json bodies: every error of ``app``, or only jobport's.

    A standalone jobport app answers every error this way. An application that
    mounts jobport's router under ``prefix`` (e.g. ``"/api"``, or wherever it
    included it) passes that prefix: requests under it answer problem+json,
    and the application's own routes keep the handlers the app had when this
    was called (FastAPI's defaults if none). A :class:`JobportError` is always
    a problem, wherever it is raised: it carries the message meant for people.
    """
    scoped = prefix.rstrip("/") if prefix else None

    def ours(connection: HTTPConnection) -> bool:
        if scoped is None:
            return True
        path = connection.url.path
        return path == scoped or path.startswith(scoped + "/")

    previous = {
        cls: app.exception_handlers.get(cls, default)
        for cls, default in (
            (HTTPException, http_exception_handler),
            (RequestValidationError, request_validation_exception_handler),
            (WebSocketRequestValidationError, websocket_request_validation_exception_handler),
            (Exception, _plain_internal_error),
        )
    }

    async def jobport_error(connection: HTTPConnection, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, JobportError)
        return problem_for(exc, connection.url.path)

    async def http_error(connection: HTTPConnection, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not ours(connection):
            return await _call(previous[HTTPException], connection, exc)
        title = _TEXT.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem(
            exc.status_code,
            title,
            detail,
            instance=connection.url.path,
            headers=dict(exc.headers or {}),
        )

    async def validation_error(connection: HTTPConnection, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError | WebSocketRequestValidationError)
        if not ours(connection):
            return await _call(previous[type(exc)], connection, exc)
        errors = [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors)
        return problem(422, "Invalid request", detail, instance=connection.url.path, errors=errors)

    async def unexpected(connection: HTTPConnection, exc: Exception) -> Response:
        if not ours(connection):
            return await _call(previous[Exception], connection, exc)
        log.exception("unhandled error on %s", connection.url.path, exc_info=exc)
        return problem(
            500,
            "Internal error",
            "the server failed on this request; the error was logged",
            instance=connection.url.path,
        )

    app.add_exception_handler(JobportError, jobport_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


async def _call(handler: Any, connection: HTTPConnection, exc: Exception) -> Response:
    """An exception handler as Starlette calls it: plain functions and coroutines alike.

    (A WebSocket's handler closes the socket and returns nothing.)
    """
    result = handler(connection, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


async def _plain_internal_error(connection: HTTPConnection, exc: Exception) -> Response:
    """Starlette's own answer to an unhandled error (its traceback goes to the log)."""
    log.exception("unhandled error on %s", connection.url.path, exc_info=exc)
    return PlainTextResponse("Internal Server Error", status_code=500)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "error"


_TEXT: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
