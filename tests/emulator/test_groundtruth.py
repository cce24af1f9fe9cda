"""Ground truth shape, XML round trip against it, JSON quirks, DST rendering."""

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from sources.pardot_emulator import PardotEmulator
from sources.pardot_emulator.render import xml_ok

from .conftest import call, client_for, live, make

NY = ZoneInfo("America/New_York")


def test_shape_and_types(emu: PardotEmulator) -> None:
    truth = json.loads(emu.ground_truth_json())
    assert set(truth) == {
        "opportunities",
        "campaigns",
        "prospects",
        "opportunity_prospects",
        "visitor_activities",
    }
    opp = truth["opportunities"][0]
    assert set(opp) == {
        "id",
        "name",
        "value",
        "probability",
        "type",
        "stage",
        "status",
        "campaign_id",
        "closed_at",
        "created_at",
        "updated_at",
        "is_deleted",
    }
    assert [o["id"] for o in truth["opportunities"]] == sorted(
        o["id"] for o in truth["opportunities"]
    )
    assert any(o["is_deleted"] for o in truth["opportunities"])
    assert all(
        isinstance(o["value"], float) and isinstance(o["probability"], int)
        for o in truth["opportunities"]
    )
    assert {o["status"] for o in truth["opportunities"]} <= {"open", "won", "lost", None}
    assert any(o["type"] is None for o in truth["opportunities"])
    assert all(o["created_at"].endswith("+00:00") for o in truth["opportunities"])
    assert 15 <= len(truth["campaigns"]) <= 25 and any(
        c["cost"] is None for c in truth["campaigns"]
    )
    assert any("&" in c["name"] for c in truth["campaigns"]) and any(
        "<" in c["name"] for c in truth["campaigns"]
    )
    activity = truth["visitor_activities"][0]
    assert {
        "id",
        "opportunity_id",
        "prospect_id",
        "visitor_id",
        "type",
        "type_name",
        "details",
        "campaign_id",
        "created_at",
        "updated_at",
    } <= set(activity)
    assert {a["type"] for a in truth["visitor_activities"]} <= {8, 9, 10, 18, 19, 38}
    assert any("form_id" in a or "email_id" in a for a in truth["visitor_activities"])
    ids = [o["id"] for o in truth["opportunities"]]
    created = [o["created_at"] for o in truth["opportunities"]]
    assert created == sorted(created) and len(set(created)) < len(created)  # bursts share seconds
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # id_gap=1: dense


def test_deterministic_from_seed() -> None:
    assert make(opportunities=50).ground_truth() == make(opportunities=50).ground_truth()
    assert make(opportunities=50).ground_truth() != make(opportunities=50, seed=8).ground_truth()


def test_xml_round_trips_to_ground_truth(client: httpx.Client, emu: PardotEmulator) -> None:
    truth = emu.ground_truth()
    campaigns = {c["id"]: c for c in truth["campaigns"]}
    prospects = {p["id"]: p for p in truth["prospects"]}
    activities = {a["id"]: a for a in truth["visitor_activities"]}
    rows = {o["id"]: o for o in live(emu)}
    root = call(client, "query", sort_by="id", output="mobile")
    assert len(root.findall("result/opportunity")) == len(rows)
    seen = 0
    for cursor in range(0, len(rows), 200):
        page = call(client, "query", sort_by="id", offset=cursor)
        for opp in page.iter("opportunity"):
            row = rows[int(opp.findtext("id"))]
            assert (opp.findtext("name") or None) == row["name"]
            assert float(opp.findtext("value")) == row["value"]
            assert (opp.findtext("type") or None) == row["type"]
            assert (opp.findtext("stage") or None) == row["stage"]
            created = datetime.strptime(opp.findtext("created_at"), "%Y-%m-%d %H:%M:%S")
            assert created.replace(tzinfo=NY).astimezone(UTC).isoformat() == row[
                "created_at"
            ] or _ambiguous(created)
            cid = opp.findtext("campaign/id")
            assert (int(cid) if cid else None) == row["campaign_id"]
            if cid:
                assert opp.findtext("campaign/name") == campaigns[int(cid)]["name"]
            for p in opp.iterfind("prospects/prospect"):
                expected = prospects[int(p.findtext("id"))]
                for field in ("first_name", "last_name", "email", "company"):
                    assert (p.findtext(field) or None) == expected[field]
            for a in opp.iterfind("opportunity_activities/visitor_activity"):
                expected = activities[int(a.findtext("id"))]
                assert (a.findtext("details") or None) == expected["details"]
                assert int(a.findtext("type")) == expected["type"]
            seen += 1
    assert seen == len(rows)


