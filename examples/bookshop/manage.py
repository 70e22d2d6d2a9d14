"""``python -m examples.bookshop.manage add-staff NAME [--manager] [--role R]``: prints a key.

The shop's own admin command (its users are not jobport's users).
"""

from __future__ import annotations

import argparse

from examples.bookshop.app import Config
from examples.bookshop.auth import add_staff
from examples.bookshop.db import create_tables, open_database


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.bookshop.manage")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-staff", help="add a staff member and print their key")
    add.add_argument("name")
    add.add_argument("--manager", action="store_true", help="sees every run (jobport admin)")
    add.add_argument("--role", action="append", default=[], help="e.g. accounts")
    args = parser.parse_args(argv)
    database = open_database(Config.from_env().database_url)
    create_tables(database)
    with database.sessions() as session:
        key = add_staff(session, args.name, manager=args.manager, roles=args.role)
    print(f"{args.name}: {key}")


if __name__ == "__main__":
    main()
