"""The native reader (``native``) against the general walk (``walk``), table by table.

The walk is the reference: every page the reader accepts must build exactly the tables
the walk builds (or fail, or set aside, the same opportunities), and every page it cannot
read exactly must be declined (and then walked). Hostile documents are declined, so they
reach the hardened parser, which refuses them as before.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sources.pardot.envelope import parse_document
from sources.pardot.errors import DataError, PardotError
from sources.pardot.native import Declined, NativePage, only_rows, read_page, text_tables
from sources.pardot.parsing import OpportunityBatch
from sources.pardot.schema import TABLES_BY_NAME
from sources.pardot_emulator import EmulatorConfig, PardotEmulator
from tests.faults.bodies import BAD_BODIES

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


def build(bodies: list[bytes], *, native: bool, reject: bool = False) -> dict[str, pa.Table]:
    batch = OpportunityBatch(TIMEZONE, reject_bad_rows=reject)
    for body in bodies:
        page = read_page(body) if native else None
        if isinstance(page, NativePage):
            batch.add_page(page)
        else:
            batch.add_result(result_of(body))
    return batch.build()


def read(body: bytes) -> NativePage:
    page = read_page(body)
    assert isinstance(page, NativePage), page
    return page


def assert_same(bodies: list[bytes], *, reject: bool = False) -> dict[str, pa.Table]:
    for body in bodies:
        read(body)  # the reader accepts every page
    native = build(bodies, native=True, reject=reject)
    walked = build(bodies, native=False, reject=reject)
    assert {n: t.schema for n, t in native.items()} == {n: t.schema for n, t in walked.items()}
    assert canonical(native) == canonical(walked)
    return native


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


def page(*opportunities: str, total: bool = True) -> bytes:
    body = "".join(f"<opportunity>{o}</opportunity>" for o in opportunities)
    head = f"<total_results>{len(opportunities)}</total_results>" if total else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rsp stat="ok" version="1.0">'
        f"<result>{head}{body}</result></rsp>"
    ).encode()


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
                "<id>11</id><name>x</name><prospects></prospects><opportunity_activities/>",
            ),
            page("<id>10</id><campaign><name>no id</name></campaign><name>x</name>"),
        ]
    )
    rows = {r["id"]: r for r in tables["opportunities"].to_pylist()}
    assert rows[7]["campaign_id"] == 3 and rows[7]["status"] == "open"
    assert rows[9]["campaign_id"] == 5 and rows[10]["campaign_id"] is None
    links = tables["opportunity_prospects"].to_pylist()
    assert {(r["opportunity_id"], r["prospect_id"], r["_unlinked"]) for r in links} == {
        (7, 40, False),
        (7, 41, False),
        (8, 0, True),
        (11, 0, True),
    }
    activities = {r["id"]: r for r in tables["visitor_activities"].to_pylist()}
    assert activities[900]["campaign_id"] == 4 and activities[900]["email_id"] == 12
    assert activities[901]["campaign_id"] == 3
    assert activities[901]["opportunity_id"] == 7, "the nesting names the opportunity"
    assert {r["id"] for r in tables["campaigns"].to_pylist()} == {3, 4}


def test_values_are_read_exactly_as_the_parser_reads_them() -> None:
    values = [
        "a\tb", "x\nO\t0099\t01Forged\nP\t0077", "  spaced  ", " ", "&amp; &lt;x&gt; &quot;&apos;",
        "caf&#233; &#x1F600; &#13;", "Zoë \u2013 😀", "a&#10;b", "&#x9;",
    ]  # fmt: skip
    opportunities = [f"<id>{i + 1}</id><name>{v}</name>" for i, v in enumerate(values)]
    tables = assert_same([page(*opportunities)])
    names = tables["opportunities"].sort_by("id")["name"].to_pylist()
    assert names[1] == "x\nO\t0099\t01Forged\nP\t0077", "a value cannot forge a row"
    assert names[2] == "  spaced  " and names[5] == "café 😀 \r"


def test_pretty_printed_pages_other_declarations_and_no_total_results_are_read() -> None:
    root = etree.fromstring(page(FULL, "<id>8</id><prospects/>"))
    etree.indent(root)
    pretty = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert b"\n    <opportunity>" in pretty
    other_declaration = page(FULL).replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
    )
    byte_order_mark = b"\xef\xbb\xbf" + page(FULL)
    assert_same([pretty, page(FULL, total=False), other_declaration, byte_order_mark])
    assert read(page(FULL, total=False)).total_results is None
    assert read(pretty).total_results == 2


def test_prospects_present_for_some_opportunities_and_absent_for_others() -> None:
    body = page(
        "<id>1</id><prospects/>",
        "<id>2</id>",
        "<id>3</id><prospects><prospect><id>5</id></prospect></prospects>",
        "<id>4</id><prospects></prospects>",
        "<id>5</id><name>no prospects element</name>",
    )
    tables = assert_same([body])
    links = tables["opportunity_prospects"].to_pylist()
    assert sorted((r["opportunity_id"], r["_unlinked"]) for r in links) == [
        (1, True),
        (3, False),
        (4, True),
    ], "absent <prospects> changes no link; an empty one unlinks all"


def test_a_bare_campaign_id_beside_a_campaign_without_an_id_is_declined() -> None:
    """A nested <campaign> names the campaign even without an id (then none), a bare
    campaign_id only without one: the reader cannot see a <campaign> that holds no id,
    so a page with both is the walk's."""
    for undecided in (
        page("<id>1</id><campaign_id>5</campaign_id><campaign><name>x</name></campaign>"),
        page("<id>1</id><campaign_id>5</campaign_id>", "<id>2</id><campaign/>"),
    ):
        assert isinstance(read_page(undecided), Declined)
    decided = page(
        "<id>1</id><campaign_id>5</campaign_id><campaign><id>6</id></campaign>",
        "<id>2</id><campaign_id>5</campaign_id>",
        "<id>3</id><campaign><id>7</id><name>x</name></campaign>",
    )
    tables = assert_same([decided])
    assert tables["opportunities"].sort_by("id")["campaign_id"].to_pylist() == [6, 5, 7]


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
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a</name><name>b</name>"),
                     id="repeated-field"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name><![CDATA[Deal]]></name>"),
                     id="cdata"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>De<!-- c -->al</name>"),
                     id="comment"),
        pytest.param(FULL.replace("<name>Deal</name>", "<?pi x?><name>Deal</name>"), id="pi"),
        pytest.param(FULL.replace("<name>Deal</name>", '<name a="b">Deal</name>'),
                     id="attribute"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a\rb</name>"), id="carriage-return"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a]]>b</name>"), id="cdata-end"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a&nbsp;b</name>"), id="entity"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a&#0;b</name>"), id="bad-char-ref"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a\x01b</name>"), id="control-char"),
        pytest.param(FULL.replace("<name>Deal</name>", "<name>a</stage>"), id="mismatched-tag"),
        pytest.param(FULL.replace("<id>7</id>", "<id>007</id>"), id="id-not-plain"),
        pytest.param(FULL.replace("<id>7</id>", "<id> 7</id>"), id="id-with-space"),
        pytest.param(FULL.replace("<id>7</id>", "<id/>"), id="id-empty"),
        pytest.param(FULL.replace("<id>7</id>", ""), id="id-missing"),
        pytest.param(FULL.replace("<prospects>", "<opportunity_activities/><prospects>"),
                     id="containers-in-another-order"),
    ],
)  # fmt: skip
def test_what_the_reader_cannot_read_exactly_it_declines(opportunity: str) -> None:
    assert isinstance(read_page(page(opportunity)), Declined)


