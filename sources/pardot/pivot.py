"""The fast path, second half: the lines of ``flatten`` -> string columns per table.

The lines of many pages are pivoted at once, by Arrow kernels: split into tokens, grouped
by (kind of line, field code), and each group scattered into its column. No Python runs
per value, so a batch of thousands of opportunities costs a few dozen kernel calls.

A row's foreign keys come from where its line stands: a prospect or activity line
belongs to the opportunity line above it, and a campaign line names the campaign of the
line just before it. Every table but ``opportunities`` gets an ``_owner`` column, the
opportunity the row came with (to name it in errors, and to drop its rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from .flatten import (
    ACTIVITY,
    CAMPAIGN,
    FIELDS,
    HAS_ACTIVITIES,
    HAS_CAMPAIGN,
    HAS_PROSPECTS,
    OPPORTUNITY,
    PROSPECT,
    code,
)
from .schema import (
    CAMPAIGNS,
    OPPORTUNITIES,
    OPPORTUNITY_PROSPECTS,
    PROSPECTS,
    UNLINK_MARKER,
    VISITOR_ACTIVITIES,
)
from .texttables import OWNER, positions

_NULL_TEXT: Final = pa.scalar(None, pa.string())


_KINDS: Final = (OPPORTUNITY, CAMPAIGN, PROSPECT, ACTIVITY)
_CODES: Final = (
    *(code(i) for i in range(max(len(fields) for fields in FIELDS.values()))),
    HAS_CAMPAIGN,
    HAS_PROSPECTS,
    HAS_ACTIVITIES,
)
_KEY: Final = len(_CODES)
"""Tokens are grouped by kind * _KEY + code: one small integer per (kind, field)."""


class _Lines:
    """The tokens of a run of lines, grouped by (kind, field code)."""

    def __init__(self, data: bytes) -> None:
        text = pa.Array.from_buffers(  # one string, the whole text, not copied
            pa.string(),
            1,
            [None, pa.array([0, len(data)], pa.int32()).buffers()[1], pa.py_buffer(data)],
        )
        text.validate(full=True)  # libxslt writes UTF-8; checked, not trusted
        lines = pc.split_pattern(text, "\n").flatten()
        lines = lines.slice(0, len(lines) - 1)  # every line ends with a line feed
        tokens = pc.split_pattern(lines, "\t")
        kinds = pc.list_element(tokens, 0)
        flat = tokens.flatten()
        parents = pc.list_parent_indices(tokens)
        fields = pc.greater_equal(pc.utf8_length(flat), 2)  # the kind is one character
        flat, parents = flat.filter(fields), parents.filter(fields)
        values = pc.utf8_slice_codeunits(flat, 2)
        values = pc.if_else(pc.equal(values, ""), _NULL_TEXT, values)  # <x/> is NULL
        kind_numbers = pc.index_in(kinds, value_set=pa.array(_KINDS))
        keys = pc.add(
            pc.multiply(pc.take(kind_numbers, parents), _KEY),
            pc.index_in(pc.utf8_slice_codeunits(flat, 0, 2), value_set=pa.array(_CODES)),
        )
        order = pc.sort_indices(keys)  # stable: each group stays in line order
        keys, parents, values = (pc.take(a, order) for a in (keys, parents, values))
        self._groups: dict[int, tuple[pa.Array, pa.Array]] = {}
        start = 0
        counts = pc.value_counts(keys)  # in order of appearance: ascending, as sorted
        for key, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            self._groups[key] = (parents.slice(start, count), values.slice(start, count))
            start += count
        self._kind_numbers = kind_numbers
        self._lines: dict[str, pa.Array] = {}
        self._rank: dict[str, pa.Array] = {}
        self._count: dict[str, int] = {}
        for number, kind in enumerate(_KINDS):
            is_kind = pc.cast(pc.equal(kind_numbers, number), pa.int64())
            rank = pc.subtract(pc.cumulative_sum(is_kind), 1)
            self._rank[kind] = rank  # per line: how many lines of the kind came before
            self._count[kind] = pc.sum(is_kind).as_py() or 0
        self.opportunity_of_line = self._rank[OPPORTUNITY]

    def count(self, kind: str) -> int:
        """How many lines of ``kind`` there are."""
        return self._count[kind]

    def lines_of(self, kind: str) -> pa.Array:
        """Line numbers of the lines of ``kind``, ascending."""
        if kind not in self._lines:
            is_kind = pc.equal(self._kind_numbers, _KINDS.index(kind))
            self._lines[kind] = pc.cast(pc.indices_nonzero(is_kind), pa.int64())
        return self._lines[kind]

    def is_kind(self, lines: pa.Array, kind: str) -> pa.Array:
        """Whether each of these lines is of ``kind``."""
        return pc.equal(pc.take(self._kind_numbers, lines), _KINDS.index(kind))

    def rows_of(self, kind: str, lines: pa.Array) -> pa.Array:
        """The row (among the lines of ``kind``) of each of these lines of that kind."""
        return pc.take(self._rank[kind], lines)

    def _group(self, kind: str, token: str) -> tuple[pa.Array, pa.Array] | None:
        return self._groups.get(_KINDS.index(kind) * _KEY + _CODES.index(token))

    def column(self, kind: str, token: str) -> pa.Array:
        """One field of every line of ``kind``; NULL where absent, the last where repeated."""
        group = self._group(kind, token)
        if group is None:
            return pa.nulls(self.count(kind), pa.string())
        lines, values = group
        return scatter(self.rows_of(kind, lines), values, self.count(kind))

    def present(self, kind: str, token: str) -> pa.Array:
        """Whether each line of ``kind`` holds ``token`` (a flag, whose text is empty)."""
        group = self._group(kind, token)
        rows = pa.array([], pa.int64()) if group is None else self.rows_of(kind, group[0])
        return pc.is_in(positions(self.count(kind)), value_set=pc.cast(rows, pa.uint64()))

    def fields(self, kind: str) -> dict[str, pa.Array]:
        """Every field of every line of ``kind``, by field name."""
        return {name: self.column(kind, code(i)) for i, name in enumerate(FIELDS[kind])}


def scatter(rows: pa.Array, values: pa.Array, length: int) -> pa.Array:
    """A column of ``length`` with ``values[i]`` at row ``rows[i]``, NULL elsewhere.

    ``rows`` must be ascending; where a row repeats (a field sent twice), the last
    value wins.
    """
    if len(rows) > 1:
        last = pc.not_equal(rows.slice(0, len(rows) - 1), rows.slice(1))
        last = pa.concat_arrays([last, pa.array([True])])
        if not pc.all(last).as_py():
            rows, values = rows.filter(last), values.filter(last)
    if len(rows) == length:
        return values  # every row has the field: ascending and distinct, so in order
    mask = pc.is_in(positions(length), value_set=pc.cast(rows, pa.uint64()))
    return pc.replace_with_mask(pa.nulls(length, values.type), mask, values)


def pivot(pages: Sequence[bytes]) -> dict[str, pa.Table]:
    """The text tables (``texttables.TextTables``' form) of the lines of ``pages``.

    Columns hold Pardot's text (NULL for an empty or absent element); typing them is the
    caller's. Every table has its ``OWNER`` column; ``opportunities`` has
    ``is_deleted`` false and ``deleted_at`` NULL, as every page read now says.
    """
    lines = _Lines(b"".join(pages))
    if not lines.count(OPPORTUNITY):
        return {}
    opportunities = lines.fields(OPPORTUNITY)
    ids = opportunities["id"]

    def owners(kind: str) -> pa.Array:
        return pc.take(ids, pc.take(lines.opportunity_of_line, lines.lines_of(kind)))

    campaigns = lines.fields(CAMPAIGN)
    referrer = pc.subtract(lines.lines_of(CAMPAIGN), 1)  # the line it belongs to

    def named_campaigns(kind: str, own: pa.Array) -> pa.Array:
        # A nested <campaign> names the campaign; a bare <campaign_id> only without one.
        of_kind = lines.is_kind(referrer, kind)
        nested = scatter(
            lines.rows_of(kind, referrer.filter(of_kind)),
            campaigns["id"].filter(of_kind),
            len(own),
        )
        return pc.if_else(lines.present(kind, HAS_CAMPAIGN), nested, own)

    opportunities["campaign_id"] = named_campaigns(OPPORTUNITY, opportunities["campaign_id"])
    activities = lines.fields(ACTIVITY)
    activities["campaign_id"] = named_campaigns(ACTIVITY, activities["campaign_id"])
    activities["opportunity_id"] = owners(ACTIVITY)

    prospects = lines.fields(PROSPECT)
    prospect_owners = owners(PROSPECT)
    unlinked = pc.and_(
        lines.present(OPPORTUNITY, HAS_PROSPECTS),
        pc.invert(pc.is_in(ids, value_set=prospect_owners)),
    )
    markers = ids.filter(unlinked)
    links = {
        "opportunity_id": pa.concat_arrays([prospect_owners, markers]),
        "prospect_id": pa.concat_arrays(
            [prospects["id"], pa.array(["0"] * len(markers), pa.string())]
        ),
        UNLINK_MARKER: pa.array([False] * len(prospect_owners) + [True] * len(markers)),
    }
    links[OWNER] = _ids(links["opportunity_id"])
    campaigns[OWNER] = _ids(owners(CAMPAIGN))
    named = pc.is_valid(campaigns["id"])  # a <campaign> without an id names none
    rows = len(ids)
    opportunities["is_deleted"] = pa.array([False] * rows, pa.bool_())
    opportunities["deleted_at"] = pa.nulls(rows, pa.string())
    opportunities[OWNER] = _ids(ids)
    return {
        OPPORTUNITIES.name: pa.table(opportunities),
        CAMPAIGNS.name: pa.table(campaigns).filter(named),
        PROSPECTS.name: pa.table({**prospects, OWNER: _ids(prospect_owners)}),
        OPPORTUNITY_PROSPECTS.name: pa.table(links),
        VISITOR_ACTIVITIES.name: pa.table(
            {**activities, OWNER: _ids(activities["opportunity_id"])}
        ),
    }


def _ids(text: pa.Array) -> pa.Array:
    # Plain integers: flatten declines a page whose ids are anything else.
    return pc.cast(text, pa.int64())
