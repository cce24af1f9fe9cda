"""The destinations the ground-truth checks run against: DuckDB, PostgreSQL, Delta files.

PostgreSQL is a real server started once per session from the installed binaries
(``postgres.py``); each test gets its own database in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import psycopg2
import pytest

from tests.e2e.truth import Warehouse

from .postgres import running_postgres
from .readers import DeltaWarehouse, PostgresWarehouse

_databases = itertools.count()


@dataclass
class Target:
    """A destination for ``run_sync`` and the reader that checks what it holds."""

    name: str
    destination: Callable[[], Any]
    warehouse: Callable[[], Warehouse]
    table_format: str | None = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL cluster for the session; its superuser DSN."""
    with running_postgres() as dsn:
        yield dsn


def new_postgres_database(server_dsn: str) -> str:
    """A fresh, empty database on the session's server; its DSN."""
    name = f"pardot_test_{next(_databases)}"
    con = psycopg2.connect(server_dsn)
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute(f"create database {name}")
    con.close()
    return server_dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["duckdb", "postgres", "filesystem"])
def target(request: pytest.FixtureRequest, isolated_environment: Path) -> Target:
    """Each destination in turn, empty."""
    if request.param == "duckdb":
        path = isolated_environment / "warehouse.duckdb"
        return Target("duckdb", lambda: dlt.destinations.duckdb(str(path)), lambda: Warehouse(path))
    if request.param == "postgres":
        dsn = new_postgres_database(request.getfixturevalue("postgres_server"))
        return Target(
            "postgres",
            lambda: dlt.destinations.postgres(credentials=dsn),
            lambda: PostgresWarehouse(dsn),
        )
    bucket = isolated_environment / "lake"
    return Target(
        "filesystem",
        lambda: dlt.destinations.filesystem(bucket_url=str(bucket)),
        lambda: DeltaWarehouse(bucket),
        table_format="delta",
    )
