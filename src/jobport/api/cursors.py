"""Keyset cursors of the run history: where the next page starts, as an opaque string.

An offset page costs the database every row it skips and shifts when new
runs arrive; a cursor names the last run shown (its ``created_at`` and id),
and the next page starts after it through the ``created_at`` indexes. The
string is URL-safe base64 of that pair, so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from jobport.errors import InputError
from jobport.service import aware
from jobport.store import RunRecord


def cursor_after(run: RunRecord) -> str:
    """The cursor of the page that follows ``run``."""
    pair = [aware(run.created_at).isoformat(), run.id]
    return base64.urlsafe_b64encode(json.dumps(pair).encode()).decode().rstrip("=")


def position(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor names; a string this API did not give is refused."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, run_id = json.loads(text)
        return aware(datetime.fromisoformat(created)), str(run_id)
    except (binascii.Error, ValueError, TypeError):
        raise InputError(
            "'after' is not a cursor of this API; pass the `next` of the previous page"
        ) from None
