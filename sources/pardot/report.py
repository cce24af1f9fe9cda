"""What a run hands out and how it went: the items of the run, and its report.

The dlt layer (``sources.pardot``), the pipelines and the tests read these; ``sync``
writes them. Their own module so that readers need not import the run logic.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

import pyarrow as pa

Progress = Callable[["SyncReport"], None]
State = MutableMapping[str, Any]


class Checkpoint:
    """The marker a run yields when its handed-out batches should be loaded now."""

    def __repr__(self) -> str:
        return "CHECKPOINT"


CHECKPOINT: Final = Checkpoint()
Item = tuple[str, pa.Table] | Checkpoint
SyncRun = Generator[Item, State | None, None]
"""A run: yields tables and checkpoints; resumed after a checkpoint with the state
mapping of the next load package (or None to keep writing the same one)."""


@dataclass
class SyncReport:
    """How a run went, for the command line's summary and exit code."""

    outcome: str = "running"
    """``complete``, ``daily_limit`` (stopped early, progress saved), ``error``, or
    ``checkpoint``: paused, its batches so far to be loaded before it goes on."""
    error: BaseException | None = None
    scan: str = ""
    """``new``, ``recent`` or ``full``: what the run read (see ``planner``)."""
    pages: int = 0
    opportunities: int = 0
    deleted: int = 0
    """Opportunities found deleted by this run (full sweep, delete check, feed)."""
    undeleted: int = 0
    """Opportunities found undeleted by the delete check (a full sweep reads them as any)."""
    feed_events: int = 0
    """Opportunity events (visitor activities) the event feed read."""
    feed_requests: int = 0
    refreshed: int = 0
    """Opportunities re-read because an event named them."""
    refresh_requests: int = 0
    refresh_deleted: int = 0
    """Opportunities an event named that the re-read found deleted."""
    v5_requests: int = 0
    v5_updated: int = 0
    """Opportunities the v5 feed named as updated since the last window (new to it)."""
    v5_refused: bool = False
    """API v5 refused the account: the run went on without the v5 feed."""
    history_seconds: float = 0.0
    """Time spent on the history: comparing with the last versions and reading them back."""
    delete_check_requests: int = 0
    check_deleted: int = 0
    """Opportunities the delete check found deleted."""
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    """Rows handed to dlt per table (unlink markers not counted)."""
    pages_walked: int = 0
    """Pages the native reader declined (an element it does not know, say), which the slower
    general walk read; the first one's reason is logged."""
    checkpoints: int = 0
    checkpointed: int = 0
    """Opportunities handed out before the last checkpoint: committed once its package
    is loaded, which is before the run goes on."""
    paused: SyncRun | None = field(default=None, repr=False)
    """The run paused at a checkpoint, for the dlt layer to resume."""

    def abandon(self) -> None:
        """Stop a run paused at a checkpoint, so its fetch threads end; else nothing."""
        paused, self.paused = self.paused, None
        if paused is not None:
            paused.close()
