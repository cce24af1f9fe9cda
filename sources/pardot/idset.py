"""A compact, JSON-safe encoding of a set of opportunity ids, for dlt's state.

A full sweep finds deleted opportunities by comparing the ids Pardot still returns with
the ids loaded before. Those ids must be remembered by something that works with every
dlt destination: dlt's pipeline state, which travels with each load package. State is
written to the destination on every load, so the set must stay small: ids are sorted,
stored as differences (mostly small numbers), narrowed to the smallest integer width that
holds them, and zlib-compressed. Encoding and decoding are vectorised in Arrow.
"""

from __future__ import annotations

import base64
import zlib
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

_FORMAT: Final = "d1"
"""Version tag: ``d1:<count>:<first id>:<width>:<base64 zlib of little-endian deltas>``."""
_WIDTHS: Final = ((1, pa.uint8()), (2, pa.uint16()), (4, pa.uint32()), (8, pa.int64()))


def encode_ids(ids: pa.Array | list[int]) -> str:
    """Encode a set of non-negative ids (any order, duplicates allowed)."""
    array = pc.unique(pa.array(ids, pa.int64())).sort()
    if not len(array):
        return f"{_FORMAT}:0:0:1:"
    first = array[0].as_py()
    if first < 0:
        raise ValueError("ids must be non-negative")
    deltas = pc.pairwise_diff(array).slice(1)
    largest = pc.max(deltas).as_py() if len(deltas) else 0
    width, kind = next((w, k) for w, k in _WIDTHS if w == 8 or largest < 256**w)
    narrow = deltas.cast(kind)
    data = narrow.buffers()[1] if len(narrow) else b""
    raw = bytes(data)[narrow.offset * width : (narrow.offset + len(narrow)) * width]
    packed = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    return f"{_FORMAT}:{len(array)}:{first}:{width}:{packed}"


def decode_ids(text: str | None) -> pa.Array:
    """The sorted ids of an ``encode_ids`` string (empty for None or "")."""
    if not text:
        return pa.array([], pa.int64())
    tag, count, first, width_text, packed = text.split(":", 4)
    if tag != _FORMAT:
        raise ValueError(f"unknown id-set encoding {tag!r}")
    if int(count) == 0:
        return pa.array([], pa.int64())
    width = int(width_text)
    raw = zlib.decompress(base64.b64decode(packed))
    deltas = pa.Array.from_buffers(
        dict(_WIDTHS)[width], len(raw) // width, [None, pa.py_buffer(raw)]
    )
    steps = pa.concat_arrays([pa.array([int(first)], pa.int64()), deltas.cast(pa.int64())])
    ids = pc.cumulative_sum(steps)
    if len(ids) != int(count):
        raise ValueError("id set is corrupt: count does not match")
    return ids
