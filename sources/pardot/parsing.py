"""Parsed Pardot opportunity XML -> typed Arrow tables, one per warehouse table.

The response bytes are parsed exactly once, by the hardened parser in ``envelope``. Pages
accumulate in an ``OpportunityBatch`` until the caller builds them: a few thousand rows
an Arrow table, so that dlt's per-item overhead vanishes (DESIGN.md §6, §7). A page
arrives one of two ways:

* flattened (``flatten``, in the flatten pool of ``fetch``): its lines are pivoted into
  string columns (``pivot``) for the whole batch at once, in Arrow; the fast path;
* as a tree, which this module walks, gathering the text of every element into rows per
  table (opportunities, campaigns, prospects, opportunity_prospects,
  visitor_activities): the general walk, for pages the fast path declines and for reads.

Either way whole columns are then typed at once (``columns``), by the same code.

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

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from .columns import checked_opportunities, typed_columns, typed_table
from .constants import PARDOT_TIMESTAMP_FORMAT
from .errors import DataError
from .flatten import FlatPage
from .pivot import OWNER, pivot, positions
from .schema import (
    CAMPAIGNS,
    OPPORTUNITIES,
    OPPORTUNITY_PROSPECTS,
    PROSPECTS,
    REJECTED_ROWS,
    TABLES,
    UNLINK_MARKER,
    VISITOR_ACTIVITIES,
)

logger = logging.getLogger(__name__)

Row = dict[str, Any]

_NESTED_CONTAINERS = frozenset({"campaign", "prospects", "opportunity_activities"})
_ELEMENT = etree.Element  # iterchildren(tag=_ELEMENT): elements only, no comments


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

    def __init__(self, timezone: str, *, reject_bad_rows: bool = False) -> None:
        """Start an empty batch whose local timestamps are in ``timezone`` (IANA).

        Args:
            timezone: the API user's zone, in which Pardot renders timestamps.
            reject_bad_rows: set aside an opportunity with a value that cannot be typed
                (into ``rejected_rows``, with the reason) instead of raising DataError.
        """
        self.timezone = timezone
        self.reject_bad_rows = reject_bad_rows
        self._reset()

    def _reset(self) -> None:
        # Rows hold element text as Pardot sent it (ids included) so that every column
        # is typed by one vectorised cast; the parsed ids are kept beside them.
        self._opportunities: list[Row] = []
        self._opportunity_ids: list[int] = []
        # Every sighting of a campaign or prospect; the last one per id is kept at build.
        self._campaigns: list[Row] = []
        self._prospects: list[Row] = []
        self._links: list[Row] = []
        self._activities: list[Row] = []
        self._rejected: list[Row] = []
        # Pages on the fast path: their lines, their ids, and opportunities dropped since.
        self._flat: list[bytes] = []
        self._flat_count = 0
        self._pivoted: dict[str, pa.Table] | None = None
        """The flat pages as string tables: pivoted once a build, whatever is rejected."""
        self._dropped: set[int] = set()
        # Opportunity id of every row, for error messages naming the opportunity.
        self._owners: dict[str, list[int]] = {
            CAMPAIGNS.name: [],
            PROSPECTS.name: [],
            OPPORTUNITY_PROSPECTS.name: [],
            VISITOR_ACTIVITIES.name: [],
        }

    def __len__(self) -> int:
        """Number of opportunities gathered since the last build."""
        return len(self._opportunities) + self._flat_count

    def add_result(self, result: etree._Element, flat: FlatPage | None = None) -> PageInfo:
        """Gather every ``<opportunity>`` of a query's ``<result>`` element.

        Args:
            result: the ``<result>`` element.
            flat: the same page flattened by ``flatten.flatten_page``, if it could be;
                then the tree is not walked.
        """
        total = result.findtext("total_results")
        info = PageInfo()
        if total is not None:
            info.total_results = _integer(total, None, "total_results")
        if flat is not None:
            self._flat.append(flat.lines)
            self._flat_count += len(flat.ids)
            info.count, info.ids = len(flat.ids), flat.ids
            info.last_created_at = flat.last_created_at
            info.carries_activities = flat.carries_activities
            return info
        _flatten_unknown_nesting(result)
        for element in result.iterchildren("opportunity"):
            # Every element counts towards the page size, rejected or not: a short
            # page, not a short list of good rows, is what ends keyset paging.
            info.count += 1
            try:
                added = self.add_opportunity(element)
            except DataError as error:
                if not self.reject_bad_rows:
                    for opportunity_id in info.ids:  # a page goes in whole or not at all
                        self._drop(opportunity_id)
                    raise
                self._reject(error)
                continue
            info.ids.append(added.id)
            info.last_created_at = added.created_at
            info.carries_activities |= added.carries_activities
        return info

    def add_opportunity(self, element: etree._Element) -> Added:
        """Gather one ``<opportunity>`` (from a query page or a read) with its children."""
        row = _flat_row(element)
        nested = {tag: row.pop(tag) for tag in _NESTED_CONTAINERS.intersection(row)}
        opportunity_id = _integer(row.get("id"), None, "opportunities.id")
        activities = element.find("opportunity_activities") if nested else None
        try:
            for tag in nested:
                child = element.find(tag)
                if child is None:
                    continue
                if tag == "campaign":
                    row["campaign_id"] = self._add_campaign(child, opportunity_id)
                elif tag == "prospects":
                    self._add_links(child, opportunity_id)
            if activities is not None:
                self._add_activity_elements(activities, opportunity_id)
        except DataError:
            self._drop(opportunity_id)  # never half an opportunity
            raise
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
            for _ in range(len(self) + 1):
                try:
                    tables = self._build()
                    break
                except DataError as error:
                    if not self.reject_bad_rows or error.opportunity_id is None:
                        raise
                    self._reject(error)
            if self._rejected:
                owners = [0] * len(self._rejected)
                tables[REJECTED_ROWS.name] = typed_table(
                    REJECTED_ROWS, self._rejected, owners, "UTC"
                )
        finally:
            self._reset()
        return tables

    def _reject(self, error: DataError) -> None:
        """Set an opportunity aside with the reason, and forget its gathered rows."""
        logger.warning("rejected: %s", error)
        self._rejected.append(
            {
                "opportunity_id": None
                if error.opportunity_id is None
                else str(error.opportunity_id),
                "field": error.field,
                "value": error.value,
                "reason": error.reason,
                "rejected_at": datetime.now(UTC).strftime(PARDOT_TIMESTAMP_FORMAT),
            }
        )
        if error.opportunity_id is not None:
            self._drop(error.opportunity_id)

    def _drop(self, opportunity_id: int) -> None:
        """Forget every row gathered for one opportunity, children included."""
        self._dropped.add(opportunity_id)
        kept = [i for i, owner in enumerate(self._opportunity_ids) if owner != opportunity_id]
        self._opportunities = [self._opportunities[i] for i in kept]
        self._opportunity_ids = [self._opportunity_ids[i] for i in kept]
        for name, rows in (
            (CAMPAIGNS.name, self._campaigns),
            (PROSPECTS.name, self._prospects),
            (OPPORTUNITY_PROSPECTS.name, self._links),
            (VISITOR_ACTIVITIES.name, self._activities),
        ):
            owners = self._owners[name]
            rows[:] = [
                row for row, owner in zip(rows, owners, strict=True) if owner != opportunity_id
            ]
            owners[:] = [owner for owner in owners if owner != opportunity_id]

    def _build(self) -> dict[str, pa.Table]:
        opportunity_ids = self._opportunity_ids
        for row in self._opportunities:
            row["is_deleted"] = False
        parts = (
            (OPPORTUNITIES, self._opportunities, opportunity_ids),
            (CAMPAIGNS, self._campaigns, self._owners[CAMPAIGNS.name]),
            (PROSPECTS, self._prospects, self._owners[PROSPECTS.name]),
            (OPPORTUNITY_PROSPECTS, self._links, self._owners[OPPORTUNITY_PROSPECTS.name]),
            (VISITOR_ACTIVITIES, self._activities, self._owners[VISITOR_ACTIVITIES.name]),
        )
        tables = {
            spec.name: typed_table(spec, rows, owners, self.timezone)
            for spec, rows, owners in parts
            if rows
        }
        ids: list[int] | pa.Array = opportunity_ids
        if self._flat:
            flat = self._build_flat()
            if OPPORTUNITIES.name in flat:  # rows are merged walked first, then flat
                flat_ids = flat[OPPORTUNITIES.name]["id"].combine_chunks()
                ids = pa.concat_arrays([pa.array(opportunity_ids, pa.int64()), flat_ids])
            tables = _merged(tables, flat)
        for name in (CAMPAIGNS.name, PROSPECTS.name):
            if name in tables:
                tables[name] = _last_per_id(tables[name])
        opportunities = tables.get(OPPORTUNITIES.name)
        if opportunities is not None:
            tables[OPPORTUNITIES.name] = checked_opportunities(opportunities, ids)
        return tables

    def _build_flat(self) -> dict[str, pa.Table]:
        """Typed tables of the fast-path pages (without the dropped opportunities)."""
        if self._pivoted is None:
            self._pivoted = pivot(self._flat)
        strings = self._pivoted
        dropped = pa.array([str(i) for i in self._dropped], pa.string())
        tables: dict[str, pa.Table] = {}
        for spec in TABLES:
            table = strings.get(spec.name)
            if table is None:
                continue
            key = "id" if spec is OPPORTUNITIES else OWNER
            if len(dropped):
                table = table.filter(pc.invert(pc.is_in(table[key], value_set=dropped)))
            if not table.num_rows:
                continue
            columns = {name: table[name].combine_chunks() for name in table.column_names}
            owners = pc.cast(columns[key], pa.int64())  # plain integers: checked by flatten
            columns.pop(OWNER, None)
            if spec is OPPORTUNITIES:
                columns["is_deleted"] = pa.array([False] * table.num_rows)
                columns["deleted_at"] = pa.nulls(table.num_rows, pa.string())
            tables[spec.name] = typed_columns(spec, columns, owners, self.timezone)
        return tables

    def _add_campaign(self, element: etree._Element, opportunity_id: int) -> str | None:
        """Gather a nested ``<campaign>``; return its id text for the referring row.

        A campaign (or prospect) comes with many rows; the last sighting wins, as on the
        fast path. A ``<campaign>`` without an id names no campaign.
        """
        row = _flat_row(element)
        id_text = row.get("id") or None  # a repeated field gives its last value
        if id_text is None:
            return None
        _integer(id_text, opportunity_id, "campaigns.id")
        self._campaigns.append(row)
        self._owners[CAMPAIGNS.name].append(opportunity_id)
        return id_text

    def _add_links(self, element: etree._Element, opportunity_id: int) -> None:
        linked = 0
        for prospect in element.iterchildren("prospect"):
            row = _flat_row(prospect)
            id_text = row.get("id")
            _integer(id_text, opportunity_id, "prospects.id")
            self._prospects.append(row)
            self._owners[PROSPECTS.name].append(opportunity_id)
            self._link(opportunity_id, str(id_text), unlinked=False)
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
        owner = str(opportunity_id)
        for activity in element.iterchildren("visitor_activity"):
            row = _flat_row(activity)
            if "campaign" in row:
                del row["campaign"]
                campaign = activity.find("campaign")
                if campaign is not None:
                    row["campaign_id"] = self._add_campaign(campaign, opportunity_id)
            row["opportunity_id"] = owner
            self._activities.append(row)
            self._owners[VISITOR_ACTIVITIES.name].append(opportunity_id)
            count += 1
        return count


_UNKNOWN_NESTING = etree.XPath(
    "opportunity/*[*][not(self::campaign or self::prospects or self::opportunity_activities)]"
    " | opportunity/campaign/*[*]"
    " | opportunity/prospects/prospect/*[*]"
    " | opportunity/opportunity_activities/visitor_activity/*[*][not(self::campaign)]"
    " | opportunity/opportunity_activities/visitor_activity/campaign/*[*]"
)


def _merged(walked: dict[str, pa.Table], flat: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """The tables of both paths together, walked rows first."""
    merged = dict(walked)
    for name, table in flat.items():
        if name in merged:
            table = pa.concat_tables([merged[name], table], promote_options="default")
        merged[name] = table
    return merged


def _last_per_id(table: pa.Table) -> pa.Table:
    """One row per ``id``: its last."""
    last = (
        table.select(["id"])
        .append_column("_position", positions(table.num_rows))
        .group_by("id", use_threads=False)
        .aggregate([("_position", "max")])
    )
    kept = last["_position_max"]
    return table.take(pc.take(kept, pc.sort_indices(kept)))


def _flatten_unknown_nesting(result: etree._Element) -> None:
    """Turn nested elements Pardot may add into text (their XML), so nothing is dropped.

    One XPath per page, in C; the tree is ours to change. Rare, so cheap.
    """
    for element in cast(list[etree._Element], _UNKNOWN_NESTING(result)):
        xml = etree.tostring(element, encoding="unicode", with_tail=False)
        for child in list(element):
            element.remove(child)
        element.text = xml


def _flat_row(element: etree._Element) -> Row:
    """Tag -> text of an element's children: the hot loop, kept to one comprehension.

    Comments and processing instructions are skipped in C (``iterchildren`` filtered
    by element type). A child with children of its own yields its whitespace text here;
    the known containers are read separately, and ``_flatten_unknown_nesting`` has
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
