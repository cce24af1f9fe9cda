"""dlt source for Salesforce Account Engagement (Pardot) v3/v4 opportunities.

The dlt glue and nothing else: configuration enters through ``pardot_source``'s
signature (``[sources.pardot]`` in ``.dlt/config.toml``, ``[sources.pardot.credentials]``
in ``.dlt/secrets.toml``, or ``SOURCES__PARDOT__…`` environment variables), and the one
resource hands the Arrow tables of ``sync`` to dlt, each marked with its table's hints
so that one pass over the API fills every table (``schema.TABLES``).

With ``checkpoint_every``, one ``pipeline.run`` of the source loads only up to the run's
next checkpoint and leaves ``report.outcome == "checkpoint"``: running the same source
object again resumes the paused run (its fetch threads never stopped) into the next load
package. ``run_checkpointed`` does that loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Final, cast

import dlt
import httpx
from dlt.common.configuration import configspec
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.pipeline import PipelineContext
from dlt.common.runtime.collector import NULL_COLLECTOR
from dlt.common.schema.typing import TColumnSchema, TTableReferenceInline
from dlt.common.typing import TSecretStrValue
from dlt.extract.hints import TResourceHints
from dlt.extract.resource import DltResource

from .auth import Credentials
from .client import PardotClient
from .config import DEFAULT_CHECKPOINT_EVERY, DEFAULTS, SyncSettings
from .constants import (
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_TOKEN_URL,
    PARDOT_TIMESTAMP_FORMAT,
)
from .deletes import ReadLoaded
from .errors import AuthenticationError, ConfigurationError, DailyLimitError, PardotError
from .history import LOOKUP_CHUNK, HistoryStore
from .loaded import WarehouseRows
from .planner import SyncState
from .report import Checkpoint, Progress, State, SyncReport, SyncRun
from .schema import OPPORTUNITIES, OPPORTUNITY_HISTORY, TABLES_BY_NAME, UNLINK_MARKER, Table
from .sync import sync_opportunities

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "PARDOT_TIMESTAMP_FORMAT",
    "SOURCE_NAME",
    "TABLES_BY_NAME",
    "AuthenticationError",
    "ConfigurationError",
    "DailyLimitError",
    "PardotCredentials",
    "PardotError",
    "SyncReport",
    "SyncState",
    "pardot_source",
    "run_checkpointed",
    "sync_state",
]
"""What the pipelines, orchestrator tasks and users import; pinned by a test."""

SOURCE_NAME: Final = "pardot"
"""The dlt source's name and config section (``[sources.pardot]``); keys its state."""

logger = logging.getLogger(__name__)


