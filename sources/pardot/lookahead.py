"""How far a scan's fetch threads may run ahead of the caller that gathers their pages.

The fetch threads only fetch; the caller, in one thread, turns pages into batches and
pauses at checkpoints while dlt loads. Pages fetched ahead keep requests flowing while
the caller is busy, but each is memory held, and a run that stops wastes the requests
behind them. So the workers ``hold`` room for a page before they queue it and the caller
``release``s it when it takes the page; the caller ``widen``s the room while it pauses for
a load that the requests in flight should hide, and ``narrow``s it after.
"""

from __future__ import annotations

import threading
from typing import Final

AHEAD_PER_WORKER: Final = 4
"""Pages each worker may fetch ahead of the caller: enough to keep requests flowing while
the caller works on a batch, few enough that a stopped run wastes only a handful."""
AHEAD_WHILE_PAUSED: Final = 12
"""Pages each worker may fetch ahead while the caller is paused for a load that should
hide behind the requests in flight: room for the answers that arrive during the load.
With too few, the workers stall in each pause and the checkpoint is no longer free."""


def most_requests_ahead(workers: int) -> int:
    """Requests a scan may have made beyond the pages its caller has taken, outside a
    pause: the pages queued, plus the one each worker holds while the queue is full."""
    return (AHEAD_PER_WORKER + 1) * workers


class Lookahead:
    """How many fetched pages a scan's workers may hold ahead of its caller.

    Few, normally (see ``AHEAD_PER_WORKER``). The caller widens it while it pauses for a
    load that the requests in flight should hide, so that the workers do not stall, and
    narrows it after: pages then queue up only where they arrive slowly, so the queue's
    memory stays small.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._limit = AHEAD_PER_WORKER * workers
        self._held = 0
        self._changed = threading.Condition()

    @property
    def most_while_paused(self) -> int:
        """Pages the workers may fetch while the caller is paused, before they stall."""
        return (AHEAD_WHILE_PAUSED + 1) * self.workers

    def widen(self) -> None:
        """The caller pauses for a load: let the workers fetch further ahead."""
        self._set_limit(AHEAD_WHILE_PAUSED * self.workers)

    def narrow(self) -> None:
        """The caller goes on: back to the usual few pages ahead."""
        self._set_limit(AHEAD_PER_WORKER * self.workers)

    def _set_limit(self, limit: int) -> None:
        with self._changed:
            self._limit = limit
            self._changed.notify_all()

    def hold(self, stop: threading.Event) -> bool:
        """A worker waits for room for one more page; False once the scan stops."""
        with self._changed:
            self._changed.wait_for(lambda: self._held < self._limit or stop.is_set())
            if stop.is_set():
                return False
            self._held += 1
            return True

    def release(self) -> None:
        """The caller took a page: room for one more."""
        with self._changed:
            self._held -= 1
            self._changed.notify()

    def wake(self) -> None:
        """Let workers waiting for room see that the scan stopped."""
        with self._changed:
            self._changed.notify_all()
