"""Ground-truth readers for PostgreSQL and Delta tables in a folder.

``tests/e2e/truth.py`` reads a DuckDB file; these give the same ``query``/``rows``
interface over the other destinations so that the very same checks run against them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg2
from deltalake import DeltaTable

from tests.e2e.truth import Warehouse


class PostgresWarehouse(Warehouse):
    """The dataset is a PostgreSQL schema; read it with psycopg2."""

    def __init__(self, dsn: str, dataset: str = "pardot") -> None:
        super().__init__(Path(), dataset)
        self.dsn = dsn

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self.dsn) as con, con.cursor() as cursor:
            cursor.execute(f"set search_path = {self.dataset}")
            cursor.execute(sql)
            rows = cursor.fetchall()
        con.close()
        return rows

    def rows(self, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        listed = ", ".join(columns)
        return [
            dict(zip(columns, row, strict=True))
            for row in self.query(f"select {listed} from {table} order by {listed}")
        ]


class DeltaWarehouse(Warehouse):
    """Each table is a Delta table under ``<bucket>/<dataset>/<table>``.

    Read with the ``deltalake`` package (no DuckDB extension download), then queried
    with an in-memory DuckDB so that the SQL of the checks stays the same.
    """

    def __init__(self, bucket: Path, dataset: str = "pardot") -> None:
        super().__init__(bucket, dataset)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect() as con:
            con.execute(f"create schema {self.dataset}")
            for folder in sorted((self.path / self.dataset).iterdir()):
                if (folder / "_delta_log").is_dir():
                    arrow_table = DeltaTable(str(folder)).to_pyarrow_table()  # noqa: F841
                    con.execute(f'create table {self.dataset}."{folder.name}" as from arrow_table')
            con.execute(f"set search_path = '{self.dataset}'")
            return con.execute(sql).fetchall()
