"""API v5's opportunity query, ``GET /api/v5/objects/opportunities``.

Results are compared with the ground truth (UTC instants) and with the data the
emulator holds; every filter at exact equality, paging by token, the chain cap, the
cache lag, the errors with their HTTP statuses, and the limits shared with v3/v4.
"""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from sources.pardot_emulator import FaultConfig, PardotEmulator, running_server
from sources.pardot_emulator.__main__ import build_parser, serve_config

from .conftest import BU, HEADERS, TOKEN, call, client_for, err_code, make

V5 = "/api/v5/objects/opportunities"
NY = ZoneInfo("America/New_York")
ALL_FIELDS = (
    "id,name,campaignId,closedAt,createdAt,createdById,updatedAt,updatedById,"
    "probability,salesforceId,stage,status,type,value"
)


@pytest.fixture(scope="module")
def emu() -> PardotEmulator:
    """A read-only account with ties: five opportunities created in the same second,
    then three more a second apart."""
    emu = make()
    emu.advance_clock(30)
    emu.add_opportunities(5, same_second=True)
    emu.advance_clock(10)
    emu.add_opportunities(3)
    return emu


@pytest.fixture(scope="module")
def client(emu: PardotEmulator) -> Iterator[httpx.Client]:
    with client_for(emu) as c:
        yield c


def get(c: httpx.Client, **params: Any) -> httpx.Response:
    params.setdefault("fields", "id")
    return c.get(V5, params=params)


