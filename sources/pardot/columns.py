"""Vectorised typing of text columns: Pardot sends strings, the warehouse wants types.

Whole columns are cast at once in Arrow: typing values one by one in Python would cost
more than parsing the XML. Local timestamps become UTC with one deliberate rule for the
two kinds of impossible local times that daylight saving creates:

* ambiguous (the repeated hour when clocks go back): the earlier instant, i.e. the
  daylight-saving reading;
* nonexistent (the skipped hour when clocks go forward): the instant of the transition.

A value that cannot be typed raises ``DataError`` naming the opportunity and the field;
nothing is coerced to a wrong value or dropped. ``typed_table`` turns the rows of one
table into an Arrow table by its declared columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

from .errors import DataError
from .schema import ARROW_TYPES, UTC_TIMESTAMP, Kind, Table

_LOCAL_SECONDS: Final = pa.timestamp("s")
AMBIGUOUS_LOCAL_TIME: Final = "earliest"
NONEXISTENT_LOCAL_TIME: Final = "latest"


class CastFailure(Exception):
    """A value in a column could not be typed; ``index`` is its row in the column."""

    def __init__(self, index: int, value: str, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.value = value
        self.reason = reason


def typed_array(values: Sequence[Any] | pa.Array, kind: Kind, timezone: str) -> pa.Array:
    """Cast a column of Pardot text values (None = empty element) to ``kind``.

    Args:
        values: the text of each row's element, None where empty or absent (a list or
            an Arrow string array); for ``bool`` columns (set by the connector, never
            sent by Pardot) bools.
        kind: the declared kind of the column.
        timezone: IANA zone in which Pardot rendered local timestamps.

    Raises:
        CastFailure: a value is not of the declared kind.
    """
    if isinstance(values, pa.Array):
        text = values
    else:
        text = pa.array(values, pa.bool_() if kind == "bool" else pa.string())
    if kind in ("bool", "text"):
        return text
    try:
        if kind == "timestamp":
            return _utc_timestamps(text, timezone)
        typed = pc.cast(text, ARROW_TYPES[kind])
    except pa.ArrowInvalid as exc:
        raise _locate_failure(text.to_pylist(), kind) from exc
    if kind == "double":
        # "1E400", "inf" and "nan" cast without complaint; none is an amount of money.
        finite = pc.fill_null(pc.is_finite(typed), True)
        if not pc.all(finite).as_py():
            index = pc.indices_nonzero(pc.invert(finite))[0].as_py()
            raise CastFailure(index, str(text[index].as_py()), "not a finite number")
    return typed


def _utc_timestamps(text: pa.Array, timezone: str) -> pa.Array:
    # A cast, not strptime: Arrow's strptime rolls 2024-02-30 over to March 1st.
    local = pc.cast(text, _LOCAL_SECONDS)
    aware = pc.assume_timezone(
        local,
        timezone=timezone,
        ambiguous=AMBIGUOUS_LOCAL_TIME,
        nonexistent=NONEXISTENT_LOCAL_TIME,
    )
    return aware.cast(UTC_TIMESTAMP)


def _locate_failure(values: Sequence[Any], kind: Kind) -> CastFailure:
    """Find the first value that does not cast, one by one: only on the error path."""
    for index, value in enumerate(values):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), _LOCAL_SECONDS if kind == "timestamp" else ARROW_TYPES[kind])
        except pa.ArrowInvalid:
            return CastFailure(index, value, f"not a valid {_KIND_NAMES[kind]}")
    return CastFailure(0, "", f"column could not be cast to {_KIND_NAMES[kind]}")


def out_of_range(array: pa.Array, low: int, high: int) -> int | None:
    """Index of the first non-null value outside ``[low, high]``, or None."""
    bad = pc.or_(pc.less(array, low), pc.greater(array, high))
    indices = pc.indices_nonzero(pc.fill_null(bad, False))
    return int(indices[0].as_py()) if len(indices) else None


Owners: TypeAlias = Sequence[int] | pa.Array
"""The opportunity id of each row (a list, or an Arrow integer array), to name in errors."""


def owner_at(owners: Owners, index: int) -> int | None:
    """The opportunity id of row ``index``."""
    owner = owners[index]
    return cast(int | None, owner.as_py()) if isinstance(owner, pa.Scalar) else owner


def text_columns(spec: Table, rows: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """The rows' text as columns: the declared ones of ``spec``, then the unknown ones.

    The rows become one Arrow struct array in a single call (C++ does the per-value
    work); ``bool`` columns stay booleans, everything else is text.
    """
    declared = [column.name for column in spec.columns]
    extra = set().union(*rows).difference(declared)
    names = declared + sorted(extra)
    struct_type = pa.struct(
        [pa.field(n, pa.bool_() if _kind(spec, n) == "bool" else pa.string()) for n in names]
    )
    struct = pa.array(rows, type=struct_type)
    return {name: struct.field(index) for index, name in enumerate(names)}


def typed_table(spec: Table, rows: list[dict[str, Any]], owners: Owners, timezone: str) -> pa.Table:
    """Type ``rows`` by the declared columns of ``spec``; unknown columns become text."""
    return typed_columns(spec, text_columns(spec, rows), owners, timezone)


def typed_columns(
    spec: Table, columns: dict[str, pa.Array], owners: Owners, timezone: str
) -> pa.Table:
    """Type text columns by the declared columns of ``spec``; unknown ones stay text.

    Args:
        spec: the table.
        columns: name -> text (or, for ``bool`` columns, bool) array, all one length.
        owners: the opportunity id of each row, to name in errors.
        timezone: IANA zone in which Pardot rendered local timestamps.

    Raises:
        DataError: a value is not of its column's kind, or a key is missing.
    """
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for name, values in columns.items():
        column = spec.column(name)
        try:
            array = typed_array(values, _kind(spec, name), timezone)
        except CastFailure as failure:
            raise DataError(
                opportunity_id=owner_at(owners, failure.index),
                field=f"{spec.name}.{name}",
                value=failure.value,
                reason=failure.reason,
            ) from None
        nullable = column.nullable if column else True
        if not nullable and array.null_count:
            missing = pc.indices_nonzero(pc.is_null(array))[0].as_py()
            raise DataError(
                opportunity_id=owner_at(owners, missing),
                field=f"{spec.name}.{name}",
                value="",
                reason="missing",
            )
        fields.append(pa.field(name, array.type, nullable=nullable))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _kind(spec: Table, name: str) -> Kind:
    column = spec.column(name)
    return column.kind if column else "text"


def checked_opportunities(table: pa.Table, ids: Owners) -> pa.Table:
    """Probability within 0-100 and status in lower case (Pardot sends ``Open`` too)."""
    bad = out_of_range(table["probability"], 0, 100)
    if bad is not None:
        raise DataError(
            opportunity_id=owner_at(ids, bad),
            field="opportunities.probability",
            value=str(table["probability"][bad].as_py()),
            reason="outside 0-100",
        )
    index = table.schema.get_field_index("status")
    return table.set_column(index, table.schema.field(index), pc.utf8_lower(table["status"]))


_KIND_NAMES: Final[dict[Kind, str]] = {
    "bigint": "integer",
    "double": "number",
    "text": "text",
    "timestamp": "timestamp (YYYY-MM-DD HH:MM:SS)",
    "bool": "boolean",
}
