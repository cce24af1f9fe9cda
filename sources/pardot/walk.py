"""The general walk: a parsed ``<opportunity>`` tree -> rows of text, per warehouse table.

The native reader (``native``) reads the query pages it can read exactly; this walk
reads every other page (one holding an element the reader does not know, say) and
every ``do/read`` answer, element by element. It gives the same form, ``TextTables``, so
that typing and rejecting happen once for both.

Rules that matter for correctness:

* elements Pardot adds that we do not know are kept as text columns, never dropped;
  nested ones become their XML text;
* ``<prospects>`` present (even empty) means "these are all the current links": an
  opportunity with none yields an unlink marker so its old link rows are deleted;
  ``<prospects>`` absent (bulk or mobile output) means "links unknown": nothing changes;
* a visitor activity belongs to the opportunity it is nested in;
* a campaign (or prospect) comes with many rows; the last sighting wins, as on the fast
  path; a ``<campaign>`` without an id names no campaign;
* an opportunity goes in whole or not at all: a bad id anywhere in it raises
  ``DataError`` naming the opportunity and the field, and leaves none of its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple, cast

import pyarrow as pa
from lxml import etree

from .columns import text_columns
from .errors import DataError
from .schema import (
    CAMPAIGNS,
    OPPORTUNITIES,
    OPPORTUNITY_PROSPECTS,
    PROSPECTS,
    UNLINK_MARKER,
    VISITOR_ACTIVITIES,
    Table,
)
from .texttables import OWNER, TextTables

Row = dict[str, Any]

_NESTED_CONTAINERS: Final = frozenset({"campaign", "prospects", "opportunity_activities"})
_ELEMENT: Final = etree.Element  # iterchildren(tag=_ELEMENT): elements only, no comments
_WALKED: Final = (OPPORTUNITIES, CAMPAIGNS, PROSPECTS, OPPORTUNITY_PROSPECTS, VISITOR_ACTIVITIES)

_UNKNOWN_NESTING: Final = etree.XPath(
    "opportunity/*[*][not(self::campaign or self::prospects or self::opportunity_activities)]"
    " | opportunity/campaign/*[*]"
    " | opportunity/prospects/prospect/*[*]"
    " | opportunity/opportunity_activities/visitor_activity/*[*][not(self::campaign)]"
    " | opportunity/opportunity_activities/visitor_activity/campaign/*[*]"
)


FEED_ELEMENTS: Final = ("visitorActivity", "visitor_activity")
"""The element of one activity in a visitor activity query: the docs name it
``visitorActivity``, recorded responses ``visitor_activity``; both are read."""

_UNKNOWN_FEED_NESTING: Final = etree.XPath(
    " | ".join(f"{tag}/*[*][not(self::campaign)] | {tag}/campaign/*[*]" for tag in FEED_ELEMENTS)
)


class FeedEvent(NamedTuple):
    """One activity of the visitor activity query: what the run must re-read for it."""

    id: int
    opportunity_id: int | None
    """The opportunity it names; None where Pardot leaves ``<opportunity_id>`` out."""
    prospect_id: int | None
    element: etree._Element
    """The activity as Pardot sent it, to gather later where its row must wait."""


class Walked(NamedTuple):
    """The facts about one walked opportunity that paging needs."""

    id: int
    created_at: str | None
    carries_activities: bool


class WalkedRows:
    """Rows gathered by the walk, each with the opportunity it came with."""

    def __init__(self) -> None:
        self._rows: dict[str, list[Row]] = {spec.name: [] for spec in _WALKED}
        self._owners: dict[str, list[int]] = {spec.name: [] for spec in _WALKED}

    def opportunity(self, element: etree._Element) -> Walked:
        """Gather one ``<opportunity>`` (from a query page or a read) with its children.

        Raises:
            DataError: an id in it is missing or not an integer; none of its rows stay.
        """
        marks = {name: len(rows) for name, rows in self._rows.items()}
        try:
            return self._opportunity(element)
        except DataError:
            for name, length in marks.items():  # never half an opportunity
                del self._rows[name][length:]
                del self._owners[name][length:]
            raise

    def activities(self, element: etree._Element) -> int:
        """Gather only the visitor activities of an ``<opportunity>`` (from a read)."""
        opportunity_id = _integer(element.findtext("id"), None, "opportunities.id")
        activities = element.find("opportunity_activities")
        if activities is None:
            return 0
        return self._activities(activities, opportunity_id)

    def feed_activity(self, element: etree._Element, keep: Callable[[int], bool]) -> FeedEvent:
        """Gather one activity of the visitor activity query.

        It becomes a ``visitor_activities`` row only where it names its opportunity and
        ``keep`` says that opportunity is (or will be) in the warehouse; where it names
        none, the opportunity's ``do/read`` brings it nested, later.

        Raises:
            DataError: its id, opportunity id or prospect id is not an integer.
        """
        row = _flat_row(element)
        opportunity_text = row.get("opportunity_id")
        opportunity_id = (
            None
            if opportunity_text is None
            else _integer(opportunity_text, None, "visitor_activities.opportunity_id")
        )
        activity_id = _integer(row.get("id"), opportunity_id, "visitor_activities.id")
        prospect_text = row.get("prospect_id")
        prospect_id = (
            None
            if prospect_text is None
            else _integer(prospect_text, opportunity_id, "visitor_activities.prospect_id")
        )
        if opportunity_id is not None and keep(opportunity_id):
            marks = {name: len(rows) for name, rows in self._rows.items()}
            try:
                self._activity(element, row, opportunity_id)
            except DataError:
                for name, length in marks.items():  # never half an activity
                    del self._rows[name][length:]
                    del self._owners[name][length:]
                raise
        return FeedEvent(activity_id, opportunity_id, prospect_id, element)

    def rows(self, table: str) -> int:
        """How many rows of ``table`` were gathered."""
        return len(self._rows[table])

    def text_tables(self) -> TextTables:
        """The rows gathered, in the form every parse path gives."""
        tables = {}
        for spec in _WALKED:
            rows = self._rows[spec.name]
            if rows:
                columns = text_columns(spec, rows)
                columns[OWNER] = pa.array(self._owners[spec.name], pa.int64())
                tables[spec.name] = pa.table(columns)
        return TextTables(tables)

    def _add(self, spec: Table, row: Row, owner: int) -> None:
        self._rows[spec.name].append(row)
        self._owners[spec.name].append(owner)

    def _opportunity(self, element: etree._Element) -> Walked:
        row = _flat_row(element)
        nested = {tag: row.pop(tag) for tag in _NESTED_CONTAINERS.intersection(row)}
        opportunity_id = _integer(row.get("id"), None, "opportunities.id")
        activities = element.find("opportunity_activities") if nested else None
        for tag in nested:
            child = element.find(tag)
            if child is None:
                continue
            if tag == "campaign":
                row["campaign_id"] = self._campaign(child, opportunity_id)
            elif tag == "prospects":
                self._links(child, opportunity_id)
        if activities is not None:
            self._activities(activities, opportunity_id)
        row["is_deleted"] = False
        self._add(OPPORTUNITIES, row, opportunity_id)
        return Walked(opportunity_id, row.get("created_at"), activities is not None)

    def _campaign(self, element: etree._Element, opportunity_id: int) -> str | None:
        """Gather a nested ``<campaign>``; return its id text for the referring row."""
        row = _flat_row(element)
        id_text = row.get("id") or None  # a repeated field gives its last value
        if id_text is None:
            return None
        _integer(id_text, opportunity_id, "campaigns.id")
        self._add(CAMPAIGNS, row, opportunity_id)
        return id_text

    def _links(self, element: etree._Element, opportunity_id: int) -> None:
        linked = 0
        for prospect in element.iterchildren("prospect"):
            row = _flat_row(prospect)
            id_text = row.get("id")
            _integer(id_text, opportunity_id, "prospects.id")
            self._add(PROSPECTS, row, opportunity_id)
            self._link(opportunity_id, str(id_text), unlinked=False)
            linked += 1
        if not linked:
            self._link(opportunity_id, "0", unlinked=True)

    def _link(self, opportunity_id: int, prospect_id: str, *, unlinked: bool) -> None:
        row = {"opportunity_id": str(opportunity_id), "prospect_id": prospect_id}
        self._add(OPPORTUNITY_PROSPECTS, {**row, UNLINK_MARKER: unlinked}, opportunity_id)

    def _activities(self, element: etree._Element, opportunity_id: int) -> int:
        count = 0
        for activity in element.iterchildren("visitor_activity"):
            self._activity(activity, _flat_row(activity), opportunity_id)
            count += 1
        return count

    def _activity(self, element: etree._Element, row: Row, opportunity_id: int) -> None:
        """Gather one visitor activity of ``opportunity_id``, its campaign with it."""
        if "campaign" in row:
            del row["campaign"]
            campaign = element.find("campaign")
            if campaign is not None:
                row["campaign_id"] = self._campaign(campaign, opportunity_id)
        row["opportunity_id"] = str(opportunity_id)
        self._add(VISITOR_ACTIVITIES, row, opportunity_id)


def flatten_unknown_nesting(result: etree._Element, *, feed: bool = False) -> None:
    """Turn nested elements Pardot may add into text (their XML), so nothing is dropped.

    One XPath per page, in C; the tree is ours to change. Rare, so cheap.

    Args:
        result: a query's ``<result>``.
        feed: it is the visitor activity query's (else the opportunity query's).
    """
    nesting = _UNKNOWN_FEED_NESTING if feed else _UNKNOWN_NESTING
    for element in cast(list[etree._Element], nesting(result)):
        xml = etree.tostring(element, encoding="unicode", with_tail=False)
        for child in list(element):
            element.remove(child)
        element.text = xml


def _flat_row(element: etree._Element) -> Row:
    """Tag -> text of an element's children: the hot loop, kept to one comprehension.

    Comments and processing instructions are skipped in C (``iterchildren`` filtered
    by element type). A child with children of its own yields its whitespace text here;
    the known containers are read separately, and ``flatten_unknown_nesting`` has
    turned any unknown one into text first.
    """
    return {child.tag: child.text for child in element.iterchildren(_ELEMENT)}


def _integer(text: str | None, opportunity_id: int | None, field_name: str) -> int:
    if text is None:
        raise DataError(opportunity_id=opportunity_id, field=field_name, value="", reason="missing")
    try:
        return int(text)
    except ValueError:
        raise DataError(
            opportunity_id=opportunity_id, field=field_name, value=text, reason="not an integer"
        ) from None


def integer(text: str | None, field_name: str) -> int:
    """``text`` as an integer, or ``DataError`` naming the field (not an opportunity)."""
    return _integer(text, None, field_name)
