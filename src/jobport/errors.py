"""The one exception tree of jobport.

Every error a user can cause derives from :class:`JobportError` and carries a
message that says what was wrong and what to do about it. Faces (CLI, HTTP)
turn these into an exit code or a problem+json body; anything else that
escapes is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The longest message an error carries; built from user data, it must stay small.
MAX_MESSAGE_CHARS = 2_000
#: The longest piece of user data (a name, a value) quoted inside a message.
MAX_SHOWN_CHARS = 80
#: How many names a message lists before it says how many more there are.
MAX_LISTED = 10


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as text to quote in a message: printable, cut to ``limit`` characters.

    Messages go into run records, HTTP bodies and terminals; a file can make a
    name megabytes long, so every piece of user data in one passes here.
    """
    text = str(value)
    cut = len(text) > limit
    text = "".join(ch if ch.isprintable() else " " for ch in text[:limit])
    return text[: limit - 1] + "…" if cut else text


def listed(names: Iterable[object], most: int = MAX_LISTED) -> str:
    """Names for a message, comma separated: the first ``most``, then how many more."""
    items: list[str] = []
    extra = 0
    for name in names:
        if len(items) < most:
            items.append(shown(name))
        else:
            extra += 1
    text = ", ".join(items)
    return f"{text} and {extra:,} more" if extra else text


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A whole message cut to ``limit`` characters, saying how much was left out."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… ({len(message) - limit:,} more characters)"


class JobportError(Exception):
    """Root of every error jobport raises on purpose."""

    #: HTTP status a face should answer with.
    status_code: int = 400
    #: Process exit code the CLI should use.
    exit_code: int = 1
    #: Short, stable title for problem+json bodies.
    title: str = "Job error"

    def __init__(self, message: str) -> None:
        message = bounded(message)
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
        listing = listed(sorted(known), most=50) or "none registered"
        super().__init__(f"unknown job type '{shown(name)}'; known types: {listing}")
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
        super().__init__(f"no run with id '{shown(run_id)}'")


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
