"""A page the native reader declines is read by the walk, counted, and said once per run.

A new element from Pardot moves its pages to the slower general walk; that must be seen
(a warning, once, naming the element; ``pages_walked`` in the report), and the element
must still become a column. Against the in-process emulator, through ``sync``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pyarrow as pa
import pytest

from sources.pardot.auth import Credentials
from sources.pardot.client import DeclinedPage, PardotClient
from sources.pardot.config import SyncSettings
from sources.pardot.sync import CHECKPOINT, SyncReport, sync_opportunities
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAGE_SIZE = 50


def _sync(emulator: PardotEmulator, workers: int) -> tuple[SyncReport, dict[str, list[pa.Table]]]:
    config = emulator.config
    client = PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id=config.business_unit_id,
        credentials=Credentials(access_token=config.default_token),
        http=httpx.Client(transport=httpx.WSGITransport(app=emulator.app)),
        max_concurrency=workers,
    )
    settings = SyncSettings.from_values(
        timezone=config.timezone, page_size=PAGE_SIZE, max_concurrency=workers
    )
    report = SyncReport()
    state: dict[str, Any] = {}
    tables: dict[str, list[pa.Table]] = {}
    for item in sync_opportunities(client, settings, state, report, now=NOW):
        assert item is not CHECKPOINT
        name, table = item  # type: ignore[misc]
        tables.setdefault(name, []).append(table)
    assert report.outcome == "complete", report.error
    return report, tables


@pytest.mark.parametrize("workers", [1, 4])
def test_pages_with_an_unknown_element_are_walked_counted_and_logged_once(
    workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = PardotEmulator(EmulatorConfig(opportunities=400, seed=3, realtime_clock=False))
    truth = emulator.ground_truth()["opportunities"]
    ids = sorted(row["id"] for row in truth if not row["is_deleted"])
    marked = [ids[10], ids[11], ids[130], ids[300]]  # on three pages of 50
    for opportunity_id in marked:
        emulator.override_field(opportunity_id, "forecast_category", "Pipeline")
    with caplog.at_level(logging.WARNING, logger="sources.pardot.sync"):
        report, tables = _sync(emulator, workers)
    assert report.pages_walked == 3
    walked = [r for r in caplog.records if "general walk" in r.getMessage()]
    assert len(walked) == 1, "said once per run"
    assert "forecast_category" in walked[0].getMessage()
    opportunities = pa.concat_tables(tables["opportunities"], promote_options="default")
    assert opportunities.num_rows == len(ids)
    values = dict(
        zip(
            opportunities["id"].to_pylist(),
            opportunities["forecast_category"].to_pylist(),
            strict=True,
        )
    )
    assert {i for i, value in values.items() if value == "Pipeline"} == set(marked)


def test_a_run_whose_pages_all_take_the_fast_path_walks_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = PardotEmulator(EmulatorConfig(opportunities=200, seed=4, realtime_clock=False))
    with caplog.at_level(logging.WARNING, logger="sources.pardot.sync"):
        report, _ = _sync(emulator, 1)
    assert report.pages_walked == 0
    assert not [r for r in caplog.records if "general walk" in r.getMessage()]


@pytest.mark.parametrize(
    ("opportunity", "reason"),
    [
        ("<name>x</name>", "without an id"),
        ("<id>x7</id>", "not an integer"),
        ("<id>007</id>", "leading zeros"),
        ("<id>7</id><name>a</name><name>b</name>", "sent twice (/rsp/result/opportunity/name)"),
        ("<id>7</id><forecast>x</forecast>", "does not know (<opportunity>/<forecast>)"),
        ("<id>7</id><prospects><prospect><id>1</id><x>1</x></prospect></prospects>",
         "does not know (<prospect>/<x>)"),
        ("<id>7</id><name><![CDATA[x]]></name>", "does not read exactly"),
        ("<id>7</id><!-- note --><name>x</name>", "does not read exactly"),
        ("<id>7</id><prospects/><campaign><id>1</id></campaign>", "does not read exactly"),
        ('<id>7</id><name lang="en">x</name>', "does not read exactly"),
    ],
)  # fmt: skip
def test_the_native_reader_says_why_it_declines(opportunity: str, reason: str) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok" version="1.0"><result>'
        f"<total_results>1</total_results><opportunity>{opportunity}</opportunity>"
        "</result></rsp>"
    ).encode()
    client = PardotClient(
        base_url="https://pi.pardot.test",
        business_unit_id="0Uv000000000001AAA",
        credentials=Credentials(access_token="token"),
        http=httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body))
        ),
    )
    page = client.query_page(limit=200)
    assert isinstance(page, DeclinedPage)
    assert reason in page.reason
    assert page.result.find("opportunity") is not None, "the walk gets the page's tree"
