"""The engine's hints as the CLI says them: each read option named as the CLI option."""

from __future__ import annotations

import pytest

from jobport.cli.words import in_cli_words


@pytest.mark.parametrize(
    ("engine", "cli"),
    [
        (
            "'1,5' looks like a decimal comma: import with decimal=',' and thousands='.'",
            "'1,5' looks like a decimal comma: import with --decimal ',' and --thousands '.'",
        ),
        (
            "for day-first dates import with date_format='%d.%m.%Y'",
            "for day-first dates import with --date-format '%d.%m.%Y'",
        ),
        (
            "or import with true_words='WAHR' or false_words='WAHR'",
            "or import with --true-words WAHR or --false-words WAHR",
        ),
        (
            "looks like CSV; name it .csv or send it with format=csv",
            "looks like CSV; name it .csv or send it with --format csv",
        ),
        # Words that only look like an option stay as they are.
        (
            "email: 'a=b' is not in the expected format",
            "email: 'a=b' is not in the expected format",
        ),
        ("formats=csv", "formats=csv"),
    ],
)
def test_a_hint_names_the_cli_option(engine: str, cli: str) -> None:
    assert in_cli_words(engine) == cli
