"""Bad data end to end: a value that cannot be typed is never dropped or coerced.

The emulator serves one opportunity with one field overridden (``override_field``): a
``value`` of "abc", a probability of 150, dates that do not parse. By default the run
must stop with exit 1 and a message naming the opportunity id and the field, keep the
rows of the batches before it, commit nothing from the bad row on, and not move its
cursor past it: once the data is fixed, the next run starts right before the bad row and
loads it and everything after it, exactly. Paging is sequential (``max_concurrency=1``)
so that request counts and cursors are exact.

Also here: a network failure that outlasts the retries keeps what was fetched before it
(README, exit code 1: "rows fetched before the failure are loaded").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.runner import EXIT_FAILED
from sources.pardot.lookahead import most_requests_ahead
from sources.pardot_emulator import EmulatorConfig
from sources.pardot_emulator.faults import html_page
from tests.e2e.conftest import Harness
from tests.e2e.truth import assert_matches_ground_truth

from .conftest import (
    ScriptedProxy,
    assert_loaded_rows_are_exact,
    assert_no_duplicates,
    live_ids,
    page_sized_batches,
    serve,
)

PAGE_SIZE = 50
BAD_PAGE = 3
"""The bad opportunity is on the third page: two whole batches come before it."""


@pytest.fixture
def harness(isolated_environment: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    page_sized_batches(monkeypatch)
    # 600 opportunities: more pages than the bad page plus those fetched ahead of it
    config = EmulatorConfig(opportunities=600, seed=23, realtime_clock=False)
    yield from serve(isolated_environment, config, page_size=PAGE_SIZE, max_concurrency=1)


def cursors(harness: Harness) -> list[str | None]:
    """``id_greater_than`` of each query of the last run, in order."""
    return [r.params.get("id_greater_than") for r in harness.emulator.request_log]


@pytest.mark.parametrize(
    ("field", "text", "column"),
    [
        pytest.param("value", "abc", "opportunities.value", id="value-abc"),
        pytest.param("probability", "150", "opportunities.probability", id="probability-150"),
        pytest.param("probability", "50.5", "opportunities.probability", id="probability-50.5",
                     marks=pytest.mark.soak),
        pytest.param("created_at", "2024-02-30 10:00:00", "opportunities.created_at", id="feb-30"),
        pytest.param("closed_at", "next tuesday", "opportunities.closed_at", id="closed-at-words",
                     marks=pytest.mark.soak),
        pytest.param("updated_at", "2024-01-01T10:00:00+05:00", "opportunities.updated_at",
                     id="updated-at-with-offset", marks=pytest.mark.soak),
    ],
)  # fmt: skip
def test_untypable_value_stops_the_run_names_it_and_is_loaded_once_fixed(
    harness: Harness, field: str, text: str, column: str
) -> None:
    emulator = harness.emulator
    ids = sorted(live_ids(emulator))
    pages = -(-len(ids) // PAGE_SIZE)
    bad = ids[(BAD_PAGE - 1) * PAGE_SIZE + 9]
    before_bad_page = set(ids[: (BAD_PAGE - 1) * PAGE_SIZE])
    emulator.override_field(bad, field, text)

    failed = harness.run()

    assert failed.exit_code == EXIT_FAILED, failed
    assert failed.outcome == "error"
    message = failed.message or ""
    assert f"opportunity {bad}" in message and column in message, message
    assert text[:20] in message, "the offending text is shown (shortened)"
    # The one worker fetches a few pages ahead of the batch it types, then stops.
    fetched = emulator.request_count("query")
    assert BAD_PAGE <= fetched <= BAD_PAGE + most_requests_ahead(1) < pages, "stopped early"
    loaded = assert_loaded_rows_are_exact(harness)
    assert loaded == before_bad_page, "earlier batches loaded; nothing from the bad row on"

    emulator.clear_field_overrides()
    fixed = harness.run()
    assert fixed.exit_code == 0, fixed.message
    assert cursors(harness)[0] == str(max(before_bad_page)), "resumed right before the bad row"
    warehouse = harness.warehouse()
    assert_matches_ground_truth(warehouse, emulator)
    assert_no_duplicates(warehouse)


@pytest.mark.usefixtures("quick_backoff")
def test_rows_fetched_before_a_network_failure_are_loaded(isolated_environment: Path) -> None:
    """Pages 1-3 arrive, then every query meets a 503 until the retries run out."""
    config = EmulatorConfig(opportunities=300, seed=23, realtime_clock=False)
    proxies: list[ScriptedProxy] = []

    def wrap(emulator: object) -> ScriptedProxy:
        proxies.append(ScriptedProxy(emulator))  # type: ignore[arg-type]
        return proxies[-1]

    for harness in serve(
        isolated_environment, config, wrap=wrap, page_size=PAGE_SIZE, max_concurrency=1
    ):
        proxy = proxies[0]
        proxy.from_query = 4
        proxy.forever = (503, "text/html", html_page(503, "Service Unavailable"))
        ids = sorted(live_ids(harness.emulator))

        failed = harness.run()

        assert failed.exit_code == EXIT_FAILED, failed
        assert "query" in (failed.message or "") and "503" in (failed.message or "")
        assert proxy.answered == 7, "one attempt and six retries"
        loaded = assert_loaded_rows_are_exact(harness)
        assert loaded == set(ids[: 3 * PAGE_SIZE]), (
            f"README: rows fetched before the failure are loaded; {len(loaded)} of "
            f"{3 * PAGE_SIZE} were"
        )

        proxy.from_query = None
        resumed = harness.run()
        assert resumed.exit_code == 0, resumed.message
        assert resumed.opportunities == len(ids) - 3 * PAGE_SIZE, "only the rest is fetched"
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        assert_no_duplicates(harness.warehouse())