def test_invalid_utf8_is_declined() -> None:
    assert isinstance(read_page(page(FULL).replace(b"Deal", b"De\xffal")), Declined)
    assert isinstance(read_page(page(FULL).replace(b"Deal", b"De\xef\xbf\xbeal")), Declined)


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_hostile_and_broken_bodies_are_declined(name: str) -> None:
    assert isinstance(read_page(BAD_BODIES[name].body), Declined)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE rsp [<!ENTITY a "b">]><rsp stat="ok"><result>'
        b"<opportunity><id>1</id><name>&a;</name></opportunity></result></rsp>",
        b'<rsp stat="fail" version="1.0"><err code="1">Invalid API key</err></rsp>',
        b'{"@attributes": {"stat": "ok"}, "result": {"total_results": 0}}',
        page(FULL)[:-30],
        page(FULL) + b"<junk/>",
        page(FULL).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'),
        page(FULL).replace(b"<rsp ", b'<rsp xmlns="urn:x" '),
    ],
    ids=["internal-entity", "stat-fail", "json", "truncated", "junk-after-root",
         "other-encoding", "namespace"],
)  # fmt: skip
def test_what_is_no_plain_page_of_results_is_declined(body: bytes) -> None:
    assert isinstance(read_page(body), Declined)


def test_declined_and_read_pages_mix_in_one_batch() -> None:
    plain = emulator_pages(pages=2)
    odd = page(FULL + "<new_field>kept</new_field>")
    mixed = build([plain[0], odd, plain[1]], native=True)
    walked = build([plain[0], odd, plain[1]], native=False)
    assert canonical(mixed) == canonical(walked)
    assert mixed["opportunities"].column("new_field").to_pylist().count("kept") == 1


