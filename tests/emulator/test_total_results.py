"""``total_results`` of the opportunity query for id ranges, at any limit, every output.

``id_greater_than`` + ``id_less_than`` count every live opportunity strictly inside the
range, not the page: at ``limit=1`` as at 200, with deleted ids and id gaps inside the
range, sorted any way, in XML and JSON, with and without the render cache. (``bulk``
has no ``total_results``; its rows are checked instead.)
"""

from typing import Any

import httpx
import pytest

from sources.pardot_emulator import PardotEmulator

from .conftest import client_for, ids, make, xml

QUERY = "/api/opportunity/version/3/do/query"


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "render-cache"])
def account(request: pytest.FixtureRequest) -> PardotEmulator:
    emu = make(opportunities=700, id_gap=3, id_jump=(300, 10_000), render_cache=request.param)
    everything = [o["id"] for o in emu.ground_truth()["opportunities"]]
    for oid in everything[5::11]:
        if not emu.store.opportunities[oid].deleted:
            emu.delete_opportunity(oid)
    return emu


def ranges(emu: PardotEmulator) -> list[tuple[int, int]]:
    """(id_greater_than, id_less_than) pairs: narrow, wide, across the jump, empty, past
    the ends, on deleted ids."""
    truth = emu.ground_truth()["opportunities"]
    every = [o["id"] for o in truth]
    deleted = [o["id"] for o in truth if o["is_deleted"]]
    return [
        (every[10], every[20]),
        (every[0] - 1, every[-1] + 1),
        (every[250], every[350]),
        (every[40], every[40] + 1),
        (every[40] - 1, every[40] + 1),
        (deleted[3], deleted[9]),
        (deleted[3] - 1, deleted[3] + 1),
        (every[-1], every[-1] + 1000),
        (0, every[0]),
        (every[100], every[600]),
    ]


def live_ids(emu: PardotEmulator) -> list[int]:
    return [o["id"] for o in emu.ground_truth()["opportunities"] if not o["is_deleted"]]


def expected_ids(
    emu: PardotEmulator, low: int, high: int, live: list[int] | None = None
) -> list[int]:
    return [i for i in (live_ids(emu) if live is None else live) if low < i < high]


def get(c: httpx.Client, **params: Any) -> httpx.Response:
    return c.get(QUERY, params=params)


@pytest.mark.parametrize("output", ["full", "simple", "mobile", "bulk"])
@pytest.mark.parametrize("limit", [1, 2, 200, None])
def test_id_range_total_results_in_xml(
    account: PardotEmulator, output: str, limit: int | None
) -> None:
    c = client_for(account)
    live = live_ids(account)
    for low, high in ranges(account):
        wanted = expected_ids(account, low, high, live)
        params: dict[str, Any] = {"id_greater_than": low, "id_less_than": high, "output": output}
        if limit is not None:
            params["limit"] = limit
        page_size = len(wanted) if limit is None and output == "mobile" else limit or 200
        for sort in ({"sort_by": "id"}, {"sort_by": "id", "sort_order": "descending"}, {}):
            root = xml(get(c, **params, **sort))
            order = wanted[::-1] if sort.get("sort_order") == "descending" else wanted
            assert ids(root) == order[:page_size], (low, high, sort)
            if output == "bulk":
                assert root.find("result/total_results") is None
            else:
                assert int(root.findtext("result/total_results")) == len(wanted), (low, high)


@pytest.mark.parametrize("output", ["full", "simple", "mobile"])
@pytest.mark.parametrize("limit", [1, 3])
def test_id_range_total_results_in_json(account: PardotEmulator, output: str, limit: int) -> None:
    c = client_for(account)
    live = live_ids(account)
    for low, high in ranges(account):
        wanted = expected_ids(account, low, high, live)
        doc = get(
            c, format="json", id_greater_than=low, id_less_than=high, limit=limit, output=output
        ).json()
        assert doc["result"]["total_results"] == len(wanted), (low, high)


@pytest.mark.parametrize(
    "extra",
    [
        {"sort_by": "created_at"},
        {"sort_by": "value", "sort_order": "ascending"},
        {"sort_by": "probability"},
        {"probability_less_than": 100},
        {"value_greater_than": 300},
    ],
    ids=["created_at", "value", "probability", "probability-filter", "value-filter"],
)
def test_id_range_total_results_on_the_scanning_path(
    account: PardotEmulator, extra: dict[str, Any]
) -> None:
    c = client_for(account)
    rows = {o["id"]: o for o in account.ground_truth()["opportunities"]}
    live = live_ids(account)
    for low, high in ranges(account):
        wanted = [
            i
            for i in expected_ids(account, low, high, live)
            if rows[i]["value"] > extra.get("value_greater_than", -1)
            and rows[i]["probability"] < extra.get("probability_less_than", 101)
        ]
        for limit in (1, 200):
            root = xml(get(c, id_greater_than=low, id_less_than=high, limit=limit, **extra))
            assert int(root.findtext("result/total_results")) == len(wanted), (low, high, limit)
            assert len(ids(root)) == min(limit, len(wanted))
            assert set(ids(root)) <= set(wanted)


def test_after_writes_the_totals_follow() -> None:
    emu = make(opportunities=50)
    c = client_for(emu)
    every = [o["id"] for o in emu.ground_truth()["opportunities"]]
    low, high = every[5], every[30]
    before = expected_ids(emu, low, high)
    emu.delete_opportunity(before[0])
    emu.add_opportunities(2)
    root = xml(get(c, id_greater_than=low, id_less_than=high, limit=1))
    assert int(root.findtext("result/total_results")) == len(before) - 1
    emu.undelete_opportunity(before[0])
    root = xml(get(c, id_greater_than=low, id_less_than=every[-1] + 10, limit=1))
    assert int(root.findtext("result/total_results")) == len(expected_ids(emu, low, 10**9))
