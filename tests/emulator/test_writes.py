"""Create, update, delete, undelete: validation, soft delete, CRM mode, control actions."""

from datetime import UTC, datetime

import httpx
import pytest

from sources.pardot_emulator import ApiError, PardotEmulator

from .conftest import call, client_for, err_code, ids, live, make, xml


@pytest.fixture
def writable() -> PardotEmulator:
    return make(opportunities=40)


def post(c: httpx.Client, path: str, **data: object) -> httpx.Response:
    return c.post(path, data={k: str(v) for k, v in data.items()})


def first_prospect(emu: PardotEmulator) -> dict[str, object]:
    return emu.ground_truth()["prospects"][0]


def test_create_by_email_in_path_and_by_id_in_body(writable: PardotEmulator) -> None:
    c = client_for(writable)
    p = first_prospect(writable)
    writable.advance_clock(5)
    response = post(
        c, f"/api/opportunity/version/3/do/create/prospect_email/{p['email']}",
        name="Large <Customer> & Co", value=100, probability=70, status="Won", campaign_id=11,
    )  # fmt: skip
    opp = xml(response).find("opportunity")
    assert opp.findtext("name") == "Large <Customer> & Co" and opp.findtext("value") == "100.00"
    assert opp.findtext("status") == "won" and opp.findtext("campaign/id") == "11"
    assert opp.findtext("prospects/prospect/id") == str(p["id"])
    assert opp.find("opportunity_activities") is not None
    new_id = int(opp.findtext("id"))
    row = next(o for o in writable.ground_truth()["opportunities"] if o["id"] == new_id)
    assert row["created_at"] == row["updated_at"] == writable.now().isoformat()
    second = post(
        c,
        "/api/opportunity/version/3/do/create",
        prospect_id=p["id"],
        name="B",
        value=1.5,
        probability=0,
    )
    assert xml(second).findtext("opportunity/value") == "1.50"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"value": 1, "probability": 1}, 36, id="no-name"),
        pytest.param({"name": "x", "probability": 1}, 36, id="no-value"),
        pytest.param({"name": "x", "value": 1}, 36, id="no-probability"),
        pytest.param({"name": "x", "value": 1, "probability": 101}, 40, id="probability"),
        pytest.param({"name": "x", "value": 1, "probability": "half"}, 40, id="probability-text"),
        pytest.param({"name": "x", "value": -1, "probability": 1}, 42, id="negative-value"),
        pytest.param({"name": "x", "value": "lots", "probability": 1}, 42, id="value-text"),
        pytest.param(
            {"name": "x", "value": 1, "probability": 1, "campaign_id": 4}, 38, id="campaign"
        ),
        pytest.param(
            {"name": "x", "value": 1, "probability": 1, "status": "maybe"}, 10000, id="status"
        ),
        pytest.param(
            {"name": "x", "value": 1, "probability": 1, "closed_at": "soon"}, 7, id="closed_at"
        ),
    ],
)
def test_create_validation(writable: PardotEmulator, fields: dict[str, object], code: int) -> None:
    c = client_for(writable)
    p = first_prospect(writable)
    response = post(c, "/api/opportunity/version/3/do/create", prospect_id=p["id"], **fields)
    assert err_code(xml(response)) == code


def test_create_prospect_errors(writable: PardotEmulator) -> None:
    c = client_for(writable)
    prospects = writable.ground_truth()["prospects"]
    base = {"name": "x", "value": 1, "probability": 1}
    assert err_code(xml(post(c, "/api/opportunity/version/3/do/create", **base))) == 36
    mismatch = {"prospect_id": prospects[0]["id"], "prospect_email": prospects[1]["email"]}
    if prospects[0]["email"] != prospects[1]["email"]:
        assert (
            err_code(xml(post(c, "/api/opportunity/version/3/do/create", **base, **mismatch))) == 44
        )
    assert (
        err_code(xml(post(c, "/api/opportunity/version/3/do/create", **base, prospect_id=1))) == 3
    )
    unknown = {"prospect_email": "ghost@example.org"}
    assert err_code(xml(post(c, "/api/opportunity/version/3/do/create", **base, **unknown))) == 4


