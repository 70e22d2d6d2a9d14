"""The engine's hints in the CLI's own words: ``date_format='%d.%m.%Y'`` as ``--date-format``.

A failure or a run's error says how to import a file differently in the
words of a request (``import with decimal=','``), which the API, the
dashboard and Python share. A CLI user types options instead: what the CLI
prints of such a message names the option, with the value as a shell takes
it (``import with --decimal ','``; a plain word stays bare: ``--format xlsx``).
"""

from __future__ import annotations

import re
import shlex

#: The read options a hint names, and the CLI option of each.
_OPTIONS = {
    "date_format": "--date-format",
    "decimal": "--decimal",
    "thousands": "--thousands",
    "true_words": "--true-words",
    "false_words": "--false-words",
    "encoding": "--encoding",
    "delimiter": "--delimiter",
    "format": "--format",
}
_HINT = re.compile(rf"\b({'|'.join(_OPTIONS)})=('[^']*'|[^\s,;)]+)")


def in_cli_words(message: str) -> str:
    """``message`` with each ``name=value`` of a read option written as the CLI option."""
    return _HINT.sub(_option, message)


def _option(found: re.Match[str]) -> str:
    name, value = found.group(1), found.group(2)
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        value = value[1:-1]
    if not re.fullmatch(r"\w+", value):
        value = f"'{value}'" if "'" not in value else shlex.quote(value)
    return f"{_OPTIONS[name]} {value}"
