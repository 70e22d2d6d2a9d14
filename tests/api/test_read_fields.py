"""The import form's list fields: a JSON array, or plain text as the CLI takes it."""

from __future__ import annotations

import pytest

from jobport.api.routers.imports import json_object, read_fields
from jobport.errors import InputError


def test_plain_text_is_one_date_format_or_comma_separated_words() -> None:
    read = read_fields(
        {"date_formats": "%d, %B %Y", "true_words": "oui, ja", "false_words": "non,nein,"}
    )
    assert read == {
        "date_formats": ["%d, %B %Y"],
        "true_words": ["oui", "ja"],
        "false_words": ["non", "nein"],
    }


def test_a_json_array_is_taken_as_it_is() -> None:
    read = read_fields({"date_formats": '["%d/%m/%Y", "%d.%m.%Y"]', "true_words": '["a,b"]'})
    assert read == {"date_formats": ["%d/%m/%Y", "%d.%m.%Y"], "true_words": ["a,b"]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"date_formats": "[%d/%m/%Y"}, "'date_formats' must be a JSON array such as"),
        ({"mapping": "Email=email"}, "'mapping' must be a JSON object such as"),
        ({"true_words": "[oui"}, """'true_words' must be a JSON array such as ["oui", "ja"]"""),
        ({"false_words": "[non"}, """'false_words' must be a JSON array such as ["non", "nein"]"""),
    ],
)
def test_a_malformed_value_is_refused_with_an_example(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        read_fields(fields)


def test_each_json_field_is_refused_with_an_example_of_its_own() -> None:
    with pytest.raises(InputError) as options:
        json_object("{bad", "options")
    with pytest.raises(InputError) as mapping:
        read_fields({"mapping": "{bad"})
    assert """'options' must be a JSON object such as {"option": "value"}""" in str(options.value)
    assert "Header" not in str(options.value)
    assert """'mapping' must be a JSON object such as {"Header": "field"}""" in str(mapping.value)
