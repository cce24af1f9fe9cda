"""Opportunity events recorded as visitor activities, by the API writes and the control hooks.

Created 8 (one per linked prospect, or one without a prospect), won 9, lost 10, reopened
18, a prospect linked 19 or unlinked 38; delete, undelete and edits that keep the status
record nothing. Each event is a new activity with the next id, created now, in the
opportunity's activities (read, ground truth) and in the account's index.
"""

from typing import Any

import httpx
import pytest

from sources.pardot.constants import OPPORTUNITY_ACTIVITY_TYPES
from sources.pardot_emulator import PardotEmulator

from .conftest import call, client_for, live, make, xml

OPPORTUNITY = "/api/opportunity/version/3/do"


@pytest.fixture
def emu() -> PardotEmulator:
    return make(opportunities=40)


def last_activity_id(emu: PardotEmulator) -> int:
    return max(a["id"] for a in emu.ground_truth()["visitor_activities"])


def new_activities(emu: PardotEmulator, after: int) -> list[dict[str, Any]]:
    """Ground-truth activities with an id above ``after``, by id."""
    return [a for a in emu.ground_truth()["visitor_activities"] if a["id"] > after]


def events(emu: PardotEmulator, after: int) -> list[tuple[int, int, int | None]]:
    """(opportunity_id, type, prospect_id) of the activities recorded since ``after``."""
    return [(a["opportunity_id"], a["type"], a["prospect_id"]) for a in new_activities(emu, after)]


def opportunity(emu: PardotEmulator, oid: int) -> dict[str, Any]:
    return next(o for o in emu.ground_truth()["opportunities"] if o["id"] == oid)


def post(c: httpx.Client, path: str, **data: object) -> httpx.Response:
    return c.post(f"{OPPORTUNITY}/{path}", data={k: str(v) for k, v in data.items()})


def with_prospects(emu: PardotEmulator, count: int) -> int:
    """A live opportunity with exactly ``count`` prospects (linked here if need be)."""
    oid = emu.add_opportunities(1, prospects=0)[0]
    for p in emu.ground_truth()["prospects"][:count]:
        emu.link_prospect(oid, p["id"])
    return oid


def set_status(emu: PardotEmulator, oid: int, status: str) -> None:
    emu.store.opportunities[oid].status = status  # the starting point, without an event


# -- API writes ------------------------------------------------------------------------


def test_api_create_records_one_new_opportunity_event(emu: PardotEmulator) -> None:
    c = client_for(emu)
    prospect = emu.ground_truth()["prospects"][3]
    before = last_activity_id(emu)
    emu.advance_clock(7)
    fields = {"name": "Evt & <Co>", "value": 10, "probability": 20, "campaign_id": 11}
    root = xml(post(c, f"create/prospect_id/{prospect['id']}", **fields, status="won"))
    oid = int(root.findtext("opportunity/id"))
    [event] = new_activities(emu, before)
    now = emu.now().isoformat()
    assert event == {
        "id": before + 1,
        "opportunity_id": oid,
        "prospect_id": prospect["id"],
        "visitor_id": None,
        "type": 8,
        "type_name": "New Opportunity",
        "details": "Evt & <Co>",
        "campaign_id": 11,
        "created_at": now,
        "updated_at": now,
    }, "created won: only the creation is recorded"
    row = opportunity(emu, oid)
    assert row["created_at"] == row["updated_at"] == now
    # the create answer, a read and output=full show it
    shown = root.findall("opportunity/opportunity_activities/visitor_activity")
    assert [int(a.findtext("id")) for a in shown] == [event["id"]]
    read = call(c, "read", id=oid)
    assert read.findtext("opportunity/opportunity_activities/visitor_activity/type") == "8"
    assert read.findtext(".//visitor_activity/type_name") == "New Opportunity"


@pytest.mark.parametrize(
    ("start", "status", "code"),
    [
        pytest.param("open", "won", 9, id="open-won"),
        pytest.param("open", "lost", 10, id="open-lost"),
        pytest.param("won", "lost", 10, id="won-lost"),
        pytest.param("lost", "won", 9, id="lost-won"),
        pytest.param("won", "open", 18, id="won-open"),
        pytest.param("lost", "open", 18, id="lost-open"),
        pytest.param("won", "", 18, id="won-cleared"),
        pytest.param("", "won", 9, id="cleared-won"),
        pytest.param("open", "open", None, id="open-open"),
        pytest.param("won", "Won", None, id="won-won"),
        pytest.param("open", "", None, id="open-cleared"),
    ],
)
def test_api_status_changes(emu: PardotEmulator, start: str, status: str, code: int | None) -> None:
    oid = with_prospects(emu, 1)
    set_status(emu, oid, start)
    prospect = emu.store.opportunities[oid].prospect_ids[0]
    before = last_activity_id(emu)
    emu.advance_clock(3)
    post(client_for(emu), f"update/id/{oid}", status=status)
    expected = [] if code is None else [(oid, code, prospect)]
    assert events(emu, before) == expected
    assert opportunity(emu, oid)["updated_at"] == emu.now().isoformat(), "bumped as before"


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_status_event_per_linked_prospect_or_one_without(emu: PardotEmulator, count: int) -> None:
    oid = with_prospects(emu, count)
    set_status(emu, oid, "open")
    prospects = list(emu.store.opportunities[oid].prospect_ids)
    assert len(prospects) == count
    before = last_activity_id(emu)
    post(client_for(emu), f"update/id/{oid}", status="lost")
    assert events(emu, before) == [(oid, 10, p) for p in prospects or [None]]


