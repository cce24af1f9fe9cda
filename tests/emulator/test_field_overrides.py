"""The ``override_field`` control: one field of one opportunity rendered as a given text."""

from __future__ import annotations

import json

import pytest

from sources.pardot_emulator import ApiError, PardotEmulator

from .conftest import call, client_for, ids, live, make

QUERY = "/api/opportunity/version/3/do/query"


def page(emu: PardotEmulator, **params: str | int) -> bytes:
    with client_for(emu) as c:
        return c.get(QUERY, params={"limit": 20, "sort_by": "id", **params}).content


@pytest.mark.parametrize("render_cache", [False, True])
def test_override_changes_one_field_of_one_opportunity_until_cleared(render_cache: bool) -> None:
    emu = make(opportunities=40, render_cache=render_cache)
    before = page(emu)
    truth = emu.ground_truth()
    target = live(emu)[3]["id"]

    emu.override_field(target, "value", "abc")
    emu.override_field(target, "probability", "150")

    with client_for(emu) as c:
        root = call(c, "query", limit=20, sort_by="id")
        read = call(c, "read", id=target)
    assert target in ids(root)
    for opportunity in root.iter("opportunity"):
        value, probability = opportunity.findtext("value"), opportunity.findtext("probability")
        if opportunity.findtext("id") == str(target):
            assert (value, probability) == ("abc", "150")
        else:
            assert value != "abc" and probability != "150"
    shown = read.find("opportunity")
    assert shown is not None and shown.findtext("value") == "abc"
    assert emu.ground_truth() == truth, "the data (and updated_at) did not change"

    emu.clear_field_overrides()
    assert page(emu) == before, "byte for byte the rendering of before"


def test_override_is_escaped_and_an_absent_field_is_inserted() -> None:
    emu = make(opportunities=10, emit_empty_closed_at=False)
    target = next(o["id"] for o in live(emu) if o["closed_at"] is None)
    emu.override_field(target, "closed_at", "2024-99-99 <x>")
    emu.override_field(target, "name", "")
    emu.override_field(target, "stage", r"back\1slash & co")
    with client_for(emu) as c:
        root = call(c, "read", id=target)
    opportunity = root.find("opportunity")
    assert opportunity is not None
    assert opportunity.findtext("closed_at") == "2024-99-99 <x>"
    assert [e.tag for e in opportunity][:2] == ["id", "closed_at"]
    assert opportunity.findtext("stage") == r"back\1slash & co"
    name = opportunity.find("name")
    assert name is not None and name.text is None


def test_override_in_json_and_through_the_control_interface() -> None:
    emu = make(opportunities=10)
    target = live(emu)[0]["id"]
    with client_for(emu) as c:
        answer = c.post(
            "/_emulator/override_field",
            json={"opportunity_id": target, "field": "created_at", "text": "yesterday"},
        )
        assert answer.json() == {"ok": True}
        doc = c.get(f"/api/opportunity/version/3/do/read/id/{target}/format/json").json()
        assert doc["opportunity"]["created_at"] == "yesterday"
        assert c.post("/_emulator/clear_field_overrides", json={}).json() == {"ok": True}
        doc = c.get(f"/api/opportunity/version/3/do/read/id/{target}/format/json").json()
    assert doc["opportunity"]["created_at"] != "yesterday"
    assert json.dumps(doc)  # still a plain JSON document


def test_override_refuses_unknown_opportunities_and_the_id() -> None:
    emu = make(opportunities=5)
    with pytest.raises(ApiError):
        emu.override_field(10**9, "value", "1")
    with pytest.raises(ValueError, match="cannot override"):
        emu.override_field(live(emu)[0]["id"], "id", "7")
