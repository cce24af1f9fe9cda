"""``pardot-sync status``: where a pipeline's cursors stand and how its last run ended.

Read-only. Everything comes from what dlt already keeps: the pipeline state (restored
from the destination when the local working folder is gone), the last run's trace in
the working folder, and row counts through the destination's SQL client. Nothing is
fetched from Pardot, so asking costs no API request.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dlt

from sources.pardot import PARDOT_TIMESTAMP_FORMAT, TABLES_BY_NAME, SyncState, sync_state

from .runner import LAST_RUN_KEY, default_destination, destination_from


def pipeline_status(
    *,
    destination: Any = None,
    dataset_name: str | None = None,
    pipeline_name: str = "pardot",
    pipelines_dir: str | None = None,
) -> dict[str, Any]:
    """The status of one pipeline as a JSON-ready dictionary (see README, Status).

    Args:
        destination: where to look; by default where the pipeline's last run in this
            working folder loaded (the demo's DuckDB file, say), else the default.
        dataset_name: by default the last run's, else ``pardot``.
        pipeline_name: the pipeline (its working folder keeps its state and last run).
        pipelines_dir: dlt's pipelines folder; None for dlt's default.
    """
    if destination is None or dataset_name is None:
        loaded_to = _last_destination(pipeline_name, pipelines_dir)
        if destination is None:
            destination = destination_from(loaded_to) or default_destination("duckdb")
        if dataset_name is None:
            dataset_name = (loaded_to or {}).get("dataset") or "pardot"
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination,
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir,  # type: ignore[arg-type]  # None = dlt's default
    )
    restored_from_destination = False
    if not pipeline.state.get("sources"):
        # A new machine or a lost working folder: the state travels with the data.
        try:
            pipeline.sync_destination()
            restored_from_destination = bool(pipeline.state.get("sources"))
        except Exception:  # noqa: S110 - nothing loaded yet, or destination unreachable
            pass
    state = sync_state(pipeline)
    full, recent = state.swept_at("full"), state.swept_at("recent")
    day, count = state.requests_tally
    return {
        "pipeline": pipeline_name,
        "dataset": dataset_name,
        "destination": pipeline.destination.destination_name if pipeline.destination else None,
        "state_restored_from_destination": restored_from_destination,
        "cursor": _cursor(state),
        "sweeps": {"full": _iso(full), "recent": _iso(recent)},
        "unfinished_sweep": _unfinished_sweep(state),
        "known_live_ids": len(state.known_ids),
        "activity_feed": {
            "last_activity_id": state.feed_cursor,
            "opportunities_to_reread": len(state.refresh_ids),
            "prospects_to_reread": len(state.refresh_prospects),
        },
        "v5_feed": {
            "watermark": _iso(state.v5_watermark),
            "refused_at": _iso(state.v5_refused_at),
        },
        "history": {"since": state.history_since},
        "requests_today": {"day": day, "count": count},
        "last_run": _last_run(pipeline),
        "rows": _row_counts(pipeline),
    }


def _last_destination(pipeline_name: str, pipelines_dir: str | None) -> dict[str, Any] | None:
    """Where the last run in the pipeline's working folder loaded, as the runner noted."""
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        pipelines_dir=pipelines_dir,  # type: ignore[arg-type]  # None = dlt's default
    )
    try:
        record = pipeline.get_local_state_val(LAST_RUN_KEY)
    except (KeyError, TypeError):
        return None
    loaded_to = record.get("destination") if isinstance(record, dict) else None
    return loaded_to if isinstance(loaded_to, dict) else None


def _cursor(state: SyncState) -> dict[str, Any]:
    """The new-opportunities cursor, its ``created_at`` with the zone it is in.

    Pardot renders ``created_at`` in the API user's local time without a zone; the run
    keeps the zone with the cursor, so it is shown as ISO 8601 with its offset. A state
    written before the zone was kept shows the raw value, zone unknown.
    """
    raw, zone = state.last_created_at, state.cursor_timezone
    shown = raw
    if raw and zone:
        try:
            local = datetime.strptime(raw, PARDOT_TIMESTAMP_FORMAT).replace(tzinfo=ZoneInfo(zone))
            shown = local.isoformat()
        except (ValueError, KeyError):
            shown = raw
    return {"last_id": state.last_id, "last_created_at": shown, "timezone": zone}


