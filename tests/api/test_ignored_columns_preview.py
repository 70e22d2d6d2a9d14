"""The dashboard's preview names the columns it will not import, not only strikes them through.

A column no rule places goes through the mapping step; left on "ignore" there,
the preview that follows still says in words which columns the import leaves
out (the struck-through header alone is easy to miss, and says nothing to a
screen reader beyond its title).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.api.test_ignored_columns import proposed
from tests.unit.test_dashboard_pages import customers_file, preview, sign_in, site  # noqa: F401


def mapped_preview(client: Any, header: list[str], content: str) -> str:
    """The preview page after the mapping step, each column left as the step proposes."""
    csrf = sign_in(client, "bob")
    sent = preview(client, csrf, content.encode())
    assert sent.status_code == 303
    step = sent.headers["location"]
    assert step.startswith("/import/mapping?")
    page = client.get(step).text
    chosen = {f"map:{name}": proposed(page, name) for name in header}
    query = {**dict(parse_qsl(urlsplit(step).query)), **chosen}
    shown = client.get("/import/preview?" + urlencode(query))
    assert shown.status_code == 200, shown.text
    return str(shown.text)


def test_the_preview_names_the_columns_left_out_by_the_mapping(
    site: Any,  # noqa: F811 (fixture)
) -> None:
    lines = customers_file(site, rows=3).read_text(encoding="utf-8").splitlines()
    header = [*lines[0].replace("first_name", "Nickname").split(","), "Notes"]
    content = "\n".join([",".join(header), *(line + ",x" for line in lines[1:])]) + "\n"
    page = mapped_preview(site, header, content)
    assert '<th scope="col" class="unused" title="not imported">Nickname</th>' in page
    assert (
        '<p class="note" role="note">2 columns are not imported (the column mapping gives '
        "them no field): Nickname, Notes.</p>"
    ) in page


def test_a_preview_of_every_column_says_nothing_is_left_out(
    site: Any,  # noqa: F811 (fixture)
) -> None:
    csrf = sign_in(site, "bob")
    content = customers_file(site, rows=3).read_bytes()
    shown = site.get(preview(site, csrf, content).headers["location"])
    assert shown.status_code == 200, shown.text
    assert "not imported (the column mapping" not in shown.text
