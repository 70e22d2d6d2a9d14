"""Settings read ``JOBPORT_*`` variables as pydantic-settings read them, without it.

The environment is read by :func:`jobport.settings.environment_values` (the
import of pydantic-settings cost every command about 20 ms at start); these
tests hold it to what pydantic-settings made of the same variables, field by
field, and to the rules the CLI and the deployment files rely on.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError, create_model

from jobport.settings import ENV_PREFIX, Settings

ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"JOBPORT_WORKERS": "4", "JOBPORT_METRICS": "false", "JOBPORT_EXECUTOR": "inline"},
    {"jobport_app": "jobport.demo", "Jobport_Database_Url": "sqlite:///x.db"},
    {"JOBPORT_TYPE_QUEUES": '{"customers": "heavy"}', "JOBPORT_STORAGE_OPTIONS": '{"anon": true}'},
    {"JOBPORT_SECRET_KEY": "s3cret", "JOBPORT_RETENTION_DAYS": "2.5", "JOBPORT_NOT_A_FIELD": "x"},
    {"JOBPORT_WEBHOOKS_ALLOW_PRIVATE": "1", "JOBPORT_SWEEP_SECONDS": "0.5", "OTHER_APP": "y"},
]


def pydantic_settings_twin() -> type[Any]:
    """Settings' fields on pydantic-settings' BaseSettings, configured as Settings was."""
    settings = pytest.importorskip("pydantic_settings")

    class Base(settings.BaseSettings):  # type: ignore[misc, name-defined]
        model_config = settings.SettingsConfigDict(
            env_prefix=ENV_PREFIX, extra="forbid", frozen=True
        )

    fields: dict[str, Any] = {
        name: (field.annotation, field) for name, field in Settings.model_fields.items()
    }
    twin: type[Any] = create_model("Twin", __base__=Base, **fields)
    return twin


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_reads_as_pydantic_settings_read_it(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = pydantic_settings_twin()
    for name in [key for key in os.environ if key.upper().startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings().model_dump() == twin().model_dump()
    assert Settings(workers=3).model_dump() == twin(workers=3).model_dump()


def test_a_keyword_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBPORT_APP", "from.environment")
    monkeypatch.setenv("JOBPORT_WORKERS", "4")
    settings = Settings(app="given")
    assert (settings.app, settings.workers) == ("given", 4)


def test_a_bad_value_names_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBPORT_TYPE_QUEUES", "{not json")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert raised.value.errors()[0]["loc"] == ("type_queues",)
    monkeypatch.delenv("JOBPORT_TYPE_QUEUES")
    monkeypatch.setenv("JOBPORT_WORKERS", "-1")
    with pytest.raises(ValidationError, match="workers"):
        Settings()


def test_an_unknown_keyword_is_refused_and_settings_are_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Settings(not_a_setting=1)
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.workers = 2  # type: ignore[misc]