def test_a_value_that_cannot_be_typed_names_the_same_opportunity_both_ways() -> None:
    body = page(FULL, FULL.replace("<id>7</id>", "<id>8</id>").replace("10.5", "ten"))
    errors = []
    for native in (True, False):
        with pytest.raises(DataError) as caught:
            build([body], native=native)
        errors.append((caught.value.opportunity_id, caught.value.field, caught.value.value))
    assert errors[0] == errors[1] == (8, "opportunities.value", "ten")


def test_reject_mode_sets_aside_the_same_opportunities_both_ways() -> None:
    bodies = emulator_pages(pages=2)
    bad = page(
        FULL,
        FULL.replace("<id>7</id>", "<id>8</id>").replace("<id>900</id>", "<id>x</id>"),
        FULL.replace("<id>7</id>", "<id>9</id>").replace("2024-03-10 01:30:00", "soon"),
    )
    native = build([*bodies, bad], native=True, reject=True)
    walked = build([*bodies, bad], native=False, reject=True)
    rejected = native.pop("rejected_rows").to_pylist()
    walked.pop("rejected_rows")
    assert canonical(native) == canonical(walked)
    assert sorted((r["opportunity_id"], r["field"]) for r in rejected) == [
        (8, "visitor_activities.id"),
        (9, "opportunities.created_at"),
    ]
    assert 7 in native["opportunities"].column("id").to_pylist()


def test_keeping_the_first_opportunities_keeps_exactly_their_rows() -> None:
    opportunities = [FULL.replace("<id>7</id>", f"<id>{i}</id>") for i in (7, 8, 9)]
    opportunities[1] = (
        opportunities[1].replace("<prospects>", "<prospects/><x>").replace("</prospects>", "</x>")
    )  # 8 is unlinked: its marker goes with it
    opportunities[1] = "<id>8</id><prospects/>"
    whole = read(page(*opportunities))
    assert whole.keep_first(3) is False
    assert whole.keep_first(2) is True and whole.ids == [7, 8]
    expected = text_tables([read(page(*opportunities[:2]))])
    kept = text_tables([whole])
    assert {n: t.to_pylist() for n, t in kept.tables.items()} == {
        n: t.to_pylist() for n, t in expected.tables.items()
    }


def test_the_page_facts_paging_needs_come_out_the_same_both_ways() -> None:
    for body in (page(FULL, "<id>8</id><created_at>2024-05-01 10:00:00</created_at>"),
                 page("<id>8</id><name>no activities</name>"),
                 page()):  # fmt: skip
        native = OpportunityBatch(TIMEZONE).add_page(read(body))
        walked = OpportunityBatch(TIMEZONE).add_result(result_of(body))
        assert native == walked
    last = OpportunityBatch(TIMEZONE).add_page(read(page("<id>8</id><name>n</name>")))
    assert last.carries_activities is False and last.last_created_at is None


