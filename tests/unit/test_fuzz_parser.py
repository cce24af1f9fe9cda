"""Property-based fuzzing of the response parser: envelope → OpportunityBatch → Arrow.

Whatever bytes arrive, only the connector's own ``PardotError`` subclasses come out of
``parse_document`` + ``OpportunityBatch.add_result`` + ``build``, never another
exception; and a batch either builds completely or raises: never a half-read row, never
a value coerced to something the text did not say.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sources.pardot.envelope import parse_document
from sources.pardot.errors import DataError, PardotError
from sources.pardot.parsing import OpportunityBatch
from sources.pardot_emulator import EmulatorConfig, PardotEmulator

TIMEZONE = "America/New_York"
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPED_FIELDS = ("value", "probability", "created_at", "updated_at", "closed_at", "id")


def _pages() -> list[bytes]:
    emulator = PardotEmulator(EmulatorConfig(opportunities=12, seed=5, realtime_clock=False))
    pages = []
    for params in ({"limit": "3"}, {"limit": "3", "id_greater_than": "1005"}):
        body = emulator.api.handle(
            "query", {"sort_by": "id", "sort_order": "ascending", **params}, 3
        )
        assert body is not None
        pages.append(body)
    return pages


PAGES = _pages()
VALID, SECOND = PAGES


def parse_page(content: bytes, batch: OpportunityBatch) -> Any:
    root = parse_document(content, operation="query", http_status=200)
    result = root.find("result")
    if result is None:
        return None
    return batch.add_result(result)


def run_parser(content: bytes) -> dict[str, pa.Table] | None:
    """The whole path; any exception other than PardotError fails the test."""
    batch = OpportunityBatch(TIMEZONE)
    try:
        info = parse_page(content, batch)
        tables = batch.build()
    except PardotError:
        return None
    if info is not None and "opportunities" in tables:
        assert tables["opportunities"].column("id").to_pylist() == info.ids
    assert_complete(tables)
    return tables


def assert_complete(tables: dict[str, pa.Table]) -> None:
    """No half-read rows: every child row belongs to a built opportunity."""
    opportunities = set(tables["opportunities"].column("id").to_pylist()) if tables else set()
    if "opportunities" in tables:
        assert None not in opportunities
    for name in ("opportunity_prospects", "visitor_activities"):
        if name in tables:
            owners = set(tables[name].column("opportunity_id").to_pylist())
            assert owners <= opportunities, f"{name} rows of an opportunity not built"


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_pardot_errors(content: bytes) -> None:
    run_parser(content)


@SETTINGS
@given(st.binary(max_size=512), st.integers(0, len(VALID)))
def test_bytes_spliced_into_a_valid_page_raise_only_pardot_errors(junk: bytes, at: int) -> None:
    run_parser(VALID[:at] + junk + VALID[at:])


@SETTINGS
@given(st.integers(0, len(VALID) - 1))
def test_a_page_cut_anywhere_is_refused_whole(cut: int) -> None:
    tables = run_parser(VALID[:cut])
    # Only the final newline after </rsp> may go: anything shorter is not the document.
    assert tables is None or VALID[cut:].strip() == b""


ELEMENT_NAMES = st.sampled_from(
    ["opportunity", "id", "value", "probability", "prospect", "prospects", "campaign",
     "visitor_activity", "opportunity_activities", "created_at", "total_results", "x-new"]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["abc", "150", "-1", "1e400", "nan", "inf", "2024-02-30 10:00:00", "", "7"]),
)


@settings(SETTINGS, max_examples=60)
@given(st.data())
def test_random_elements_and_text_inserted_into_the_tree(data: st.DataObject) -> None:
    root = etree.fromstring(VALID)
    elements = list(root.iter())
    for _ in range(data.draw(st.integers(1, 4))):
        parent = data.draw(st.sampled_from(elements))
        child = etree.Element(data.draw(ELEMENT_NAMES))
        text = data.draw(TEXTS)
        child.text = "".join(c for c in text if c.isprintable()) or None
        parent.insert(data.draw(st.integers(0, len(parent))), child)
    run_parser(etree.tostring(root))


@SETTINGS
@given(st.sampled_from(TYPED_FIELDS), TEXTS, st.integers(0, 2))
def test_random_values_in_typed_fields_are_typed_exactly_or_refused(
    field: str, text: str, which: int
) -> None:
    text = "".join(c for c in text if c.isprintable() and c not in "<&")
    root = etree.fromstring(VALID)
    opportunity = root.findall("result/opportunity")[which]
    element = opportunity.find(field)
    assert element is not None
    element.text = text or None
    batch = OpportunityBatch(TIMEZONE)
    try:
        parse_page(etree.tostring(root), batch)
        tables = batch.build()
    except DataError as error:
        assert error.field in (field, f"opportunities.{field}"), error
        return
    except PardotError:
        return
    assert_complete(tables)
    got = tables["opportunities"].column(field)[which].as_py()
    if not text:
        assert got is None or field == "id"
    elif field == "value":
        number = float(text)
        assert math.isfinite(got), f"value {text!r} became {got!r}: not a money amount"
        assert got == number
    elif field in ("probability", "id"):
        assert got == int(text)
        if field == "probability":
            assert 0 <= got <= 100


def test_a_failed_page_leaves_nothing_of_itself_in_the_batch() -> None:
    """add_result raised: building the batch gives exactly the pages added before."""
    alone = OpportunityBatch(TIMEZONE)
    parse_page(VALID, alone)
    expected = alone.build()

    root = etree.fromstring(SECOND)
    prospects = root.findall("result/opportunity/prospects")
    assert prospects
    bad = etree.SubElement(etree.SubElement(prospects[-1], "prospect"), "id")
    bad.text = "oops"
    batch = OpportunityBatch(TIMEZONE)
    parse_page(VALID, batch)
    with contextlib.suppress(DataError):
        parse_page(etree.tostring(root), batch)
    built = batch.build()
    assert set(built) == set(expected)
    for name, table in expected.items():
        assert built[name].equals(table), f"{name} holds rows of the page that failed"
