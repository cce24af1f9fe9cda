"""The naive baseline: what a first dlt connector for this API would look like.

Sequential httpx, each page parsed with lxml into xmltodict-like dicts (``{child.tag:
child.text}``; a container of records becomes a list, left for dlt to unnest into child
tables), yielded one page at a time to a plain ``dlt.resource`` with dlt's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from lxml import etree

from .server import Endpoint, iter_pages


def to_row(element: etree._Element) -> dict[str, Any]:
    """One element as a dict: leaves as text, records as dicts, containers as lists."""
    row: dict[str, Any] = {}
    for child in element:
        if len(child) == 0:
            row[child.tag] = child.text
        elif all(len(item) for item in child):  # <prospects>, <opportunity_activities>
            row[child.tag] = [to_row(item) for item in child]
        else:  # <campaign>
            row[child.tag] = to_row(child)
    return row


@dlt.resource(name="opportunities")
def naive_opportunities(
    endpoint: Endpoint, limit: int | None, counter: dict[str, int]
) -> Iterator[list[dict[str, Any]]]:
    """Every opportunity (or the first ``limit``, to the page), one page a yield."""
    for _, root in iter_pages(endpoint, limit=limit):
        rows = [to_row(op) for op in root.iterfind("result/opportunity")]
        counter["opportunities"] += len(rows)
        yield rows