def test_update_changes_only_given_fields_and_clears_empty(writable: PardotEmulator) -> None:
    c = client_for(writable)
    oid = live(writable)[0]["id"]
    before = next(o for o in live(writable) if o["id"] == oid)
    writable.advance_clock(60)
    root = xml(
        post(
            c,
            f"/api/opportunity/version/3/do/update/id/{oid}",
            value=50000,
            type="",
            closed_at="2024-03-01 10:00:00",
        )
    )
    assert root.findtext("opportunity/value") == "50000.00"
    after = next(o for o in live(writable) if o["id"] == oid)
    assert after["type"] is None and after["name"] == before["name"]
    assert after["closed_at"] == "2024-03-01T15:00:00+00:00"
    assert after["updated_at"] == writable.now().isoformat() != before["updated_at"]
    # GET works for updates too
    root = call(c, "update", id=oid, stage="Negotiation & <Review>")
    assert root.findtext("opportunity/stage") == "Negotiation & <Review>"
    assert err_code(call(c, "update", id=oid, name="")) == 36
    assert err_code(call(c, "update", id=oid, probability=-1)) == 40
    assert err_code(call(c, "update", id=1, name="x")) == 35


def test_soft_delete_and_undelete(writable: PardotEmulator) -> None:
    c = client_for(writable)
    oid = live(writable)[3]["id"]
    response = c.request("DELETE", f"/api/opportunity/version/3/do/delete/id/{oid}")
    assert response.status_code == 200 and response.content == b""
    assert err_code(call(c, "read", id=oid)) == 35
    assert oid not in ids(call(c, "query", sort_by="id"))
    assert err_code(call(c, "delete", id=oid)) == 35
    row = next(o for o in writable.ground_truth()["opportunities"] if o["id"] == oid)
    assert row["is_deleted"] is True
    response = post(c, f"/api/opportunity/version/3/do/undelete/id/{oid}")
    assert response.content == b""
    assert call(c, "read", id=oid).findtext("opportunity/id") == str(oid)
    assert oid in ids(call(c, "query", sort_by="id"))
    assert err_code(call(c, "undelete", id=123)) == 35


def test_crm_connector_refuses_writes() -> None:
    emu = make(opportunities=5, crm_connector=True)
    c = client_for(emu)
    oid = live(emu)[0]["id"]
    for op in ("create", "update", "delete", "undelete"):
        assert err_code(call(c, op, id=oid, name="x")) == 59
    assert err_code(call(c, "read", id=oid)) is None


def test_control_actions(writable: PardotEmulator) -> None:
    p = first_prospect(writable)
    oid = writable.create_opportunity(
        name="Ctl", value=10, probability=5, prospect_id=p["id"], status="open"
    )
    writable.update_opportunity(
        oid, value=20.5, closed_at=datetime(2024, 3, 9, 6, 30, tzinfo=UTC), stage=None
    )
    other = writable.ground_truth()["prospects"][2]["id"]
    writable.link_prospect(oid, other)
    act = writable.add_activity(
        oid, type=19, type_name="Opportunity Associated", prospect_id=other, form_id=77
    )
    writable.unlink_prospect(oid, p["id"])
    truth = writable.ground_truth()
    row = next(o for o in truth["opportunities"] if o["id"] == oid)
    assert (
        row["value"] == 20.5
        and row["closed_at"] == "2024-03-09T06:30:00+00:00"
        and row["stage"] is None
    )
    assert [
        x["prospect_id"] for x in truth["opportunity_prospects"] if x["opportunity_id"] == oid
    ] == [other]
    activity = next(a for a in truth["visitor_activities"] if a["id"] == act)
    assert (
        activity["form_id"] == 77 and activity["type"] == 19 and activity["opportunity_id"] == oid
    )
    writable.delete_opportunity(oid)
    writable.undelete_opportunity(oid)
    with pytest.raises(ApiError) as err:
        writable.update_opportunity(oid, probability=500)
    assert err.value.code == 40
    with pytest.raises(ValueError, match="forward"):
        writable.advance_clock(-1)
