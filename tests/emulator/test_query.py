"""Query semantics: strict filters, errors, sort orders, paging, outputs."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from sources.pardot_emulator import PardotEmulator

from .conftest import call, client_for, err_code, ids, live, make

NY = ZoneInfo("America/New_York")


def local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(NY).strftime("%Y-%m-%d %H:%M:%S")


def total(root: object) -> int:
    return int(root.findtext("result/total_results"))  # type: ignore[attr-defined]


def test_created_filters_are_strict(client: httpx.Client, emu: PardotEmulator) -> None:
    rows = live(emu)
    pivot = rows[len(rows) // 2]["created_at"]
    after = call(client, "query", created_after=local(pivot), sort_by="id")
    expected = [o["id"] for o in rows if o["created_at"] > pivot]
    assert total(after) == len(expected)
    before = call(client, "query", created_before=local(pivot), sort_by="id", limit=200)
    expected_before = [o["id"] for o in rows if o["created_at"] < pivot]
    assert total(before) == len(expected_before)
    assert ids(before) == expected_before[:200]


def test_created_filter_with_zone_designators(client: httpx.Client, emu: PardotEmulator) -> None:
    rows = live(emu)
    pivot = datetime.fromisoformat(rows[40]["created_at"])
    expected = sum(1 for o in rows if datetime.fromisoformat(o["created_at"]) > pivot)
    for text in (
        pivot.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pivot.astimezone(timezone_plus_2()).isoformat(),
        pivot.astimezone(NY).strftime("%Y-%m-%dT%H:%M:%S"),
    ):
        assert total(call(client, "query", created_after=text)) == expected, text


def timezone_plus_2() -> object:
    from datetime import timezone

    return timezone(timedelta(hours=2))


def test_date_only_and_keywords(client: httpx.Client, emu: PardotEmulator) -> None:
    rows = live(emu)
    assert total(call(client, "query", created_after="2000-01-01")) == len(rows)
    midnight = datetime(2024, 3, 9, tzinfo=NY).astimezone(UTC).isoformat()  # "today" at start
    earlier = sum(o["created_at"] < midnight for o in rows)
    assert total(call(client, "query", created_before="today")) == earlier
    assert total(call(client, "query", created_after="today")) == len(rows) - earlier
    fresh = make(opportunities=20)
    c = client_for(fresh)
    fresh.add_opportunities(3)
    for keyword in ("today", "yesterday", "last_7_days", "this_month"):
        assert total(call(c, "query", created_after=keyword)) >= 3, keyword
    assert total(call(c, "query", created_after="yesterday", created_before="today")) == 0
    assert err_code(call(c, "query", created_after="last_month")) is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"created_after": "not a date"}, 7, id="bad-time"),
        pytest.param({"created_after": "2019-12-31 24:59:59"}, 7, id="hour-24"),
        pytest.param(
            {"created_after": "2024-01-02", "created_before": "2024-01-01"}, 8, id="time-range"
        ),
        pytest.param({"id_greater_than": "10", "id_less_than": "5"}, 17, id="id-range"),
        pytest.param({"id_greater_than": "x"}, 16, id="id-not-int"),
        pytest.param({"limit": "201"}, 23, id="limit-high"),
        pytest.param({"limit": "0"}, 23, id="limit-zero"),
        pytest.param({"limit": "ten"}, 23, id="limit-text"),
        pytest.param({"offset": "-1"}, 21, id="offset-negative"),
        pytest.param({"offset": "x"}, 21, id="offset-text"),
        pytest.param({"sort_by": "updated_at"}, 19, id="sort-by"),
        pytest.param({"sort_order": "up"}, 20, id="sort-order"),
        pytest.param({"probability_greater_than": "101"}, 41, id="probability"),
        pytest.param(
            {"probability_greater_than": "60", "probability_less_than": "50"}, 41, id="prob-range"
        ),
        pytest.param({"value_less_than": "-5"}, 43, id="value"),
        pytest.param({"prospect_id": "999999999"}, 3, id="prospect-id"),
        pytest.param({"prospect_email": "nobody@nowhere.test"}, 4, id="prospect-email"),
    ],
)
def test_query_errors(client: httpx.Client, params: dict[str, str], code: int) -> None:
    assert err_code(call(client, "query", **params)) == code


def test_id_value_probability_filters_are_strict(client: httpx.Client, emu: PardotEmulator) -> None:
    rows = live(emu)
    pivot = rows[10]
    root = call(
        client, "query", id_greater_than=pivot["id"], id_less_than=rows[20]["id"], sort_by="id"
    )
    assert ids(root) == [o["id"] for o in rows[11:20]]
    p = pivot["probability"]
    expected = [o["id"] for o in rows if p < o["probability"] < 100]
    root = call(
        client, "query", probability_greater_than=p, probability_less_than=100, sort_by="id"
    )
    assert total(root) == len(expected) and ids(root) == expected[:200]
    v = pivot["value"]
    assert total(call(client, "query", value_greater_than=v)) == sum(o["value"] > v for o in rows)
    assert total(call(client, "query", value_less_than=v)) == sum(o["value"] < v for o in rows)


def test_prospect_filters_and_mismatch(client: httpx.Client, emu: PardotEmulator) -> None:
    truth = emu.ground_truth()
    deleted = {o["id"] for o in truth["opportunities"] if o["is_deleted"]}
    link = next(x for x in truth["opportunity_prospects"] if x["opportunity_id"] not in deleted)
    pid = link["prospect_id"]
    expected = sorted(
        x["opportunity_id"]
        for x in truth["opportunity_prospects"]
        if x["prospect_id"] == pid and x["opportunity_id"] not in deleted
    )
    assert ids(call(client, "query", prospect_id=pid, sort_by="id")) == expected
    email = next(p["email"] for p in truth["prospects"] if p["id"] == pid)
    other = next(p["id"] for p in truth["prospects"] if p["email"] != email)
    assert err_code(call(client, "query", prospect_id=other, prospect_email=email)) == 44
    root = call(client, "query", prospect_id=pid, prospect_email=email.upper(), sort_by="id")
    assert ids(root) == expected


def test_v4_prospect_email_matches_every_prospect_with_it() -> None:
    emu = make(opportunities=40, api_version=4)
    truth = emu.ground_truth()
    a, b = truth["prospects"][0]["id"], truth["prospects"][1]["id"]
    emu.store.prospects[b].email = emu.store.prospects[a].email
    emu.store.prospects_by_email[emu.store.prospects[a].email.lower()].append(b)
    first = emu.add_opportunities(1, prospects=0)[0]
    second = emu.add_opportunities(1, prospects=0)[0]
    emu.link_prospect(first, a)
    emu.link_prospect(second, b)
    c = client_for(emu)
    found = ids(call(c, "query", version=4, prospect_email=emu.store.prospects[a].email))
    assert {first, second} <= set(found)


@pytest.mark.parametrize(
    ("sort_by", "key", "descending"),
    [
        pytest.param("created_at", "created_at", True, id="created_at"),
        pytest.param("id", "id", False, id="id"),
        pytest.param("probability", "probability", True, id="probability"),
        pytest.param("value", "value", True, id="value"),
    ],
)
def test_default_sort_orders(
    client: httpx.Client, emu: PardotEmulator, sort_by: str, key: str, descending: bool
) -> None:
    rows = live(emu)
    expected = sorted(rows, key=lambda o: (o[key], o["id"]), reverse=descending)
    assert ids(call(client, "query", sort_by=sort_by, limit=50)) == [o["id"] for o in expected[:50]]
    flipped = "ascending" if descending else "descending"
    expected.reverse()
    root = call(client, "query", sort_by=sort_by, sort_order=flipped, limit=50)
    assert ids(root) == [o["id"] for o in expected[:50]]


def test_limit_offset_total(client: httpx.Client, emu: PardotEmulator) -> None:
    rows = live(emu)
    root = call(client, "query", sort_by="id", limit=7, offset=5)
    assert ids(root) == [o["id"] for o in rows[5:12]] and total(root) == len(rows)
    root = call(client, "query", sort_by="id", sort_order="descending", limit=3, offset=1)
    assert ids(root) == [o["id"] for o in rows[::-1][1:4]]
    assert len(ids(call(client, "query"))) == 200
    assert ids(call(client, "query", offset=len(rows))) == []


def test_keyset_paging_covers_exactly_the_live_ids() -> None:
    emu = make(opportunities=2500, id_gap=50)
    c = client_for(emu)
    seen: list[int] = []
    cursor = 0
    while True:
        page = ids(
            call(
                c,
                "query",
                output="bulk",
                sort_by="id",
                sort_order="ascending",
                id_greater_than=cursor,
            )
        )
        seen += page
        if len(page) < 200:
            break
        cursor = page[-1]
    assert seen == [o["id"] for o in live(emu)]
    assert max(b - a for a, b in itertools.pairwise(seen)) > 1


def test_outputs(client: httpx.Client) -> None:
    full = call(client, "query", sort_by="id", limit=50)
    opp = full.find("result/opportunity")
    assert opp.find("campaign/name") is not None and opp.find("prospects") is not None
    # as the documentation has it, only a read nests the activities (by default)
    assert full.find("result/opportunity/opportunity_activities") is None
    assert full.find("result/opportunity/campaign_id") is None
    simple = call(client, "query", sort_by="id", limit=50, output="simple")
    assert (
        simple.find(".//opportunity_activities") is None and simple.find(".//prospects") is not None
    )
    bulk = call(client, "query", sort_by="id", limit=50, output="bulk")
    assert bulk.find("result/total_results") is None
    assert bulk.find(".//campaign") is None and bulk.find(".//prospects") is None
    assert bulk.find("result/opportunity/campaign_id") is not None
    mobile = call(client, "query", sort_by="id", output="mobile")
    assert len(ids(mobile)) == total(mobile) > 200
    assert mobile.find(".//created_at") is None


def test_empty_prospects_element(client: httpx.Client, emu: PardotEmulator) -> None:
    truth = emu.ground_truth()
    linked = {x["opportunity_id"] for x in truth["opportunity_prospects"]}
    lonely = next(o["id"] for o in live(emu) if o["id"] not in linked)
    root = call(client, "read", id=lonely)
    assert len(root.find("opportunity/prospects")) == 0


def test_query_activities_switch() -> None:
    emu = make(opportunities=30, query_includes_activities=False)
    c = client_for(emu)
    assert call(c, "query").find(".//opportunity_activities") is None
    oid = live(emu)[0]["id"]
    assert call(c, "read", id=oid).find("opportunity/opportunity_activities") is not None


def test_rendering_switches() -> None:
    emu = make(
        opportunities=60,
        status_case="capitalized",
        emit_empty_closed_at=False,
        top_level_campaign_id=True,
    )
    root = call(client_for(emu), "query", sort_by="id")
    statuses = set(root.xpath("//opportunity/status/text()"))
    assert statuses <= {"Open", "Won", "Lost"} and statuses
    for opp in root.iter("opportunity"):
        closed = opp.find("closed_at")
        assert closed is None or closed.text
        assert opp.find("campaign_id") is not None
    assert all(float(v) == round(float(v), 2) and "." in v for v in root.xpath("//value/text()"))


def test_read_unknown_and_bad_id(client: httpx.Client) -> None:
    assert err_code(call(client, "read", id=1)) == 35
    assert err_code(call(client, "read", id="abc")) == 16


def test_new_opportunities_are_found_and_created_now() -> None:
    emu = make(opportunities=10)
    before = emu.now()
    new = emu.add_opportunities(5, same_second=True)
    assert len({emu.store.opportunities[i].created_at for i in new}) == 1
    spread = emu.add_opportunities(3)
    assert len({emu.store.opportunities[i].created_at for i in spread}) == 3
    assert emu.now() >= before + timedelta(seconds=2)
    root = call(client_for(emu), "query", id_greater_than=new[0] - 1, sort_by="id")
    assert ids(root) == new + spread
    assert all(
        datetime.fromisoformat(emu.ground_truth()["opportunities"][-1]["created_at"]) <= emu.now()
        for _ in [0]
    )
    assert emu.now().tzinfo == UTC