def _ambiguous(local: datetime) -> bool:
    return (
        local.replace(tzinfo=NY, fold=0).utcoffset() != local.replace(tzinfo=NY, fold=1).utcoffset()
    )


def test_dst_fall_back_hour_rendered_in_local_time() -> None:
    emu = make(opportunities=5)
    oid = live(emu)[0]["id"]
    first = emu.add_activity(oid, created_at=datetime(2023, 11, 5, 5, 30, tzinfo=UTC))
    second = emu.add_activity(oid, created_at="2023-11-05T06:30:00+00:00")
    spring = emu.add_activity(oid, created_at=datetime(2024, 3, 10, 7, 0, tzinfo=UTC))
    root = call(client_for(emu), "read", id=oid)
    rendered = {
        int(a.findtext("id")): a.findtext("created_at") for a in root.iter("visitor_activity")
    }
    assert rendered[first] == rendered[second] == "2023-11-05 01:30:00"
    assert rendered[spring] == "2024-03-10 03:00:00"
    # generated history contains opportunities inside the repeated hour as well
    big = make(opportunities=400)
    stamps = [datetime.fromisoformat(o["created_at"]) for o in big.ground_truth()["opportunities"]]
    assert any(_ambiguous(s.astimezone(NY).replace(tzinfo=None)) for s in stamps)


def test_fast_xml_equals_tree_xml() -> None:
    emu = make(opportunities=120, top_level_campaign_id=True, status_case="capitalized")
    rows = [emu.store.opportunities[i] for i in emu.store.live_ids]
    for output in ("full", "simple", "mobile", "bulk"):
        for activities in (True, False):
            tree = emu.views.query_result(rows, len(rows), output, activities)
            assert emu.api.xml.query(rows, len(rows), output, activities) == xml_ok([tree])
    emu.add_activity(rows[0].id, details="x")
    assert emu.api.xml.single(rows[0], "full") == xml_ok(
        [emu.views.opportunity(rows[0], "full", True)]
    )


def test_json_one_vs_many_quirk() -> None:
    emu = make(opportunities=30)
    c = client_for(emu)
    rows = live(emu)

    def query(**params: object) -> dict:
        return c.get(
            "/api/opportunity/version/3/do/query",
            params={"format": "json", "sort_by": "id", **params},
        ).json()

    assert "opportunity" not in query(id_greater_than=rows[-1]["id"])["result"]
    one = query(limit=1)["result"]
    assert isinstance(one["opportunity"], dict) and one["total_results"] == len(rows)
    assert isinstance(query(limit=2)["result"]["opportunity"], list)
    bulk = query(output="bulk", id_greater_than=rows[-1]["id"])
    assert bulk["result"] is None
    truth = emu.ground_truth()
    counts: dict[int, int] = {}
    for link in truth["opportunity_prospects"]:
        counts[link["opportunity_id"]] = counts.get(link["opportunity_id"], 0) + 1
    live_ids = [o["id"] for o in rows]
    none = next(i for i in live_ids if i not in counts)
    single = next(i for i in live_ids if counts.get(i) == 1)
    many = next(i for i in live_ids if counts.get(i, 0) > 1)

    def read(i: int) -> dict:
        path = f"/api/opportunity/version/3/do/read/id/{i}/format/json"
        return c.get(path).json()["opportunity"]

    assert read(none)["prospects"] is None
    assert isinstance(read(single)["prospects"]["prospect"], dict)
    assert isinstance(read(many)["prospects"]["prospect"], list)
    doc = read(single)
    assert isinstance(doc["id"], int) and isinstance(doc["value"], float)
    assert doc["closed_at"] is None or isinstance(doc["closed_at"], str)


def test_an_id_jump_leaves_the_old_ids_far_below_the_rest() -> None:
    truth = make(opportunities=300, id_jump=(100, 1_000_000)).ground_truth()
    ids = [o["id"] for o in truth["opportunities"]]
    assert ids[:100] == list(range(ids[0], ids[0] + 100))
    assert ids[100] == ids[99] + 1 + 1_000_000
    assert ids[100:] == list(range(ids[100], ids[100] + 200))
