"""The dashboard's preview says the encoding it read a file in and the read options its
rows suggest, beside the run's own warnings."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from tests.unit.test_dashboard_pages import preview, sign_in, site  # noqa: F401 (fixture)

EUROPEAN = (
    "id;email;last_name;country;balance;signup_date\n"
    "1;m@example.fr;François;FR;963,16;31/12/2024\n"
    "2;w@example.de;Weiß;DE;12,5;01/02/2024\n"
)


def test_the_preview_says_the_encoding_and_the_options_the_rows_suggest(
    site: Any,  # noqa: F811 (fixture)
) -> None:
    csrf = sign_in(site, "bob")
    sent = preview(site, csrf, EUROPEAN.encode("cp1252"))
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/import/preview?")
    page = site.get(sent.headers["location"]).text
    assert "The file is not UTF-8: it was read as <strong>cp1252</strong>" in page
    assert (
        "<li>balance looks like decimal-comma numbers (963,16): import with "
        "decimal=&#39;,&#39;</li>"
    ) in page
    assert (
        "<li>signup_date looks like day-first dates (31/12/2024): import with "
        "date_format=&#39;%d/%m/%Y&#39;</li>"
    ) in page
    assert "François" in page


def test_a_utf8_file_is_said_to_be_read_as_utf8_with_no_hints(
    site: Any,  # noqa: F811 (fixture)
) -> None:
    csrf = sign_in(site, "bob")
    plain = EUROPEAN.replace("963,16", "963.16").replace("12,5", "12.5")
    plain = plain.replace("31/12/2024", "2024-12-31").replace("01/02/2024", "2024-02-01")
    page = site.get(preview(site, csrf, plain.encode()).headers["location"]).text
    assert '<p class="note" role="note" id="preview-encoding">Read as utf-8.</p>' in page
    assert "preview-hints" not in page


def test_the_form_reads_decimal_commas_and_day_first_dates_the_preview_suggested(
    site: Any,  # noqa: F811 (fixture)
) -> None:
    """What the hints say to import with can be set on the dashboard's form too."""
    csrf = sign_in(site, "bob")
    options = {"decimal": ",", "date_formats": "%d/%m/%Y", "true_words": "oui, ja"}
    sent = preview(site, csrf, EUROPEAN.encode("cp1252"), **options)
    assert sent.status_code == 303
    page = site.get(sent.headers["location"]).text
    assert "preview-hints" not in page
    assert "import with" not in page  # no row failed for want of these options
    carried = re.search(r'<input type="hidden" name="read" value="([^"]*)">', page)
    assert carried is not None  # what the import it starts will read with
    assert json.loads(html.unescape(carried.group(1))) == {
        "decimal": ",",
        "date_formats": ["%d/%m/%Y"],
        "true_words": ["oui", "ja"],
    }
    before = site.get("/import").text
    assert 'id="value-options"' in before
    assert '<option value=",">a comma: 963,16</option>' in before
