"""The run's counters reach dlt's progress collector, beside dlt's own steps.

``dlt.pipeline(progress=...)`` (and the Airflow task's log, which uses dlt's ``log``
collector) shows normalize and load; the extract is the source's own, so its pages,
opportunities and requests must be fed there too. In process, into DuckDB.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import dlt
import httpx
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.runtime.collector import Collector

from sources.pardot import SyncReport, pardot_source
from sources.pardot_emulator import EmulatorConfig, PardotEmulator


class Recording(Collector):
    """Keeps every counter's total, per step (dlt's own collectors forget them at stop)."""

    def __init__(self) -> None:
        self.step = ""
        self.totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        self.totals[self.step][name] += inc

    def _start(self, step: str) -> None:
        self.step = step

    def _stop(self) -> None:
        self.step = ""


def test_pages_opportunities_and_requests_reach_the_pipeline_s_collector(
    isolated_environment: Any,
) -> None:
    emulator = PardotEmulator(EmulatorConfig(opportunities=500, seed=2, realtime_clock=False))
    config = emulator.config
    report = SyncReport()
    source = pardot_source(
        business_unit_id=config.business_unit_id,
        credentials={"access_token": config.default_token},
        base_url="https://pi.pardot.test",
        timezone=config.timezone,
        max_concurrency=2,
        http=httpx.Client(transport=httpx.WSGITransport(app=emulator.app)),
        report=report,
    )
    recording = Recording()
    pipeline = dlt.pipeline("progress", destination="duckdb", progress=recording)
    pipeline.run(source)
    assert report.outcome == "complete"
    extract = recording.totals["Extract pardot"]
    assert extract["Pardot pages"] == report.pages > 1
    assert extract["Pardot opportunities"] == report.opportunities > 400
    assert extract["Pardot requests"] == report.requests >= report.pages
    assert any(step.startswith("Normalize") for step in recording.totals), "dlt's own steps"


def test_outside_a_pipeline_the_source_counts_nothing_anywhere() -> None:
    Container()[PipelineContext].deactivate()  # no pipeline runs the source
    emulator = PardotEmulator(EmulatorConfig(opportunities=50, seed=2, realtime_clock=False))
    config = emulator.config
    seen: list[int] = []
    source = pardot_source(
        business_unit_id=config.business_unit_id,
        credentials={"access_token": config.default_token},
        base_url="https://pi.pardot.test",
        timezone=config.timezone,
        http=httpx.Client(transport=httpx.WSGITransport(app=emulator.app)),
        progress=lambda report: seen.append(report.pages),
    )
    assert list(source), "iterated without a pipeline: no collector, no failure"
    # after the page, after the event feed's page, and once at the end
    assert seen == [1, 1, 1], "the caller's own progress callback still runs"
    assert not Container()[PipelineContext].is_active(), "no pipeline was made for it"