def outcome(body: bytes, *, native: bool, reject: bool) -> dict[str, Any]:
    """The rows built, and who was rejected; or that the batch failed."""
    try:
        tables = build([body], native=native, reject=reject)
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
    st.sampled_from(["", " ", "7", "150", "abc", "2024-02-30 10:00:00", "a\tb", "x\nO\t0099"]),
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
    if isinstance(read_page(body), Declined):
        return  # declined: the walk reads it, as every other test shows
    for reject in (False, True):  # with bad rows set aside, the same ones go
        native, walked = (outcome(body, native=native, reject=reject) for native in (True, False))
        assert native == walked


SNIPPETS = [
    "<![CDATA[x]]>", "<![CDATA[]]>", "<!-- c -->", "<?pi x?>", "&#13;", "&#xD800;", "&#0;",
    "&#1114112;", "\r", "\r\n", "]]>", "&amp;", "&lt;", "&nbsp;", "&", "<", ">", "\xff",
    "\x00", "\x0b", "\ufffe", "<x/>", "</name>", "<name>", ' a="b"', "<id>9</id>", "\t", " ",
    "<prospects/>", "<campaign><id>2</id></campaign>", "é", "<", "/",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_bytes_spliced_into_a_page_are_read_as_the_parser_reads_them_or_declined(
    data: st.DataObject,
) -> None:
    """Edits of the raw bytes reach what a tree cannot hold: CDATA, comments, bad
    references, carriage returns, broken markup. Where the reader accepts a body, the
    hardened parser must accept it too, and the walk must build the same."""
    body = bytearray(PAGES[0])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        snippet = data.draw(st.sampled_from(SNIPPETS)).encode("utf-8", "surrogatepass")
        if snippet == b"\xc3\xbf":  # "\xff" as a str: send the raw byte, invalid UTF-8
            snippet = b"\xff"
        body[at:at] = snippet
    content = bytes(body)
    native = read_page(content)
    if isinstance(native, Declined):
        return
    try:
        result_of(content)
    except PardotError as exc:
        raise AssertionError(f"the reader accepted what the parser refuses: {exc}") from None
    assert outcome(content, native=True, reject=True) == outcome(content, native=False, reject=True)


def test_every_snippet_is_tried_where_the_reader_would_accept_it() -> None:
    """The spliced snippets land in field text too, not only between tags: spliced into
    a value, each is declined, or read exactly as the parser reads it."""
    rng = random.Random(7)
    for snippet in SNIPPETS:
        for _ in range(20):
            body = PAGES[0]
            at = body.index(b"<name>") + len(b"<name>") + rng.randrange(3)
            content = body[:at] + snippet.encode("utf-8", "surrogatepass") + body[at:]
            if isinstance(read_page(content), Declined):
                continue
            result_of(content)
            assert outcome(content, native=True, reject=True) == outcome(
                content, native=False, reject=True
            ), snippet


def test_only_some_rows_of_a_page_keep_exactly_their_rows() -> None:
    opportunities = [FULL.replace("<id>7</id>", f"<id>{i}</id>") for i in (7, 8, 9, 10)]
    opportunities[2] = "<id>9</id><prospects/>"  # an unlink marker, kept with its row
    whole = read(page(*opportunities))
    for rows in ([0], [1, 2], [0, 3], [2], []):
        expected = text_tables([read(page(*[opportunities[r] for r in rows]))]) if rows else None
        kept = text_tables([only_rows(whole, rows)])
        assert only_rows(whole, rows).ids == [whole.ids[r] for r in rows]
        assert {n: t.to_pylist() for n, t in kept.tables.items()} == (
            {n: t.to_pylist() for n, t in expected.tables.items()} if expected else {}
        )
