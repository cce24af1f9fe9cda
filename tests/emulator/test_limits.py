"""The concurrency gate (66) and the daily request limit (122)."""

import threading

from sources.pardot_emulator import FaultConfig, running_server

from .conftest import HEADERS, call, client_for, err_code, make, xml


def test_sixth_concurrent_request_gets_66() -> None:
    import httpx

    emu = make(opportunities=5)
    # Long enough that all eight are in flight together even on a loaded machine; the
    # barrier releases them at once.
    emu.set_faults(FaultConfig(latency_seconds=2.5))
    codes: list[int | None] = []
    lock = threading.Lock()
    start = threading.Barrier(8)
    with running_server(emu) as base:

        def one() -> None:
            with httpx.Client(base_url=base, headers=HEADERS, timeout=20) as c:
                start.wait()
                code = err_code(
                    xml(c.get("/api/opportunity/version/3/do/query", params={"limit": 1}))
                )
            with lock:
                codes.append(code)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(codes, key=str) == sorted([None] * 5 + [66] * 3, key=str)
    assert emu.gate.in_flight == 0


def test_daily_limit_and_reset_at_local_midnight() -> None:
    emu = make(opportunities=5, daily_limit=3)
    c = client_for(emu)
    codes = [err_code(call(c, "query", limit=1)) for _ in range(5)]
    assert codes == [None, None, None, 122, 122]
    assert call(c, "query").findtext("err") == "Daily API rate limit met."
    # 12:00 UTC = 07:00 in New York; 16 hours later is 23:00 local, still the same day.
    emu.advance_clock(16 * 3600)
    assert err_code(call(c, "query", limit=1)) == 122
    emu.advance_clock(3600 + 1)
    assert err_code(call(c, "query", limit=1)) is None
    token = c.post("/services/oauth2/token", data={"grant_type": "password"})
    assert token.status_code == 400  # the token endpoint is not counted or limited
    emu.advance_clock(days=1)
    assert [err_code(call(c, "query", limit=1)) for _ in range(4)] == [None, None, None, 122]


def test_the_daily_limit_can_come_with_http_429_and_in_json() -> None:
    emu = make(opportunities=5, daily_limit=1, daily_limit_status=429, json_errors=True)
    c = client_for(emu)
    path = "/api/opportunity/version/3/do/query"
    assert c.get(path, params={"limit": 1, "format": "xml"}).status_code == 200
    answer = c.get(path, params={"limit": 1, "format": "xml"})
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["@attributes"] == {"stat": "fail", "version": 1, "err_code": 122}


def test_a_machine_whose_ip_is_not_allowed_gets_53_on_every_request() -> None:
    emu = make(opportunities=5, ip_allowlisted=False)
    c = client_for(emu)
    for op in ("query", "read/id/1"):
        answer = c.get(f"/api/opportunity/version/3/do/{op}")
        assert answer.status_code == 200
        assert err_code(xml(answer)) == 53
    assert emu.daily.used(emu.time.local_date(emu.clock.now())) == 0, "not counted"