def _last_run(pipeline: dlt.Pipeline) -> dict[str, Any] | None:
    """When the last run in this working folder ended, and how.

    The runner's own record first (it knows a run the source stopped cleanly was cut
    short); dlt's last trace for pipelines run some other way.
    """
    try:
        record = pipeline.get_local_state_val(LAST_RUN_KEY)
    except (KeyError, TypeError):
        record = None
    if record:
        return dict(record)
    trace = pipeline.last_trace
    if trace is None:
        return None
    failed = next((s for s in trace.steps if s.step_exception), None)
    return {
        "finished_at": _iso(trace.finished_at),
        "outcome": "error" if failed else "complete",
        "message": f"step {failed.step}: {failed.step_exception}" if failed else None,
    }


def _row_counts(pipeline: dlt.Pipeline) -> dict[str, int | None]:
    """Rows per table in the destination; None where the table or the reader is missing."""
    counts: dict[str, int | None] = dict.fromkeys(TABLES_BY_NAME)
    if pipeline.default_schema_name is None or pipeline.destination is None:
        return counts  # never ran here, and nothing to restore: no schema to look in
    tables = [name for name in TABLES_BY_NAME if name in pipeline.default_schema.tables]
    if not tables:
        return counts
    try:
        with pipeline.sql_client() as client:
            for name in tables:
                table = client.make_qualified_table_name(name)
                rows = client.execute_sql(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
                counts[name] = int(rows[0][0]) if rows else None
    except Exception:  # noqa: S110 - e.g. never loaded, or no SQL reader for these files
        pass
    return counts


def _unfinished_sweep(state: SyncState) -> dict[str, Any] | None:
    """The sweep a stopped run left to finish: where it stands, without its id set."""
    scan = state.unfinished_sweep()
    if scan is None:
        return None
    return {
        "kind": scan.kind,
        "created_after": scan.created_after,
        "ranges": [list(span) for span in scan.ranges],
        "started": scan.started.isoformat(),
        "ids_seen": len(scan.seen_before),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def render(status: dict[str, Any]) -> str:
    """A human-readable block of the status."""
    cursor, sweeps, run = status["cursor"], status["sweeps"], status["last_run"]
    feed = status["activity_feed"]
    lines = [
        f"pipeline {status['pipeline']} → {status['destination']}, dataset {status['dataset']}",
        f"  new opportunities cursor: id {cursor['last_id'] or '-'}, "
        f"created_at {cursor['last_created_at'] or '-'}"
        + (f" ({cursor['timezone']})" if cursor.get("timezone") else ""),
        f"  last full sweep:          {sweeps['full'] or 'never'}",
        f"  last recent sweep:        {sweeps['recent'] or 'never'}",
        f"  unfinished sweep:         {_unfinished(status['unfinished_sweep'])}",
        f"  live opportunity ids known: {status['known_live_ids']:,}",
        f"  event feed:               activity id {feed['last_activity_id'] or '-'}, "
        f"{feed['opportunities_to_reread']:,} opportunities and "
        f"{feed['prospects_to_reread']:,} prospects to re-read",
        f"  v5 feed:                  {_v5(status['v5_feed'])}",
        f"  history:                  since {status['history']['since'] or '- (starts next run)'}",
        f"  requests today:           {status['requests_today']['count']:,} "
        f"(day {status['requests_today']['day'] or '-'})",
    ]
    if run is None:
        lines.append("  last run:                 none in this working folder")
    else:
        ended = f"{run['outcome']} at {run['finished_at']}"
        if run.get("message"):
            ended += f": {run['message']}"
        lines.append(f"  last run:                 {ended}")
        for mechanism, figures in (run.get("changes") or {}).items():
            shown = ", ".join(f"{name} {value:,}" for name, value in figures.items())
            lines.append(f"    {mechanism + ':':<24} {shown}")
    lines.append("  rows:")
    for table, count in status["rows"].items():
        lines.append(f"    {table:<24} {'-' if count is None else f'{count:,}':>10}")
    return "\n".join(lines)


def _v5(feed: dict[str, Any]) -> str:
    if feed["refused_at"]:
        return f"refused by the account at {feed['refused_at']} (asked again a day later)"
    if feed["watermark"]:
        return f"next window from {feed['watermark']}"
    return "off, or not run yet"


def _unfinished(value: Any) -> str:
    if not value:
        return "none"
    return json.dumps(value, sort_keys=True, default=str)
