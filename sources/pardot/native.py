"""The fast path: a query page's bytes -> ``TextTables``, by a native reader, or declined.

Parsing each page once is the connector's cost floor; reading it into Python objects
element by element costs several times that. ``xml2arrow`` (Rust, quick-xml underneath)
reads a document straight into Arrow columns from a declarative mapping, with the GIL
released, at less CPU than lxml spends on the parse alone. Its mapping is built here
from ``schema``: per table, one text column per declared field, and parent-index columns
that tie a prospect or an activity to its opportunity.

A declarative mapping sees only what it names: an element it does not know would be
dropped without a word, and it cannot tell ``<prospects/>`` from no ``<prospects>``. So
a page is read here only when it is exactly in the shape the mapping reads, which one
regular expression over the bytes decides (RE2: linear time, no backtracking, about a
quarter of the parse's CPU):

* ``<rsp stat="ok">``, then ``<result>``, an optional ``<total_results>``, and
  ``<opportunity>`` elements, nothing else;
* in an opportunity, only its known fields, at most one ``<campaign>``, one
  ``<prospects>`` and one ``<opportunity_activities>``, in that order; in those, only
  their known fields (``<prospect>`` and ``<visitor_activity>`` elements, an activity's
  one ``<campaign>``);
* field text without markup: no comment, CDATA section, processing instruction, entity
  other than the five XML predefines and character references, carriage return or
  character that XML forbids; no attribute on any element but ``<rsp>``.

Every other page (a new Pardot field, a comment, an error answer, a truncated or
hostile document) is declined with the reason (``Declined``): the caller parses it with
the hardened parser in ``envelope`` and the general walk in ``walk`` reads it, keeping
unknown elements as columns and naming every error. The reader also declines a page
where a field is repeated, an opportunity id is missing or not a plain integer, or a
``<campaign>`` without an id sits beside a bare ``campaign_id`` (the walk's rules for
those need the tree). Within that shape the two paths give the same ``TextTables``, which
a property test holds over random edits of real pages.

Because the regular expression proves there is no markup inside values, counting tags
in the bytes counts elements: that is how ``<prospects>`` presence (an opportunity
whose links are all gone) and activities' presence are read.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast

import pyarrow as pa
import pyarrow.compute as pc
import re2
import xml2arrow
import xml2arrow.exceptions
from lxml import etree

from .schema import (
    CAMPAIGNS,
    OPPORTUNITIES,
    OPPORTUNITY_PROSPECTS,
    PROSPECTS,
    UNLINK_MARKER,
    VISITOR_ACTIVITIES,
)
from .texttables import OWNER, TextTables

OPPORTUNITY_FIELDS: Final = tuple(
    c.name for c in OPPORTUNITIES.columns if c.name not in ("is_deleted", "deleted_at")
)
CAMPAIGN_FIELDS: Final = tuple(c.name for c in CAMPAIGNS.columns)
PROSPECT_FIELDS: Final = tuple(c.name for c in PROSPECTS.columns)
ACTIVITY_FIELDS: Final = tuple(c.name for c in VISITOR_ACTIVITIES.columns)
KNOWN_CHILDREN: Final = {
    "opportunity": frozenset(OPPORTUNITY_FIELDS)
    | {"campaign", "prospects", "opportunity_activities"},
    "campaign": frozenset(CAMPAIGN_FIELDS),
    "prospects": frozenset({"prospect"}),
    "prospect": frozenset(PROSPECT_FIELDS),
    "opportunity_activities": frozenset({"visitor_activity"}),
    "visitor_activity": frozenset(ACTIVITY_FIELDS) | {"campaign"},
}
"""The elements the reader knows inside each element of an opportunity."""

_NESTED_CAMPAIGN: Final = "campaign."
"""Prefix of the columns that hold a nested ``<campaign>``'s fields in its parent's row."""
_NESTED_ID: Final = _NESTED_CAMPAIGN + "id"
_TOTAL: Final = re.compile(rb"[ \t\n]*<total_results>([0-9]+)</total_results>")
"""``<total_results>``, which the shape allows only first in ``<result>``."""
_OPPORTUNITY_LEVEL: Final = "<opportunity>"
"""The parent-index column: which child of ``<result>`` a row came in."""


# -- the shape a page must have -------------------------------------------------------

_SPACE: Final = r"[ \t\n]*"
_TEXT: Final = (
    r"(?:[^<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"
    r"|&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)*"
)
"""A field's text: characters and references, no markup (RE2 reads bytes as UTF-8, so
an invalid UTF-8 sequence does not match either)."""


def _fields(names: tuple[str, ...]) -> str:
    """Any run of these elements, each holding text (tags are checked for pairing by
    the reader, which refuses a document whose end tag does not match its start)."""
    name = "(?:" + "|".join(names) + ")"
    return f"(?:<{name}(?:/>|>{_TEXT}</{name}>){_SPACE})*"


def _optional(tag: str, inner: str) -> str:
    return f"(?:(?:<{tag}/>|<{tag}>{_SPACE}{inner}</{tag}>){_SPACE})?"


def _shape() -> str:
    campaign = _optional("campaign", _fields(CAMPAIGN_FIELDS))
    prospect = f"<prospect>{_SPACE}{_fields(PROSPECT_FIELDS)}</prospect>{_SPACE}"
    activity_fields = _fields(ACTIVITY_FIELDS)
    activity = (
        f"<visitor_activity>{_SPACE}{activity_fields}{campaign}{activity_fields}"
        f"</visitor_activity>{_SPACE}"
    )
    fields = _fields(OPPORTUNITY_FIELDS)
    opportunity = (
        f"<opportunity>{_SPACE}{fields}{campaign}{fields}"
        f"{_optional('prospects', f'(?:{prospect})*')}{fields}"
        f"{_optional('opportunity_activities', f'(?:{activity})*')}{fields}"
        f"</opportunity>{_SPACE}"
    )
    quote = "[\"']"
    declaration = (
        f"<\\?xml version={quote}1\\.0{quote}(?: encoding={quote}(?i:utf-8){quote})?"
        f"(?: standalone={quote}(?:yes|no){quote})?\\?>"
    )
    version = ' version="[0-9.]{1,8}"'
    return (
        f"(?:\\x{{FEFF}})?(?:{declaration})?{_SPACE}"
        f'<rsp(?:{version})? stat="ok"(?:{version})?>{_SPACE}<result>{_SPACE}'
        f"(?:<total_results>[0-9]{{1,18}}</total_results>{_SPACE})?"
        f"(?:{opportunity})*</result>{_SPACE}</rsp>{_SPACE}"
    )


def _gate() -> re2._Regexp:
    options = re2.Options()
    options.never_capture = True
    options.max_mem = 64 << 20  # the program is large; its DFA is built lazily
    return re2.compile(_shape(), options)


# -- the mapping ----------------------------------------------------------------------


def _mapping() -> dict[str, object]:
    """The xml2arrow configuration: every field a nullable text column."""
    opportunity = "/rsp/result/opportunity"
    activity = f"{opportunity}/opportunity_activities/visitor_activity"

    def columns(path: str, names: tuple[str, ...], prefix: str = "") -> list[dict[str, object]]:
        return [
            {"name": prefix + name, "xml_path": f"{path}/{name}", "data_type": "Utf8",
             "nullable": True}
            for name in names
        ]  # fmt: skip

    return {
        # trim_text would drop the spaces around an entity reference inside a value.
        "parser_options": {"trim_text": False},
        "tables": [
            {
                "name": OPPORTUNITIES.name,
                "xml_path": "/rsp/result",
                "levels": ["opportunity"],
                "fields": columns(opportunity, OPPORTUNITY_FIELDS)
                + columns(f"{opportunity}/campaign", CAMPAIGN_FIELDS, _NESTED_CAMPAIGN),
            },
            {
                "name": PROSPECTS.name,
                "xml_path": f"{opportunity}/prospects",
                "levels": ["opportunity", "prospect"],
                "fields": columns(f"{opportunity}/prospects/prospect", PROSPECT_FIELDS),
            },
            {
                "name": VISITOR_ACTIVITIES.name,
                "xml_path": f"{opportunity}/opportunity_activities",
                "levels": ["opportunity", "activity"],
                "fields": columns(activity, ACTIVITY_FIELDS)
                + columns(f"{activity}/campaign", CAMPAIGN_FIELDS, _NESTED_CAMPAIGN),
            },
        ],
    }


def _xml_reader() -> xml2arrow.XmlToArrowParser:
    # The parser takes its mapping from a file only; JSON is YAML. Written, read, gone.
    handle, path = tempfile.mkstemp(prefix="pardot-mapping-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(_mapping(), file)
        return xml2arrow.XmlToArrowParser(path)
    finally:
        os.unlink(path)


class _Reader:
    """The compiled shape and mapping, built on first use (both are shared by threads:
    RE2 and xml2arrow objects are safe to use concurrently)."""

    _lock = threading.Lock()
    _built: tuple[re2._Regexp, xml2arrow.XmlToArrowParser] | None = None

    @classmethod
    def get(cls) -> tuple[re2._Regexp, xml2arrow.XmlToArrowParser]:
        if cls._built is None:
            with cls._lock:
                if cls._built is None:
                    cls._built = (_gate(), _xml_reader())
        return cls._built


# -- one page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Declined:
    """Why the reader cannot read a page exactly; the general walk reads it instead."""

    reason: str


class NativePage:
    """One query page as the reader gave it: per table, its columns as Pardot's text.

    Rows are tied to their opportunity by its row on the page (the parent-index
    column); ``text_tables`` turns the pages of a batch into ``TextTables`` at once.
    """

    def __init__(
        self,
        batches: dict[str, pa.RecordBatch],
        ids: pa.Array,
        unlinked: pa.Array,
        total_results: int | None,
        carries_activities: bool,
    ) -> None:
        self.opportunities = batches[OPPORTUNITIES.name]
        self.prospects = batches[PROSPECTS.name]
        self.activities = batches[VISITOR_ACTIVITIES.name]
        self.id_array = ids
        """The opportunity ids (int64), in page order: ascending, as pages are sorted."""
        self.unlinked = unlinked
        """Rows of the opportunities whose ``<prospects>`` is there but empty (int64)."""
        self.total_results = total_results
        self.carries_activities = carries_activities
        """Whether any opportunity carried ``<opportunity_activities>``."""

    def __len__(self) -> int:
        return self.opportunities.num_rows

    @property
    def ids(self) -> list[int]:
        """The opportunity ids, in page order."""
        return cast(list[int], self.id_array.to_pylist())

    @property
    def last_created_at(self) -> str | None:
        """``created_at`` of the last opportunity, exactly as Pardot rendered it (local)."""
        if not len(self):
            return None
        return cast(str | None, self.opportunities["created_at"][-1].as_py())

    def keep_first(self, kept: int) -> bool:
        """Keep only the first ``kept`` opportunities, with their rows (their range was
        cut after the page was asked for); whether any were dropped."""
        if kept >= len(self):
            return False
        self.opportunities = self.opportunities.slice(0, kept)
        self.id_array = self.id_array.slice(0, kept)
        # Child rows come in page order: those of the kept opportunities come first.
        for name in ("prospects", "activities"):
            batch = getattr(self, name)
            rows = pc.sum(pc.less(batch[_OPPORTUNITY_LEVEL], kept)).as_py() or 0
            setattr(self, name, batch.slice(0, rows))
        self.unlinked = self.unlinked.filter(pc.less(self.unlinked, kept))
        return True


def only_rows(page: NativePage, rows: Sequence[int]) -> NativePage:
    """A copy of ``page`` with only the opportunities at ``rows`` (ascending), and theirs."""
    total = len(page)
    new_of_old = [-1] * total
    for new, old in enumerate(rows):
        new_of_old[old] = new
    mapping = pa.array(new_of_old, pa.int64())
    kept = pc.greater_equal(mapping, 0)

    def children(batch: pa.RecordBatch) -> pa.RecordBatch:
        level = pc.take(mapping, pc.cast(batch[_OPPORTUNITY_LEVEL], pa.int64()))
        batch = batch.filter(pc.greater_equal(level, 0))
        index = batch.schema.get_field_index(_OPPORTUNITY_LEVEL)
        level = pc.cast(level.filter(pc.greater_equal(level, 0)), pa.uint32())
        return batch.set_column(index, batch.schema.field(index), level)

    unlinked = pc.take(mapping, page.unlinked)
    copy = NativePage(
        {
            OPPORTUNITIES.name: page.opportunities.filter(kept),
            PROSPECTS.name: children(page.prospects),
            VISITOR_ACTIVITIES.name: children(page.activities),
        },
        page.id_array.filter(kept),
        unlinked.filter(pc.greater_equal(unlinked, 0)),
        page.total_results,
        page.carries_activities,
    )
    return copy


def read_page(content: bytes) -> NativePage | Declined:
    """A ``do/query`` answer's rows, or why the native reader declines it.

    Args:
        content: the response body, as received.
    """
    gate, reader = _Reader.get()
    if gate.fullmatch(content) is None:
        return Declined("markup the native reader does not read exactly")
    try:
        batches = reader.parse(content)
    except xml2arrow.exceptions.ParseError as exc:
        # "Duplicate value for field 'x' at path /rsp/...: ..."
        path = str(exc).partition(" at path ")[2].partition(":")[0]
        return Declined(f"a field sent twice ({path or exc})")
    except (xml2arrow.Xml2ArrowError, TypeError, ValueError) as exc:
        return Declined(f"not well-formed XML ({str(exc)[:160]})")
    opportunities = batches[OPPORTUNITIES.name]
    id_text = opportunities["id"]
    if id_text.null_count:
        return Declined("an opportunity without an id")
    try:
        ids = pc.cast(id_text, pa.int64())
    except pa.ArrowInvalid:
        return Declined("an opportunity id that is not an integer")
    if pc.any(pc.not_equal(pc.cast(ids, pa.string()), id_text)).as_py():
        # rows are tied to their opportunity by this text
        return Declined("an opportunity id with spaces, a sign or leading zeros")
    if _campaign_undecided(content, opportunities, batches[VISITOR_ACTIVITIES.name]):
        return Declined("a <campaign> without an id beside a campaign_id")
    total = _TOTAL.match(content, content.find(b"<result>") + len(b"<result>"))
    return NativePage(
        batches,
        ids,
        _unlinked(content, batches[PROSPECTS.name][_OPPORTUNITY_LEVEL], len(ids)),
        None if total is None else int(total.group(1)),
        b"<opportunity_activities" in content,
    )


def _campaign_undecided(content: bytes, *batches: pa.RecordBatch) -> bool:
    """Whether a row's campaign depends on a ``<campaign>`` without an id being there.

    A nested ``<campaign>`` names the campaign, even without an id (then none); a bare
    ``campaign_id`` counts only without one. The reader cannot see a ``<campaign>`` that
    holds no id; where every ``<campaign>`` holds one, there is nothing to see.
    """
    if all(batch["campaign_id"].null_count == batch.num_rows for batch in batches):
        return False  # no bare campaign_id: the common case, decided for free
    named = sum(len(batch[_NESTED_ID]) - batch[_NESTED_ID].null_count for batch in batches)
    return content.count(b"<campaign>") + content.count(b"<campaign/>") != named


def _unlinked(content: bytes, owners: pa.Array, rows: int) -> pa.Array:
    """The rows of the opportunities whose ``<prospects>`` is there but holds no
    prospect: their links are all gone. Counting tags decides it, but where some
    opportunities carry a ``<prospects>`` and some do not: then where the tags stand."""
    tags = content.count(b"<prospects")  # <prospects> or <prospects/>: the shape allows no other
    linked = pc.unique(owners)
    if tags == len(linked):
        return pa.array([], pa.int64())
    if tags == rows:
        every = pa.array(range(rows), pa.int64())
        return every.filter(pc.invert(pc.is_in(every, value_set=pc.cast(linked, pa.int64()))))
    starts = _positions(content, b"<opportunity>")
    with_tag = {bisect.bisect(starts, tag) - 1 for tag in _positions(content, b"<prospects")}
    return pa.array(sorted(with_tag.difference(linked.to_pylist())), pa.int64())


def _positions(content: bytes, tag: bytes) -> list[int]:
    found, at = [], content.find(tag)
    while at >= 0:
        found.append(at)
        at = content.find(tag, at + 1)
    return found


# -- a batch of pages ----------------------------------------------------------------


def text_tables(pages: Sequence[NativePage]) -> TextTables:
    """The rows of ``pages`` in the form every parse path gives (the walk's, exactly).

    Done once a batch, so that a page costs a handful of Arrow calls, not a hundred.
    """
    if not pages:
        return TextTables()
    offsets = list(itertools.accumulate((len(page) for page in pages), initial=0))

    def rows_of(name: str) -> pa.Array:
        """Each child row's opportunity, as a row of the batch."""
        return pa.concat_arrays(
            [
                pc.add(pc.cast(getattr(page, name)[_OPPORTUNITY_LEVEL], pa.int64()), offset)
                for page, offset in zip(pages, offsets, strict=False)
            ]
        )

    def table(name: str) -> pa.Table:
        # Chunked, not combined: typing the columns combines them, once (``texttables``).
        return pa.Table.from_batches([getattr(page, name) for page in pages])

    opportunity_rows = table("opportunities")
    ids = pa.concat_arrays([page.id_array for page in pages])
    id_text = opportunity_rows["id"]
    prospect_rows, activity_rows = table("prospects"), table("activities")
    prospect_owners, activity_owners = rows_of("prospects"), rows_of("activities")
    unlinked = pa.concat_arrays(
        [pc.add(page.unlinked, offset) for page, offset in zip(pages, offsets, strict=False)]
    )

    opportunities = _columns(opportunity_rows, OPPORTUNITY_FIELDS)
    opportunities["campaign_id"] = _campaign_id(opportunity_rows)
    opportunities["is_deleted"] = pa.array([False] * len(ids), pa.bool_())
    opportunities["deleted_at"] = pa.nulls(len(ids), pa.string())
    activities = _columns(activity_rows, ACTIVITY_FIELDS)
    activities["campaign_id"] = _campaign_id(activity_rows)
    activities["opportunity_id"] = pc.take(id_text, activity_owners)
    every = pa.array(range(len(ids)), pa.int64())
    campaigns = _campaigns([(opportunity_rows, every), (activity_rows, activity_owners)], ids)
    link_owners = pa.concat_arrays([prospect_owners, unlinked])
    links = {
        "opportunity_id": pc.take(id_text, link_owners),
        "prospect_id": pa.chunked_array(
            [*prospect_rows["id"].chunks, pa.array(["0"] * len(unlinked), pa.string())]
        ),
        UNLINK_MARKER: pa.array([False] * len(prospect_owners) + [True] * len(unlinked)),
    }
    tables = {
        OPPORTUNITIES.name: _with_owners(opportunities, ids),
        CAMPAIGNS.name: campaigns,
        PROSPECTS.name: _with_owners(
            _columns(prospect_rows, PROSPECT_FIELDS), pc.take(ids, prospect_owners)
        ),
        OPPORTUNITY_PROSPECTS.name: _with_owners(links, pc.take(ids, link_owners)),
        VISITOR_ACTIVITIES.name: _with_owners(activities, pc.take(ids, activity_owners)),
    }
    return TextTables({name: rows for name, rows in tables.items() if rows.num_rows})


def _columns(table: pa.Table, names: tuple[str, ...]) -> dict[str, pa.ChunkedArray]:
    return {name: table[name] for name in names}


def _campaign_id(table: pa.Table) -> pa.ChunkedArray:
    """A nested ``<campaign>``'s id, or else the bare ``campaign_id`` (``read_page``
    declined the pages where the two rules part)."""
    return pc.coalesce(table[_NESTED_ID], table["campaign_id"])


def _campaigns(parts: list[tuple[pa.Table, pa.Array]], ids: pa.Array) -> pa.Table:
    """Every named campaign, in the order the pages mention them (the last sighting of
    a campaign wins): an opportunity's own before its activities'."""
    tables, keys = [], []
    for place, (table, owner_rows) in enumerate(parts):
        named = pc.is_valid(table[_NESTED_ID]).combine_chunks()
        columns = {name: table[_NESTED_CAMPAIGN + name].filter(named) for name in CAMPAIGN_FIELDS}
        rows = owner_rows.filter(named)
        tables.append(_with_owners(columns, pc.take(ids, rows)))
        keys.append(pc.add(pc.multiply(rows, len(parts)), place))
    order = pc.sort_indices(pa.concat_arrays(keys))  # stable: activities keep their order
    return pa.concat_tables(tables).take(order)


def _with_owners(
    columns: dict[str, pa.Array] | dict[str, pa.ChunkedArray], owners: pa.Array
) -> pa.Table:
    return pa.table({**columns, OWNER: owners})


def unknown_element(result: etree._Element) -> str | None:
    """The first element of a parsed ``<result>`` that the reader does not know, as
    ``<parent>/<child>``: why a page went to the walk, for the log."""
    for parent in result.iter(*KNOWN_CHILDREN):
        names = KNOWN_CHILDREN[str(parent.tag)]
        for element in parent.iterchildren(etree.Element):
            if element.tag not in names:
                return f"<{parent.tag}>/<{element.tag}>"
    return None
