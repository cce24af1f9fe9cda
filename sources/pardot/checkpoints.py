"""When a long run pauses so that dlt loads what it has handed out: a checkpoint.

A run checkpoints for two reasons:

* **Durability.** After ``checkpoint_every`` opportunities, always: a kill then loses at
  most that much work. When the run is bound by CPU, each package costs it dlt's fixed
  work per package and a merge, so by default this is rare.
* **For free.** When the machine is mostly idle, waiting for Pardot's answers (against
  the real API it usually is), a load hides behind the requests in flight: the fetch
  threads keep going while dlt loads, as long as the pages they may fetch ahead hold
  what arrives during the pause. Then the run checkpoints early and often, so that by
  the last answer only a small package is left to load, and a kill loses little.

Early checkpoints shorten the run's tail (the load left after the last answer). They are
free only if the fetch threads do not stall during the pause, so the caller widens how
far they may fetch ahead while it is paused (``lookahead.AHEAD_WHILE_PAUSED``). A run bound
by CPU has no idle core to hide a load behind: there, the rule on CPU time keeps it to
the ``every`` checkpoints.

Early checkpoints are spaced so that loading takes at most ``LOAD_SHARE`` of the time
(judged by the last pause), and so that each commits at least ``GROWTH`` of what the
run committed before: every checkpoint writes the state, which grows with the run (the
ids it has seen), so the number of checkpoints may grow only with the logarithm of
the run's size.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Final, Literal

Due = Literal["every", "early"]
"""Why a checkpoint is due: ``every`` opportunities have been handed out, or it is free."""

EARLY_MIN: Final = 5_000
"""Fewest opportunities an early checkpoint commits."""
GROWTH: Final = 0.25
"""An early checkpoint commits at least this share of what the run committed before."""
LOAD_SHARE: Final = 0.25
"""Early checkpoints keep loading to about this share of the run's time."""
IDLE_CPU_SHARE: Final = 0.5
"""A run that used at most this share of the machine's cores since the last checkpoint
is waiting on Pardot: a load now takes little from it. Requests in flight against the
real API keep well under this; a run bound by CPU is well over it."""
FIRST_PAUSE: Final = 0.5
"""Seconds a checkpoint is assumed to take before one has been measured."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (containers)
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclass
class CheckpointClock:
    """Counts what a run handed out and how it spent its time since its last checkpoint."""

    every: int
    """Opportunities between checkpoints at most; 0: never checkpoint."""
    ahead: int = 0
    """Pages the fetch threads may fetch during an early checkpoint, before they stall."""
    cores: int = field(default_factory=_cores)
    committed: int = 0
    """Opportunities handed out before the last checkpoint."""
    since: float = field(default_factory=time.monotonic)
    cpu_since: float = field(default_factory=time.process_time)
    """The process's CPU time (all threads) at the last checkpoint."""
    pages: int = 0
    """Pages that arrived since the last checkpoint."""
    pause: float = field(default_factory=lambda: FIRST_PAUSE)
    """Seconds the last checkpoint took: dlt's extract end, normalize and load."""
    _paused_at: float = 0.0

    def due(self, gathered: int) -> Due | None:
        """Whether to checkpoint now, and why, with ``gathered`` opportunities handed out."""
        if not self.every:
            return None
        count = gathered - self.committed
        if count >= self.every:
            return "every"
        elapsed = time.monotonic() - self.since
        busy = time.process_time() - self.cpu_since
        early = (
            count >= max(EARLY_MIN, GROWTH * self.committed)
            and busy <= IDLE_CPU_SHARE * self.cores * elapsed
            and self.pause <= LOAD_SHARE * elapsed
            and self.pause * self.pages <= self.ahead * elapsed  # arrivals during a pause
        )
        return "early" if early else None

    def pausing(self, gathered: int) -> None:
        """The run pauses at a checkpoint with ``gathered`` opportunities handed out."""
        self.committed = gathered
        self._paused_at = time.monotonic()

    def resumed(self) -> None:
        """The checkpoint's package is loaded: measure it and start counting afresh."""
        now = time.monotonic()
        self.pause = now - self._paused_at
        self.since, self.cpu_since, self.pages = now, time.process_time(), 0