def test_api_edits_that_keep_the_status_record_nothing(emu: PardotEmulator) -> None:
    c = client_for(emu)
    oid = with_prospects(emu, 2)
    set_status(emu, oid, "won")
    before = last_activity_id(emu)
    for fields in (
        {"stage": "Negotiation"},
        {"value": 1234.5},
        {"probability": 55},
        {"name": "Renamed"},
        {"type": "Upsell", "closed_at": "2024-03-01 10:00:00", "campaign_id": 18},
        {"status": "won", "stage": "Closed Won"},
    ):
        emu.advance_clock(1)
        assert post(c, f"update/id/{oid}", **fields).status_code == 200
        assert opportunity(emu, oid)["updated_at"] == emu.now().isoformat()
    assert events(emu, before) == []


def test_api_delete_and_undelete_record_nothing(emu: PardotEmulator) -> None:
    c = client_for(emu)
    oid = with_prospects(emu, 1)
    before = last_activity_id(emu)
    emu.advance_clock(5)
    assert post(c, f"delete/id/{oid}").content == b""
    assert opportunity(emu, oid)["updated_at"] == emu.now().isoformat()
    emu.advance_clock(5)
    assert post(c, f"undelete/id/{oid}").content == b""
    assert opportunity(emu, oid)["updated_at"] == emu.now().isoformat()
    assert events(emu, before) == []


def test_an_event_takes_the_current_name_and_campaign(emu: PardotEmulator) -> None:
    oid = with_prospects(emu, 1)
    set_status(emu, oid, "open")
    before = last_activity_id(emu)
    post(client_for(emu), f"update/id/{oid}", status="won", name="New name", campaign_id=25)
    [event] = new_activities(emu, before)
    assert (event["details"], event["campaign_id"], event["type_name"]) == (
        "New name",
        25,
        "Opportunity Won",
    )
    post(client_for(emu), f"update/id/{oid}", status="open", campaign_id="")
    [reopened] = new_activities(emu, event["id"])
    assert reopened["campaign_id"] is None and reopened["type_name"] == "Opportunity Reopened"


# -- control hooks -------------------------------------------------------------------


def test_control_create_and_add_opportunities(emu: PardotEmulator) -> None:
    prospects = emu.ground_truth()["prospects"]
    before = last_activity_id(emu)
    oid = emu.create_opportunity(
        name="Ctl", value=1, probability=1, prospect_id=prospects[0]["id"], status="lost"
    )
    assert events(emu, before) == [(oid, 8, prospects[0]["id"])]
    before = last_activity_id(emu)
    bare = emu.add_opportunities(2, prospects=0, activities=0)
    assert events(emu, before) == [(bare[0], 8, None), (bare[1], 8, None)]
    before = last_activity_id(emu)
    linked = emu.add_opportunities(3, prospects=2, activities=1)
    for new in linked:
        opp = emu.store.opportunities[new]
        assert opp.prospect_ids
        assert len(opp.activities) == 1 + len(opp.prospect_ids), "one generated + the events"
        creations = opp.activities[1:]
        assert [(a.type, a.prospect_id) for a in creations] == [(8, p) for p in opp.prospect_ids]
        assert all(a.created_at == opp.created_at == opp.updated_at for a in creations)
        assert all(a.id > before for a in opp.activities)


