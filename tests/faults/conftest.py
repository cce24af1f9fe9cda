"""Shared pieces of the robustness suite: harnesses, quick backoff, exactness checks.

The pipeline under test is the real one (``run_sync`` into DuckDB over loopback HTTP);
only the client's backoff *sleeps* are compressed (``quick_backoff``), so that a seeded
fault run that retries a dozen times still takes a second, not a minute. The retry
decisions, their number and the ``Retry-After`` handling are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from sources.pardot_emulator import EmulatorConfig, PardotEmulator, running_server
from tests.e2e.conftest import Harness
from tests.e2e.truth import KEYS, Warehouse, assert_matches_ground_truth, assert_no_duplicates

__all__ = [
    "KEYS",
    "assert_loaded_rows_are_exact",
    "assert_no_duplicates",
    "live_ids",
    "refresh_credentials",
    "serve",
]


WSGIApp = Callable[..., Any]


def serve(
    root: Path, config: EmulatorConfig, wrap: Callable[[PardotEmulator], WSGIApp] | None = None,
    **options: Any,
) -> Generator[Harness, None, None]:  # fmt: skip
    """``start_harness`` with an optional WSGI middleware in front of the emulator."""
    emulator = PardotEmulator(config)
    app = wrap(emulator) if wrap is not None else emulator
    with running_server(app) as base_url:
        yield Harness(emulator, base_url, root, options)


def refresh_credentials(harness: Harness) -> dict[str, str]:
    """Credentials that can refresh against the emulator's token endpoint."""
    return {
        "client_id": "emulator-client",
        "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh-token",
        "token_url": harness.base_url + "/services/oauth2/token",
    }


def live_ids(emulator: PardotEmulator) -> set[int]:
    return {o["id"] for o in emulator.ground_truth()["opportunities"] if not o["is_deleted"]}


def table_exists(database: Path, table: str) -> bool:
    if not database.exists():
        return False
    rows = Warehouse(database).query(
        "select count(*) from information_schema.tables "
        f"where table_schema = 'pardot' and table_name = '{table}'"
    )
    return bool(rows[0][0])


def assert_loaded_rows_are_exact(harness: Harness) -> set[int]:
    """Whatever a (possibly failed) run left loaded is exact and undoubled; returns its ids."""
    if not table_exists(harness.database, "opportunities"):
        return set()
    warehouse = harness.warehouse()
    loaded = set(warehouse.ids())
    assert_no_duplicates(warehouse)
    assert loaded <= live_ids(harness.emulator)
    # Where the query nests no activities, they come from the event feed, which a first
    # run reads after its scan: a run that failed before has loaded none yet.
    nested = harness.emulator.config.query_includes_activities
    assert_matches_ground_truth(warehouse, harness.emulator, expected_ids=loaded, activities=nested)
    return loaded


Reply = tuple[int, str, bytes]
"""HTTP status, Content-Type and body of a scripted answer."""


class ScriptedProxy:
    """A WSGI middleware in front of the emulator, as a broken proxy would be.

    ``script`` maps the 1-based number of an opportunity ``do/query`` request (the event
    feed's visitor activity queries pass unchanged) to the answer the proxy
    gives instead of passing it on; ``from_query`` answers every query from that number
    on with ``forever``. Everything else reaches the emulator unchanged.
    """

    def __init__(self, emulator: PardotEmulator) -> None:
        self.emulator = emulator
        self.script: dict[int, Reply] = {}
        self.from_query: int | None = None
        self.forever: Reply | None = None
        self.queries = 0
        self.answered = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/api/opportunity/") and "/do/query" in path:
            self.queries += 1
            reply = self.script.get(self.queries)
            if reply is None and self.from_query is not None and self.queries >= self.from_query:
                reply = self.forever
            if reply is not None:
                self.answered += 1
                status, content_type, body = reply
                start_response(
                    f"{status} Scripted",
                    [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.emulator(environ, start_response)


def page_sized_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand every page to dlt as its own batch (the batch size is not a source option)."""
    from sources.pardot.config import SyncSettings

    original = SyncSettings.from_values.__func__  # type: ignore[attr-defined]

    def from_values(cls: type[SyncSettings], **values: Any) -> SyncSettings:
        settings = original(cls, **values)
        return original(cls, **{**values, "batch_size": settings.page_size})

    monkeypatch.setattr(SyncSettings, "from_values", classmethod(from_values))
