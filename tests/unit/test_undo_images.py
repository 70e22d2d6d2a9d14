"""The undo log's notion of "unchanged": equal as stored, never loosely."""

from __future__ import annotations

import pytest

from jobport.targets.undoimages import dumps, same


@pytest.mark.parametrize(
    ("one", "other", "expected"),
    [
        (1, 1, True),
        (1, 1.0, False),  # SQLite's integer and real are two values
        (0.0, -0.0, False),
        (0.1 + 0.2, 0.3, False),
        ("a", "a", True),
        (None, None, True),
        ({"$b": "AA=="}, {"$b": "AA=="}, True),
        ({"$b": "AA=="}, {"$b": "AQ=="}, False),
        (True, 1, False),
    ],
)
def test_same_is_equality_of_the_stored_text(one: object, other: object, expected: bool) -> None:
    assert same(one, other) is expected
    assert (type(one) is type(other) and dumps(one) == dumps(other)) is expected