@configspec
class PardotCredentials(CredentialsConfiguration):
    """Salesforce OAuth credentials for the Pardot API (one of three sets, see README)."""

    access_token: TSecretStrValue | None = None
    client_id: str | None = None
    client_secret: TSecretStrValue | None = None
    refresh_token: TSecretStrValue | None = None
    username: str | None = None
    password: TSecretStrValue | None = None
    token_url: str = DEFAULT_TOKEN_URL

    def to_credentials(self) -> Credentials:
        """The plain credentials object of the client (no dlt below this module)."""
        return Credentials(
            access_token=self.access_token,
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            username=self.username,
            password=self.password,
            token_url=self.token_url,
        )


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def pardot_source(
    business_unit_id: str = dlt.config.value,
    credentials: PardotCredentials = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    api_version: int = DEFAULT_API_VERSION,
    timezone: str = DEFAULTS.timezone,
    start_date: str | date | datetime | None = DEFAULTS.start_date,
    page_size: int = DEFAULTS.page_size,
    max_concurrency: int = DEFAULTS.max_concurrency,
    daily_request_budget: int | None = DEFAULTS.daily_request_budget,
    fetch_activities_by_read: bool = DEFAULTS.fetch_activities_by_read,
    activity_feed: bool = DEFAULTS.activity_feed,
    v5_feed: bool = DEFAULTS.v5_feed,
    delete_check: bool = DEFAULTS.delete_check,
    history: bool = DEFAULTS.history,
    recent_sweep_days: int = DEFAULTS.recent_sweep_days,
    recent_sweep_every_minutes: int = DEFAULTS.recent_sweep_every_minutes,
    full_sweep_every_hours: int = DEFAULTS.full_sweep_every_hours,
    hard_delete: bool = DEFAULTS.hard_delete,
    reject_bad_rows: bool = DEFAULTS.reject_bad_rows,
    force_full_sweep: bool = False,
    checkpoint_every: int = DEFAULTS.checkpoint_every,
    http: httpx.Client | None = None,
    now: datetime | None = None,
    report: SyncReport | None = None,
    progress: Progress | None = None,
) -> DltResource:
    """Pardot opportunities and their campaigns, prospects, links and visitor activities.

    Args:
        business_unit_id: Pardot business unit id (18 characters, ``0Uv…``).
        credentials: an access token, or OAuth client + refresh token, or client + user.
        base_url: API host; ``https://pi.demo.pardot.com`` for sandboxes.
        api_version: 3 or 4; switched once automatically on error 88/89.
        timezone: IANA zone of the API user; Pardot's timestamps carry none.
        start_date: the first run fetches opportunities created from then on.
        page_size: rows per request, 1-200.
        max_concurrency: requests in flight, 1-5 (Pardot's per-account limit is 5).
        daily_request_budget: stop cleanly, progress saved, after this many requests today.
        fetch_activities_by_read: read each new opportunity once more to get its visitor
            activities when the query does not carry them (one request per opportunity).
        activity_feed: each run reads the opportunity events Pardot records (creation,
            won, lost, reopened, prospect linked or unlinked) by activity id, loads them
            into ``visitor_activities`` and re-reads the opportunities they name.
        v5_feed: each run also asks API v5 for the opportunities updated since the last
            window (minus a two-minute margin) and re-reads them; where the account has no
            v5, the run goes on without it and says so.
        delete_check: each run compares Pardot's count of live opportunities with the
            ids known to be live, and finds deleted and undeleted ids where they differ.
        history: record every change of an opportunity's tracked fields in
            ``opportunity_history`` (one row per version; see ``history``).
        recent_sweep_days: a recent sweep re-reads opportunities created in these days.
        recent_sweep_every_minutes: minutes between recent sweeps (0 every run, -1 never).
        full_sweep_every_hours: hours between full sweeps, which also find deleted
            opportunities (0 every run, -1 only when forced).
        hard_delete: remove deleted opportunities and their links instead of marking
            them ``is_deleted``.
        reject_bad_rows: set aside an opportunity with a value that cannot be typed, in
            table ``rejected_rows`` with the reason, and go on; by default the run stops
            at it (exit 1) without moving past it.
        force_full_sweep: make this run a full sweep whatever the cadence.
        checkpoint_every: pause every this many opportunities, so that dlt loads them
            and commits the state before the run goes on (see the module docstring);
            0 = one load package per run.
        http: an httpx client to send requests through (tests mount the emulator here).
        now: the run's start, which decides which sweeps are due (UTC, aware); this
            machine's clock by default. The day-of-changes benchmark runs a simulated
            day on the emulator's clock with it.
        report: filled with how the run went (outcome, pages, requests).
        progress: called after every page with the report so far. The counters also go
            to the progress collector of the pipeline running the source (dlt's
            ``progress=``; the log of the Airflow task), beside dlt's own.

    Raises:
        ConfigurationError: a setting or the credentials are missing or malformed.
    """
    settings = SyncSettings.from_values(
        timezone=timezone,
        start_date=start_date,
        page_size=page_size,
        max_concurrency=max_concurrency,
        daily_request_budget=daily_request_budget,
        fetch_activities_by_read=fetch_activities_by_read,
        activity_feed=activity_feed,
        v5_feed=v5_feed,
        delete_check=delete_check,
        history=history,
        recent_sweep_days=recent_sweep_days,
        recent_sweep_every_minutes=recent_sweep_every_minutes,
        full_sweep_every_hours=full_sweep_every_hours,
        hard_delete=hard_delete,
        reject_bad_rows=reject_bad_rows,
        checkpoint_every=checkpoint_every,
    )
    client = PardotClient(
        base_url=base_url,
        business_unit_id=business_unit_id,
        credentials=credentials.to_credentials(),
        api_version=int(api_version),
        http=http,
        max_concurrency=settings.max_concurrency,
    )
    run_report = report if report is not None else SyncReport()
    hints = {
        name: _table_hints(spec, hard_delete=settings.hard_delete)
        for name, spec in TABLES_BY_NAME.items()
    }

    def whole_run(state: State) -> SyncRun:
        warehouse = _warehouse()
        read_loaded, history = _readers(warehouse)
        try:
            yield from sync_opportunities(
                client,
                settings,
                state,
                run_report,
                progress=_ExtractProgress(progress),
                force_full_sweep=force_full_sweep,
                read_loaded=read_loaded,
                history=history,
                now=now,
            )
        finally:
            client.close()
            if warehouse is not None:
                warehouse.close()

    # Every table's hints travel with its items: hints declared on the resource would be
    # merged into the child tables too (dlt would give campaigns an is_deleted column).
    @dlt.resource(name=OPPORTUNITIES.name, write_disposition="merge")
    def opportunities() -> Iterator[Any]:
        state = dlt.current.resource_state()
        run, run_report.paused = run_report.paused, None
        try:
            # A paused run goes on writing to this package's state; a new one starts.
            if run is None:
                run = whole_run(state)
                item = next(run)
            else:
                item = run.send(state)
            while not isinstance(item, Checkpoint):
                table_name, table = item
                yield dlt.mark.with_hints(table, hints[table_name], create_table_variant=True)
                item = next(run)
        except StopIteration:
            return
        except BaseException:  # dlt closed this package early, or the run failed
            if run is not None:
                run.close()
            raise
        run_report.paused = run  # this package ends here; the next run of the source resumes

    return opportunities


