"""Fault switches, and their reproducibility from the fault seed."""

import httpx
import pytest
from lxml import etree

from sources.pardot_emulator import FaultConfig, PardotEmulator

from .conftest import client_for, make

QUERY = "/api/opportunity/version/3/do/query"


def run(faults: FaultConfig, n: int = 40) -> tuple[PardotEmulator, list[str]]:
    emu = make(opportunities=30)
    emu.set_faults(faults)
    c = client_for(emu)
    outcomes = []
    for _ in range(n):
        try:
            r = c.get(QUERY, params={"limit": 5})
        except ConnectionResetError:
            outcomes.append("drop")
            continue
        outcomes.append(f"{r.status_code}:{len(r.content)}")
    return emu, outcomes


def test_same_seed_same_faults() -> None:
    faults = FaultConfig(
        seed=3,
        error_5xx_rate=0.2,
        drop_rate=0.1,
        truncate_rate=0.2,
        burst_66_rate=0.1,
        html_error_rate=0.1,
    )
    _, first = run(faults)
    _, second = run(faults)
    _, other = run(FaultConfig(**{**faults.__dict__, "seed": 4}))
    assert first == second and first != other


def test_5xx_pages_with_retry_after() -> None:
    emu, _ = run(FaultConfig(seed=1, error_5xx_rate=1.0), n=20)
    statuses = {r.status for r in emu.request_log}
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    c = client_for(emu)
    responses = [c.get(QUERY) for _ in range(10)]
    assert all(r.headers["content-type"].startswith("text/html") for r in responses)
    assert any(r.headers.get("retry-after") == "1" for r in responses)
    assert all(r.fault == "5xx" for r in emu.request_log)


def test_drop_raises_connection_reset_in_process() -> None:
    emu, outcomes = run(FaultConfig(drop_rate=1.0), n=3)
    assert outcomes == ["drop"] * 3
    assert [(r.fault, r.status) for r in emu.request_log] == [("drop", 0)] * 3


def test_truncated_bodies_are_cut_xml() -> None:
    emu = make(opportunities=30)
    emu.set_faults(FaultConfig(seed=2, truncate_rate=1.0))
    c = client_for(emu)
    for _ in range(5):
        r = c.get(QUERY, params={"limit": 5})
        assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(r.content)


def test_burst_66_and_html_pages() -> None:
    emu = make(opportunities=30)
    emu.set_faults(FaultConfig(burst_66_rate=1.0))
    c = client_for(emu)
    root = etree.fromstring(c.get(QUERY).content)
    assert root.find("err").get("code") == "66"
    emu.set_faults(FaultConfig(seed=5, html_error_rate=1.0))
    responses = [c.get(QUERY) for _ in range(12)]
    assert {r.status_code for r in responses} == {200, 502}
    assert all(r.text.lstrip().startswith("<!DOCTYPE html>") for r in responses)


def test_latency_and_no_faults_on_control_or_token() -> None:
    emu = make(opportunities=30)
    emu.set_faults(FaultConfig(drop_rate=1.0, latency_seconds=0.05))
    c = client_for(emu)
    assert c.get("/_emulator/info").status_code == 200
    assert c.post("/services/oauth2/token", data={"grant_type": "x"}).status_code == 400
    emu.set_faults(FaultConfig(latency_seconds=0.1, latency_jitter_seconds=0.05))
    c.get(QUERY, params={"limit": 1})
    assert 0.1 <= emu.request_log[-1].duration_seconds < 1.0


def test_faults_can_apply_to_token_endpoint() -> None:
    emu = make(opportunities=5, faults_on_token_endpoint=True)
    emu.set_faults(FaultConfig(error_5xx_rate=1.0))
    response = client_for(emu).post("/services/oauth2/token", data={"grant_type": "x"})
    assert response.status_code in (500, 502, 503)


def test_unknown_fault_setting_rejected_over_http() -> None:
    c = client_for(make(opportunities=5))
    response = c.post("/_emulator/faults", json={"drop_rat": 1})
    assert response.status_code == 400 and "drop_rat" in response.json()["error"]
    assert c.post("/_emulator/faults", json={"drop_rate": 0.5, "seed": 9}).status_code == 200


def test_httpx_sees_reset_as_transport_error_over_loopback() -> None:
    from sources.pardot_emulator import running_server

    emu = make(opportunities=5)
    emu.set_faults(FaultConfig(drop_rate=1.0))
    with (
        running_server(emu) as base,
        httpx.Client(base_url=base) as c,
        pytest.raises(httpx.TransportError),
    ):
        c.get(QUERY)
