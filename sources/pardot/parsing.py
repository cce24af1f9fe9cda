"""Parsed Pardot opportunity XML -> typed Arrow tables, one per warehouse table.

The response bytes are parsed exactly once, by the hardened parser in ``envelope``; this
module walks the resulting tree and gathers the text of every element into rows per
table (opportunities, campaigns, prospects, opportunity_prospects, visitor_activities),
then types whole columns at once (``columns``). Pages accumulate in an
``OpportunityBatch`` until the caller builds them: a few thousand rows an Arrow table, so
that dlt's per-item overhead vanishes (DESIGN.md §6, §7).

Rules that matter for correctness:

* elements Pardot adds that we do not know are kept as text columns, never dropped;
* ``<prospects>`` present (even empty) means "these are all the current links": an
  opportunity with none yields an unlink marker so its old link rows are deleted;
  ``<prospects>`` absent (bulk or mobile output) means "links unknown": nothing changes;
* a visitor activity belongs to the opportunity it is nested in;
* a value that cannot be typed raises ``DataError`` naming the opportunity and field.

No element leaves this module; callers get Arrow tables and plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .columns import CastFailure, out_of_range, typed_array
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

Row = dict[str, Any]

_NESTED_CONTAINERS = frozenset({"campaign", "prospects", "opportunity_activities"})


class Added(NamedTuple):
    """The facts about one gathered opportunity that paging needs."""

    id: int
    created_at: str | None
    carries_activities: bool


@dataclass
class PageInfo:
    """What the caller needs to page on, without touching the tree."""

    count: int = 0
    ids: list[int] = field(default_factory=list)
    last_created_at: str | None = None
    """``created_at`` of the last opportunity, exactly as Pardot rendered it (local)."""
    total_results: int | None = None
    carries_activities: bool = False
    """Whether any opportunity carried ``<opportunity_activities>``."""

    @property
    def last_id(self) -> int | None:
        """Largest id of the page (pages are sorted by id ascending)."""
        return self.ids[-1] if self.ids else None


class OpportunityBatch:
    """Rows of the five tables gathered from one or more pages, until ``build``."""

    def __init__(self, timezone: str) -> None:
        """Start an empty batch whose local timestamps are in ``timezone`` (IANA)."""
        self.timezone = timezone
        self._reset()

    def _reset(self) -> None:
        # Rows hold element text as Pardot sent it (ids included) so that every column
        # is typed by one vectorised cast; the parsed ids are kept beside them.
        self._opportunities: list[Row] = []
        self._opportunity_ids: list[int] = []
        self._campaigns: dict[int, Row] = {}
        self._prospects: dict[int, Row] = {}
        self._links: list[Row] = []
        self._activities: list[Row] = []
        # Opportunity id of every row, for error messages naming the opportunity.
        self._owners: dict[str, list[int]] = {
            CAMPAIGNS.name: [],
            PROSPECTS.name: [],
            OPPORTUNITY_PROSPECTS.name: [],
            VISITOR_ACTIVITIES.name: [],
        }

    def __len__(self) -> int:
        """Number of opportunities gathered since the last build."""
        return len(self._opportunities)

    def add_result(self, result: etree._Element) -> PageInfo:
        """Gather every ``<opportunity>`` of a query's ``<result>`` element."""
        info = PageInfo()
        total = result.findtext("total_results")
        if total is not None:
            info.total_results = _integer(total, None, "total_results")
        for element in result.iterchildren("opportunity"):
            added = self.add_opportunity(element)
            info.ids.append(added.id)
            info.last_created_at = added.created_at
            info.carries_activities |= added.carries_activities
        info.count = len(info.ids)
        return info

    def add_opportunity(self, element: etree._Element) -> Added:
        """Gather one ``<opportunity>`` (from a query page or a read) with its children."""
        row: Row = {}
        nested: dict[str, etree._Element] = {}
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments, processing instructions
            if tag in _NESTED_CONTAINERS:
                nested[tag] = child
            else:
                row[tag] = _text(child)
        opportunity_id = _integer(row.get("id"), None, "opportunities.id")
        campaign = nested.get("campaign")
        if campaign is not None:
            row["campaign_id"] = self._add_campaign(campaign, opportunity_id)
        prospects = nested.get("prospects")
        if prospects is not None:
            self._add_links(prospects, opportunity_id)
        activities = nested.get("opportunity_activities")
        if activities is not None:
            self._add_activity_elements(activities, opportunity_id)
        self._opportunities.append(row)
        self._opportunity_ids.append(opportunity_id)
        return Added(opportunity_id, row.get("created_at"), activities is not None)

    def add_activities(self, element: etree._Element) -> int:
        """Gather only the visitor activities of an ``<opportunity>`` (from a read)."""
        opportunity_id = _integer(element.findtext("id"), None, "opportunities.id")
        activities = element.find("opportunity_activities")
        if activities is None:
            return 0
        return self._add_activity_elements(activities, opportunity_id)

    def build(self) -> dict[str, pa.Table]:
        """Type the gathered rows into one Arrow table per non-empty table, and reset.

        Raises:
            DataError: a value cannot be typed, a key is missing, or a probability is
                outside 0-100; names the opportunity and the field.
        """
        try:
            tables = self._build()
        finally:
            self._reset()
        return tables

    def _build(self) -> dict[str, pa.Table]:
        opportunity_ids = self._opportunity_ids
        for row in self._opportunities:
            row["is_deleted"] = False
        parts = (
            (OPPORTUNITIES, self._opportunities, opportunity_ids),
            (CAMPAIGNS, list(self._campaigns.values()), self._owners[CAMPAIGNS.name]),
            (PROSPECTS, list(self._prospects.values()), self._owners[PROSPECTS.name]),
            (OPPORTUNITY_PROSPECTS, self._links, self._owners[OPPORTUNITY_PROSPECTS.name]),
            (VISITOR_ACTIVITIES, self._activities, self._owners[VISITOR_ACTIVITIES.name]),
        )
        tables = {
            spec.name: _arrow_table(spec, rows, owners, self.timezone)
            for spec, rows, owners in parts
            if rows
        }
        opportunities = tables.get(OPPORTUNITIES.name)
        if opportunities is not None:
            tables[OPPORTUNITIES.name] = _checked_opportunities(opportunities, opportunity_ids)
        return tables

    def _add_campaign(self, element: etree._Element, opportunity_id: int) -> str | None:
        """Gather a nested ``<campaign>``; return its id text for the referring row."""
        row = _flat_row(element)
        if row.get("id") is None:
            return None
        campaign_id = _integer(row["id"], opportunity_id, "campaigns.id")
        if campaign_id not in self._campaigns:
            self._owners[CAMPAIGNS.name].append(opportunity_id)
        self._campaigns[campaign_id] = row
        return row["id"]

    def _add_links(self, element: etree._Element, opportunity_id: int) -> None:
        linked = 0
        for prospect in element.iterchildren("prospect"):
            row = _flat_row(prospect)
            prospect_id = _integer(row.get("id"), opportunity_id, "prospects.id")
            if prospect_id not in self._prospects:
                self._owners[PROSPECTS.name].append(opportunity_id)
            self._prospects[prospect_id] = row
            self._link(opportunity_id, row["id"], unlinked=False)
            linked += 1
        if not linked:
            self._link(opportunity_id, "0", unlinked=True)

    def _link(self, opportunity_id: int, prospect_id: str, *, unlinked: bool) -> None:
        self._links.append(
            {
                "opportunity_id": str(opportunity_id),
                "prospect_id": prospect_id,
                UNLINK_MARKER: unlinked,
            }
        )
        self._owners[OPPORTUNITY_PROSPECTS.name].append(opportunity_id)

    def _add_activity_elements(self, element: etree._Element, opportunity_id: int) -> int:
        count = 0
        for activity in element.iterchildren("visitor_activity"):
            row = _flat_row(activity, keep_nested=False)
            campaign = activity.find("campaign")
            if campaign is not None:
                row["campaign_id"] = self._add_campaign(campaign, opportunity_id)
            row["opportunity_id"] = str(opportunity_id)
            self._activities.append(row)
            self._owners[VISITOR_ACTIVITIES.name].append(opportunity_id)
            count += 1
        return count


