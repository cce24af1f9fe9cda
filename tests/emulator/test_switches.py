"""The activity switches: config, ``serve`` flags, and the control interface.

``query_includes_activities`` (both values: a query with ``output=full`` carries
``<opportunity_activities>`` or not, a read always does), ``visitor_activity_element``
and ``visitor_activity_opportunity_id``.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sources.pardot_emulator import EmulatorConfig, PardotEmulator
from sources.pardot_emulator.__main__ import build_parser, serve_config

from .conftest import HEADERS, call, client_for, make, xml

ROOT = Path(__file__).resolve().parents[2]
ACTIVITIES = "/api/visitorActivity/version/3/do/query"
NEW_SWITCH_DEFAULTS = {
    "link_bumps_updated_at": False,
    "v5_enabled": True,
    "v5_cache_lag_seconds": 0.0,
    "v5_chain_cap": 100_000,
}
"""The link and v5 switches at their defaults (tested in test_v5)."""


def carried(c: httpx.Client, output: str) -> bool:
    """Whether a query at ``output`` carries ``<opportunity_activities>``."""
    return call(c, "query", output=output).find(".//opportunity_activities") is not None


@pytest.mark.parametrize("render_cache", [False, True], ids=["plain", "render-cache"])
@pytest.mark.parametrize("included", [True, False], ids=["query-carries", "read-only"])
def test_query_includes_activities_both_ways(included: bool, render_cache: bool) -> None:
    emu = make(opportunities=30, query_includes_activities=included, render_cache=render_cache)
    c = client_for(emu)
    assert carried(c, "full") is included
    assert not any(carried(c, output) for output in ("simple", "mobile", "bulk"))
    doc = c.get(
        "/api/opportunity/version/3/do/query", params={"format": "json", "limit": 50}
    ).json()
    in_json = any("opportunity_activities" in o for o in doc["result"]["opportunity"])
    assert in_json is included
    with_activities = next(o.id for o in emu.store.opportunities.values() if o.activities)
    if emu.store.opportunities[with_activities].deleted:
        emu.undelete_opportunity(with_activities)
    read = call(c, "read", id=with_activities)
    assert read.find("opportunity/opportunity_activities/visitor_activity") is not None


def test_by_default_a_query_carries_no_activities_as_the_documentation_says() -> None:
    assert EmulatorConfig().query_includes_activities is False
    assert not carried(client_for(make(opportunities=10)), "full")


# -- serve flags ----------------------------------------------------------------------


def config_of(*flags: str) -> EmulatorConfig:
    return serve_config(build_parser().parse_args(["serve", *flags]))


def test_serve_flags_set_the_switches() -> None:
    default = config_of()
    assert default.query_includes_activities == EmulatorConfig.query_includes_activities
    assert default.visitor_activity_element == "visitorActivity"
    assert default.visitor_activity_opportunity_id is True
    assert config_of("--query-activities").query_includes_activities is True
    assert config_of("--no-query-activities").query_includes_activities is False
    assert config_of("--visitor-activity-element", "visitor_activity").visitor_activity_element == (
        "visitor_activity"
    )
    assert config_of("--no-activity-opportunity-id").visitor_activity_opportunity_id is False


@pytest.mark.parametrize(
    "flags",
    [
        ["--query-activities", "--no-query-activities"],
        ["--visitor-activity-element", "activity"],
    ],
)
def test_serve_refuses_contradictory_or_unknown_values(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", *flags])
    assert exited.value.code == 2


def test_serve_command_with_the_switches_in_a_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "sources.pardot_emulator", "serve", "--port", "0",
            "--opportunities", "30", "--no-query-activities",
            "--visitor-activity-element", "visitor_activity", "--no-activity-opportunity-id",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split(" ")[0]
        with httpx.Client(base_url=base, headers=HEADERS, timeout=10) as c:
            assert not carried(c, "full")
            root = xml(c.get(ACTIVITIES, params={"limit": 3}))
            assert len(root.findall("result/visitor_activity")) == 3
            assert root.find(".//opportunity_id") is None
            assert c.get("/_emulator/info").json()["switches"] == {
                "query_includes_activities": False,
                "visitor_activity_element": "visitor_activity",
                "visitor_activity_opportunity_id": False,
                **NEW_SWITCH_DEFAULTS,
            }
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


# -- the control interface ------------------------------------------------------------


def test_switches_over_the_control_interface() -> None:
    emu = make(opportunities=30, render_cache=True, query_includes_activities=True)
    api = client_for(emu)
    control = client_for(emu, headers={})
    assert control.get("/_emulator/info").json()["switches"] == {
        "query_includes_activities": True,
        "visitor_activity_element": "visitorActivity",
        "visitor_activity_opportunity_id": True,
        **NEW_SWITCH_DEFAULTS,
    }
    assert carried(api, "full")  # now cached
    answer = control.post(
        "/_emulator/switches",
        json={
            "query_includes_activities": False,
            "visitor_activity_element": "visitor_activity",
            "visitor_activity_opportunity_id": False,
        },
    )
    assert answer.status_code == 200 and answer.json()["query_includes_activities"] is False
    assert not carried(api, "full"), "the cached page was dropped"
    root = xml(api.get(ACTIVITIES, params={"limit": 2}))
    assert len(root.findall("result/visitor_activity")) == 2
    assert root.find(".//opportunity_id") is None
    control.post("/_emulator/switches", json={"query_includes_activities": True})
    assert carried(api, "full")
    assert emu.switches()["visitor_activity_element"] == "visitor_activity"


@pytest.mark.parametrize(
    "body",
    [
        {"status_case": "capitalized"},
        {"visitor_activity_element": "activity"},
        {"query_includes_activities": "yes"},
        {"visitor_activity_opportunity_id": 0, "visitor_activity_element": "visitor_activity"},
    ],
)
def test_bad_switches_are_refused_and_nothing_changes(body: dict[str, object]) -> None:
    emu = make(opportunities=5)
    before = emu.switches()
    answer = client_for(emu, headers={}).post("/_emulator/switches", json=body)
    assert answer.status_code == 400 and answer.json()["error"]
    assert emu.switches() == before
    with pytest.raises(ValueError):
        emu.set_switches(**body)
    assert emu.switches() == before


def test_set_switches_in_process() -> None:
    emu: PardotEmulator = make(opportunities=10)
    emu.set_switches(visitor_activity_opportunity_id=False)
    root = xml(client_for(emu).get(ACTIVITIES))
    assert root.find(".//opportunity_id") is None and root.find(".//visitorActivity") is not None
    emu.set_switches()
    assert emu.switches()["visitor_activity_opportunity_id"] is False
