"""The real loopback server, the HTTP control interface and the ``serve`` command."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sources.pardot_emulator import FaultConfig, running_server

from .conftest import BU, HEADERS, TOKEN, client_for, make, xml

ROOT = Path(__file__).resolve().parents[2]
QUERY = "/api/opportunity/version/3/do/query"


def test_loopback_server_serves_and_drops() -> None:
    emu = make(opportunities=50)
    with running_server(emu) as base:
        assert base.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base, headers=HEADERS, timeout=5) as c:
            root = xml(c.get(QUERY, params={"limit": 3, "sort_by": "id"}))
            assert len(root.findall("result/opportunity")) == 3
            emu.set_faults(FaultConfig(drop_rate=1.0))
            with pytest.raises(httpx.TransportError):
                c.get(QUERY)
            emu.set_faults(FaultConfig())
            assert c.get(QUERY, params={"limit": 1}).status_code == 200
    assert [r.fault for r in emu.request_log] == [None, "drop", None]


def test_control_interface_over_http() -> None:
    emu = make(opportunities=20)
    c = client_for(emu, headers={})
    assert c.get("/_emulator/info").json()["business_unit_id"] == BU
    new = c.post("/_emulator/add_opportunities", json={"n": 2, "same_second": True}).json()["ids"]
    assert len(new) == 2
    pid = emu.ground_truth()["prospects"][0]["id"]
    created = c.post(
        "/_emulator/create_opportunity",
        json={"name": "N", "value": 5, "probability": 9, "prospect_id": pid},
    ).json()["id"]
    assert c.post("/_emulator/update_opportunity", json={"id": created, "stage": "S"}).json() == {
        "ok": True
    }
    assert (
        c.post(
            "/_emulator/link_prospect", json={"opportunity_id": new[0], "prospect_id": pid}
        ).status_code
        == 200
    )
    act = c.post(
        "/_emulator/add_activity",
        json={"opportunity_id": new[0], "type": 8, "created_at": "2024-03-09T11:00:00+00:00"},
    ).json()["id"]
    assert c.post("/_emulator/delete_opportunity", json={"id": new[1]}).status_code == 200
    assert c.post("/_emulator/advance_clock", json={"days": 1}).status_code == 200
    bad = c.post("/_emulator/update_opportunity", json={"id": created, "probability": 300})
    assert bad.status_code == 400 and bad.json()["code"] == 40
    truth = c.get("/_emulator/ground_truth").json()
    assert any(a["id"] == act for a in truth["visitor_activities"])
    assert next(o for o in truth["opportunities"] if o["id"] == new[1])["is_deleted"] is True
    client_for(emu).get(QUERY)
    assert len(c.get("/_emulator/requests").json()) == 1
    assert c.post("/_emulator/reset_requests").status_code == 200
    assert c.get("/_emulator/requests").json() == []
    assert c.post("/_emulator/nope", json={}).status_code == 404


def test_serve_command_in_a_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "sources.pardot_emulator", "serve", "--port", "0",
            "--opportunities", "50", "--seed", "3", "--api-version", "4",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        base, bu, token = line.split(" ")
        assert bu == f"business_unit_id={BU}" and token == f"token={TOKEN}"
        with httpx.Client(base_url=base, headers=HEADERS, timeout=10) as c:
            root = xml(c.get("/api/opportunity/version/4/do/query", params={"limit": 2}))
            assert root.get("stat") == "ok" and len(root.findall("result/opportunity")) == 2
            assert xml(c.get(QUERY)).find("err").get("code") == "88"
            truth = c.get("/_emulator/ground_truth").json()
            assert len(truth["opportunities"]) == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_ground_truth_command() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "sources.pardot_emulator", "ground-truth",
            "--opportunities", "10", "--seed", "7",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    import json

    assert len(json.loads(out.stdout)["opportunities"]) == 10


def test_ground_truth_command_with_an_id_jump() -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "sources.pardot_emulator", "ground-truth",
            "--opportunities", "10", "--seed", "7", "--id-jump", "4,1000",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    import json

    ids = [o["id"] for o in json.loads(out.stdout)["opportunities"]]
    assert ids[4] - ids[3] == 1001 and ids[3] - ids[0] == 3
