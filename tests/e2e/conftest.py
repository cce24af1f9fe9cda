"""End-to-end fixtures: the emulator on a real loopback port, runs into a DuckDB file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines.runner import RunSummary, run_sync
from sources.pardot_emulator import EmulatorConfig, PardotEmulator, running_server

from .truth import Warehouse


@dataclass
class Harness:
    """One emulator, one DuckDB file, one pipeline: the pieces of a scheduled sync."""

    emulator: PardotEmulator
    base_url: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    def source_options(self) -> dict[str, Any]:
        config = self.emulator.config
        return {
            "base_url": self.base_url,
            "business_unit_id": config.business_unit_id,
            "credentials": {"access_token": config.default_token},
            "timezone": config.timezone,
            **self.options,
        }

    def environment(self, *, with_options: bool = True) -> dict[str, str]:
        """This process's environment plus the source settings, for a pipeline in a
        subprocess configured the way a scheduled job is: ``SOURCES__PARDOT__…``.

        Args:
            with_options: also pass the harness's source options (e.g. ``page_size``);
                without them the subprocess runs on the defaults.
        """
        config = self.emulator.config
        options = self.options if with_options else {}
        return {
            **os.environ,
            "SOURCES__PARDOT__BASE_URL": self.base_url,
            "SOURCES__PARDOT__BUSINESS_UNIT_ID": config.business_unit_id,
            "SOURCES__PARDOT__TIMEZONE": config.timezone,
            "SOURCES__PARDOT__CREDENTIALS__ACCESS_TOKEN": config.default_token,
            **{f"SOURCES__PARDOT__{k.upper()}": str(v) for k, v in options.items()},
        }

    def run(self, **overrides: Any) -> RunSummary:
        """One run of the real pipeline; the emulator's request log is reset first."""
        self.emulator.reset_request_log()
        return run_sync(
            destination=dlt.destinations.duckdb(str(self.database)),
            pipelines_dir=str(self.pipelines_dir),
            **{**self.source_options(), **overrides},
        )

    def warehouse(self) -> Warehouse:
        return Warehouse(self.database)

    def scan_queries(self, summary: RunSummary) -> int:
        """The opportunity queries of the run's scan: all of them but the delete check's
        and the re-reads of what events named (each mechanism counts its own)."""
        changes = summary.changes
        return (
            self.emulator.request_count("query")
            - changes["delete_check"]["requests"]
            - changes["activity_feed"]["refresh_requests"]
        )

    def counting_queries(self) -> int:
        """The delete check's counts in the request log (``limit=1``, simple output)."""
        return sum(
            1
            for r in self.emulator.request_log
            if r.operation == "query"
            and r.params.get("limit") == "1"
            and r.params.get("output") == "simple"
        )

    def feed_queries(self) -> int:
        """The run's requests of the event feed (the visitor activity query)."""
        return self.emulator.request_count("visitor_activity_query")


def start_harness(root: Path, config: EmulatorConfig, **options: Any) -> Iterator[Harness]:
    emulator = PardotEmulator(config)
    with running_server(emulator) as base_url:
        yield Harness(emulator, base_url, root, options)


@pytest.fixture
def harness(isolated_environment: Path) -> Iterator[Harness]:
    """600 generated opportunities in America/New_York (DST in the data)."""
    yield from start_harness(isolated_environment, EmulatorConfig(opportunities=600, seed=11))
