"""The application layer's rules, once for every face: who sees a run, who starts a type."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import MakeJobport

from jobport import RunNotFound
from jobport.demo.data import write_csv
from jobport.errors import PermissionDenied
from jobport.principal import Principal
from jobport.service import ImportStart, JobService, UserExists, WrongKind
from jobport.store import RunFilter


def test_a_type_of_another_kind_is_refused_in_words(make_jobport: MakeJobport) -> None:
    service = JobService(make_jobport())
    with pytest.raises(WrongKind) as caught:
        service.startable(Principal.operator(), "customers", "sync")
    assert caught.value.message == ("'customers' is an import type, not a sync; sync types: orders")
    with pytest.raises(WrongKind) as caught:
        service.startable(Principal.operator(), "orders", "export", "report")
    assert caught.value.message == (
        "'orders' is a sync type, not an export or a report; export or report types: "
        "customers-export, sales-report"
    )


def test_a_run_is_seen_by_its_owner_and_admins_only(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    service = JobService(make_jobport())
    write_csv(tmp_path / "c.csv", 5)
    alice, bob = Principal("alice"), Principal("bob")
    admin = Principal("root", is_admin=True)
    path = tmp_path / "c.csv"
    run = service.start_import_file(alice, path, ImportStart("customers", source_key=""))
    assert service.run(alice, run.id).id == run.id
    assert service.run(admin, run.id).id == run.id
    with pytest.raises(RunNotFound) as caught:
        service.run(bob, run.id)
    assert caught.value.message == f"no run with id '{run.id}'"  # the same as a missing run
    assert service.history(bob, _no_filter(), limit=10) == ([], 0)
    assert [r.id for r in service.history(admin, _no_filter(), limit=10)[0]] == [run.id]


def _no_filter() -> RunFilter:
    return RunFilter()


def test_only_an_admin_makes_users_and_gives_them_tokens(make_jobport: MakeJobport) -> None:
    service = JobService(make_jobport())
    admin, alice = Principal("root", is_admin=True), Principal("alice")
    with pytest.raises(PermissionDenied):
        service.create_user(alice, "mallory", "hash-m", is_admin=True)
    made = service.create_user(admin, "bob", "hash-1", roles=["sales", "sales", "ops"])
    assert made == Principal("bob", False, frozenset({"ops", "sales"}))
    assert service.token_principal("hash-1") == made
    with pytest.raises(UserExists):
        service.create_user(admin, "bob", "hash-2")
    with pytest.raises(PermissionDenied):
        service.replace_token(alice, "bob", "hash-3")
    assert service.replace_token(admin, "bob", "hash-3")
    assert service.token_principal("hash-1") is None  # the old token stops working
    assert service.token_principal("hash-3") == made
    assert not service.replace_token(admin, "nobody", "hash-4")
    assert service.token_principal("hash-m") is None


def test_only_an_admin_prunes(make_jobport: MakeJobport, tmp_path: Path) -> None:
    service = JobService(make_jobport())
    write_csv(tmp_path / "c.csv", 5)
    run = service.start_import_file(
        Principal("alice"), tmp_path / "c.csv", ImportStart("customers", source_key="")
    )
    with pytest.raises(PermissionDenied):
        service.prune(Principal("alice"), timedelta(0))
    report = service.prune(Principal.operator(), timedelta(0), dry_run=True)
    assert report.runs == 1
    assert service.run(Principal.operator(), run.id).id == run.id  # a dry run removes nothing
    assert service.prune(Principal.operator(), timedelta(0)).runs == 1
    with pytest.raises(RunNotFound):
        service.run(Principal.operator(), run.id)
