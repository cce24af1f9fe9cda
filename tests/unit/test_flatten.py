"""The fast path (``flatten`` + ``pivot``) against the general walk, table by table.

The general walk in ``parsing`` is the reference: every page the fast path accepts must
build exactly the tables the walk builds, and every page it cannot read exactly must be
declined (and then walked).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sources.pardot.envelope import parse_document
from sources.pardot.errors import DataError
from sources.pardot.flatten import flatten_page
from sources.pardot.parsing import OpportunityBatch
from sources.pardot.pivot import pivot, scatter
from sources.pardot.schema import TABLES_BY_NAME
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

TIMEZONE = "America/New_York"


def emulator_pages(pages: int = 3, limit: int = 50, **config: Any) -> list[bytes]:
    emulator = PardotEmulator(
        EmulatorConfig(opportunities=pages * limit, seed=11, realtime_clock=False, **config)
    )
    bodies, after = [], 0
    for _ in range(pages):
        params = {"sort_by": "id", "sort_order": "ascending", "limit": str(limit)}
        body = emulator.api.handle("query", {**params, "id_greater_than": str(after)}, 3)
        assert body is not None
        bodies.append(body)
        ids = etree.fromstring(body).xpath("result/opportunity/id/text()")
        if not ids:
            break
        after = int(ids[-1])
    return bodies


def result_of(body: bytes) -> etree._Element:
    result = parse_document(body, operation="query", http_status=200).find("result")
    assert result is not None
    return result


def canonical(tables: dict[str, pa.Table]) -> dict[str, list[dict[str, Any]]]:
    """Rows sorted by key: the two paths may order rows differently, never differ."""
    out = {}
    for name, table in tables.items():
        key = TABLES_BY_NAME[name].primary_key or tuple(table.column_names)
        out[name] = sorted(table.to_pylist(), key=lambda r: tuple(str(r[k]) for k in key))
    return out


def build(bodies: list[bytes], *, fast: bool, reject: bool = False) -> dict[str, pa.Table]:
    batch = OpportunityBatch(TIMEZONE, reject_bad_rows=reject)
    for body in bodies:
        result = result_of(body)
        batch.add_result(result, flatten_page(result) if fast else None)
    return batch.build()


def assert_same(bodies: list[bytes], *, reject: bool = False) -> dict[str, pa.Table]:
    for body in bodies:
        assert flatten_page(result_of(body)) is not None, "the fast path declined the page"
    fast = build(bodies, fast=True, reject=reject)
    walked = build(bodies, fast=False, reject=reject)
    assert {n: t.schema for n, t in fast.items()} == {n: t.schema for n, t in walked.items()}
    assert canonical(fast) == canonical(walked)
    return fast


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"emit_empty_closed_at": False},
        {"top_level_campaign_id": True},
        {"query_includes_activities": False},
        {"timezone": "Europe/Berlin"},
    ],
    ids=["default", "closed_at-omitted", "top-level-campaign_id", "no-activities", "berlin"],
)
def test_emulator_pages_build_the_same_tables_both_ways(config: dict[str, Any]) -> None:
    bodies = emulator_pages(**config)
    tables = assert_same(bodies)
    sent = sum(body.count(b"<opportunity>") for body in bodies)
    assert tables["opportunities"].num_rows == sent > 100


def page(*opportunities: str) -> bytes:
    body = "".join(f"<opportunity>{o}</opportunity>" for o in opportunities)
    return f'<rsp stat="ok" version="1.0"><result>{body}</result></rsp>'.encode()


FULL = (
    "<id>7</id><name>Deal</name><value>10.5</value><probability>20</probability>"
    "<type/><stage>Won</stage><status>Open</status><closed_at/>"
    "<created_at>2024-03-10 01:30:00</created_at><updated_at>2024-11-03 01:30:00</updated_at>"
    "<campaign><id>3</id><name>Fall</name><cost>100</cost></campaign>"
    "<prospects><prospect><id>40</id><email>a@b.c</email></prospect>"
    "<prospect><id>41</id><first_name>Zoë</first_name></prospect></prospects>"
    "<opportunity_activities><visitor_activity><id>900</id><type>8</type>"
    "<campaign><id>4</id><name>Spring</name></campaign><email_id>12</email_id>"
    "<created_at>2024-03-11 00:00:00</created_at></visitor_activity>"
    "<visitor_activity><id>901</id><campaign_id>3</campaign_id><opportunity_id>99</opportunity_id>"
    "</visitor_activity></opportunity_activities>"
)


def test_a_hand_written_page_with_every_shape_builds_the_same_both_ways() -> None:
    tables = assert_same(
        [
            page(
                FULL,
                "<id>8</id><name>No links left</name><prospects/>",
                "<id>9</id><name>Bulk</name><campaign_id>5</campaign_id>",
                "<id>10</id><campaign><name>no id</name></campaign><name>x</name>",
                "<id>11</id><name>first</name><name>last wins</name>",
            )
        ]
    )
    rows = {r["id"]: r for r in tables["opportunities"].to_pylist()}
    assert rows[7]["campaign_id"] == 3 and rows[7]["status"] == "open"
    assert rows[9]["campaign_id"] == 5 and rows[10]["campaign_id"] is None
    assert rows[11]["name"] == "last wins"
    links = tables["opportunity_prospects"].to_pylist()
    assert {(r["opportunity_id"], r["prospect_id"], r["_unlinked"]) for r in links} == {
        (7, 40, False),
        (7, 41, False),
        (8, 0, True),
    }
    activities = {r["id"]: r for r in tables["visitor_activities"].to_pylist()}
    assert activities[900]["campaign_id"] == 4 and activities[900]["email_id"] == 12
    assert activities[901]["campaign_id"] == 3
    assert activities[901]["opportunity_id"] == 7, "the nesting names the opportunity"
    assert {r["id"] for r in tables["campaigns"].to_pylist()} == {3, 4}


@pytest.mark.parametrize(
    "opportunity",
    [
        pytest.param(FULL + "<new_field>x</new_field>", id="unknown-field"),
        pytest.param(FULL.replace("<cost>100</cost>", "<cost>1</cost><owner>x</owner>"),
                     id="unknown-campaign-field"),
        pytest.param(FULL.replace("<type>8</type>", "<type>8</type><x/>"),
                     id="unknown-activity-field"),
        pytest.param(FULL.replace("<type/>", "<type><a>b</a></type>"), id="field-with-children"),
        pytest.param(FULL + "<campaign><id>5</id></campaign>", id="second-campaign"),
        pytest.param(FULL.replace("<prospects>", "<prospects><note>x</note>"),
                     id="not-a-prospect-in-prospects"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a\tb</name>"), id="tab-in-value"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a\nb</name>"), id="newline-in-value"),
        pytest.param(FULL.replace("<id>7</id>", "<id>007</id>"), id="id-not-plain"),
        pytest.param(FULL.replace("<id>7</id>", "<id/>"), id="id-empty"),
        pytest.param(FULL.replace("<id>7</id>", ""), id="id-missing"),
    ],
)  # fmt: skip
def test_what_the_fast_path_cannot_read_exactly_it_declines(opportunity: str) -> None:
    assert flatten_page(result_of(page(opportunity))) is None


def test_a_value_cannot_forge_a_row() -> None:
    forged = "x\nO\t0099\t01Forged\nP\t0077"
    body = page(FULL.replace("<name>Deal</name>", f"<name>{forged}</name>"))
    assert flatten_page(result_of(body)) is None
    tables = build([body], fast=False)
    assert tables["opportunities"].column("id").to_pylist() == [7]
    assert tables["opportunities"].column("name").to_pylist() == [forged]


def test_declined_and_flattened_pages_mix_in_one_batch() -> None:
    plain = emulator_pages(pages=2)
    odd = page(FULL + "<new_field>kept</new_field>")
    batch = OpportunityBatch(TIMEZONE)
    for body in [plain[0], odd, plain[1]]:
        result = result_of(body)
        batch.add_result(result, flatten_page(result))
    mixed = batch.build()
    walked = build([plain[0], odd, plain[1]], fast=False)
    assert canonical(mixed) == canonical(walked)
    assert mixed["opportunities"].column("new_field").to_pylist().count("kept") == 1


def test_a_value_that_cannot_be_typed_names_the_same_opportunity_both_ways() -> None:
    body = page(FULL, FULL.replace("<id>7</id>", "<id>8</id>").replace("10.5", "ten"))
    errors = []
    for fast in (True, False):
        with pytest.raises(DataError) as caught:
            build([body], fast=fast)
        errors.append((caught.value.opportunity_id, caught.value.field, caught.value.value))
    assert errors[0] == errors[1] == (8, "opportunities.value", "ten")


def test_reject_mode_sets_aside_the_same_opportunities_both_ways() -> None:
    bodies = emulator_pages(pages=2)
    bad = page(
        FULL,
        FULL.replace("<id>7</id>", "<id>8</id>").replace("<id>900</id>", "<id>x</id>"),
        FULL.replace("<id>7</id>", "<id>9</id>").replace("2024-03-10 01:30:00", "soon"),
    )
    fast = build([*bodies, bad], fast=True, reject=True)
    walked = build([*bodies, bad], fast=False, reject=True)
    rejected = fast.pop("rejected_rows").to_pylist()
    walked.pop("rejected_rows")
    assert canonical(fast) == canonical(walked)
    assert sorted((r["opportunity_id"], r["field"]) for r in rejected) == [
        (8, "visitor_activities.id"),
        (9, "opportunities.created_at"),
    ]
    assert 7 in fast["opportunities"].column("id").to_pylist()


def test_scatter_puts_values_in_their_rows_and_keeps_the_last_of_a_repeat() -> None:
    rows = pa.array([1, 3, 3, 4], pa.int64())
    values = pa.array(["a", "b", "c", "d"])
    assert scatter(rows, values, 6).to_pylist() == [None, "a", None, "c", "d", None]
    assert scatter(pa.array([], pa.int64()), pa.array([], pa.string()), 2).to_pylist() == [
        None,
        None,
    ]


def test_pivot_of_nothing_is_nothing() -> None:
    assert pivot([]) == {}


def outcome(body: bytes, *, fast: bool, reject: bool) -> dict[str, Any]:
    """The rows built, and who was rejected; or that the batch failed."""
    try:
        tables = build([body], fast=fast, reject=reject)
    except DataError:
        return {"failed": True}
    rejected = tables.pop("rejected_rows", None)
    owners = [] if rejected is None else rejected.column("opportunity_id").to_pylist()
    return {"rows": canonical(tables), "rejected": sorted(owners)}


PAGES = emulator_pages(pages=1, limit=6)
ELEMENTS = st.sampled_from(
    ["id", "name", "value", "campaign", "prospect", "prospects", "visitor_activity",
     "opportunity_activities", "created_at", "campaign_id", "email_id", "x-new"]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "7", "150", "abc", "2024-02-30 10:00:00", "a\tb", "x\nO\t0099"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_changes_to_a_page_build_the_same_both_ways_or_are_declined(
    data: st.DataObject,
) -> None:
    root = etree.fromstring(PAGES[0])
    elements = list(root.find("result").iter())  # type: ignore[union-attr]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(elements))
        action = data.draw(st.sampled_from(["insert", "text", "remove"]))
        if action == "remove" and target.getparent() is not None:
            target.getparent().remove(target)  # type: ignore[union-attr]
            continue
        text = "".join(c for c in data.draw(TEXTS) if c.isprintable() or c in "\t\n") or None
        if action == "text":
            target.text = text
            continue
        child = etree.Element(data.draw(ELEMENTS))
        child.text = text
        target.insert(data.draw(st.integers(0, len(target))), child)
    if root.find("result") is None:
        return
    body = etree.tostring(root)
    if flatten_page(result_of(body)) is None:
        return  # declined: the walk reads it, as every other test shows
    for reject in (False, True):  # with bad rows set aside, the same ones go
        fast, walked = (outcome(body, fast=fast, reject=reject) for fast in (True, False))
        assert fast == walked


def test_the_page_facts_paging_needs_come_out_the_same_both_ways() -> None:
    for body in (page(FULL, "<id>8</id><created_at>2024-05-01 10:00:00</created_at>"),
                 page("<id>8</id><name>no activities</name>")):  # fmt: skip
        result = result_of(body)
        flat = flatten_page(result)
        assert flat is not None
        fast = OpportunityBatch(TIMEZONE).add_result(result, flat)
        walked = OpportunityBatch(TIMEZONE).add_result(result_of(body))
        assert fast == walked
    assert fast.carries_activities is False and fast.last_created_at is None
