"""``render_cache`` keeps whole query responses, and never serves one the data outgrew."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sources.pardot_emulator import PardotEmulator

from .conftest import client_for, live, make

QUERY = "/api/opportunity/version/3/do/query"
PARAMS = {"limit": 200, "sort_by": "id", "sort_order": "ascending", "output": "full"}


def query(emu: PardotEmulator, **params: str | int) -> bytes:
    with client_for(emu) as c:
        return c.get(QUERY, params={**PARAMS, **params}).content


def test_an_unchanged_query_is_served_from_the_cache_byte_for_byte() -> None:
    cached, plain = make(opportunities=60, render_cache=True), make(opportunities=60)
    first = query(cached)
    assert query(cached) == first == query(plain)
    assert len(cached.api._pages) == 1


def _update(emu: PardotEmulator) -> None:
    emu.update_opportunity(live(emu)[0]["id"], name="Renamed")


def _create(emu: PardotEmulator) -> None:
    emu.add_opportunities(1)


def _delete(emu: PardotEmulator) -> None:
    emu.delete_opportunity(live(emu)[1]["id"])


def _override(emu: PardotEmulator) -> None:
    emu.override_field(live(emu)[2]["id"], "stage", "Overridden")


@pytest.mark.parametrize(
    "change", [_update, _create, _delete, _override], ids=["update", "create", "delete", "override"]
)
def test_any_change_to_the_data_retires_every_cached_page(
    change: Callable[[PardotEmulator], None],
) -> None:
    cached, plain = make(opportunities=60, render_cache=True), make(opportunities=60)
    assert query(cached) == query(plain)
    change(cached)
    change(plain)
    assert query(cached) == query(plain)
    assert query(cached, output="bulk") == query(plain, output="bulk")


def test_a_relative_time_filter_is_never_cached() -> None:
    emu = make(opportunities=60, render_cache=True)
    query(emu, created_after="today")
    query(emu, created_after="2020-01-01 00:00:00")
    assert len(emu.api._pages) == 1
