"""Headers, business unit, bearer tokens and the OAuth token endpoint."""

import base64
import time

import httpx
import pytest

from sources.pardot_emulator import FaultConfig

from .conftest import BU, TOKEN, call, client_for, err_code, make, xml

QUERY = "/api/opportunity/version/3/do/query"


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
            {"Authorization": "Bearer nope", "Pardot-Business-Unit-Id": BU},
            184,
            401,
            id="bad-token",
        ),
        pytest.param(
            {"Authorization": f"Pardot api_key={TOKEN}", "Pardot-Business-Unit-Id": BU},
            184,
            401,
            id="not-bearer",
        ),
    ],
)
def test_auth_errors(headers: dict[str, str], code: int, status: int) -> None:
    response = client_for(make(opportunities=5), headers=headers).get(QUERY)
    assert response.status_code == status and err_code(xml(response)) == code


def test_184_status_configurable_to_400() -> None:
    c = client_for(
        make(opportunities=5, token_error_status=400),
        headers={"Authorization": "Bearer x", "Pardot-Business-Unit-Id": BU},
    )
    response = c.get(QUERY)
    assert response.status_code == 400 and err_code(xml(response)) == 184


def token(c: httpx.Client, **data: str) -> httpx.Response:
    return c.post("/services/oauth2/token", data=data)


def test_refresh_and_password_grants_issue_usable_tokens() -> None:
    emu = make(opportunities=5)
    c = client_for(emu, headers={})
    refreshed = token(
        c,
        grant_type="refresh_token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token="emulator-refresh-token",
    )
    body = refreshed.json()
    assert refreshed.status_code == 200
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["token_type"] == "Bearer" and body["issued_at"].isdigit()
    assert body["instance_url"] == "https://pi.pardot.test"
    password = token(
        c,
        grant_type="password",
        client_id="emulator-client",
        client_secret="emulator-secret",
        username="api@example.com",
        password="emulator-password",
    )
    assert password.status_code == 200
    basic = base64.b64encode(b"emulator-client:emulator-secret").decode()
    via_basic = c.post(
        "/services/oauth2/token",
        params={"grant_type": "refresh_token", "refresh_token": "emulator-refresh-token"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert via_basic.status_code == 200
    for issued in (body, password.json(), via_basic.json()):
        headers = {
            "Authorization": f"Bearer {issued['access_token']}",
            "Pardot-Business-Unit-Id": BU,
        }
        assert err_code(xml(c.get(QUERY, headers=headers))) is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(
            {
                "grant_type": "refresh_token",
                "client_id": "x",
                "client_secret": "emulator-secret",
                "refresh_token": "emulator-refresh-token",
            },
            "invalid_client_id",
            id="client-id",
        ),
        pytest.param(
            {
                "grant_type": "refresh_token",
                "client_id": "emulator-client",
                "client_secret": "bad",
                "refresh_token": "emulator-refresh-token",
            },
            "invalid_client",
            id="secret",
        ),
        pytest.param(
            {
                "grant_type": "refresh_token",
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "refresh_token": "stale",
            },
            "invalid_grant",
            id="refresh",
        ),
        pytest.param(
            {
                "grant_type": "password",
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "username": "api@example.com",
                "password": "wrong",
            },
            "invalid_grant",
            id="password",
        ),
        pytest.param({"grant_type": "client_credentials"}, "unsupported_grant_type", id="grant"),
    ],
)
def test_token_errors(data: dict[str, str], error: str) -> None:
    response = token(client_for(make(opportunities=5), headers={}), **data)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error and body["error_description"]


def test_tokens_expire_after_their_lifetime() -> None:
    emu = make(opportunities=5, token_lifetime_seconds=0.2)
    c = client_for(emu, headers={})
    issued = token(
        c,
        grant_type="refresh_token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token="emulator-refresh-token",
    ).json()
    headers = {"Authorization": f"Bearer {issued['access_token']}", "Pardot-Business-Unit-Id": BU}
    assert err_code(xml(c.get(QUERY, headers=headers))) is None
    time.sleep(0.3)
    assert err_code(xml(c.get(QUERY, headers=headers))) == 184


def test_token_expiry_fault_expires_every_token_so_far() -> None:
    emu = make(opportunities=5)
    emu.set_faults(FaultConfig(token_expiry_after_requests=3))
    c = client_for(emu)
    codes = [err_code(call(c, "query", limit=1)) for _ in range(4)]
    assert codes == [None, None, None, 184]
    fresh = token(
        c,
        grant_type="refresh_token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token="emulator-refresh-token",
    ).json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}", "Pardot-Business-Unit-Id": BU}
    assert err_code(xml(c.get(QUERY, headers=headers))) is None
    assert [r.error_code for r in emu.request_log if r.operation == "query"] == [
        None,
        None,
        None,
        184,
        None,
    ]