def collect(c: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every value of a query, following ``nextPageUrl`` to the end."""
    response = get(c, **params)
    out: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        doc = response.json()
        out += doc["values"]
        if doc["nextPageUrl"] is None:
            assert doc["nextPageToken"] is None
            return out
        response = c.get(doc["nextPageUrl"])


def truth(emu: PardotEmulator, deleted: bool | None = False) -> list[dict[str, Any]]:
    """Ground-truth opportunities (None: deleted ones too), by id."""
    rows = emu.ground_truth()["opportunities"]
    return [o for o in rows if deleted is None or o["is_deleted"] is deleted]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def error(response: httpx.Response, status: int, code: int) -> str:
    """Check a v5 error's status, JSON shape and code; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert set(doc) == {"code", "message"} and doc["code"] == code, doc
    return str(doc["message"])


# -- fields ----------------------------------------------------------------------------


def test_values_have_exactly_the_requested_fields_in_order(client: httpx.Client) -> None:
    for fields in ("value,id,updatedAt,name", "id", "stage,createdById,id"):
        values = get(client, fields=fields, limit=20).json()["values"]
        assert len(values) == 20
        assert all(list(v) == fields.split(",") for v in values)
    spaced = get(client, fields="id, name", limit=1).json()["values"][0]
    assert list(spaced) == ["id", "name"]


def test_every_field_equals_the_ground_truth(emu: PardotEmulator, client: httpx.Client) -> None:
    values = collect(client, fields=ALL_FIELDS, limit=1000)
    expected = truth(emu)
    assert [v["id"] for v in values] == [o["id"] for o in expected]
    for v, o in zip(values, expected, strict=True):
        for name in ("createdAt", "updatedAt", "closedAt"):
            text = v[name]
            if text is None:
                continue
            parsed = at(text)
            assert parsed.utcoffset() == parsed.astimezone(NY).utcoffset()  # account zone
            assert parsed.microsecond == 0 and "." not in text
            assert text[-6] in "+-" and text[-3] == ":"
        assert at(v["createdAt"]) == at(o["created_at"])
        assert at(v["updatedAt"]) == at(o["updated_at"])
        assert (v["closedAt"] and at(v["closedAt"])) == (o["closed_at"] and at(o["closed_at"]))
        assert v["name"] == o["name"] and v["campaignId"] == o["campaign_id"]
        assert v["probability"] == o["probability"] and isinstance(v["probability"], int)
        assert v["value"] == o["value"] and isinstance(v["value"], float)
        assert (v["stage"], v["status"], v["type"]) == (o["stage"], o["status"], o["type"])
        assert v["createdById"] is v["updatedById"] is v["salesforceId"] is None
    # Both sides of the 2024 spring-forward appear with their own offsets.
    offsets = {v["updatedAt"][-6:] for v in values}
    assert {"-05:00", "-04:00"} <= offsets


@pytest.mark.parametrize(
    "fields", ["", "id,bogus", "id,,name", "id,id", "ID", "created_at"], ids=repr
)
def test_bad_fields_are_a_400_naming_the_parameter(client: httpx.Client, fields: str) -> None:
    assert "'fields'" in error(get(client, fields=fields), 400, 10000)


def test_fields_is_mandatory(client: httpx.Client) -> None:
    assert "'fields'" in error(client.get(V5), 400, 10000)


# -- filters ---------------------------------------------------------------------------

FILTERS = [
    ("idGreaterThan", "id", lambda a, b: a > b),
    ("idGreaterThanOrEqualTo", "id", lambda a, b: a >= b),
    ("idLessThan", "id", lambda a, b: a < b),
    ("idLessThanOrEqualTo", "id", lambda a, b: a <= b),
    ("createdAtAfter", "created_at", lambda a, b: a > b),
    ("createdAtAfterOrEqualTo", "created_at", lambda a, b: a >= b),
    ("createdAtBefore", "created_at", lambda a, b: a < b),
    ("createdAtBeforeOrEqualTo", "created_at", lambda a, b: a <= b),
    ("updatedAtAfter", "updated_at", lambda a, b: a > b),
    ("updatedAtAfterOrEqualTo", "updated_at", lambda a, b: a >= b),
    ("updatedAtBefore", "updated_at", lambda a, b: a < b),
    ("updatedAtBeforeOrEqualTo", "updated_at", lambda a, b: a <= b),
]


@pytest.mark.parametrize(("param", "column", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_each_filter_at_exact_equality(
    emu: PardotEmulator, client: httpx.Client, param: str, column: str, keep: Any
) -> None:
    rows = truth(emu)
    # The pivot is in the same-second five: its times are shared, so an inclusive bound
    # keeps all five and a strict one none.
    pivot_row = rows[-6]
    pivot = pivot_row[column]
    text = str(pivot) if column == "id" else at(pivot).astimezone(NY).isoformat()
    value = pivot if column == "id" else at(pivot)
    expected = [
        o["id"] for o in rows if keep(o[column] if column == "id" else at(o[column]), value)
    ]
    got = [v["id"] for v in collect(client, **{param: text}, limit=1000)]
    assert got == expected
    assert 0 < len(expected) < len(rows)
    ties = [o["id"] for o in rows if o[column] == pivot]
    assert len(ties) == (1 if column == "id" else 5)
    assert all((oid in got) is ("OrEqualTo" in param) for oid in ties)


def test_filters_combine_with_and(emu: PardotEmulator, client: httpx.Client) -> None:
    rows = truth(emu)
    low, high = rows[50], rows[200]
    since = at(rows[100]["updated_at"])
    expected = [
        o["id"]
        for o in rows
        if low["id"] <= o["id"] < high["id"]
        and at(o["created_at"]) > at(low["created_at"])
        and at(o["updated_at"]) >= since
    ]
    got = collect(
        client,
        idGreaterThanOrEqualTo=low["id"],
        idLessThan=high["id"],
        createdAtAfter=low["created_at"].replace("+00:00", "Z"),
        updatedAtAfterOrEqualTo=since.isoformat(),
    )
    assert [v["id"] for v in got] == expected and expected


def test_offsets_and_z_are_the_same_instant(emu: PardotEmulator, client: httpx.Client) -> None:
    pivot = at(truth(emu)[150]["created_at"])
    forms = [
        pivot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        pivot.astimezone(ZoneInfo("Europe/Paris")).isoformat(),  # a positive offset
        pivot.astimezone(NY).isoformat(),
        pivot.astimezone(ZoneInfo("Asia/Kolkata")).isoformat(),  # +05:30
        pivot.astimezone(NY).isoformat(timespec="milliseconds"),  # ….000-05:00
    ]
    assert forms[1].endswith("+01:00") and forms[-1][-10:-6] == ".000"
    results = {tuple(v["id"] for v in collect(client, createdAtAfter=f)) for f in forms}
    assert len(results) == 1 and results != {()}


def test_a_raw_plus_is_a_400_and_an_encoded_one_works(client: httpx.Client) -> None:
    encoded = client.get(f"{V5}?fields=id&createdAtAfter=2024-03-09T12:00:00%2B01:00")
    assert encoded.status_code == 200 and encoded.json()["values"]
    raw = client.get(f"{V5}?fields=id&createdAtAfter=2024-03-09T12:00:00+01:00")
    assert "'createdAtAfter'" in error(raw, 400, 10000)
    spaced = get(client, createdAtAfter="2024-03-09T12:00:00 01:00")
    error(spaced, 400, 10000)


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-09T12:00:00",  # no offset
        "2024-03-09",
        "2024-03-09 12:00:00Z",
        "2024-03-09T12:00Z",
        "2024-13-09T12:00:00Z",
        "today",
        "2024-03-09T12:00:00+0100",
        "",
    ],
)
def test_bad_datetimes_are_a_400(client: httpx.Client, value: str) -> None:
    for param in ("createdAtBefore", "updatedAtAfterOrEqualTo"):
        assert f"'{param}'" in error(get(client, **{param: value}), 400, 10000)


def test_bad_ids_are_a_400(client: httpx.Client) -> None:
    assert "'idGreaterThan'" in error(get(client, idGreaterThan="12a"), 400, 10000)


# -- order and limit -------------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    ["id ASC", "id DESC", "createdAt ASC", "createdAt desc", "updatedAt ASC", "updatedAt DESC"],
)
def test_order_with_ties_by_id_ascending(
    emu: PardotEmulator, client: httpx.Client, order: str
) -> None:
    field, direction = order.split()
    column = {"id": "id", "createdAt": "created_at", "updatedAt": "updated_at"}[field]
    sign = -1 if direction.upper() == "DESC" else 1

    def key(o: dict[str, Any]) -> tuple[float, int]:
        raw = o[column]
        return (sign * (raw if column == "id" else at(raw).timestamp()), o["id"])

    expected = [o["id"] for o in sorted(truth(emu), key=key)]
    assert [v["id"] for v in collect(client, orderBy=order, limit=1000)] == expected
    assert [v["id"] for v in collect(client, orderBy=order, limit=9)] == expected


