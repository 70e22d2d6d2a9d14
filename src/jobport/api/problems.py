"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers with has the same shape, so a client needs one
error path: ``type`` (a stable identifier), ``title``, ``status``, ``detail``
(what was wrong and what to do, straight from the :class:`JobportError`
message) and ``instance`` (the request path). Validation errors add
``errors`` with the location of each problem.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from jobport.errors import JobportError

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
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return problem(exc.status_code, exc.title, exc.message, instance=instance, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the problem bodies a route may answer."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": _TEXT[status],
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json body (call it on an embedding app too)."""

    async def jobport_error(connection: HTTPConnection, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, JobportError)
        return problem_for(exc, connection.url.path)

    async def http_error(connection: HTTPConnection, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, HTTPException)
        title = _TEXT.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem(
            exc.status_code,
            title,
            detail,
            instance=connection.url.path,
            headers=dict(exc.headers or {}),
        )

    async def validation_error(connection: HTTPConnection, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, RequestValidationError | WebSocketRequestValidationError)
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

    async def unexpected(connection: HTTPConnection, exc: Exception) -> ProblemResponse:
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
    500: "Internal error",
    503: "Service unavailable",
}
