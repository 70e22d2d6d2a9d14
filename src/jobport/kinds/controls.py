"""How an import run is to be carried out, beyond reading its file: dry run and error thresholds.

Every face (CLI flags, the API's form fields, the dashboard, Python) fills the
same :class:`RunControls`, and the run keeps them in its params
(``params["controls"]``), where the dispatcher and the workers read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobport.errors import InputError


class RunControls(BaseModel):
    """A run's own switches; the job type's defaults apply where one is unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Plan and validate the whole file like a run, write nothing to the target.
    dry_run: bool = False
    #: Stop the run (no new chunk starts) once more rows than this have failed.
    max_failures: int | None = Field(default=None, ge=0)
    #: Stop the run once this share of the rows read so far has failed (0 < r <= 1).
    max_failure_ratio: float | None = Field(default=None, gt=0, le=1)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True)

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> RunControls:
        """The controls a run's params recorded (none for runs from before they existed)."""
        return cls.model_validate(params.get("controls") or {})

    @classmethod
    def checked(cls, values: Mapping[str, Any]) -> RunControls:
        """Validated controls, or an InputError naming each bad one."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: "
                + (
                    f"not a run control (use {', '.join(cls.model_fields)})"
                    if error["type"] == "extra_forbidden"
                    else error["msg"]
                )
                for error in exc.errors(include_url=False)
            )
            raise InputError(f"invalid run controls: {problems}") from None