def test_default_order_is_id_ascending(emu: PardotEmulator, client: httpx.Client) -> None:
    assert [v["id"] for v in collect(client)] == [o["id"] for o in truth(emu)]


@pytest.mark.parametrize(
    "order", ["name ASC", "id UP", "updatedAt ASC id", "", "updated_at DESC", "id,ASC"]
)
def test_bad_order_is_a_400(client: httpx.Client, order: str) -> None:
    assert "'orderBy'" in error(get(client, orderBy=order), 400, 10000)


def test_limit_bounds(emu: PardotEmulator, client: httpx.Client) -> None:
    assert len(get(client).json()["values"]) == 200  # the default
    assert len(get(client, limit=1).json()["values"]) == 1
    assert len(get(client, limit=1000).json()["values"]) == len(truth(emu)) > 200
    for bad in ("0", "1001", "-1", "ten", "", "2.5"):
        assert "'limit'" in error(get(client, limit=bad), 400, 10000)


# -- paging ----------------------------------------------------------------------------


def test_token_pages_equal_the_unpaged_result(client: httpx.Client) -> None:
    params = {"fields": "id,updatedAt,value", "orderBy": "updatedAt DESC", "deleted": "all"}
    whole = get(client, **params, limit=1000).json()
    assert whole["nextPageToken"] is None and whole["nextPageUrl"] is None
    first = get(client, **params, limit=40).json()
    token = first["nextPageToken"]
    assert first["nextPageUrl"] == f"{V5}?nextPageToken={token}"
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert collect(client, **params, limit=40) == whole["values"]
    # The last page holds the rest and no token: an exact multiple leaves no empty page.
    n = len(whole["values"])
    parts = next(d for d in range(3, n) if n % d == 0)
    pages = []
    response = get(client, **params, limit=n // parts)
    while True:
        doc = response.json()
        pages.append(len(doc["values"]))
        if not doc["nextPageUrl"]:
            break
        response = client.get(doc["nextPageUrl"])
    assert pages == [n // parts] * parts


def test_the_token_carries_the_query_and_other_parameters_are_ignored(
    client: httpx.Client,
) -> None:
    first = get(client, fields="id,name", orderBy="id DESC", limit=3, idLessThan=100000).json()
    token = first["nextPageToken"]
    second = client.get(
        V5, params={"nextPageToken": token, "fields": "bogus", "limit": "5000", "orderBy": "x"}
    )
    assert second.status_code == 200, second.text
    values = second.json()["values"]
    assert len(values) == 3 and all(list(v) == ["id", "name"] for v in values)
    assert values[0]["id"] < first["values"][-1]["id"]


def test_a_record_updated_between_pages_shows_again_and_none_is_missed() -> None:
    emu = make(opportunities=120)
    c = client_for(emu)
    before = {o["id"] for o in truth(emu)}
    response = get(c, fields="id,updatedAt", orderBy="updatedAt ASC", limit=25)
    seen: list[int] = []
    moved: list[int] = []
    while True:
        doc = response.json()
        seen += [v["id"] for v in doc["values"]]
        if len(seen) == 25:  # after the first page: change one seen and one not yet seen
            emu.advance_clock(5)
            moved = [seen[3], truth(emu)[-1]["id"]]
            for oid in moved:
                emu.update_opportunity(oid, name=f"renamed {oid}")
        if not doc["nextPageUrl"]:
            break
        response = c.get(doc["nextPageUrl"])
    assert seen.count(moved[0]) == 2  # seen before the update and after it
    assert seen.count(moved[1]) == 1
    assert set(seen) == before  # nothing that existed at the first request is missed
    assert seen[-2:] == sorted(moved)  # the two updates come last, with their new time


def test_chain_cap_stops_the_chain_with_a_warning() -> None:
    emu = make(opportunities=100, v5_chain_cap=25)
    c = client_for(emu)
    sizes, warnings = [], []
    response = get(c, limit=10, orderBy="updatedAt ASC")
    values: list[dict[str, Any]] = []
    while True:
        doc = response.json()
        sizes.append(len(doc["values"]))
        values += doc["values"]
        warnings.append(response.headers.get("Pardot-Warning"))
        if not doc["nextPageUrl"]:
            assert doc["nextPageToken"] is None
            break
        response = c.get(doc["nextPageUrl"])
    assert sizes == [10, 10, 5] and len({v["id"] for v in values}) == 25
    assert warnings[:2] == [None, None]
    assert warnings[2] is not None and warnings[2].startswith("203 ")
    assert len(truth(emu)) > 25  # more matched: the chain was cut, not finished
    # A new query starts a new chain.
    assert get(c, limit=10).json()["nextPageToken"] is not None


def test_chain_cap_at_the_documented_100000() -> None:
    emu = make(opportunities=104_000)
    assert emu.config.v5_chain_cap == 100_000
    live = len(emu.store.live_ids)
    assert live > 100_000
    c = client_for(emu)
    response = get(c, limit=1000)
    count, pages = 0, 0
    while True:
        doc = response.json()
        count += len(doc["values"])
        pages += 1
        if not doc["nextPageUrl"]:
            break
        assert "Pardot-Warning" not in response.headers
        response = c.get(doc["nextPageUrl"])
    assert count == 100_000 and pages == 100
    assert response.headers["Pardot-Warning"].startswith("203 ")


def test_a_token_expires_after_four_virtual_hours() -> None:
    emu = make(opportunities=20)
    c = client_for(emu)
    token = get(c, limit=5).json()["nextPageToken"]
    emu.advance_clock(4 * 3600)
    assert c.get(V5, params={"nextPageToken": token}).status_code == 200
    emu.advance_clock(1)
    message = error(c.get(V5, params={"nextPageToken": token}), 400, 10000)
    assert "expired" in message


def test_a_tampered_or_foreign_token_is_a_400(client: httpx.Client) -> None:
    token = get(client, limit=5).json()["nextPageToken"]
    body, _, signature = token.partition(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    foreign = get(client_for(make(opportunities=20)), limit=5).json()["nextPageToken"]
    for bad in (f"{flipped}.{signature}", body, "nonsense", f"{body}.{signature}x", foreign):
        message = error(client.get(V5, params={"nextPageToken": bad}), 400, 10000)
        assert "nextPageToken" in message and "expired" not in message


# -- deleted ---------------------------------------------------------------------------


@pytest.mark.parametrize(("deleted", "which"), [("false", False), ("true", True), ("ALL", None)])
def test_deleted(
    emu: PardotEmulator, client: httpx.Client, deleted: str, which: bool | None
) -> None:
    expected = [o["id"] for o in truth(emu, which)]
    assert expected
    assert [v["id"] for v in collect(client, deleted=deleted, limit=50)] == expected


def test_bad_deleted_is_a_400(client: httpx.Client) -> None:
    assert "'deleted'" in error(get(client, deleted="yes"), 400, 10000)


def test_delete_and_undelete_move_between_the_modes() -> None:
    emu = make(opportunities=30)
    c = client_for(emu)
    oid = truth(emu)[0]["id"]
    emu.delete_opportunity(oid)
    assert oid not in [v["id"] for v in collect(c)]
    assert oid in [v["id"] for v in collect(c, deleted="true")]
    emu.undelete_opportunity(oid)
    assert oid in [v["id"] for v in collect(c)]
    assert oid not in [v["id"] for v in collect(c, deleted="true")]


# -- access, auth, limits, faults ------------------------------------------------------


def test_without_v5_access_every_v5_request_is_a_403_and_v3_v4_work() -> None:
    emu = make(opportunities=20)
    c = client_for(emu)
    token = get(c, limit=5).json()["nextPageToken"]
    emu.set_switches(v5_enabled=False)
    for response in (
        get(c),
        get(c, fields="bogus"),
        c.get(V5),
        c.get(V5, params={"nextPageToken": token}),
    ):
        error(response, 403, 1)
    assert err_code(call(c, "query", limit=1)) is None
    assert err_code(call(c, "read", id=truth(emu)[0]["id"])) is None
    assert c.get("/api/visitorActivity/version/3/do/query").status_code == 200
    emu.set_switches(v5_enabled=True)
    assert get(c).status_code == 200


def test_v3_v4_routes_do_not_answer_for_version_5(client: httpx.Client) -> None:
    assert err_code(call(client, "query", version=5)) == 22


def test_auth_and_method_errors_have_statuses() -> None:
    emu = make(opportunities=5, token_error_status=400)
    c = client_for(emu)
    base = {"fields": "id"}
    error(c.get(V5, params=base, headers={"Authorization": ""}), 400, 181)
    error(c.get(V5, params=base, headers={"Pardot-Business-Unit-Id": ""}), 400, 181)
    bu = error(c.get(V5, params=base, headers={"Pardot-Business-Unit-Id": "0Uv0"}), 400, 201)
    assert "0Uv0" in bu
    error(c.get(V5, params=base, headers={"Authorization": "Bearer nope"}), 401, 184)
    error(c.get(V5, params=base, headers={"Authorization": TOKEN}), 401, 184)
    emu.tokens.expire_all()
    error(c.get(V5, params=base), 401, 184)


def test_method_and_ip_errors() -> None:
    emu = make(opportunities=5)
    c = client_for(emu)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = c.request(method, V5, params={"fields": "id"})
        error(response, 405, 60)
        assert response.headers["Allow"] == "GET"
    emu.config.ip_allowlisted = False
    error(get(c), 403, 53)
    assert err_code(call(c, "query")) == 53


def test_the_daily_limit_is_shared_with_v3_v4() -> None:
    emu = make(opportunities=5, daily_limit=4)
    c = client_for(emu)
    for _ in range(3):
        assert err_code(call(c, "query", limit=1)) is None
    assert get(c).status_code == 200  # the fourth request of the day
    error(get(c), 429, 122)
    assert err_code(call(c, "query", limit=1)) == 122
    emu.advance_clock(days=1)
    for _ in range(4):
        assert get(c).status_code == 200
    assert err_code(call(c, "query", limit=1)) == 122  # v5 used up v3's count
    info = c.get("/_emulator/info").json()
    assert info["daily_requests"] == 4


def test_requests_over_the_concurrency_limit_get_66_with_429() -> None:
    emu = make(opportunities=5)
    emu.set_faults(FaultConfig(latency_seconds=2.5))
    results: list[tuple[str, int, int | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)
    with running_server(emu) as base:

        def one(i: int) -> None:
            with httpx.Client(base_url=base, headers=HEADERS, timeout=20) as c:
                start.wait()
                if i % 2:
                    r = c.get(V5, params={"fields": "id"})
                    code = r.json().get("code") if r.status_code != 200 else None
                    outcome = ("v5", r.status_code, code)
                else:
                    r = c.get("/api/opportunity/version/3/do/query", params={"limit": 1})
                    outcome = ("v3", r.status_code, 66 if b'code="66"' in r.content else None)
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    refused = [r for r in results if r[2] == 66]
    assert len(refused) == 3 and len(results) == 8
    assert all(status == 429 for kind, status, _ in refused if kind == "v5")
    assert all(r[1] == 200 and r[2] is None for r in results if r not in refused)
    # Deterministically too: a full gate and the burst fault.
    emu.set_faults(FaultConfig())
    c = client_for(emu)
    emu.gate.limit = 0
    error(get(c), 429, 66)
    emu.gate.limit = 5
    emu.set_faults(FaultConfig(burst_66_rate=1.0))
    error(get(c), 429, 66)
    assert emu.gate.in_flight == 0


def test_faults_apply_to_v5() -> None:
    emu = make(opportunities=30)
    c = client_for(emu)
    emu.set_faults(FaultConfig(error_5xx_rate=1.0))
    assert get(c).status_code >= 500
    emu.set_faults(FaultConfig(truncate_rate=1.0))
    body = get(c, limit=30).content
    with pytest.raises(ValueError):
        httpx.Response(200, content=body).json()
    emu.set_faults(FaultConfig(html_error_rate=1.0))
    assert get(c).headers["content-type"].startswith("text/html")
    emu.set_faults(FaultConfig(latency_seconds=0.3))
    t0 = time.perf_counter()
    assert get(c).status_code == 200
    assert time.perf_counter() - t0 >= 0.3
    faults = [r.fault for r in emu.request_log]
    assert faults[:2] == ["5xx", "truncate"]


def test_request_log_operation_and_version() -> None:
    emu = make(opportunities=5)
    c = client_for(emu)
    get(c, limit=2, orderBy="updatedAt DESC")
    get(c, fields="bogus")
    call(c, "query")
    records = emu.request_log
    assert [(r.operation, r.version) for r in records] == [
        ("v5_opportunity_query", 5),
        ("v5_opportunity_query", 5),
        ("query", 3),
    ]
    assert records[0].params == {"fields": "id", "limit": "2", "orderBy": "updatedAt DESC"}
    assert (records[0].status, records[1].status, records[1].error_code) == (200, 400, 10000)
    assert emu.request_count("v5_opportunity_query") == 2


# -- cache lag -------------------------------------------------------------------------


def test_cache_lag_hides_new_records_and_recent_updates_until_it_passes() -> None:
    emu = make(opportunities=40, v5_cache_lag_seconds=60)
    c = client_for(emu)
    fields = "id,updatedAt"
    old = {v["id"]: v["updatedAt"] for v in collect(c, fields=fields)}
    emu.advance_clock(120)
    changed = next(iter(old))
    emu.update_opportunity(changed, name="changed within the lag")
    emu.advance_clock(10)
    new = emu.add_opportunities(1)[0]
    now = emu.now()
    served = {v["id"]: v["updatedAt"] for v in collect(c, fields=fields)}
    assert new not in served
    assert served == old  # the update is not seen yet: the old updatedAt
    since = (now - timedelta(seconds=30)).isoformat()
    assert changed not in [v["id"] for v in collect(c, updatedAtAfter=since)]
    emu.advance_clock(50)  # the update is now exactly 60 s old, the new record 50 s
    served = {v["id"]: v["updatedAt"] for v in collect(c, fields=fields)}
    assert new not in served
    updated = next(at(o["updated_at"]) for o in truth(emu) if o["id"] == changed)
    assert at(served[changed]) == updated == emu.now() - timedelta(seconds=60)
    emu.advance_clock(11)
    served = {v["id"]: v["updatedAt"] for v in collect(c, fields=fields)}
    truth_now = {o["id"]: at(o["updated_at"]) for o in truth(emu)}
    assert {k: at(v) for k, v in served.items()} == truth_now
    assert new in served and at(served[changed]) > at(old[changed])
    assert changed in [v["id"] for v in collect(c, updatedAtAfter=since)]


def test_without_lag_changes_show_at_once() -> None:
    emu = make(opportunities=10)
    c = client_for(emu)
    new = emu.add_opportunities(1)[0]
    assert new in [v["id"] for v in collect(c)]


# -- link_bumps_updated_at -------------------------------------------------------------


@pytest.mark.parametrize("bumps", [False, True])
def test_link_bumps_updated_at_switch(bumps: bool) -> None:
    emu = make(opportunities=20, link_bumps_updated_at=bumps)
    c = client_for(emu)
    rows = truth(emu)
    oid, before = rows[0]["id"], at(rows[0]["updated_at"])
    linked = set(emu.store.opportunities[oid].prospect_ids)
    other = next(p["id"] for p in emu.ground_truth()["prospects"] if p["id"] not in linked)
    emu.advance_clock(100)
    emu.link_prospect(oid, other)
    after_link = at(truth(emu)[0]["updated_at"])
    v5 = at(next(v for v in collect(c, fields="id,updatedAt") if v["id"] == oid)["updatedAt"])
    assert v5 == after_link
    assert (after_link > before) is bumps and (after_link == before) is not bumps
    emu.advance_clock(100)
    emu.unlink_prospect(oid, other)
    after_unlink = at(truth(emu)[0]["updated_at"])
    assert (after_unlink == after_link + timedelta(seconds=100)) is bumps
    assert (after_unlink == before) is not bumps
    # v3 renders the same field.
    v3 = call(c, "read", id=oid).findtext("opportunity/updated_at")
    local = after_unlink.astimezone(NY).strftime("%Y-%m-%d %H:%M:%S")
    assert v3 == local
    # The link events are recorded either way.
    types = [
        a["type"] for a in emu.ground_truth()["visitor_activities"] if a["opportunity_id"] == oid
    ]
    assert 19 in types and 38 in types


# -- switches and flags ----------------------------------------------------------------


def test_switches_through_the_control_endpoint() -> None:
    emu = make(opportunities=30)
    c = client_for(emu)
    switches = c.get("/_emulator/info").json()["switches"]
    assert {k: switches[k] for k in ("v5_enabled", "v5_cache_lag_seconds", "v5_chain_cap")} == {
        "v5_enabled": True,
        "v5_cache_lag_seconds": 0.0,
        "v5_chain_cap": 100_000,
    }
    assert switches["link_bumps_updated_at"] is False
    body = {"v5_chain_cap": 5, "v5_cache_lag_seconds": 30, "link_bumps_updated_at": True}
    answer = c.post("/_emulator/switches", json=body)
    assert answer.status_code == 200 and answer.json()["v5_chain_cap"] == 5
    assert len(collect(c)) == 5
    assert emu.config.link_bumps_updated_at is True and emu.config.v5_cache_lag_seconds == 30
    new = c.post("/_emulator/add_opportunities", json={"n": 1}).json()["ids"][0]
    c.post("/_emulator/switches", json={"v5_chain_cap": 1000})
    assert new not in [v["id"] for v in collect(c)]
    c.post("/_emulator/switches", json={"v5_cache_lag_seconds": 0})
    assert new in [v["id"] for v in collect(c)]
    c.post("/_emulator/switches", json={"v5_enabled": False})
    error(get(c), 403, 1)
    for bad in (
        {"v5_enabled": "no"},
        {"v5_chain_cap": 0},
        {"v5_chain_cap": 2.5},
        {"v5_cache_lag_seconds": -1},
        {"link_bumps_updated_at": 1},
    ):
        assert c.post("/_emulator/switches", json=bad).status_code == 400, bad
    assert emu.config.v5_enabled is False and emu.config.v5_chain_cap == 1000


def test_serve_flags() -> None:
    def config_of(*flags: str) -> Any:
        return serve_config(build_parser().parse_args(["serve", *flags]))

    default = config_of()
    assert (default.v5_enabled, default.v5_cache_lag_seconds, default.v5_chain_cap) == (
        True,
        0.0,
        100_000,
    )
    assert default.link_bumps_updated_at is False
    flagged = config_of(
        "--no-v5", "--v5-cache-lag", "45", "--v5-chain-cap", "7", "--link-bumps-updated-at"
    )
    assert (flagged.v5_enabled, flagged.v5_cache_lag_seconds, flagged.v5_chain_cap) == (
        False,
        45.0,
        7,
    )
    assert flagged.link_bumps_updated_at is True


def test_over_a_real_socket() -> None:
    emu = make(opportunities=30)
    with running_server(emu) as base, httpx.Client(base_url=base, headers=HEADERS) as c:
        assert [v["id"] for v in collect(c, limit=7)] == [o["id"] for o in truth(emu)]
        error(c.get(V5, headers={"Pardot-Business-Unit-Id": BU, "Authorization": ""}), 400, 181)
