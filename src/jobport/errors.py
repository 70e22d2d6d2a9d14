"""The one exception tree of jobport.

Every error a user can cause derives from :class:`JobportError` and carries a
message that says what was wrong and what to do about it. Faces (CLI, HTTP)
turn these into an exit code or a problem+json body; anything else that
escapes is a bug.
"""

from __future__ import annotations


class JobportError(Exception):
    """Root of every error jobport raises on purpose."""

    #: HTTP status a face should answer with.
    status_code: int = 400
    #: Process exit code the CLI should use.
    exit_code: int = 1
    #: Short, stable title for problem+json bodies.
    title: str = "Job error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(JobportError):
    """Settings or an app module are wrong; nothing ran."""

    title = "Configuration error"
    exit_code = 2


class MissingExtraError(ConfigurationError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'jobport[{extra}]'")


class RegistryError(JobportError):
    """A job type is missing, duplicated or declared wrongly."""

    title = "Job type error"


class UnknownJobType(RegistryError):
    status_code = 404
    title = "Unknown job type"

    def __init__(self, name: str, known: list[str]) -> None:
        listing = ", ".join(sorted(known)) or "none registered"
        super().__init__(f"unknown job type '{name}'; known types: {listing}")
        self.name = name


class DuplicateJobType(RegistryError):
    def __init__(self, name: str) -> None:
        super().__init__(f"job type '{name}' is registered twice; type keys must be unique")


class InputError(JobportError):
    """The submitted file or options cannot be processed as a whole."""

    status_code = 422
    title = "Invalid input"


class LimitExceeded(InputError):
    status_code = 413
    title = "Limit exceeded"


class RunNotFound(JobportError):
    status_code = 404
    title = "Run not found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id '{run_id}'")


class RunStateError(JobportError):
    """An action does not apply to the run in its current state."""

    status_code = 409
    title = "Run state conflict"


class LeaseLost(JobportError):
    """A chunk commit came from a worker that no longer holds the chunk's lease.

    The commit is rejected as a whole: another worker owns the chunk now.
    """

    title = "Lease lost"


class PermissionDenied(JobportError):
    status_code = 403
    title = "Forbidden"
