"""A one-line progress display for long runs, silent when stderr is not a terminal.

Orchestrators and cron capture output; they get only the closing summary line, not a
stream of carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sources.pardot import SyncReport


class ProgressLine:
    """Rewrites one status line on a terminal at most a few times a second."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.2) -> None:
        """Show progress on ``stream`` (stderr by default) if it is a terminal."""
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.interval = interval
        self._started = time.monotonic()
        self._shown = 0.0
        self._width = 0

    def __call__(self, report: SyncReport) -> None:
        """Show the report's counters (throttled)."""
        now = time.monotonic()
        if not self.enabled or now - self._shown < self.interval:
            return
        self._shown = now
        rate = report.opportunities / max(now - self._started, 1e-9)
        text = (
            f"pages {report.pages:,} · opportunities {report.opportunities:,} "
            f"({rate:,.0f}/s) · requests {report.requests:,}"
        )
        if report.checkpoints:
            text += f" · committed {report.checkpointed:,}"
        self._width = max(self._width, len(text))
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()

    def close(self) -> None:
        """End the status line so that what follows starts on a fresh line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
