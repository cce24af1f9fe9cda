"""Bad responses end to end: a run meets them, exits non-zero, names the operation, and
loses nothing that was already loaded; a clean run afterwards is exact.

A ``ScriptedProxy`` in front of the emulator answers every query from the third on with
the bad body; batches are page-sized, so the two pages before it are loaded by then.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.runner import EXIT_FAILED
from sources.pardot_emulator import EmulatorConfig, PardotEmulator
from tests.e2e.truth import assert_matches_ground_truth

from .bodies import BAD_BODIES
from .conftest import (
    ScriptedProxy,
    assert_loaded_rows_are_exact,
    assert_no_duplicates,
    live_ids,
    page_sized_batches,
    serve,
)

PAGE_SIZE = 50
DEFAULT = {"proxy-html-page-as-xml", "cut-mid-element", "billion-laughs"}


@pytest.mark.usefixtures("quick_backoff")
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=() if n in DEFAULT else pytest.mark.soak) for n in BAD_BODIES],
)
def test_a_run_that_meets_a_bad_body_fails_clearly_and_keeps_what_it_loaded(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    page_sized_batches(monkeypatch)
    bad = BAD_BODIES[name]
    proxies: list[ScriptedProxy] = []

    def wrap(emulator: PardotEmulator) -> ScriptedProxy:
        proxies.append(ScriptedProxy(emulator))
        return proxies[-1]

    config = EmulatorConfig(opportunities=300, seed=41, realtime_clock=False)
    for harness in serve(
        isolated_environment, config, wrap=wrap, page_size=PAGE_SIZE, max_concurrency=1
    ):
        proxy = proxies[0]
        proxy.from_query, proxy.forever = 3, (bad.status, bad.content_type, bad.body)
        ids = sorted(live_ids(harness.emulator))

        failed = harness.run()

        assert failed.exit_code == EXIT_FAILED, failed
        message = failed.message or ""
        assert "query: malformed response" in message, message
        assert bad.says.lower() in message.lower(), message
        assert proxy.answered == (7 if bad.retriable else 1)
        assert assert_loaded_rows_are_exact(harness) == set(ids[: 2 * PAGE_SIZE])

        proxy.from_query = None
        clean = harness.run()
        assert clean.exit_code == 0, clean.message
        assert clean.opportunities == len(ids) - 2 * PAGE_SIZE
        assert_matches_ground_truth(harness.warehouse(), harness.emulator)
        assert_no_duplicates(harness.warehouse())