def _text(element: etree._Element) -> str | None:
    """Text of a leaf element (None when empty); a nested unknown element as XML."""
    if len(element):
        return etree.tostring(element, encoding="unicode")
    return element.text or None


def _flat_row(element: etree._Element, *, keep_nested: bool = True) -> Row:
    return {
        child.tag: _text(child)
        for child in element
        if isinstance(child.tag, str) and (keep_nested or not len(child))
    }


def _integer(text: str | None, opportunity_id: int | None, field_name: str) -> int:
    if text is None:
        raise DataError(opportunity_id=opportunity_id, field=field_name, value="", reason="missing")
    try:
        return int(text)
    except ValueError:
        raise DataError(
            opportunity_id=opportunity_id, field=field_name, value=text, reason="not an integer"
        ) from None


def _arrow_table(spec: Table, rows: list[Row], owners: list[int], timezone: str) -> pa.Table:
    """Type ``rows`` by the declared columns of ``spec``; unknown columns become text."""
    names = [column.name for column in spec.columns]
    known = set(names)
    for row in rows:
        for name in row:
            if name not in known:
                known.add(name)
                names.append(name)
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for name in names:
        column = spec.column(name)
        kind = column.kind if column else "text"
        values = [row.get(name) for row in rows]
        try:
            array = typed_array(values, kind, timezone)
        except CastFailure as failure:
            raise DataError(
                opportunity_id=owners[failure.index],
                field=f"{spec.name}.{name}",
                value=failure.value,
                reason=failure.reason,
            ) from None
        nullable = column.nullable if column else True
        if not nullable and array.null_count:
            index = values.index(None)
            raise DataError(
                opportunity_id=owners[index],
                field=f"{spec.name}.{name}",
                value="",
                reason="missing",
            )
        fields.append(pa.field(name, array.type, nullable=nullable))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _checked_opportunities(table: pa.Table, ids: list[int]) -> pa.Table:
    """Probability within 0-100 and status in lower case (Pardot sends ``Open`` too)."""
    bad = out_of_range(table["probability"], 0, 100)
    if bad is not None:
        raise DataError(
            opportunity_id=ids[bad],
            field="opportunities.probability",
            value=str(table["probability"][bad].as_py()),
            reason="outside 0-100",
        )
    index = table.schema.get_field_index("status")
    return table.set_column(index, table.schema.field(index), pc.utf8_lower(table["status"]))
