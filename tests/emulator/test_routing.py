"""URL grammar, methods, formats and parameter merging."""

import httpx
import pytest

from sources.pardot_emulator import PardotEmulator

from .conftest import call, err_code, ids, live, xml


def test_v3_query_ok(client: httpx.Client) -> None:
    root = call(client, "query", limit=5, sort_by="id")
    assert root.tag == "rsp" and root.get("stat") == "ok" and root.get("version") == "1.0"
    assert len(ids(root)) == 5


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/opportunity/version/3/do/query", id="canonical"),
        pytest.param("/api/opportunity/do/query/version/3", id="crim-order"),
        pytest.param("/api/opportunity/do/query/version/3/", id="trailing-slash"),
        pytest.param("/api/opportunity/version/3/do/query/format/xml", id="format-in-path"),
    ],
)
def test_path_orders(client: httpx.Client, path: str) -> None:
    root = xml(client.get(path, params={"limit": 3, "sort_by": "id"}))
    assert err_code(root) is None and len(ids(root)) == 3


def test_read_id_in_path_form_or_query(client: httpx.Client, emu: PardotEmulator) -> None:
    oid = live(emu)[0]["id"]
    in_path = xml(client.get(f"/api/opportunity/version/3/do/read/id/{oid}"))
    as_form = xml(client.post("/api/opportunity/do/read/version/3", data={"id": str(oid)}))
    as_query = xml(client.post("/api/opportunity/version/3/do/read", params={"id": oid}))
    for root in (in_path, as_form, as_query):
        assert root.findtext("opportunity/id") == str(oid)


def test_path_wins_over_body_and_body_over_query(client: httpx.Client) -> None:
    response = client.post(
        "/api/opportunity/version/3/do/query/limit/2", params={"limit": 7}, data={"limit": "4"}
    )
    assert len(ids(xml(response))) == 2
    response = client.post(
        "/api/opportunity/version/3/do/query", params={"limit": 7}, data={"limit": "4"}
    )
    assert len(ids(xml(response))) == 4


def test_unknown_operation_is_error_2(client: httpx.Client) -> None:
    assert err_code(call(client, "explode")) == 2
    assert err_code(xml(client.get("/api/opportunity/version/3"))) == 2


def test_delete_method_only_for_delete(client: httpx.Client) -> None:
    response = client.request("DELETE", "/api/opportunity/version/3/do/query")
    assert err_code(xml(response)) == 60
    assert err_code(xml(client.put("/api/opportunity/version/3/do/query"))) == 60


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert client.get("/api/prospect/version/3/do/query").status_code == 404


def test_json_format_and_unknown_format_falls_back_to_xml(client: httpx.Client) -> None:
    doc = client.get(
        "/api/opportunity/version/3/do/query", params={"format": "json", "limit": 2}
    ).json()
    assert doc["@attributes"] == {"stat": "ok", "version": 1}
    assert isinstance(doc["result"]["total_results"], int)
    response = client.get("/api/opportunity/version/3/do/query", params={"format": "simple"})
    assert xml(response).get("stat") == "ok"


def test_json_error_envelope(client: httpx.Client) -> None:
    doc = client.get("/api/opportunity/version/3/do/read/id/1/format/json").json()
    assert doc == {
        "@attributes": {"stat": "fail", "version": 1, "err_code": 35},
        "err": "Invalid opportunity ID",
    }


def test_version_mismatch_88_and_89() -> None:
    from .conftest import client_for, make

    v4 = client_for(make(opportunities=10, api_version=4))
    assert err_code(call(v4, "query", version=3)) == 88
    assert err_code(call(v4, "query", version=4)) is None
    v3 = client_for(make(opportunities=10))
    assert err_code(call(v3, "query", version=4)) == 89
    assert err_code(call(v3, "query", version=5)) == 22


def test_request_log_records_merged_params_without_secrets(
    emu: PardotEmulator, client: httpx.Client
) -> None:
    emu.reset_request_log()
    client.post("/api/opportunity/do/query/version/3", params={"limit": "1"}, data={"offset": "2"})
    client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "emulator-client",
            "client_secret": "s",
            "refresh_token": "r",
        },
    )
    first, second = emu.request_log
    assert (first.method, first.operation, first.version, first.status) == ("POST", "query", 3, 200)
    assert (
        first.params["limit"] == "1" and first.params["offset"] == "2" and first.error_code is None
    )
    assert second.operation == "token" and "client_secret" not in second.params
    assert "refresh_token" not in second.params and second.params["grant_type"] == "refresh_token"
    assert emu.request_count("query") == 1 and emu.request_count() == 2
