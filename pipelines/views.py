"""Views for analysts, created in the dataset after each load.

Analysts should not need to know that deleted opportunities keep their rows or how the
link table joins: these views answer the usual questions directly. They are plain SQL
views through dlt's SQL client (``create or replace view``, so creating them again after
every load is harmless), and they read the live tables, so they are never stale.
"""

from __future__ import annotations

import logging
from typing import Any, Final

logger = logging.getLogger(__name__)

HISTORY: Final = "opportunity_history"

VIEWS: Final[dict[str, str]] = {
    # Live opportunities only: the rows a deleted opportunity keeps are left out.
    "current_opportunities": """
        select * from {opportunities} where not is_deleted
    """,
    # The sales pipeline: count, value and probability-weighted value per stage and status.
    "pipeline_by_stage": """
        select stage, status,
               count(*) as opportunities,
               sum(value) as total_value,
               sum(value * probability / 100.0) as weighted_value,
               avg(probability) as avg_probability
        from {current_opportunities}
        group by stage, status
    """,
    # One row per live opportunity and linked prospect.
    "opportunities_with_prospects": """
        select o.id as opportunity_id, o.name as opportunity_name, o.stage, o.status,
               o.value, o.probability, o.campaign_id, o.created_at, o.closed_at,
               p.id as prospect_id, p.email, p.first_name, p.last_name, p.company
        from {current_opportunities} o
        join {opportunity_prospects} op on op.opportunity_id = o.id
        join {prospects} p on p.id = op.prospect_id
    """,
}
"""View name → SQL; ``{name}`` stands for a table or view qualified with the dataset."""

NEEDS: Final = ("opportunities", "opportunity_prospects", "prospects")
"""Tables that must exist before the views can be created."""

HISTORY_VIEWS: Final[dict[str, str]] = {
    # Each version of an opportunity with the span it held: from its changed_at until the
    # next version's (NULL while it is the current one).
    "opportunity_versions": """
        select h.*,
               h.changed_at as valid_from,
               lead(h.changed_at) over (
                   partition by h.opportunity_id order by h.version
               ) as valid_to
        from {opportunity_history} h
    """,
    # Each stay of an opportunity in a stage: entered, left (NULL while it is there), and
    # the days in between (until now for the current stay). A stay ends when the stage
    # changes or the opportunity is deleted; an undelete starts a new one.
    "stage_durations": """
        with marked as (
            select opportunity_id, version, stage, is_deleted, changed_at,
                   case when lag(stage) over w is not distinct from stage
                             and lag(is_deleted) over w = is_deleted
                        then 0 else 1 end as starts
            from {opportunity_history}
            window w as (partition by opportunity_id order by version)
        ), stays as (
            select opportunity_id, stage, is_deleted, changed_at as entered_at,
                   lead(changed_at) over (
                       partition by opportunity_id order by version
                   ) as left_at
            from marked
            where starts = 1
        )
        select opportunity_id, stage, entered_at, left_at,
               date_part('epoch', coalesce(left_at, current_timestamp) - entered_at)
                   / 86400.0 as days_in_stage
        from stays
        where not is_deleted
    """,
}
"""Views over ``opportunity_history``, created once it exists (``history = true``)."""


def create_views(pipeline: Any) -> list[str]:
    """Create or replace every view in the pipeline's dataset; return their names.

    Skipped (empty list) on the filesystem destination, whose SQL client is a throwaway
    DuckDB session, and before the tables exist.
    """
    destination = pipeline.destination
    if destination is None or destination.destination_name == "filesystem":
        return []
    if not set(NEEDS) <= set(pipeline.default_schema.tables):
        return []
    views = dict(VIEWS)
    if HISTORY in pipeline.default_schema.tables:
        views.update(HISTORY_VIEWS)
    with pipeline.sql_client() as client:
        names = {name: client.make_qualified_table_name(name) for name in (*NEEDS, HISTORY, *views)}
        for view, body in views.items():
            sql = f"create or replace view {names[view]} as {body.format(**names).strip()}"
            client.execute_sql(sql)
    return list(views)