def test_control_update_link_unlink_delete_undelete(emu: PardotEmulator) -> None:
    oid = with_prospects(emu, 1)
    set_status(emu, oid, "open")
    first = emu.store.opportunities[oid].prospect_ids[0]
    other = emu.ground_truth()["prospects"][5]["id"]
    before = last_activity_id(emu)
    emu.update_opportunity(oid, status="won")
    emu.update_opportunity(oid, stage="Closed", value=5)
    emu.link_prospect(oid, other)
    emu.advance_clock(9)
    updated = opportunity(emu, oid)["updated_at"]
    emu.link_prospect(oid, other)  # already linked: no change at all
    assert opportunity(emu, oid)["updated_at"] == updated
    emu.update_opportunity(oid, status="lost")
    emu.unlink_prospect(oid, first)
    assert opportunity(emu, oid)["updated_at"] == emu.now().isoformat()
    emu.delete_opportunity(oid)
    emu.undelete_opportunity(oid)
    emu.update_opportunity(oid, status="open")
    assert events(emu, before) == [
        (oid, 9, first),
        (oid, 19, other),
        (oid, 10, first),
        (oid, 10, other),
        (oid, 38, first),
        (oid, 18, other),
    ]
    names = [a["type_name"] for a in new_activities(emu, before)]
    assert names == [OPPORTUNITY_ACTIVITY_TYPES[t] for _, t, _ in events(emu, before)]
    assert "Opportunity Associated" in names and "Opportunity Unlinked" in names


def test_link_and_unlink_on_a_deleted_opportunity_are_recorded(emu: PardotEmulator) -> None:
    oid = with_prospects(emu, 1)
    emu.delete_opportunity(oid)
    other = emu.ground_truth()["prospects"][6]["id"]
    before = last_activity_id(emu)
    emu.link_prospect(oid, other)
    emu.unlink_prospect(oid, other)
    assert events(emu, before) == [(oid, 19, other), (oid, 38, other)]


def test_http_control_actions_record_events() -> None:
    emu = make(opportunities=20)
    c = client_for(emu, headers={})
    pid = emu.ground_truth()["prospects"][0]["id"]
    other = emu.ground_truth()["prospects"][1]["id"]
    before = last_activity_id(emu)
    created = c.post(
        "/_emulator/create_opportunity",
        json={"name": "N", "value": 5, "probability": 9, "prospect_id": pid, "status": "open"},
    ).json()["id"]
    c.post("/_emulator/update_opportunity", json={"id": created, "status": "won"})
    c.post("/_emulator/update_opportunity", json={"id": created, "stage": "S"})
    c.post("/_emulator/link_prospect", json={"opportunity_id": created, "prospect_id": other})
    c.post("/_emulator/unlink_prospect", json={"opportunity_id": created, "prospect_id": pid})
    c.post("/_emulator/delete_opportunity", json={"id": created})
    c.post("/_emulator/undelete_opportunity", json={"id": created})
    added = c.post("/_emulator/add_opportunities", json={"n": 1, "prospects": 0}).json()["ids"]
    recorded = events(emu, before)
    assert recorded[:4] == [
        (created, 8, pid),
        (created, 9, pid),
        (created, 19, other),
        (created, 38, pid),
    ]
    assert (added[0], 8, None) in recorded[4:]
    truth = c.get("/_emulator/ground_truth").json()
    over_http = [
        (a["opportunity_id"], a["type"], a["prospect_id"])
        for a in truth["visitor_activities"]
        if a["id"] > before
    ]
    assert over_http == recorded


# -- ids, the index, the ground truth --------------------------------------------------


def test_new_activity_ids_increase_past_every_existing_one(emu: PardotEmulator) -> None:
    oid = with_prospects(emu, 2)
    start = last_activity_id(emu)
    recorded: list[int] = []
    for status in ("won", "open", "lost"):
        emu.update_opportunity(oid, status=status)
        recorded += [a["id"] for a in new_activities(emu, max([start, *recorded]))]
    recorded.append(emu.add_activity(oid, details="manual"))
    emu.unlink_prospect(oid, emu.store.opportunities[oid].prospect_ids[0])
    recorded += [a["id"] for a in new_activities(emu, recorded[-1])]
    assert recorded == list(range(start + 1, start + 1 + len(recorded)))
    assert emu.store.activities.last_id == recorded[-1]


def test_the_index_holds_exactly_the_ground_truth_activities(emu: PardotEmulator) -> None:
    oid = with_prospects(emu, 1)
    emu.update_opportunity(oid, status="won")
    emu.add_activity(oid, type=2, type_name="Landing Page", landing_page_id=5)
    emu.delete_opportunity(live(emu)[0]["id"])
    truth = emu.ground_truth()["visitor_activities"]
    index = emu.store.activities
    assert index.ids == [a["id"] for a in truth]
    for code, ids in index.ids_by_type.items():
        assert ids == [a["id"] for a in truth if a["type"] == code]


def test_render_cache_shows_a_new_event_on_read() -> None:
    emu = make(opportunities=20, render_cache=True)
    c = client_for(emu)
    oid = with_prospects(emu, 1)
    set_status(emu, oid, "open")
    emu.store.changed(oid)
    types = [a.findtext("type") for a in call(c, "read", id=oid).iter("visitor_activity")]
    emu.update_opportunity(oid, status="won")
    after = [a.findtext("type") for a in call(c, "read", id=oid).iter("visitor_activity")]
    assert after == [*types, "9"]