def run_checkpointed(
    pipeline: dlt.Pipeline, source: Any, report: SyncReport, **run_options: Any
) -> None:
    """``pipeline.run(source)`` until the sync is past its last checkpoint.

    Each checkpoint's package is loaded, and its state committed, while the paused run's
    fetch threads go on; a failure stops the paused run, so no thread outlives it.
    """
    try:
        pipeline.run(source, **run_options)
        while report.outcome == "checkpoint":
            logger.info(
                "checkpoint %d loaded: %d opportunities so far",
                report.checkpoints,
                report.opportunities,
            )
            pipeline.run(source, **run_options)
    finally:
        report.abandon()


class _ExtractProgress:
    """The run's counters (pages, opportunities, requests) for dlt's progress collector.

    dlt shows its normalize and load steps in the collector of the pipeline
    (``dlt.pipeline(progress="log")``, the Airflow task's log); the extract is this
    source's, so it feeds its own counters there too, as they grow, page by page.
    """

    COUNTERS: Final = ("Pardot pages", "Pardot opportunities", "Pardot requests")

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._shown = (0, 0, 0)

    def __call__(self, report: SyncReport) -> None:
        if self._progress is not None:
            self._progress(report)
        context = Container()[PipelineContext]
        if not context.is_active():  # iterated outside a pipeline: no collector
            return
        collector = getattr(context.pipeline(), "collector", NULL_COLLECTOR)
        counts = (report.pages, report.opportunities, report.requests)
        for name, count, shown in zip(self.COUNTERS, counts, self._shown, strict=True):
            if count > shown:
                collector.update(name, count - shown)
        self._shown = counts


def sync_state(pipeline: dlt.Pipeline) -> SyncState:
    """The source's state in ``pipeline``, through the type that writes it (to read it).

    Empty on a pipeline that never ran the source. dlt keeps a resource's state under
    the source's and the resource's names.
    """
    sources = pipeline.state.get("sources") or {}
    resources = (sources.get(SOURCE_NAME) or {}).get("resources") or {}
    return SyncState(dict(resources.get(OPPORTUNITIES.name) or {}))


def _table_hints(spec: Table, *, hard_delete: bool) -> TResourceHints:
    # With hard_delete, a true is_deleted makes dlt delete the opportunity row; the
    # link table always deletes through its unlink marker.
    delete_column = "is_deleted" if hard_delete and spec is OPPORTUNITIES else UNLINK_MARKER
    return dlt.mark.make_hints(
        table_name=spec.name,
        write_disposition=spec.write_disposition,
        primary_key=list(spec.primary_key),
        merge_key=list(spec.merge_key) or None,
        columns=cast(list[TColumnSchema], spec.dlt_columns(hard_delete=delete_column)),
        references=cast(list[TTableReferenceInline], spec.dlt_references()) or None,
    )


def _warehouse() -> WarehouseRows | None:
    """The warehouse of the pipeline running the source; None when the source is iterated
    outside a pipeline (no warehouse: no history, and deletes cannot be marked)."""
    if not Container()[PipelineContext].is_active():
        return None
    return WarehouseRows(dlt.current.pipeline())


def _readers(warehouse: WarehouseRows | None) -> tuple[ReadLoaded | None, HistoryStore | None]:
    """What the run reads back from the warehouse: the loaded rows of opportunities to mark
    deleted (they keep their columns), and the history's last versions.

    ``loaded`` reads Delta tables with ``deltalake`` (no DuckDB extension to download)
    and every other destination through dlt's SQL client, as Arrow.
    """
    if warehouse is None:
        return None, None
    rows = warehouse
    history = HistoryStore(
        # the recorded versions of these opportunities; None while the table does not exist
        versions=lambda ids: rows.by_ids(OPPORTUNITY_HISTORY.name, ids, key="opportunity_id"),
        # every loaded opportunity, to start the history of a pipeline loaded before it
        loaded=lambda: rows.every(OPPORTUNITIES.name, chunk=LOOKUP_CHUNK),
    )
    return (lambda ids: rows.by_ids(OPPORTUNITIES.name, ids, key="id")), history
