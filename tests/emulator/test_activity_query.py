"""The visitor activity query: criteria, sorting, paging, rendering, errors, the request path.

Results are compared with the ground truth's ``visitor_activities`` (every activity,
those of deleted opportunities included).
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from lxml import etree

from sources.pardot_emulator import FaultConfig, PardotEmulator

from .conftest import BU, TOKEN, client_for, err_code, make, xml

NY = ZoneInfo("America/New_York")
QUERY = "/api/visitorActivity/version/3/do/query"
OPPORTUNITY_TYPES = "8,9,10,18,19,38"


@pytest.fixture(scope="module")
def acts() -> PardotEmulator:
    """An account with activities of every kind: generated, events, other types, and
    the activities of deleted opportunities (read-only for the tests that share it)."""
    emu = make(opportunities=250)
    truth = emu.ground_truth()
    prospects = [p["id"] for p in truth["prospects"]]
    live = [o["id"] for o in truth["opportunities"] if not o["is_deleted"]]
    emu.advance_clock(60)
    emu.add_activity(live[0], type=1, type_name="Email Tracker", custom_redirect_id=71)
    emu.add_activity(live[1], type=2, type_name="Landing Page", form_handler_id=81)
    emu.add_activity(live[2], type=4, type_name="Form", form_id=91, visitor_id=None)
    emu.add_activity(live[3], prospect_id=None, visitor_id=9000007)
    emu.update_opportunity(live[4], status="won")
    emu.link_prospect(live[5], prospects[-1])
    emu.add_opportunities(3, prospects=0)
    for oid in live[10:13]:
        emu.delete_opportunity(oid)
    return emu


@pytest.fixture(scope="module")
def client(acts: PardotEmulator) -> Iterator[httpx.Client]:
    with client_for(acts) as c:
        yield c


def truth_of(emu: PardotEmulator) -> list[dict[str, Any]]:
    return emu.ground_truth()["visitor_activities"]


def query(c: httpx.Client, version: int = 3, **params: Any) -> etree._Element:
    return xml(c.get(QUERY.replace("/3/", f"/{version}/"), params=params))


def ids(root: etree._Element, tag: str = "visitorActivity") -> list[int]:
    return [int(x) for x in root.xpath(f"/rsp/result/{tag}/id/text()")]


def total(root: etree._Element) -> int:
    return int(root.findtext("result/total_results"))


def local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(NY).strftime("%Y-%m-%d %H:%M:%S")


def check(c: httpx.Client, expected: list[dict[str, Any]], **params: Any) -> None:
    """Total and first page of ``params`` (sorted by id) equal ``expected``."""
    root = query(c, sort_by="id", **params)
    assert err_code(root) is None, params
    assert total(root) == len(expected), params
    assert ids(root) == [a["id"] for a in expected][:200], params


# -- criteria -------------------------------------------------------------------------


def test_no_criteria_lists_every_activity_by_id(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    root = query(client)
    assert total(root) == len(truth) > 400
    assert ids(root) == [a["id"] for a in truth[:200]]


def test_the_activities_of_deleted_opportunities_stay(
    client: httpx.Client, acts: PardotEmulator
) -> None:
    truth = truth_of(acts)
    deleted = {o["id"] for o in acts.ground_truth()["opportunities"] if o["is_deleted"]}
    theirs = [a for a in truth if a["opportunity_id"] in deleted]
    assert len(theirs) > 5
    listed = set()
    for a in theirs:
        root = query(client, id_greater_than=a["id"] - 1, id_less_than=a["id"] + 1)
        listed.update(ids(root))
    assert listed == {a["id"] for a in theirs}


def test_created_filters_are_strict(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    pivots = sorted(a["created_at"] for a in truth)
    pivot = pivots[len(pivots) // 3]
    late = pivots[2 * len(pivots) // 3]
    check(client, [a for a in truth if a["created_at"] > pivot], created_after=local(pivot))
    check(client, [a for a in truth if a["created_at"] < pivot], created_before=local(pivot))
    check(
        client,
        [a for a in truth if pivot < a["created_at"] < late],
        created_after=local(pivot),
        created_before=local(late),
    )
    assert total(query(client, created_after=local(pivot), created_before=local(pivot))) == 0


def test_id_filters_are_strict(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    low, high = truth[40]["id"], truth[90]["id"]
    check(client, [a for a in truth if a["id"] > low], id_greater_than=low)
    check(client, [a for a in truth if a["id"] < high], id_less_than=high)
    check(client, truth[41:90], id_greater_than=low, id_less_than=high)
    check(client, [], id_greater_than=low, id_less_than=low + 1)


def test_prospect_only(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    without = [a for a in truth if a["prospect_id"] is None]
    assert without, "the account has activities without a prospect"
    check(client, [a for a in truth if a["prospect_id"] is not None], prospect_only="true")
    check(client, truth, prospect_only="false")
    check(client, [a for a in truth if a["prospect_id"] is not None], prospect_only="TRUE")


def test_type_one_and_many(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    check(client, [a for a in truth if a["type"] == 19], type="19")
    check(client, [a for a in truth if a["type"] in (8, 38)], type="8, 38")
    check(client, [a for a in truth if a["type"] in (8, 9, 10, 18, 19, 38)], type=OPPORTUNITY_TYPES)
    check(client, [a for a in truth if a["type"] in (1, 2, 4)], type="1,2,4")
    check(client, [], type="77")


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ("campaign_id", "campaign_id"),
        ("custom_url_id", "custom_redirect_id"),
        ("email_id", "email_id"),
        ("file_id", "file_id"),
        ("form_id", "form_id"),
        ("form_handler_id", "form_handler_id"),
        ("landing_page_id", "landing_page_id"),
        ("prospect_id", "prospect_id"),
        ("visitor_id", "visitor_id"),
    ],
)
def test_relationship_filters(
    client: httpx.Client, acts: PardotEmulator, param: str, field: str
) -> None:
    truth = truth_of(acts)
    values = sorted({a[field] for a in truth if a.get(field) is not None})
    assert values, f"the account has activities with a {field}"
    one = values[len(values) // 2]
    check(client, [a for a in truth if a.get(field) == one], **{param: one})
    several = set(values[:3])
    wanted = ",".join(str(v) for v in sorted(several))
    check(client, [a for a in truth if a.get(field) in several], **{param: wanted})


def test_criteria_combined(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    pivot = sorted(a["created_at"] for a in truth)[len(truth) // 4]
    low = truth[30]["id"]
    campaign = truth[50]["campaign_id"] or 11
    expected = [
        a
        for a in truth
        if a["type"] in (8, 9, 10, 18, 19, 38)
        and a["prospect_id"] is not None
        and a["created_at"] > pivot
        and a["id"] > low
        and a["campaign_id"] in (campaign, 11)
    ]
    assert expected
    check(
        client,
        expected,
        type=OPPORTUNITY_TYPES,
        prospect_only="true",
        created_after=local(pivot),
        id_greater_than=low,
        campaign_id=f"{campaign},11",
    )


# -- sorting and paging ---------------------------------------------------------------


def _key(field: str) -> Any:
    if field in ("prospect_id", "visitor_id"):
        return lambda a: (a[field] is not None, a[field] or 0, a["id"])
    return lambda a: (a[field], a["id"])


@pytest.mark.parametrize(
    ("sort_by", "descending"),
    [
        pytest.param(None, False, id="default-id"),
        pytest.param("created_at", True, id="created_at"),
        pytest.param("id", False, id="id"),
        pytest.param("prospect_id", False, id="prospect_id"),
        pytest.param("visitor_id", False, id="visitor_id"),
    ],
)
def test_sort_orders(
    client: httpx.Client, acts: PardotEmulator, sort_by: str | None, descending: bool
) -> None:
    truth = truth_of(acts)
    field = sort_by or "id"
    expected = sorted(truth, key=_key(field), reverse=descending)
    params = {} if sort_by is None else {"sort_by": sort_by}
    assert ids(query(client, limit=120, **params)) == [a["id"] for a in expected[:120]]
    flipped = "ascending" if descending else "descending"
    expected.reverse()
    root = query(client, limit=120, sort_order=flipped, sort_by=field)
    assert ids(root) == [a["id"] for a in expected[:120]]
    # with a filter the same order (the scanning path)
    kept = [a for a in expected if a["type"] != 19]
    root = query(client, limit=50, sort_order=flipped, sort_by=field, type="1,2,4,8,9,10,18,38")
    assert ids(root) == [a["id"] for a in kept[:50]]


@pytest.mark.parametrize("types", [None, "19", OPPORTUNITY_TYPES])
@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_limit_offset_and_total(
    client: httpx.Client, acts: PardotEmulator, types: str | None, order: str
) -> None:
    truth = truth_of(acts)
    wanted = [a for a in truth if types is None or str(a["type"]) in types.split(",")]
    if order == "descending":
        wanted.reverse()
    extra = {} if types is None else {"type": types}
    for limit, offset in ((1, 0), (1, 3), (7, 5), (200, 0), (200, len(wanted) - 2)):
        root = query(client, sort_by="id", sort_order=order, limit=limit, offset=offset, **extra)
        assert ids(root) == [a["id"] for a in wanted[offset : offset + limit]]
        assert total(root) == len(wanted), (limit, offset)
    assert ids(query(client, offset=len(wanted), sort_order=order, **extra)) == []
    assert len(ids(query(client, **extra))) == min(200, len(wanted))


@pytest.mark.parametrize(
    "criteria",
    [
        {},
        {"type": OPPORTUNITY_TYPES},
        {"prospect_only": "true"},
        {"type": "19", "prospect_only": "true"},
        {"sort_by": "created_at"},
        {"sort_by": "visitor_id", "sort_order": "descending", "type": "8,9"},
    ],
)
def test_total_results_at_limit_one(
    client: httpx.Client, acts: PardotEmulator, criteria: dict[str, str]
) -> None:
    truth = truth_of(acts)
    types = criteria.get("type")
    expected = [
        a
        for a in truth
        if (types is None or str(a["type"]) in types.split(","))
        and (criteria.get("prospect_only") != "true" or a["prospect_id"] is not None)
    ]
    root = query(client, limit=1, **criteria)
    assert total(root) == len(expected) and len(ids(root)) == 1


@pytest.mark.parametrize("types", [None, OPPORTUNITY_TYPES])
def test_keyset_paging_by_id_covers_every_activity_once(types: str | None) -> None:
    emu = make(opportunities=300, id_gap=7)
    for oid in [o["id"] for o in emu.ground_truth()["opportunities"]][::9]:
        if not emu.store.opportunities[oid].deleted:
            emu.delete_opportunity(oid)
    emu.add_opportunities(5)
    c = client_for(emu)
    extra = {} if types is None else {"type": types}
    seen: list[int] = []
    cursor = 0
    while True:
        root = query(c, sort_by="id", sort_order="ascending", id_greater_than=cursor, **extra)
        page = ids(root)
        assert total(root) == len(page) or len(page) == 200
        seen += page
        if len(page) < 200:
            break
        cursor = page[-1]
    truth = truth_of(emu)
    assert seen == [a["id"] for a in truth if types is None or str(a["type"]) in types.split(",")]
    assert len(seen) > 400


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"created_after": "not a date"}, 7, id="bad-time"),
        pytest.param({"created_before": "2019-12-31 24:59:59"}, 7, id="hour-24"),
        pytest.param(
            {"created_after": "2024-01-02", "created_before": "2024-01-01"}, 8, id="time-range"
        ),
        pytest.param({"id_greater_than": "x"}, 16, id="id-not-int"),
        pytest.param({"id_less_than": "1.5"}, 16, id="id-less-not-int"),
        pytest.param({"id_greater_than": "10", "id_less_than": "10"}, 17, id="id-range"),
        pytest.param({"limit": "201"}, 23, id="limit-high"),
        pytest.param({"limit": "201", "output": "mobile"}, 23, id="limit-high-mobile"),
        pytest.param({"limit": "0"}, 23, id="limit-zero"),
        pytest.param({"limit": "ten"}, 23, id="limit-text"),
        pytest.param({"offset": "-1"}, 21, id="offset-negative"),
        pytest.param({"offset": "x"}, 21, id="offset-text"),
        pytest.param({"sort_by": "updated_at"}, 19, id="sort-by"),
        pytest.param({"sort_by": "value"}, 19, id="sort-by-opportunity-field"),
        pytest.param({"sort_order": "up"}, 20, id="sort-order"),
        pytest.param({"prospect_id": "999999999"}, 3, id="prospect-unknown"),
        pytest.param({"prospect_id": "abc"}, 3, id="prospect-text"),
        pytest.param({"campaign_id": "4"}, 38, id="campaign-unknown"),
        pytest.param({"campaign_id": "x"}, 38, id="campaign-text"),
        pytest.param({"type": "eight"}, 10000, id="type-text"),
        pytest.param({"type": ","}, 10000, id="type-empty-list"),
        pytest.param({"visitor_id": "v1"}, 10000, id="visitor-text"),
        pytest.param({"form_id": "1,x"}, 10000, id="form-list"),
        pytest.param({"prospect_only": "maybe"}, 10000, id="prospect-only"),
    ],
)
def test_query_errors(client: httpx.Client, params: dict[str, str], code: int) -> None:
    root = query(client, **params)
    assert err_code(root) == code
    if code == 10000:
        assert root.find("err").get("param") == next(iter(params))


def test_outputs_render_the_same_activities(client: httpx.Client) -> None:
    full = query(client, limit=30).find("result")
    for output in ("simple", "mobile", "full", "bulk", "nonsense"):
        assert etree.tostring(query(client, limit=30, output=output).find("result")) == (
            etree.tostring(full)
        ), output


# -- rendering ------------------------------------------------------------------------


def test_elements_round_trip_to_the_ground_truth(
    client: httpx.Client, acts: PardotEmulator
) -> None:
    truth = {a["id"]: a for a in truth_of(acts)}
    campaigns = {c["id"]: c for c in acts.ground_truth()["campaigns"]}
    optional = ("custom_redirect_id", "email_id", "file_id", "form_handler_id", "form_id")
    optional += ("landing_page_id", "list_email_id")
    seen = 0
    cursor = 0
    while True:
        root = query(client, id_greater_than=cursor)
        rows = root.findall("result/visitorActivity")
        for el in rows:
            a = truth[int(el.findtext("id"))]
            tags = [child.tag for child in el]
            assert tags[:6] == ["id", "prospect_id", "visitor_id", "type", "type_name", "details"]
            assert tags[-3:] == ["created_at", "updated_at", "opportunity_id"]
            for name in ("prospect_id", "visitor_id", "opportunity_id", "type"):
                text = el.findtext(name)
                assert (int(text) if text else None) == a[name], name
            assert (el.findtext("type_name"), el.findtext("details")) == (
                a["type_name"],
                a["details"],
            )
            assert el.findtext("created_at") == local(a["created_at"]) or _ambiguous(el)
            assert el.findtext("updated_at") == local(a["updated_at"]) or _ambiguous(el)
            for name in optional:
                text = el.findtext(name)
                assert (int(text) if text is not None else None) == a.get(name), name
            campaign = el.find("campaign")
            if a["campaign_id"] is None:
                assert campaign is None
            else:
                expected = campaigns[a["campaign_id"]]
                assert int(campaign.findtext("id")) == expected["id"]
                assert campaign.findtext("name") == expected["name"]
                cost = campaign.findtext("cost")
                assert (float(cost) if cost else None) == expected["cost"]
            seen += 1
        if len(rows) < 200:
            break
        cursor = int(rows[-1].findtext("id"))
    assert seen == len(truth)


def _ambiguous(el: etree._Element) -> bool:
    local_time = datetime.strptime(el.findtext("created_at"), "%Y-%m-%d %H:%M:%S")
    return (
        local_time.replace(tzinfo=NY, fold=0).utcoffset()
        != local_time.replace(tzinfo=NY, fold=1).utcoffset()
    )


def test_event_activity_as_rendered() -> None:
    emu = make(opportunities=10)
    oid = emu.create_opportunity(
        name="A & B", value=1, probability=1, prospect_id=20003, campaign_id=11
    )
    cost = emu.store.campaigns[11].cost
    root = query(client_for(emu), type="8", id_greater_than=emu.store.activities.last_id - 1)
    [el] = root.findall("result/visitorActivity")
    now = emu.time.render(emu.now())
    expected = (
        f"<visitorActivity><id>{emu.store.activities.last_id}</id><prospect_id>20003"
        "</prospect_id><visitor_id/><type>8</type><type_name>New Opportunity</type_name>"
        "<details>A &amp; B</details><campaign><id>11</id><name>Google Buyer's Guide Campaign"
        f"</name>{'<cost/>' if cost is None else f'<cost>{int(cost)}</cost>'}</campaign>"
        f"<created_at>{now}</created_at><updated_at>{now}</updated_at>"
        f"<opportunity_id>{oid}</opportunity_id></visitorActivity>"
    )
    assert etree.tostring(el, encoding="unicode") == expected


def test_element_name_switch() -> None:
    emu = make(opportunities=20, visitor_activity_element="visitor_activity")
    root = query(client_for(emu), limit=5)
    assert len(ids(root, "visitor_activity")) == 5 and ids(root) == []
    doc = client_for(emu).get(QUERY, params={"format": "json", "limit": 2}).json()
    assert "visitorActivity" not in doc["result"] and len(doc["result"]["visitor_activity"]) == 2
    default = query(client_for(make(opportunities=20)), limit=5)
    assert len(ids(default)) == 5 and ids(default, "visitor_activity") == []
    with pytest.raises(ValueError, match="visitor_activity_element"):
        make(opportunities=1, visitor_activity_element="activity")


def test_opportunity_id_switch() -> None:
    with_id = query(client_for(make(opportunities=20)), limit=20)
    assert len(with_id.findall("result/visitorActivity/opportunity_id")) == 20
    emu = make(opportunities=20, visitor_activity_opportunity_id=False)
    root = query(client_for(emu), limit=20)
    assert len(ids(root)) == 20 and root.find(".//opportunity_id") is None
    doc = client_for(emu).get(QUERY, params={"format": "json", "limit": 3}).json()
    assert all("opportunity_id" not in a for a in doc["result"]["visitorActivity"])
    # the activities inside an opportunity keep theirs
    oid = next(o.id for o in emu.store.opportunities.values() if o.activities and not o.deleted)
    read = xml(client_for(emu).get(f"/api/opportunity/version/3/do/read/id/{oid}"))
    assert read.find(".//visitor_activity/opportunity_id") is not None


def test_json_rendering(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)

    def doc(**params: Any) -> dict[str, Any]:
        return client.get(QUERY, params={"format": "json", "sort_by": "id", **params}).json()

    one = doc(limit=1)
    assert one["@attributes"] == {"stat": "ok", "version": 1}
    assert one["result"]["total_results"] == len(truth)
    first = one["result"]["visitorActivity"]
    assert isinstance(first, dict) and first["id"] == truth[0]["id"]
    assert isinstance(first["type"], int) and isinstance(first["opportunity_id"], int)
    many = doc(limit=3)["result"]["visitorActivity"]
    assert [a["id"] for a in many] == [a["id"] for a in truth[:3]]
    none = doc(type="77")["result"]
    assert none == {"total_results": 0}
    bare = next(a for a in truth if a["visitor_id"] is None)
    row = doc(id_greater_than=bare["id"] - 1, limit=1)["result"]["visitorActivity"]
    assert row["visitor_id"] is None
    with_campaign = next(a for a in truth if a["campaign_id"] is not None)
    row = doc(id_greater_than=with_campaign["id"] - 1, limit=1)["result"]["visitorActivity"]
    assert set(row["campaign"]) == {"id", "name", "cost"}
    error = client.get(QUERY, params={"format": "json", "limit": 0}).json()
    assert error["@attributes"] == {"stat": "fail", "version": 1, "err_code": 23}


# -- the request path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code", "status"),
    [
        pytest.param({"Authorization": f"Bearer {TOKEN}"}, 181, 400, id="no-bu"),
        pytest.param({"Pardot-Business-Unit-Id": BU}, 181, 400, id="no-auth"),
        pytest.param(
            {"Authorization": f"Bearer {TOKEN}", "Pardot-Business-Unit-Id": "0Uv000000000002AAA"},
            201,
            400,
            id="bad-bu",
        ),
        pytest.param(
            {"Authorization": "Bearer nope", "Pardot-Business-Unit-Id": BU}, 184, 401, id="token"
        ),
    ],
)
def test_auth_errors(headers: dict[str, str], code: int, status: int) -> None:
    response = client_for(make(opportunities=5), headers=headers).get(QUERY)
    assert response.status_code == status and err_code(xml(response)) == code


def test_version_rules() -> None:
    v4 = client_for(make(opportunities=10, api_version=4))
    assert err_code(query(v4, version=3)) == 88
    assert err_code(query(v4, version=4)) is None
    v3 = client_for(make(opportunities=10))
    assert err_code(query(v3, version=4)) == 89
    assert err_code(query(v3, version=5)) == 22


def test_daily_limit_counts_both_routes() -> None:
    emu = make(opportunities=5, daily_limit=3)
    c = client_for(emu)
    assert err_code(query(c, limit=1)) is None
    assert err_code(xml(c.get("/api/opportunity/version/3/do/query"))) is None
    assert err_code(query(c, limit=1)) is None
    assert err_code(query(c, limit=1)) == 122
    assert err_code(xml(c.get("/api/opportunity/version/3/do/query"))) == 122


def test_ip_not_allowed_and_crm_connector() -> None:
    assert err_code(query(client_for(make(opportunities=5, ip_allowlisted=False)))) == 53
    assert err_code(query(client_for(make(opportunities=5, crm_connector=True)))) is None


def test_faults_and_the_concurrency_limit_apply() -> None:
    emu = make(opportunities=5)
    c = client_for(emu)
    emu.set_faults(FaultConfig(error_5xx_rate=1.0))
    assert c.get(QUERY).status_code >= 500
    emu.set_faults(FaultConfig(burst_66_rate=1.0))
    assert err_code(query(c)) == 66
    emu.set_faults(FaultConfig())
    emu.gate.limit = 0
    assert err_code(query(c)) == 66
    emu.gate.limit = 5
    assert err_code(query(c)) is None
    assert [r.fault for r in emu.request_log] == ["5xx", "burst_66", None, None]


def test_request_log_names_the_operation_apart() -> None:
    emu = make(opportunities=5)
    c = client_for(emu)
    query(c, limit=1)
    c.post(QUERY, data={"limit": "2", "type": "8"})
    c.get("/api/visitorActivity/do/query/version/3", params={"limit": 1})
    c.get("/api/opportunity/version/3/do/query", params={"limit": 1})
    read = xml(c.get("/api/visitorActivity/version/3/do/read/id/500001"))
    assert err_code(read) == 2
    assert err_code(xml(c.request("DELETE", "/api/visitorActivity/version/3/do/delete"))) == 60
    assert emu.request_count("visitor_activity_query") == 3
    assert emu.request_count("query") == 1
    assert emu.request_count("visitor_activity_read") == 1
    log = emu.request_log
    assert log[1].method == "POST" and log[1].params["type"] == "8"
    assert [r.version for r in log[:3]] == [3, 3, 3]


def test_post_and_path_parameters(client: httpx.Client, acts: PardotEmulator) -> None:
    truth = truth_of(acts)
    posted = xml(client.post(QUERY, data={"limit": "3", "id_greater_than": truth[5]["id"]}))
    assert ids(posted) == [a["id"] for a in truth[6:9]]
    in_path = xml(client.get(f"{QUERY}/limit/2/type/19"))
    assert ids(in_path) == [a["id"] for a in truth if a["type"] == 19][:2]


def test_new_events_are_found_at_once() -> None:
    emu = make(opportunities=30)
    c = client_for(emu)
    before = emu.store.activities.last_id
    oid = emu.add_opportunities(1, prospects=1, activities=0)[0]
    emu.update_opportunity(oid, status="won")
    emu.delete_opportunity(oid)
    root = query(c, id_greater_than=before, type=OPPORTUNITY_TYPES)
    assert [int(t) for t in root.xpath("//visitorActivity/type/text()")] == [8, 9]
    assert {int(t) for t in root.xpath("//visitorActivity/opportunity_id/text()")} == {oid}
    assert total(query(c, created_after="today", type="8,9")) >= 2
