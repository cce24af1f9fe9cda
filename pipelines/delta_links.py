"""Keep ``opportunity_prospects`` exact on Delta tables (filesystem destination).

On SQL destinations the source's delete-insert merge on ``opportunity_id`` replaces an
opportunity's links each time it is loaded. Delta tables only upsert by primary key, so
dlt ignores that merge key there: an unlinked prospect would keep its row, and the
unlink marker rows of the first load would be inserted. This step, run after each load,
restores the same result: every load stamps its rows with ``_dlt_load_id``, and a live
opportunity's current links are exactly the link rows loaded with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import dlt
import duckdb

LOAD_ID_SETTING: Final = "normalize.parquet_normalizer.add_dlt_load_id"

KEPT_LINKS: Final = """
with stale as (
    select l.opportunity_id, l.prospect_id
    from links l left join opportunities o on o.id = l.opportunity_id
    where l._unlinked                                  -- unlink markers are never rows
       or o.id is null                                 -- opportunity removed (hard_delete)
       or (not o.is_deleted and o._dlt_load_id is distinct from l._dlt_load_id)
)
select l.* from links l anti join stale using (opportunity_id, prospect_id)
"""
"""Links loaded with their (live) opportunity's latest version. A soft-deleted
opportunity keeps the links it had when last read, as on the SQL destinations."""


@contextmanager
def stamped_loads() -> Iterator[None]:
    """Make dlt add ``_dlt_load_id`` to Arrow rows during this block (off by default).

    Through dlt's own scoped configuration, which restores the setting on exit; the
    process environment (seen by every library and child process) is left alone.
    """
    with dlt.config.values({LOAD_ID_SETTING: True}):
        yield


def reconcile_links(pipeline: Any) -> int:
    """Delete stale link rows from the Delta table; return how many were deleted."""
    from deltalake import write_deltalake
    from dlt.common.libs.deltalake import get_delta_tables

    names = ("opportunities", "opportunity_prospects")
    if not set(names) <= set(pipeline.default_schema.tables):
        return 0
    tables = get_delta_tables(pipeline, *names)
    links_table = tables["opportunity_prospects"]
    links = links_table.to_pyarrow_table()
    opportunities = tables["opportunities"].to_pyarrow_table(
        columns=["id", "is_deleted", "_dlt_load_id"]
    )
    with duckdb.connect() as con:
        con.register("links", links)
        con.register("opportunities", opportunities)
        kept = con.sql(KEPT_LINKS).to_arrow_table()
    removed = links.num_rows - kept.num_rows
    if not removed:
        return 0
    write_deltalake(links_table, kept.cast(links.schema), mode="overwrite")
    return removed
