"""A new kind of work is one JobKind subclass added to the kinds registry.

Its optional steps are the base's no-ops unless it overrides them, so the
worker calls them on every kind alike (no probing for what a kind has).
"""

from __future__ import annotations

import pytest
from tests.conftest import MakeJobport

from jobport import JobRegistry, JobType
from jobport.dispatch import StartRequest
from jobport.errors import RegistryError
from jobport.kinds import KINDS, ChunkTask, JobKind, Plan, PlanRequest, kind_for
from jobport.store import ChunkOutcome

FINISHED: list[str] = []


class Tally(JobKind):
    """Counts to a number in chunks of ten, and notes each run it finishes."""

    name = "tally"
    finishes = True

    def plan(self, request: PlanRequest) -> Plan:
        return Plan(chunks=[{"rows": 10}, {"rows": 10}, {"rows": 5}], total=25)

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        return ChunkOutcome(processed=int(task.spec["rows"]))

    def finish(self, task: ChunkTask) -> None:
        FINISHED.append(task.run.id)


class Quiet(JobKind):
    """A kind that keeps every optional step as the base's no-op."""

    name = "quiet"

    def plan(self, request: PlanRequest) -> Plan:
        return Plan(chunks=[{"rows": 1}], total=1)

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        return ChunkOutcome(processed=1)


@pytest.fixture
def kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tally and Quiet registered for one test only."""
    monkeypatch.setattr(KINDS, "_kinds", dict(KINDS._kinds))
    KINDS.add(Tally())
    KINDS.add(Quiet())


def test_a_registered_kind_runs_and_finishes(kinds: None, make_jobport: MakeJobport) -> None:
    registry = JobRegistry()
    registry.add(JobType(type="count", label="Count", kind="tally", handler=None))
    registry.add(JobType(type="hush", label="Hush", kind="quiet", handler=None))
    engine = make_jobport(app=None, registry=registry)
    run = engine.start(StartRequest(type="count"))
    assert (run.status, run.total, run.processed) == ("completed", 25, 25)
    assert FINISHED[-1] == run.id
    quiet = engine.start(StartRequest(type="hush"))
    assert (quiet.status, quiet.processed) == ("completed", 1)
    assert "tally" in registry.grouped()


def test_an_unknown_kind_is_refused_naming_the_registered_ones(kinds: None) -> None:
    with pytest.raises(RegistryError, match="kind must be one of import, export, sync, report"):
        JobType(type="odd", label="Odd", kind="odd", handler=None)
    with pytest.raises(RegistryError, match="'odd' kind is not available"):
        kind_for("odd")
    with pytest.raises(RegistryError, match="'tally' kind is declared twice"):
        KINDS.add(Tally())


def test_the_base_hooks_are_no_ops_and_the_required_steps_are_not() -> None:
    bare = JobKind()
    assert bare.in_order is False
    with pytest.raises(NotImplementedError):
        bare.run_chunk(None)  # type: ignore[arg-type]
